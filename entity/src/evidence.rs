//! Evidence that the customer met a criterion. Append-only: a correction supersedes.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "evidence")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub deal_id: i32,
    pub criterion_id: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub note: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub url: Option<String>,
    /// Who on the customer side confirmed it.
    pub confirmed_by: String,
    pub confirmed_on: Date,
    pub recorded_by_id: i32,
    pub recorded_at: DateTimeUtc,
    pub supersedes_id: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
