//! An immutable move of a deal between stages.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stage_transitions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub deal_id: i32,
    /// `None` for the transition that created the deal.
    pub from_stage_id: Option<i32>,
    pub to_stage_id: i32,
    /// One of `created`, `advance`, `move_back`.
    pub kind: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub reason: Option<String>,
    pub actor_id: Option<i32>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
