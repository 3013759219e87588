//! One survey sent to one contact, covering the promises of one or more deals of an account.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "surveys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub account_id: i32,
    pub contact_id: i32,
    pub language: String,
    /// `pending`, `sent`, `answered` or `expired`.
    pub status: String,
    pub due_on: Date,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub answered_at: Option<DateTimeUtc>,
    pub expires_at: DateTimeUtc,
    pub reminders_sent: i32,
    pub last_reminder_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
