//! Promises of value, the 6/9/12-month surveys and their answers,
//! follow-ups for broken promises, the email outbox, and job leases and runs.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 10] = [
    "job_runs",
    "job_leases",
    "outbox",
    "followups",
    "survey_answers",
    "survey_responses",
    "survey_tokens",
    "survey_waves",
    "survey_promises",
    "surveys",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, Restrict, SetNull};

        // SQLite adds one column per ALTER TABLE.
        for column in
            [boolean("survey_recipient").default(false).take(), timestamp_with_time_zone_null("unsubscribed_at")]
        {
            manager.alter_table(Table::alter().table("contacts").add_column(column).take()).await?;
        }
        manager.alter_table(Table::alter().table("deals").add_column(date_null("churned_on")).take()).await?;

        manager
            .create_table(
                Table::create()
                    .table("promises")
                    .col(pk_auto("id"))
                    .col(integer("deal_id"))
                    .col(text("text"))
                    .col(string_null("category"))
                    .col(string_null("target"))
                    .col(integer_null("recorded_by_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("locked_at"))
                    .col(timestamp_with_time_zone_null("retired_at"))
                    .col(integer_null("replaces_id"))
                    .foreign_key(&mut fk("promises", "deal_id", "deals", Restrict))
                    .foreign_key(&mut fk("promises", "recorded_by_id", "users", SetNull))
                    .foreign_key(&mut fk("promises", "replaces_id", "promises", Restrict))
                    .take(),
            )
            .await?;
        manager.create_index(index("promises", &["deal_id"], false)).await?;

        manager
            .create_table(
                Table::create()
                    .table("surveys")
                    .col(pk_auto("id"))
                    .col(integer("account_id"))
                    .col(integer("contact_id"))
                    .col(string("language"))
                    .col(string("status"))
                    .col(date("due_on"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("sent_at"))
                    .col(timestamp_with_time_zone_null("answered_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(integer("reminders_sent").default(0))
                    .col(timestamp_with_time_zone_null("last_reminder_at"))
                    .foreign_key(&mut fk("surveys", "account_id", "accounts", Restrict))
                    .foreign_key(&mut fk("surveys", "contact_id", "contacts", Restrict))
                    .take(),
            )
            .await?;
        manager.create_index(index("surveys", &["status"], false)).await?;
        manager.create_index(index("surveys", &["contact_id"], false)).await?;

        manager
            .create_table(
                Table::create()
                    .table("survey_promises")
                    .col(integer("survey_id"))
                    .col(integer("promise_id"))
                    .primary_key(Index::create().col("survey_id").col("promise_id"))
                    .foreign_key(&mut fk("survey_promises", "survey_id", "surveys", Cascade))
                    .foreign_key(&mut fk("survey_promises", "promise_id", "promises", Restrict))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("survey_waves")
                    .col(pk_auto("id"))
                    .col(integer("deal_id"))
                    .col(integer("wave_months"))
                    .col(date("due_on"))
                    .col(string("status"))
                    .col(text_null("note"))
                    .col(integer_null("survey_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("survey_waves", "deal_id", "deals", Restrict))
                    .foreign_key(&mut fk("survey_waves", "survey_id", "surveys", SetNull))
                    .take(),
            )
            .await?;
        // A wave of a deal exists once: the planner can never create it twice.
        manager.create_index(index("survey_waves", &["deal_id", "wave_months"], true)).await?;

        manager
            .create_table(
                Table::create()
                    .table("survey_tokens")
                    .col(pk_auto("id"))
                    .col(integer("survey_id"))
                    .col(string_uniq("token_hash"))
                    .col(string("purpose"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("survey_tokens", "survey_id", "surveys", Cascade))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("survey_responses")
                    .col(pk_auto("id"))
                    .col(integer_uniq("survey_id"))
                    .col(integer_null("nps"))
                    .col(boolean("reference"))
                    .col(boolean("review"))
                    .col(text_null("comment"))
                    .col(timestamp_with_time_zone("submitted_at"))
                    .foreign_key(&mut fk("survey_responses", "survey_id", "surveys", Restrict))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("survey_answers")
                    .col(pk_auto("id"))
                    .col(integer("survey_id"))
                    .col(integer("promise_id"))
                    .col(string("verdict"))
                    .col(text_null("comment"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("survey_answers", "survey_id", "surveys", Restrict))
                    .foreign_key(&mut fk("survey_answers", "promise_id", "promises", Restrict))
                    .take(),
            )
            .await?;
        manager.create_index(index("survey_answers", &["survey_id", "promise_id"], true)).await?;

        manager
            .create_table(
                Table::create()
                    .table("followups")
                    .col(pk_auto("id"))
                    .col(integer("deal_id"))
                    .col(integer("promise_id"))
                    .col(integer("survey_id"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone("opened_at"))
                    .col(timestamp_with_time_zone_null("resolved_at"))
                    .col(integer_null("resolved_by_id"))
                    .col(text_null("resolution"))
                    .foreign_key(&mut fk("followups", "deal_id", "deals", Restrict))
                    .foreign_key(&mut fk("followups", "promise_id", "promises", Restrict))
                    .foreign_key(&mut fk("followups", "survey_id", "surveys", Restrict))
                    .foreign_key(&mut fk("followups", "resolved_by_id", "users", SetNull))
                    .take(),
            )
            .await?;
        manager.create_index(index("followups", &["deal_id", "status"], false)).await?;

        manager
            .create_table(
                Table::create()
                    .table("outbox")
                    .col(pk_auto("id"))
                    .col(string_uniq("dedupe_key"))
                    .col(string("message_id"))
                    .col(string("kind"))
                    .col(string("recipient"))
                    .col(string_null("reply_to"))
                    .col(text("subject"))
                    .col(text("text_body"))
                    .col(text("html_body"))
                    .col(text_null("list_unsubscribe"))
                    .col(string("status"))
                    .col(integer("attempts").default(0))
                    .col(timestamp_with_time_zone("next_attempt_at"))
                    .col(timestamp_with_time_zone_null("locked_until"))
                    .col(string_null("locked_by"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("sent_at"))
                    .take(),
            )
            .await?;
        manager.create_index(index("outbox", &["status", "next_attempt_at"], false)).await?;

        manager
            .create_table(
                Table::create()
                    .table("job_leases")
                    .col(string("name").primary_key())
                    .col(string("holder"))
                    .col(timestamp_with_time_zone("leased_until"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("job_runs")
                    .col(pk_auto("id"))
                    .col(string("job"))
                    .col(string("slot"))
                    .col(string("instance"))
                    .col(date("as_of"))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(timestamp_with_time_zone_null("finished_at"))
                    .col(string("outcome"))
                    .col(text("detail"))
                    .take(),
            )
            .await?;
        // One run per job and scheduled slot, however many instances tick.
        manager.create_index(index("job_runs", &["job", "slot"], true)).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES.into_iter().chain(["promises"]) {
            manager.drop_table(Table::drop().table(table).take()).await?;
        }
        manager.alter_table(Table::alter().table("deals").drop_column("churned_on").take()).await?;
        for column in ["unsubscribed_at", "survey_recipient"] {
            manager.alter_table(Table::alter().table("contacts").drop_column(column).take()).await?;
        }
        Ok(())
    }
}
