//! Users, sessions and API tokens; accounts and contacts; the configurable
//! pipeline (stages, criteria); deals with their append-only history
//! (evidence, stage transitions, holds) and the audit log.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 11] = [
    "audit_log",
    "deal_holds",
    "stage_transitions",
    "evidence",
    "deals",
    "criteria",
    "stages",
    "contacts",
    "accounts",
    "api_tokens",
    "sessions",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, Restrict, SetNull};

        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(pk_auto("id"))
                    .col(string_uniq("email"))
                    .col(string("name"))
                    .col(string("role"))
                    .col(string("password_hash"))
                    .col(boolean("active").default(true))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .col(pk_auto("id"))
                    .col(string_uniq("token_hash"))
                    .col(integer("user_id"))
                    .col(string("csrf_token"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .foreign_key(&mut fk("sessions", "user_id", "users", Cascade))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("api_tokens")
                    .col(pk_auto("id"))
                    .col(integer("user_id"))
                    .col(string("name"))
                    .col(string_uniq("token_hash"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("last_used_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .foreign_key(&mut fk("api_tokens", "user_id", "users", Cascade))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("accounts")
                    .col(pk_auto("id"))
                    .col(string_uniq("name"))
                    .col(string_null("domain"))
                    .col(string_null("segment"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("contacts")
                    .col(pk_auto("id"))
                    .col(integer("account_id"))
                    .col(string("name"))
                    .col(string("email"))
                    .col(string_null("role"))
                    .col(string("language"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("contacts", "account_id", "accounts", Cascade))
                    .take(),
            )
            .await?;
        manager.create_index(index("contacts", &["account_id", "email"], true)).await?;

        manager
            .create_table(
                Table::create()
                    .table("stages")
                    .col(pk_auto("id"))
                    .col(string_uniq("key"))
                    .col(string("name"))
                    .col(integer("position"))
                    .col(integer_null("sla_days"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("criteria")
                    .col(pk_auto("id"))
                    .col(integer("stage_id"))
                    .col(text("text"))
                    .col(boolean("required"))
                    .col(integer("position"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("retired_at"))
                    .foreign_key(&mut fk("criteria", "stage_id", "stages", Restrict))
                    .take(),
            )
            .await?;
        manager.create_index(index("criteria", &["stage_id"], false)).await?;

        manager
            .create_table(
                Table::create()
                    .table("deals")
                    .col(pk_auto("id"))
                    .col(integer("account_id"))
                    .col(string("name"))
                    .col(string_null("external_id"))
                    .col(big_integer_null("amount_cents"))
                    .col(string_null("currency"))
                    .col(date("closed_won_on"))
                    .col(integer("stage_id"))
                    .col(timestamp_with_time_zone("stage_entered_at"))
                    .col(integer_null("account_manager_id"))
                    .col(integer_null("implementation_lead_id"))
                    .col(integer_null("csm_id"))
                    .col(timestamp_with_time_zone_null("next_call_at"))
                    .col(integer_null("next_call_lead_id"))
                    .col(integer_null("next_call_scheduler_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("deals", "account_id", "accounts", Restrict))
                    .foreign_key(&mut fk("deals", "stage_id", "stages", Restrict))
                    .foreign_key(&mut fk("deals", "account_manager_id", "users", SetNull))
                    .foreign_key(&mut fk("deals", "implementation_lead_id", "users", SetNull))
                    .foreign_key(&mut fk("deals", "csm_id", "users", SetNull))
                    .foreign_key(&mut fk("deals", "next_call_lead_id", "users", SetNull))
                    .foreign_key(&mut fk("deals", "next_call_scheduler_id", "users", SetNull))
                    .take(),
            )
            .await?;
        manager.create_index(index("deals", &["external_id"], true)).await?;
        manager.create_index(index("deals", &["stage_id"], false)).await?;
        manager.create_index(index("deals", &["account_id"], false)).await?;

        manager
            .create_table(
                Table::create()
                    .table("evidence")
                    .col(pk_auto("id"))
                    .col(integer("deal_id"))
                    .col(integer("criterion_id"))
                    .col(text_null("note"))
                    .col(text_null("url"))
                    .col(string("confirmed_by"))
                    .col(date("confirmed_on"))
                    .col(integer("recorded_by_id"))
                    .col(timestamp_with_time_zone("recorded_at"))
                    .col(integer_null("supersedes_id"))
                    .foreign_key(&mut fk("evidence", "deal_id", "deals", Restrict))
                    .foreign_key(&mut fk("evidence", "criterion_id", "criteria", Restrict))
                    .foreign_key(&mut fk("evidence", "recorded_by_id", "users", Restrict))
                    .foreign_key(&mut fk("evidence", "supersedes_id", "evidence", Restrict))
                    .take(),
            )
            .await?;
        manager.create_index(index("evidence", &["deal_id", "criterion_id"], false)).await?;
        // A row can be superseded once: corrections form a chain, not a tree.
        manager.create_index(index("evidence", &["supersedes_id"], true)).await?;

        manager
            .create_table(
                Table::create()
                    .table("stage_transitions")
                    .col(pk_auto("id"))
                    .col(integer("deal_id"))
                    .col(integer_null("from_stage_id"))
                    .col(integer("to_stage_id"))
                    .col(string("kind"))
                    .col(text_null("reason"))
                    .col(integer_null("actor_id"))
                    .col(timestamp_with_time_zone("at"))
                    .foreign_key(&mut fk("stage_transitions", "deal_id", "deals", Restrict))
                    .foreign_key(&mut fk("stage_transitions", "from_stage_id", "stages", Restrict))
                    .foreign_key(&mut fk("stage_transitions", "to_stage_id", "stages", Restrict))
                    .foreign_key(&mut fk("stage_transitions", "actor_id", "users", Restrict))
                    .take(),
            )
            .await?;
        manager.create_index(index("stage_transitions", &["deal_id"], false)).await?;

        manager
            .create_table(
                Table::create()
                    .table("deal_holds")
                    .col(pk_auto("id"))
                    .col(integer("deal_id"))
                    .col(integer("stage_id"))
                    .col(text("reason"))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(integer_null("started_by_id"))
                    .col(timestamp_with_time_zone_null("ended_at"))
                    .col(integer_null("ended_by_id"))
                    .foreign_key(&mut fk("deal_holds", "deal_id", "deals", Restrict))
                    .foreign_key(&mut fk("deal_holds", "stage_id", "stages", Restrict))
                    .foreign_key(&mut fk("deal_holds", "started_by_id", "users", Restrict))
                    .foreign_key(&mut fk("deal_holds", "ended_by_id", "users", Restrict))
                    .take(),
            )
            .await?;
        manager.create_index(index("deal_holds", &["deal_id"], false)).await?;

        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .col(pk_auto("id"))
                    .col(integer_null("actor_id"))
                    .col(string("action"))
                    .col(string("subject"))
                    .col(text("detail"))
                    .col(timestamp_with_time_zone("at"))
                    .foreign_key(&mut fk("audit_log", "actor_id", "users", SetNull))
                    .take(),
            )
            .await?;
        manager.create_index(index("audit_log", &["at"], false)).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES.into_iter().chain(["users"]) {
            manager.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}
