//! A CRM import: the uploaded file, what a dry run found, and whether it
//! was applied.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "imports")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// `deals`, `contacts`, `promises` or `economics`.
    pub kind: String,
    pub filename: String,
    /// `hubspot`, `salesforce`, `mapped` or `aftercare`.
    pub format: String,
    /// `previewed`, `applied` or `discarded`.
    pub status: String,
    /// The file as uploaded (UTF-8).
    #[sea_orm(column_type = "Text")]
    pub content: String,
    /// The dry run's (or the run's) report, as JSON.
    #[sea_orm(column_type = "Text")]
    pub report: String,
    pub created_by_id: Option<i32>,
    pub created_at: DateTimeUtc,
    pub applied_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
