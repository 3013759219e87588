//! Synthetic data at scale (`aftercare demo --deals N`), for benchmarks and
//! load tests: accounts, contacts and deals over three years in every stage,
//! with promises, stage history, surveys and about ten verdicts per deal;
//! in-flight deals have next calls (some overdue) and holds (some open), and
//! "not kept" verdicts open follow-ups (most of the older ones resolved).
//! Rows are written in large batches with explicit ids, so 100 k deals take
//! seconds, not hours; it is not a replay of the rules like the small demo.

use chrono::{DateTime, Duration, Months, NaiveDate, Utc};
use entity::{
    account, contact, deal, deal_hold, followup, promise, stage, stage_transition, survey, survey_answer,
    survey_response, survey_wave, user,
};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait, QueryOrder,
};

use super::Dice;
use crate::surveys::followups::status;
use crate::{AppError, AppResult};

/// Rows per INSERT statement (well inside SQLite's parameter limit).
const BATCH: usize = 1_000;

/// What was generated.
#[derive(Debug, Clone, Default)]
pub struct ScaleSummary {
    /// Deals made.
    pub deals: usize,
    /// Promises made.
    pub promises: usize,
    /// Surveys made.
    pub surveys: usize,
    /// Verdicts made.
    pub verdicts: usize,
    /// Holds made (open or ended).
    pub holds: usize,
    /// Follow-ups opened by "not kept" verdicts.
    pub followups: usize,
}

impl std::fmt::Display for ScaleSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Generated {} deals, {} promises, {} surveys, {} verdicts, {} holds, {} follow-ups",
            self.deals, self.promises, self.surveys, self.verdicts, self.holds, self.followups
        )
    }
}

/// Buffers rows and writes them in batches.
struct Batch<A: sea_orm::ActiveModelTrait> {
    rows: Vec<A>,
}

impl<A> Batch<A>
where
    A: sea_orm::ActiveModelTrait + Send,
{
    fn new() -> Self {
        Self { rows: Vec::with_capacity(BATCH) }
    }

    fn push(&mut self, row: A) {
        self.rows.push(row);
    }

    async fn flush(&mut self, db: &impl ConnectionTrait) -> AppResult<()> {
        let rows = std::mem::take(&mut self.rows);
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<A> = rows.by_ref().take(BATCH).collect();
            A::Entity::insert_many(chunk).exec_without_returning(db).await?;
        }
        Ok(())
    }
}

/// The first free id of `table`.
async fn next_id(db: &impl ConnectionTrait, table: &str) -> AppResult<i32> {
    let sql = format!("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) AS top FROM {table}");
    let row = db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await?;
    let top: i64 = match row {
        Some(row) => row.try_get("", "top")?,
        None => 0,
    };
    Ok(i32::try_from(top).unwrap_or(i32::MAX - 1) + 1)
}

