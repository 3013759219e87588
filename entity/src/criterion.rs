//! An exit criterion of a stage: something the customer did.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "criteria")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub stage_id: i32,
    #[sea_orm(column_type = "Text")]
    pub text: String,
    pub required: bool,
    pub position: i32,
    pub created_at: DateTimeUtc,
    /// Retired criteria no longer gate a stage; their evidence is kept.
    pub retired_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
