//! A person who signs in: CS managers, implementation leads, account managers, admins.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub email: String,
    pub name: String,
    /// One of `admin`, `manager`, `member`, `viewer`.
    pub role: String,
    pub password_hash: String,
    pub active: bool,
    pub created_at: DateTimeUtc,
    /// An IANA time zone name, e.g. `Europe/Amsterdam`: digests arrive at
    /// the configured local hour.
    pub time_zone: String,
    /// `en` or `nl`: the language of their emails.
    pub language: String,
    /// `weekly`, `daily` or `off`.
    pub digest_frequency: String,
    /// Send a short all-clear when there is nothing to report (otherwise
    /// the digest is skipped).
    pub digest_all_clear: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
