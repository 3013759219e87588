//! A won deal on its way from closed-won to live.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deals")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub account_id: i32,
    pub name: String,
    pub external_id: Option<String>,
    pub amount_cents: Option<i64>,
    pub currency: Option<String>,
    pub closed_won_on: Date,
    pub stage_id: i32,
    pub stage_entered_at: DateTimeUtc,
    pub account_manager_id: Option<i32>,
    pub implementation_lead_id: Option<i32>,
    pub csm_id: Option<i32>,
    pub next_call_at: Option<DateTimeUtc>,
    pub next_call_lead_id: Option<i32>,
    pub next_call_scheduler_id: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When the customer churned; no further survey waves.
    pub churned_on: Option<Date>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
