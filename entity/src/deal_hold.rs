//! A period in which a deal waited on the customer; it does not count toward the SLA.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deal_holds")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub deal_id: i32,
    pub stage_id: i32,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    pub started_at: DateTimeUtc,
    pub started_by_id: Option<i32>,
    pub ended_at: Option<DateTimeUtc>,
    pub ended_by_id: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
