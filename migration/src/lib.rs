//! Aftercare's schema, as an append-only list of migrations.
//!
//! Migrations are the only source of the schema: tests and production run the
//! same list on SQLite and PostgreSQL. Never edit a migration that has
//! shipped; add a new one. This crate never imports `entity`.

pub use sea_orm_migration::prelude::*;

mod helpers;
mod m20261127_000001_foundation;
mod m20261127_000002_surveys;
mod m20261127_000003_advocacy;
mod m20261127_000004_dashboard_snapshots;
mod m20261127_000005_digests;
mod m20261127_000006_integrations;
mod m20261127_000007_lookup_indexes;
mod m20261127_000008_board_index;

/// The ordered list of Aftercare's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_foundation::Migration),
            Box::new(m20261127_000002_surveys::Migration),
            Box::new(m20261127_000003_advocacy::Migration),
            Box::new(m20261127_000004_dashboard_snapshots::Migration),
            Box::new(m20261127_000005_digests::Migration),
            Box::new(m20261127_000006_integrations::Migration),
            Box::new(m20261127_000007_lookup_indexes::Migration),
            Box::new(m20261127_000008_board_index::Migration),
        ]
    }
}
