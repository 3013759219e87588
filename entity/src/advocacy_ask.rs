//! An ask for advocacy (review, reference call, case study, referral,
//! testimonial) and its outcome.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "advocacy_asks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// `review`, `reference_call`, `case_study`, `referral` or `testimonial`.
    pub kind: String,
    pub contact_id: i32,
    pub deal_id: Option<i32>,
    pub asked_by_id: Option<i32>,
    pub asked_at: DateTimeUtc,
    #[sea_orm(column_type = "Text", nullable)]
    pub note: Option<String>,
    /// `pending`, `done` or `declined`.
    pub outcome: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub link: Option<String>,
    pub outcome_at: Option<DateTimeUtc>,
    /// For referrals: the new deal they brought.
    pub referred_deal_id: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
