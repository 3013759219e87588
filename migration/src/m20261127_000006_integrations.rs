//! Getting deals in and events out: CRM imports (kept with their file, so a
//! previewed import can be confirmed without uploading it again), inbound
//! webhook sources with their signing secrets and the events they sent, and
//! outbound webhook endpoints, whose deliveries ride the outbox.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, SetNull};

        manager
            .create_table(
                Table::create()
                    .table("imports")
                    .col(pk_auto("id"))
                    .col(string("kind"))
                    .col(string("filename"))
                    .col(string("format"))
                    .col(string("status"))
                    .col(text("content"))
                    .col(text("report"))
                    .col(integer_null("created_by_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("applied_at"))
                    .foreign_key(&mut fk("imports", "created_by_id", "users", SetNull))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("webhook_sources")
                    .col(pk_auto("id"))
                    .col(string("name").unique_key())
                    .col(string("secret"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("inbound_events")
                    .col(pk_auto("id"))
                    .col(integer("source_id"))
                    .col(string("signature").unique_key())
                    .col(string("external_id"))
                    .col(integer_null("deal_id"))
                    .col(timestamp_with_time_zone("received_at"))
                    .foreign_key(&mut fk("inbound_events", "source_id", "webhook_sources", Cascade))
                    .foreign_key(&mut fk("inbound_events", "deal_id", "deals", SetNull))
                    .take(),
            )
            .await?;
        manager.create_index(index("inbound_events", &["received_at"], false)).await?;

        manager
            .create_table(
                Table::create()
                    .table("webhook_endpoints")
                    .col(pk_auto("id"))
                    .col(string("url"))
                    .col(string("events"))
                    .col(string("secret"))
                    .col(boolean("active").default(true))
                    .col(integer_null("created_by_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("webhook_endpoints", "created_by_id", "users", SetNull))
                    .take(),
            )
            .await?;
        // Webhook deliveries are outbox rows: `channel` says how a row
        // leaves (email or webhook) and `endpoint_id` where a webhook goes.
        for column in [string("channel").default("email").take(), integer_null("endpoint_id")] {
            manager.alter_table(Table::alter().table("outbox").add_column(column).take()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["endpoint_id", "channel"] {
            manager.alter_table(Table::alter().table("outbox").drop_column(column).take()).await?;
        }
        for table in ["webhook_endpoints", "inbound_events", "webhook_sources", "imports"] {
            manager.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}
