//! A promise of value made during the sale, in the customer's words.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "promises")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub deal_id: i32,
    #[sea_orm(column_type = "Text")]
    pub text: String,
    pub category: Option<String>,
    /// A measurable target, e.g. "5 days".
    pub target: Option<String>,
    pub recorded_by_id: Option<i32>,
    pub created_at: DateTimeUtc,
    /// Set when the first survey that covers it is sent; from then on the
    /// promise is never rewritten, only retired and replaced.
    pub locked_at: Option<DateTimeUtc>,
    pub retired_at: Option<DateTimeUtc>,
    /// The promise this one replaces.
    pub replaces_id: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
