//! Lookups the deal page makes on every view: which surveys asked about a
//! deal's promises (`survey_promises` is keyed by survey first).

use sea_orm_migration::prelude::*;

use crate::helpers::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_index(index("survey_promises", &["promise_id"], false)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("ix_survey_promises_promise_id").table("survey_promises").to_owned())
            .await
    }
}
