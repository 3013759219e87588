//! Stored dashboard figures: computing them reads every deal and verdict,
//! so a job renders them every few minutes and the page shows the newest.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("dashboard_snapshots")
                    .col(pk_auto("id"))
                    .col(string("version"))
                    .col(timestamp_with_time_zone("computed_at"))
                    .col(timestamp_with_time_zone("as_of"))
                    .col(big_integer("took_ms"))
                    .col(text("html"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("dashboard_snapshots").take()).await
    }
}
