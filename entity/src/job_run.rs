//! One run of a scheduled job.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub job: String,
    /// The scheduled slot (or `manual-...`); unique per job.
    pub slot: String,
    pub instance: String,
    pub as_of: Date,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    /// `running`, `ok`, `failed`, `skipped`, or `abandoned` (its instance
    /// died and another took the job's lease over).
    pub outcome: String,
    #[sea_orm(column_type = "Text")]
    pub detail: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
