//! Account economics (ARR, gross margin, CAC) for profitability, and the
//! advocacy asks ledger.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

const ACCOUNT_COLUMNS: [&str; 3] = ["arr_cents", "gross_margin_pct", "cac_cents"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Restrict, SetNull};

        // SQLite adds one column per ALTER TABLE.
        for column in [big_integer_null("arr_cents"), double_null("gross_margin_pct"), big_integer_null("cac_cents")] {
            manager.alter_table(Table::alter().table("accounts").add_column(column).take()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table("advocacy_asks")
                    .col(pk_auto("id"))
                    .col(string("kind"))
                    .col(integer("contact_id"))
                    .col(integer_null("deal_id"))
                    .col(integer_null("asked_by_id"))
                    .col(timestamp_with_time_zone("asked_at"))
                    .col(text_null("note"))
                    .col(string("outcome"))
                    .col(text_null("link"))
                    .col(timestamp_with_time_zone_null("outcome_at"))
                    .col(integer_null("referred_deal_id"))
                    .foreign_key(&mut fk("advocacy_asks", "contact_id", "contacts", Restrict))
                    .foreign_key(&mut fk("advocacy_asks", "deal_id", "deals", SetNull))
                    .foreign_key(&mut fk("advocacy_asks", "asked_by_id", "users", SetNull))
                    .foreign_key(&mut fk("advocacy_asks", "referred_deal_id", "deals", SetNull))
                    .take(),
            )
            .await?;
        manager.create_index(index("advocacy_asks", &["contact_id", "asked_at"], false)).await?;
        // Metrics and advocacy look verdicts up by promise and waves by
        // survey; keep those lookups indexed at a million rows.
        manager.create_index(index("survey_answers", &["promise_id"], false)).await?;
        manager.create_index(index("survey_waves", &["survey_id"], false)).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("ix_survey_waves_survey_id").table("survey_waves").to_owned()).await?;
        manager
            .drop_index(Index::drop().name("ix_survey_answers_promise_id").table("survey_answers").to_owned())
            .await?;
        manager.drop_table(Table::drop().table("advocacy_asks").take()).await?;
        for column in ACCOUNT_COLUMNS {
            manager.alter_table(Table::alter().table("accounts").drop_column(column).take()).await?;
        }
        Ok(())
    }
}
