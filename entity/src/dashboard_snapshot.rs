//! The dashboard's figures as rendered at one moment (a page cache kept in
//! the database so every instance serves the same, cheaply).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dashboard_snapshots")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The Aftercare version that rendered it; other versions re-render.
    pub version: String,
    /// When it was rendered (wall clock).
    pub computed_at: DateTimeUtc,
    /// The business time the figures are as of.
    pub as_of: DateTimeUtc,
    /// How long rendering took.
    pub took_ms: i64,
    /// The rendered figures (tiles, charts and tables), trusted HTML.
    #[sea_orm(column_type = "Text")]
    pub html: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
