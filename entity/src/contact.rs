//! A person at a customer account.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub account_id: i32,
    pub name: String,
    pub email: String,
    pub role: Option<String>,
    /// A BCP 47 language tag such as `en` or `nl`.
    pub language: String,
    pub created_at: DateTimeUtc,
    /// Whether surveys go to this contact (when none is marked, the first
    /// contact of the account gets them).
    pub survey_recipient: bool,
    /// When they unsubscribed from surveys; they get nothing after.
    pub unsubscribed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