/// Generates `count` deals as of `now` into an empty pipeline.
pub async fn generate(db: &DatabaseConnection, count: usize, now: DateTime<Utc>) -> AppResult<ScaleSummary> {
    if deal::Entity::find().count(db).await? > 0 {
        return Err(AppError::conflict("not_empty", "generate scale data into a database without deals"));
    }
    let stages = stage::Entity::find().order_by_asc(stage::Column::Position).all(db).await?;
    let users: Vec<i32> = user::Entity::find().all(db).await?.into_iter().map(|u| u.id).collect();
    if stages.len() < 2 || users.is_empty() {
        return Err(AppError::conflict("no_pipeline", "the pipeline and at least one user must exist first"));
    }
    let mut dice = Dice(0x5CA1_AB1E);
    let mut summary = ScaleSummary::default();
    let txn = crate::db::begin_write(db).await?;
    let (mut accounts, mut contacts, mut deals) = (Batch::new(), Batch::new(), Batch::new());
    let (mut moves, mut promises, mut surveys) = (Batch::new(), Batch::new(), Batch::new());
    let (mut waves, mut answers, mut responses) = (Batch::new(), Batch::new(), Batch::new());
    let (mut holds, mut followups) = (Batch::new(), Batch::new());
    let first_deal = next_id(&txn, "deals").await?;
    let first_account = next_id(&txn, "accounts").await?;
    let first_contact = next_id(&txn, "contacts").await?;
    let mut promise_id = next_id(&txn, "promises").await?;
    let mut survey_id = next_id(&txn, "surveys").await?;
    let segments = ["SMB", "Mid-market", "Enterprise"];
    let categories = ["Finance", "Operations", "Reporting", "Service", "IT"];
    let final_stage = stages.len() - 1;
    // Parents before children, for the foreign keys.
    macro_rules! flush {
        () => {
            accounts.flush(&txn).await?;
            contacts.flush(&txn).await?;
            deals.flush(&txn).await?;
            moves.flush(&txn).await?;
            promises.flush(&txn).await?;
            surveys.flush(&txn).await?;
            waves.flush(&txn).await?;
            answers.flush(&txn).await?;
            responses.flush(&txn).await?;
            holds.flush(&txn).await?;
            followups.flush(&txn).await?;
        };
    }
    for n in 0..count {
        let offset = i32::try_from(n).unwrap_or(i32::MAX);
        let (deal_id, account_id, contact_id) = (first_deal + offset, first_account + offset, first_contact + offset);
        let age = dice.range(1, 1095);
        let won: NaiveDate = (now - Duration::days(age)).date_naive();
        let won_at = won.and_hms_opt(10, 0, 0).unwrap_or_default().and_utc();
        accounts.push(account::ActiveModel {
            id: Set(account_id),
            name: Set(format!("Customer {account_id:06}")),
            domain: Set(Some(format!("customer{account_id}.example"))),
            segment: Set(Some((*dice.pick(&segments)).to_owned())),
            created_at: Set(won_at),
            arr_cents: Set(Some(dice.range(10_000, 400_000) * 100)),
            gross_margin_pct: Set(Some(dice.range(55, 85) as f64)),
            cac_cents: Set(Some(dice.range(5_000, 120_000) * 100)),
        });
        contacts.push(contact::ActiveModel {
            id: Set(contact_id),
            account_id: Set(account_id),
            name: Set(format!("Contact {contact_id}")),
            email: Set(format!("lead@customer{account_id}.example")),
            role: Set(Some("Project lead".to_owned())),
            language: Set(if n % 4 == 0 { "nl" } else { "en" }.to_owned()),
            created_at: Set(won_at),
            survey_recipient: Set(true),
            unsubscribed_at: Set(None),
        });
        // Older deals are further along; some stall.
        let stage_index = match age {
            0..=10 => 0,
            11..=30 => 1,
            31..=100 => 2,
            _ if n % 11 == 0 => 2,
            _ => final_stage,
        }
        .min(final_stage);
        let (mut previous, mut entered) = (won_at, won_at);
        moves.push(stage_transition::ActiveModel {
            deal_id: Set(deal_id),
            from_stage_id: Set(None),
            to_stage_id: Set(stages[0].id),
            kind: Set("created".to_owned()),
            actor_id: Set(None),
            at: Set(won_at),
            ..Default::default()
        });
        for step in 1..=stage_index {
            let typical = i64::from(stages[step - 1].sla_days.unwrap_or(14));
            let next = (entered + Duration::days(dice.range(typical / 3, typical * 3 / 2).max(1)))
                .min(now - Duration::hours(1));
            moves.push(stage_transition::ActiveModel {
                deal_id: Set(deal_id),
                from_stage_id: Set(Some(stages[step - 1].id)),
                to_stage_id: Set(stages[step].id),
                kind: Set("advance".to_owned()),
                actor_id: Set(Some(*dice.pick(&users))),
                at: Set(next),
                ..Default::default()
            });
            previous = entered;
            entered = next;
        }
        let in_flight = stage_index < final_stage;
        let account_manager = *dice.pick(&users);
        let days_in_stage = (now - entered).num_days();
        // A quarter of the deals in flight waited on the customer in this
        // stage; about 40 % of those still do.
        if in_flight && days_in_stage > 2 && dice.range(0, 99) < 25 {
            let started = entered + Duration::days(dice.range(0, days_in_stage - 2));
            let ended = (dice.range(0, 9) >= 4)
                .then(|| (started + Duration::days(dice.range(1, 20))).min(now - Duration::hours(1)));
            holds.push(deal_hold::ActiveModel {
                deal_id: Set(deal_id),
                stage_id: Set(stages[stage_index].id),
                reason: Set("Waiting on the customer's IT".to_owned()),
                started_at: Set(started),
                started_by_id: Set(Some(account_manager)),
                ended_at: Set(ended),
                ended_by_id: Set(ended.map(|_| account_manager)),
                ..Default::default()
            });
            summary.holds += 1;
        }
        // One in ten deals that moved on waited in the stage before; the
        // hold ended by the move (some exactly at it).
        if stage_index > 0 && entered - previous >= Duration::days(2) && dice.range(0, 9) == 0 {
            let started = previous + (entered - previous) / 2;
            let ended = if dice.range(0, 1) == 0 { entered } else { entered - Duration::hours(2) };
            holds.push(deal_hold::ActiveModel {
                deal_id: Set(deal_id),
                stage_id: Set(stages[stage_index - 1].id),
                reason: Set("Customer's budget review".to_owned()),
                started_at: Set(started),
                started_by_id: Set(Some(account_manager)),
                ended_at: Set(Some(ended)),
                ended_by_id: Set(Some(account_manager)),
                ..Default::default()
            });
            summary.holds += 1;
        }
        // Deals in flight have a next call, one in five of them overdue.
        let next_call = in_flight.then(|| {
            let at = now + Duration::days(dice.range(-7, 28));
            at.date_naive().and_hms_opt(15, 0, 0).unwrap_or_default().and_utc()
        });
        deals.push(deal::ActiveModel {
            id: Set(deal_id),
            account_id: Set(account_id),
            name: Set(format!("Customer {account_id:06} - plan")),
            external_id: Set(Some(format!("scale-{deal_id}"))),
            amount_cents: Set(Some(dice.range(10_000, 400_000) * 100)),
            currency: Set(Some("EUR".to_owned())),
            closed_won_on: Set(won),
            stage_id: Set(stages[stage_index].id),
            stage_entered_at: Set(entered),
            account_manager_id: Set(Some(account_manager)),
            implementation_lead_id: Set(Some(*dice.pick(&users))),
            csm_id: Set(Some(*dice.pick(&users))),
            next_call_at: Set(next_call),
            next_call_lead_id: Set(next_call.map(|_| account_manager)),
            next_call_scheduler_id: Set(next_call.map(|_| account_manager)),
            created_at: Set(won_at),
            updated_at: Set(entered),
            churned_on: Set(None),
        });
        let own: Vec<i32> = (0..5).map(|k| promise_id + k).collect();
        promise_id += 5;
        for (k, id) in own.iter().enumerate() {
            promises.push(promise::ActiveModel {
                id: Set(*id),
                deal_id: Set(deal_id),
                text: Set(format!("Promise {} of deal {deal_id}", k + 1)),
                category: Set(Some(categories[k % categories.len()].to_owned())),
                target: Set(None),
                recorded_by_id: Set(None),
                created_at: Set(won_at),
                locked_at: Set(None),
                retired_at: Set(None),
                replaces_id: Set(None),
            });
        }
        summary.promises += own.len();
        for months in [6u32, 9, 12] {
            let Some(due) = won.checked_add_months(Months::new(months)) else { continue };
            let sent_at = due.and_hms_opt(6, 0, 0).unwrap_or_default().and_utc();
            if sent_at >= now {
                continue;
            }
            let answered = dice.range(0, 9) < 8 && sent_at + Duration::days(5) < now;
            let answered_at = sent_at + Duration::days(dice.range(1, 5));
            surveys.push(survey::ActiveModel {
                id: Set(survey_id),
                account_id: Set(account_id),
                contact_id: Set(contact_id),
                language: Set("en".to_owned()),
                status: Set(if answered {
                    "answered"
                } else if sent_at + Duration::days(30) < now {
                    "expired"
                } else {
                    "sent"
                }
                .to_owned()),
                due_on: Set(due),
                created_at: Set(sent_at),
                sent_at: Set(Some(sent_at)),
                answered_at: Set(answered.then_some(answered_at)),
                expires_at: Set(sent_at + Duration::days(30)),
                reminders_sent: Set(if answered { 0 } else { 3 }),
                last_reminder_at: Set(None),
            });
            waves.push(survey_wave::ActiveModel {
                deal_id: Set(deal_id),
                wave_months: Set(i32::try_from(months).unwrap_or(0)),
                due_on: Set(due),
                status: Set("surveyed".to_owned()),
                note: Set(None),
                survey_id: Set(Some(survey_id)),
                created_at: Set(sent_at),
                updated_at: Set(sent_at),
                ..Default::default()
            });
            if answered {
                for id in &own {
                    let roll = dice.range(0, 99);
                    let verdict = match roll {
                        0..=71 => "kept",
                        72..=84 => "partly",
                        85..=92 => "not_kept",
                        _ => "too_early",
                    };
                    if verdict == "not_kept" {
                        let resolved = (answered_at + Duration::days(45) < now && dice.range(0, 99) < 85)
                            .then(|| answered_at + Duration::days(dice.range(3, 40)));
                        followups.push(followup::ActiveModel {
                            deal_id: Set(deal_id),
                            promise_id: Set(*id),
                            survey_id: Set(survey_id),
                            status: Set(if resolved.is_some() { status::RESOLVED } else { status::OPEN }.to_owned()),
                            opened_at: Set(answered_at),
                            resolved_at: Set(resolved),
                            resolved_by_id: Set(resolved.map(|_| account_manager)),
                            resolution: Set(resolved.map(|_| "Fixed with the customer on a call".to_owned())),
                            ..Default::default()
                        });
                        summary.followups += 1;
                    }
                    answers.push(survey_answer::ActiveModel {
                        survey_id: Set(survey_id),
                        promise_id: Set(*id),
                        verdict: Set(verdict.to_owned()),
                        comment: Set(None),
                        created_at: Set(answered_at),
                        ..Default::default()
                    });
                    summary.verdicts += 1;
                }
                responses.push(survey_response::ActiveModel {
                    survey_id: Set(survey_id),
                    nps: Set(Some(i32::try_from(dice.range(4, 10).max(dice.range(0, 10))).unwrap_or(8))),
                    reference: Set(dice.range(0, 4) == 0),
                    review: Set(dice.range(0, 5) == 0),
                    comment: Set(None),
                    submitted_at: Set(answered_at),
                    ..Default::default()
                });
            }
            survey_id += 1;
            summary.surveys += 1;
        }
        summary.deals += 1;
        if summary.deals % 2_000 == 0 {
            flush!();
        }
    }
    flush!();
    if txn.get_database_backend() == DbBackend::Postgres {
        // Explicit ids leave identity sequences behind; move them past the data.
        for table in ["accounts", "contacts", "deals", "promises", "surveys"] {
            txn.execute_unprepared(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))"
            ))
            .await?;
        }
    }
    txn.commit().await?;
    Ok(summary)
}
