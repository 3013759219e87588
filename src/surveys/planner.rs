//! Who gets a survey when.
//!
//! Each deal has waves (by default 6, 9 and 12 months) after its anchor date
//! (closed-won, or go-live). When a wave falls due the planner records it
//! once (a unique row per deal and wave). A wave first seen more than
//! `late_days` overdue (a deal imported late) is skipped, as are waves of
//! churned deals; the rest wait until they can be sent:
//! - recipients are the account's contacts marked as survey recipients, or
//!   its first contact when none is marked; unsubscribed contacts get nothing;
//! - a contact never gets two surveys within the cooldown, nor a survey
//!   within the cooldown after an advocacy ask (one ask budget for both);
//! - waves of several deals of one account that are due together are covered
//!   by one survey per recipient, asking about all their promises.
//!
//! Each survey, its token, the promises it freezes and its email are written
//! in one transaction.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, Duration, Months, NaiveDate, Utc};
use entity::{
    account, advocacy_ask, contact, deal, promise, stage, stage_transition, survey, survey_promise, survey_token,
    survey_wave, user,
};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::{email, status, wave_status};
use crate::AppResult;
use crate::auth::tokens;
use crate::config::{Anchor, SurveyPolicy};
use crate::mail::outbox;

/// What one planner run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PlanReport {
    /// Waves that fell due and were recorded.
    pub waves_recorded: usize,
    /// Waves skipped (late, churned, nobody to ask).
    pub waves_skipped: usize,
    /// Surveys made (and their emails queued).
    pub surveys_sent: usize,
    /// Waves still waiting for a contact's cooldown.
    pub waves_waiting: usize,
}

impl fmt::Display for PlanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "waves_recorded={} waves_skipped={} surveys_sent={} waves_waiting={}",
            self.waves_recorded, self.waves_skipped, self.surveys_sent, self.waves_waiting
        )
    }
}

/// The date a wave falls due, or `None` when its anchor is unknown (a deal
/// not yet live, when waves count from go-live).
pub fn due_on(anchor: Option<NaiveDate>, wave_months: u32) -> Option<NaiveDate> {
    anchor?.checked_add_months(Months::new(wave_months))
}

/// Records due waves and sends the surveys that may go out, as of `now`.
pub async fn plan(
    db: &DatabaseConnection,
    policy: &SurveyPolicy,
    base_url: &str,
    now: DateTime<Utc>,
) -> AppResult<PlanReport> {
    let mut report = record_due_waves(db, policy, now).await?;
    send_waiting(db, policy, base_url, now, &mut report).await?;
    Ok(report)
}

/// When each live deal went live.
async fn go_live_dates(db: &impl ConnectionTrait) -> AppResult<HashMap<i32, NaiveDate>> {
    let Some(last) = stage::Entity::find().order_by_desc(stage::Column::Position).one(db).await? else {
        return Ok(HashMap::new());
    };
    let moves = stage_transition::Entity::find()
        .filter(stage_transition::Column::ToStageId.eq(last.id))
        .order_by_asc(stage_transition::Column::At)
        .all(db)
        .await?;
    // The latest entry counts: a deal that went back and live again starts over.
    Ok(moves.into_iter().map(|m| (m.deal_id, m.at.date_naive())).collect())
}

async fn record_due_waves(db: &DatabaseConnection, policy: &SurveyPolicy, now: DateTime<Utc>) -> AppResult<PlanReport> {
    let today = now.date_naive();
    let deals = deal::Entity::find().all(db).await?;
    let live = match policy.anchor {
        Anchor::GoLive => go_live_dates(db).await?,
        Anchor::ClosedWon => HashMap::new(),
    };
    let final_stage = stage::Entity::find().order_by_desc(stage::Column::Position).one(db).await?.map(|s| s.id);
    let known: HashSet<(i32, i32)> =
        survey_wave::Entity::find().all(db).await?.into_iter().map(|w| (w.deal_id, w.wave_months)).collect();
    let mut report = PlanReport::default();
    for deal in &deals {
        let anchor = match policy.anchor {
            Anchor::ClosedWon => Some(deal.closed_won_on),
            Anchor::GoLive => live.get(&deal.id).copied().filter(|_| Some(deal.stage_id) == final_stage),
        };
        for &wave in &policy.waves {
            let months = i32::try_from(wave).unwrap_or(i32::MAX);
            let Some(due) = due_on(anchor, wave).filter(|due| *due <= today) else { continue };
            if known.contains(&(deal.id, months)) {
                continue;
            }
            let overdue = (today - due).num_days();
            let (status, note) = if deal.churned_on.is_some() {
                (wave_status::SKIPPED, Some("the customer churned".to_owned()))
            } else if overdue > policy.late_days {
                (wave_status::SKIPPED, Some(format!("first planned {overdue} days after it fell due (imported late)")))
            } else {
                (wave_status::WAITING, None)
            };
            let row = survey_wave::ActiveModel {
                deal_id: Set(deal.id),
                wave_months: Set(months),
                due_on: Set(due),
                status: Set(status.to_owned()),
                note: Set(note),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            };
            // Two planners at once: the unique (deal, wave) row makes one win.
            let inserted = survey_wave::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([survey_wave::Column::DealId, survey_wave::Column::WaveMonths])
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
            if inserted > 0 {
                report.waves_recorded += 1;
                if status == wave_status::SKIPPED {
                    report.waves_skipped += 1;
                }
            }
        }
    }
    Ok(report)
}

