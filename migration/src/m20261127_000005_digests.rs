//! Weekly digests: each user's time zone, language and digest settings, and
//! the one-click unsubscribe links the digests carry.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

const USER_COLUMNS: [&str; 4] = ["time_zone", "language", "digest_frequency", "digest_all_clear"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            string("time_zone").default("UTC").take(),
            string("language").default("en").take(),
            string("digest_frequency").default("weekly").take(),
            boolean("digest_all_clear").default(false).take(),
        ] {
            manager.alter_table(Table::alter().table("users").add_column(column).take()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("digest_unsubscribe_tokens")
                    .col(string("token_hash").primary_key())
                    .col(integer("user_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("digest_unsubscribe_tokens", "user_id", "users", ForeignKeyAction::Cascade))
                    .take(),
            )
            .await?;
        manager.create_index(index("digest_unsubscribe_tokens", &["user_id"], false)).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("digest_unsubscribe_tokens").take()).await?;
        for column in USER_COLUMNS {
            manager.alter_table(Table::alter().table("users").drop_column(column).take()).await?;
        }
        Ok(())
    }
}
