//! A customer company.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub name: String,
    pub domain: Option<String>,
    pub segment: Option<String>,
    pub created_at: DateTimeUtc,
    /// Annual recurring revenue, in cents of the account's currency.
    pub arr_cents: Option<i64>,
    /// Gross margin in percent (0-100).
    #[sea_orm(column_type = "Double", nullable)]
    pub gross_margin_pct: Option<f64>,
    /// Customer acquisition cost, in cents.
    pub cac_cents: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