async fn send_waiting(
    db: &DatabaseConnection,
    policy: &SurveyPolicy,
    base_url: &str,
    now: DateTime<Utc>,
    report: &mut PlanReport,
) -> AppResult<()> {
    let waiting = survey_wave::Entity::find()
        .filter(survey_wave::Column::Status.eq(wave_status::WAITING))
        .order_by_asc(survey_wave::Column::Id)
        .all(db)
        .await?;
    let deals: HashMap<i32, deal::Model> = if waiting.is_empty() {
        HashMap::new()
    } else {
        deal::Entity::find()
            .filter(deal::Column::Id.is_in(waiting.iter().map(|w| w.deal_id).collect::<HashSet<_>>()))
            .all(db)
            .await?
            .into_iter()
            .map(|d| (d.id, d))
            .collect()
    };
    let mut by_account: BTreeMap<i32, Vec<survey_wave::Model>> = BTreeMap::new();
    for wave in waiting {
        if let Some(deal) = deals.get(&wave.deal_id) {
            by_account.entry(deal.account_id).or_default().push(wave);
        }
    }
    for (account_id, waves) in by_account {
        let outcome = send_for_account(db, policy, base_url, now, account_id, &waves, &deals).await?;
        report.surveys_sent += outcome.surveys_sent;
        report.waves_skipped += outcome.waves_skipped;
        report.waves_waiting += outcome.waves_waiting;
    }
    Ok(())
}

