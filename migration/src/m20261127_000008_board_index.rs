//! The board counts deals per stage (stuck by when they entered it, overdue
//! by their next call) and reads each stage's longest-waiting first: one
//! index that covers those queries, so they never touch the table.

use sea_orm_migration::prelude::*;

use crate::helpers::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_index(index("deals", &["stage_id", "stage_entered_at", "next_call_at"], false)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("ix_deals_stage_id_stage_entered_at_next_call_at").table("deals").to_owned())
            .await
    }
}