/// Surveys one account's due waves, in one transaction.
async fn send_for_account(
    db: &DatabaseConnection,
    policy: &SurveyPolicy,
    base_url: &str,
    now: DateTime<Utc>,
    account_id: i32,
    waves: &[survey_wave::Model],
    deals: &HashMap<i32, deal::Model>,
) -> AppResult<PlanReport> {
    let mut report = PlanReport::default();
    let txn = crate::db::begin_write(db).await?;
    // Another planner may have surveyed these waves since we read them. A
    // no-op update locks the rows still waiting until we commit (PostgreSQL;
    // SQLite's write lock is already ours), then we work on those alone.
    let ids: Vec<i32> = waves.iter().map(|w| w.id).collect();
    survey_wave::Entity::update_many()
        .col_expr(survey_wave::Column::Status, Expr::col(survey_wave::Column::Status))
        .filter(survey_wave::Column::Id.is_in(ids.clone()))
        .filter(survey_wave::Column::Status.eq(wave_status::WAITING))
        .exec(&txn)
        .await?;
    let waves = survey_wave::Entity::find()
        .filter(survey_wave::Column::Id.is_in(ids))
        .filter(survey_wave::Column::Status.eq(wave_status::WAITING))
        .order_by_asc(survey_wave::Column::Id)
        .all(&txn)
        .await?;
    // Churned since the wave was recorded: no survey.
    let (churned, active): (Vec<&survey_wave::Model>, Vec<&survey_wave::Model>) =
        waves.iter().partition(|w| deals.get(&w.deal_id).is_some_and(|d| d.churned_on.is_some()));
    if !churned.is_empty() {
        set_waves(
            &txn,
            &churned.iter().map(|w| w.id).collect::<Vec<_>>(),
            wave_status::SKIPPED,
            Some("the customer churned"),
            None,
            now,
        )
        .await?;
        report.waves_skipped += churned.len();
    }
    if active.is_empty() {
        txn.commit().await?;
        return Ok(report);
    }
    let contacts = contact::Entity::find()
        .filter(contact::Column::AccountId.eq(account_id))
        .order_by_asc(contact::Column::Id)
        .all(&txn)
        .await?;
    let marked: Vec<&contact::Model> = contacts.iter().filter(|c| c.survey_recipient).collect();
    let chosen: Vec<&contact::Model> = if marked.is_empty() { contacts.iter().take(1).collect() } else { marked };
    let reachable: Vec<&contact::Model> = chosen.into_iter().filter(|c| c.unsubscribed_at.is_none()).collect();
    let active_ids: Vec<i32> = active.iter().map(|w| w.id).collect();
    if reachable.is_empty() {
        set_waves(
            &txn,
            &active_ids,
            wave_status::SKIPPED,
            Some("nobody to ask: no contact, or every recipient unsubscribed"),
            None,
            now,
        )
        .await?;
        report.waves_skipped += active.len();
        txn.commit().await?;
        return Ok(report);
    }
    let cooldown_start = now - Duration::days(policy.cooldown_days);
    let mut ready = Vec::new();
    for contact in reachable {
        let recent = survey::Entity::find()
            .filter(survey::Column::ContactId.eq(contact.id))
            .filter(survey::Column::CreatedAt.gt(cooldown_start))
            .one(&txn)
            .await?;
        // Surveys and advocacy asks share one ask budget: an ask within the
        // cooldown holds the survey back too.
        let asked = advocacy_ask::Entity::find()
            .filter(advocacy_ask::Column::ContactId.eq(contact.id))
            .filter(advocacy_ask::Column::AskedAt.gt(cooldown_start))
            .one(&txn)
            .await?;
        if recent.is_none() && asked.is_none() {
            ready.push(contact.clone());
        }
    }
    if ready.is_empty() {
        report.waves_waiting += active.len();
        txn.commit().await?;
        return Ok(report);
    }
    let deal_ids: Vec<i32> = active.iter().map(|w| w.deal_id).collect::<HashSet<_>>().into_iter().collect();
    let promises = promise::Entity::find()
        .filter(promise::Column::DealId.is_in(deal_ids.clone()))
        .filter(promise::Column::RetiredAt.is_null())
        .order_by_asc(promise::Column::Id)
        .all(&txn)
        .await?;
    let company = account::Entity::find_by_id(account_id).one(&txn).await?.map(|a| a.name).unwrap_or_default();
    let manager = match active.iter().filter_map(|w| deals.get(&w.deal_id)).find_map(|d| d.account_manager_id) {
        Some(id) => user::Entity::find_by_id(id).one(&txn).await?,
        None => None,
    };
    let due = active.iter().map(|w| w.due_on).min().unwrap_or(now.date_naive());
    let waves_months: Vec<i32> =
        active.iter().map(|w| w.wave_months).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let mut first_survey = None;
    for contact in ready {
        let made = survey::ActiveModel {
            account_id: Set(account_id),
            contact_id: Set(contact.id),
            language: Set(email::language_of(&contact.language).to_owned()),
            status: Set(status::SENT.to_owned()),
            due_on: Set(due),
            created_at: Set(now),
            sent_at: Set(Some(now)),
            expires_at: Set(now + Duration::days(policy.expiry_days)),
            reminders_sent: Set(0),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        for promise in &promises {
            survey_promise::ActiveModel { survey_id: Set(made.id), promise_id: Set(promise.id) }.insert(&txn).await?;
        }
        let token = issue_token(&txn, made.id, "initial", now).await?;
        let message = email::SurveyEmail {
            survey_id: made.id,
            company: company.clone(),
            contact_name: contact.name.clone(),
            contact_email: contact.email.clone(),
            language: made.language.clone(),
            promises: promises.iter().map(|p| p.text.clone()).collect(),
            waves: waves_months.clone(),
            manager: manager.as_ref().map(|m| (m.name.clone(), m.email.clone())),
            reminder: None,
            token,
            base_url: base_url.to_owned(),
        };
        outbox::enqueue(&txn, message.compose()?, base_url, now).await?;
        first_survey.get_or_insert(made.id);
        report.surveys_sent += 1;
    }
    set_waves(&txn, &active_ids, wave_status::SURVEYED, None, first_survey, now).await?;
    // From now on the customer has been asked: promises are append-only.
    promise::Entity::update_many()
        .col_expr(promise::Column::LockedAt, Expr::value(now))
        .filter(promise::Column::Id.is_in(promises.iter().map(|p| p.id)))
        .filter(promise::Column::LockedAt.is_null())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(report)
}

async fn set_waves(
    db: &impl ConnectionTrait,
    ids: &[i32],
    status: &str,
    note: Option<&str>,
    survey_id: Option<i32>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    survey_wave::Entity::update_many()
        .col_expr(survey_wave::Column::Status, Expr::value(status))
        .col_expr(survey_wave::Column::Note, Expr::value(note.map(str::to_owned)))
        .col_expr(survey_wave::Column::SurveyId, Expr::value(survey_id))
        .col_expr(survey_wave::Column::UpdatedAt, Expr::value(now))
        .filter(survey_wave::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// Issues a new capability for a survey (one per email); returns the secret.
pub async fn issue_token(
    db: &impl ConnectionTrait,
    survey_id: i32,
    purpose: &str,
    now: DateTime<Utc>,
) -> AppResult<String> {
    let secret = tokens::random_secret()?;
    survey_token::ActiveModel {
        survey_id: Set(survey_id),
        token_hash: Set(tokens::digest(&secret)),
        purpose: Set(purpose.to_owned()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(secret)
}
