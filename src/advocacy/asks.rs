//! The advocacy asks ledger, and the ask budget every contact has.
//!
//! **The ask budget.** Surveys and advocacy asks share one budget per
//! contact, so nobody is over-asked. With the defaults
//! ([`AskBudget::default`]) a contact may be asked for advocacy only when:
//! - no advocacy ask reached them in the last 90 days (one asked exactly 90
//!   days ago may be asked again); surveys do not start this quiet period,
//!   or the 6/9/12-month waves, 90 days apart, would leave no room at all;
//! - fewer than 2 asks **and surveys together** reached them this calendar
//!   quarter (UTC): the shared budget; and the survey planner's cooldown
//!   likewise counts advocacy asks as well as surveys.
//!
//! Declined asks count: they were asks. The same rule decides who appears
//! among the [`super::candidates`] and whether a new ask is recorded:
//! an ask beyond the budget is refused with 409 `ask_budget_exhausted`.
//!
//! **History.** An ask's facts (kind, contact, who asked, when, note) are
//! never changed. Its outcome is recorded once, from `pending` to `done`
//! or `declined`, with the date; a recorded outcome is not rewritten (409
//! `outcome_already_recorded`), and the audit log keeps who recorded it.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::{account, advocacy_ask, contact, deal, survey};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};

use super::{kind, outcome};
use crate::metrics::stats::Quarter;
use crate::validate::{Fields, MAX_TEXT};
use crate::{AppError, AppResult, audit};

/// How often one contact may be asked (surveys included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AskBudget {
    /// After an advocacy ask, the contact is not asked again for this many days.
    pub quiet_days: i64,
    /// At most this many asks and surveys per calendar quarter.
    pub per_quarter: u32,
}

impl Default for AskBudget {
    fn default() -> Self {
        Self { quiet_days: 90, per_quarter: 2 }
    }
}

/// Something that used up a contact's ask budget.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Touch {
    at: DateTime<Utc>,
    /// `survey`, or the kind of ask.
    what: String,
}

/// A contact's ask budget as of a moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetStatus {
    /// The latest ask or survey within the quiet period or this quarter.
    pub last_asked_at: Option<DateTime<Utc>>,
    /// What that was: `survey` or the kind of ask.
    pub last_asked_with: Option<String>,
    /// Asks and surveys this calendar quarter.
    pub asked_this_quarter: u32,
    /// How many more this quarter allows.
    pub left_this_quarter: u32,
    /// Whether the contact may be asked now.
    pub may_ask: bool,
    /// When the contact may be asked again (when not now).
    pub next_ask_from: Option<DateTime<Utc>>,
    /// Why not now, in sentences (empty when they may be asked).
    pub blocked_because: Vec<String>,
    /// Whether an ask or survey fell within the quiet period.
    pub asked_recently: bool,
    /// Whether this quarter's asks are used up.
    pub quarter_used: bool,
}

/// The first instant of the calendar quarter `at` falls in (UTC).
pub fn quarter_start(at: DateTime<Utc>) -> DateTime<Utc> {
    let date = at.date_naive();
    Quarter::of(date).first_day().unwrap_or(date).and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The first instant of the next calendar quarter.
fn next_quarter_start(at: DateTime<Utc>) -> DateTime<Utc> {
    let date = at.date_naive();
    Quarter::of(date).end().unwrap_or(date).and_time(chrono::NaiveTime::MIN).and_utc()
}

fn status_of(touches: &[Touch], budget: AskBudget, now: DateTime<Utc>) -> BudgetStatus {
    let quiet_start = now - Duration::days(budget.quiet_days);
    let quarter = quarter_start(now);
    let last = touches.iter().max_by_key(|t| t.at);
    let recent = touches.iter().filter(|t| t.what != "survey" && t.at > quiet_start).max_by_key(|t| t.at);
    let asked_this_quarter = u32::try_from(touches.iter().filter(|t| t.at >= quarter).count()).unwrap_or(u32::MAX);
    let left_this_quarter = budget.per_quarter.saturating_sub(asked_this_quarter);
    let mut blocked_because = Vec::new();
    let mut next_ask_from: Option<DateTime<Utc>> = None;
    if let Some(recent) = recent {
        let days = (now - recent.at).num_days();
        let what = if recent.what == "survey" {
            "a survey".to_owned()
        } else {
            format!("a {}", kind::label(&recent.what).to_lowercase())
        };
        blocked_because.push(format!(
            "asked {} ago ({what} on {}); one ask per {} days",
            plural(days, "day"),
            recent.at.date_naive(),
            budget.quiet_days
        ));
        next_ask_from = Some(recent.at + Duration::days(budget.quiet_days));
    }
    if left_this_quarter == 0 {
        blocked_because.push(format!(
            "already asked {} this quarter (at most {})",
            plural(i64::from(asked_this_quarter), "time"),
            budget.per_quarter
        ));
        let next_quarter = next_quarter_start(now);
        next_ask_from = Some(next_ask_from.map_or(next_quarter, |at| at.max(next_quarter)));
    }
    BudgetStatus {
        last_asked_at: last.map(|t| t.at),
        last_asked_with: last.map(|t| t.what.clone()),
        asked_this_quarter,
        left_this_quarter,
        may_ask: blocked_because.is_empty(),
        next_ask_from,
        asked_recently: recent.is_some(),
        quarter_used: left_this_quarter == 0,
        blocked_because,
    }
}

/// `n thing` or `n things`.
pub fn plural(n: i64, thing: &str) -> String {
    if n == 1 { format!("1 {thing}") } else { format!("{n} {thing}s") }
}

/// The ask budget of each of `contact_ids` as of `now`: their advocacy asks
/// and surveys within the quiet period or this quarter.
pub async fn budgets(
    db: &impl ConnectionTrait,
    contact_ids: &[i32],
    budget: AskBudget,
    now: DateTime<Utc>,
) -> AppResult<HashMap<i32, BudgetStatus>> {
    let since = quarter_start(now).min(now - Duration::days(budget.quiet_days));
    let mut touches: HashMap<i32, Vec<Touch>> = HashMap::new();
    for chunk in contact_ids.chunks(crate::db::IN_LIST) {
        let asks = advocacy_ask::Entity::find()
            .filter(advocacy_ask::Column::ContactId.is_in(chunk.iter().copied()))
            .filter(advocacy_ask::Column::AskedAt.gte(since))
            .all(db)
            .await?;
        for ask in asks {
            touches.entry(ask.contact_id).or_default().push(Touch { at: ask.asked_at, what: ask.kind });
        }
        let surveys = survey::Entity::find()
            .filter(survey::Column::ContactId.is_in(chunk.iter().copied()))
            .filter(survey::Column::CreatedAt.gte(since))
            .all(db)
            .await?;
        for sent in surveys {
            touches.entry(sent.contact_id).or_default().push(Touch { at: sent.created_at, what: "survey".to_owned() });
        }
    }
    Ok(contact_ids
        .iter()
        .map(|id| (*id, status_of(touches.get(id).map(Vec::as_slice).unwrap_or_default(), budget, now)))
        .collect())
}

/// A new ask, as submitted.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAsk {
    /// `review`, `reference_call`, `case_study`, `referral` or `testimonial`.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub kind: Option<String>,
    /// The contact asked.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Email)]
    pub contact_email: Option<String>,
    /// The deal the ask is about (also picks the account when the email is
    /// a contact of several).
    #[serde(default)]
    pub deal_id: Option<i32>,
    /// What was asked, how, by whom at the customer.
    #[serde(default)]
    pub note: Option<String>,
}

/// An ask's outcome, as submitted.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeInput {
    /// `done` or `declined`.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub outcome: Option<String>,
    /// For a done ask: where the review, case study, recording... is.
    #[serde(default)]
    #[schema(format = "uri")]
    pub link: Option<String>,
    /// For a done referral: the new deal it brought.
    #[serde(default)]
    pub referred_deal_id: Option<i32>,
}

/// An ask as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AskView {
    /// The ask's id.
    pub id: i32,
    /// The kind of ask.
    pub kind: String,
    /// The kind, for people.
    pub kind_label: String,
    /// Who was asked.
    pub contact_id: i32,
    /// Their name.
    pub contact_name: String,
    /// Their email.
    pub contact_email: String,
    /// Their account.
    pub account_id: i32,
    /// Its name.
    pub account: String,
    /// The deal it is about.
    pub deal_id: Option<i32>,
    /// That deal's name.
    pub deal_name: Option<String>,
    /// Who asked (their name).
    pub asked_by: Option<String>,
    /// When.
    pub asked_at: DateTime<Utc>,
    /// The note.
    pub note: Option<String>,
    /// `pending`, `done` or `declined`.
    pub outcome: String,
    /// What it produced.
    pub link: Option<String>,
    /// When the outcome was recorded.
    pub outcome_at: Option<DateTime<Utc>>,
    /// For referrals: the new deal.
    pub referred_deal_id: Option<i32>,
    /// That deal's name.
    pub referred_deal_name: Option<String>,
}

/// Asks by kind and outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OutcomeCounts {
    /// The kind (`all` for the total).
    pub kind: String,
    /// The kind, for people.
    pub label: String,
    /// Waiting for an answer.
    pub pending: u64,
    /// Done.
    pub done: u64,
    /// Declined.
    pub declined: u64,
    /// All asks.
    pub total: u64,
}

fn kind_of(fields: &mut Fields, field: &str, value: Option<&str>) -> String {
    let value = fields.required(field, value, 40);
    if !value.is_empty() && !kind::ALL.iter().any(|(k, _)| *k == value) {
        fields.error(field, "must be one of review, reference_call, case_study, referral, testimonial");
    }
    value
}

/// Finds the contact an ask is for: the email, on the deal's account when a
/// deal is given.
async fn contact_for(db: &impl ConnectionTrait, email: &str, deal: Option<&deal::Model>) -> AppResult<contact::Model> {
    let matches = contact::Entity::find()
        .filter(contact::Column::Email.eq(email))
        .order_by_asc(contact::Column::Id)
        .all(db)
        .await?;
    let mut chosen: Vec<contact::Model> = match deal {
        Some(deal) => matches.into_iter().filter(|c| c.account_id == deal.account_id).collect(),
        None => matches,
    };
    match (chosen.len(), deal) {
        (1, _) => Ok(chosen.remove(0)),
        (0, Some(deal)) => Err(AppError::field(
            "contact_email",
            format!("{email} is not a contact of the account of deal {}", deal.id),
        )),
        (0, None) => Err(AppError::field("contact_email", format!("no contact has the email {email}"))),
        _ => {
            Err(AppError::field("contact_email", format!("{email} is a contact of several accounts; give deal_id too")))
        }
    }
}

/// The 409 for an ask beyond the budget, naming the contact and the date.
fn budget_refusal(who: &contact::Model, status: &BudgetStatus) -> AppError {
    let next = status
        .next_ask_from
        .map(|at| format!("; the next ask is possible from {}", at.date_naive()))
        .unwrap_or_default();
    AppError::conflict(
        "ask_budget_exhausted",
        format!(
            "{} ({}) cannot be asked now: {}. Surveys and advocacy asks share one ask budget per contact{next}",
            who.name,
            who.email,
            status.blocked_because.join("; ")
        ),
    )
}

/// Records an ask by `actor`, within the contact's ask budget.
pub async fn record(
    db: &DatabaseConnection,
    input: NewAsk,
    actor: i32,
    budget: AskBudget,
    now: DateTime<Utc>,
) -> AppResult<AskView> {
    let mut fields = Fields::new();
    let ask_kind = kind_of(&mut fields, "kind", input.kind.as_deref());
    let email = fields.email("contact_email", input.contact_email.as_deref());
    let note = fields.optional("note", input.note.as_deref(), MAX_TEXT);
    fields.finish()?;

    let txn = crate::db::begin_write(db).await?;
    let deal = match input.deal_id {
        Some(id) => Some(
            deal::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .ok_or_else(|| AppError::field("deal_id", format!("no deal has the id {id}")))?,
        ),
        None => None,
    };
    let found = contact_for(&txn, &email, deal.as_ref()).await?;
    // On PostgreSQL concurrent asks of one contact queue here, so the
    // budget is checked against every committed ask; SQLite's write lock
    // (taken by `begin_write`) already serialises them.
    let found =
        contact::Entity::find_by_id(found.id).lock_exclusive().one(&txn).await?.ok_or(AppError::NotFound("contact"))?;
    let status =
        budgets(&txn, &[found.id], budget, now).await?.remove(&found.id).unwrap_or_else(|| status_of(&[], budget, now));
    if !status.may_ask {
        return Err(budget_refusal(&found, &status));
    }
    let made = advocacy_ask::ActiveModel {
        kind: Set(ask_kind.clone()),
        contact_id: Set(found.id),
        deal_id: Set(deal.as_ref().map(|d| d.id)),
        asked_by_id: Set(Some(actor)),
        asked_at: Set(now),
        note: Set(note),
        outcome: Set(outcome::PENDING.to_owned()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let about = deal.as_ref().map(|d| format!(" about deal {}", d.id)).unwrap_or_default();
    let detail = format!("{} asked of {}{about}", kind::label(&ask_kind), found.email);
    audit::record(&txn, Some(actor), "advocacy.ask", &format!("advocacy_ask:{}", made.id), detail, now).await?;
    txn.commit().await?;
    get(db, made.id).await
}

/// Records an ask's outcome: `done` (with a link; for a referral, the new
/// deal) or `declined`.
pub async fn record_outcome(
    db: &DatabaseConnection,
    id: i32,
    input: OutcomeInput,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<AskView> {
    let mut fields = Fields::new();
    let result = fields.required("outcome", input.outcome.as_deref(), 40);
    if !result.is_empty() && result != outcome::DONE && result != outcome::DECLINED {
        fields.error("outcome", "must be done or declined");
    }
    let link = fields.optional_url("link", input.link.as_deref());
    fields.finish()?;

    let txn = crate::db::begin_write(db).await?;
    let ask = advocacy_ask::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("advocacy ask"))?;
    if ask.outcome != outcome::PENDING {
        let on = ask.outcome_at.map(|at| format!(" on {}", at.date_naive())).unwrap_or_default();
        return Err(AppError::conflict(
            "outcome_already_recorded",
            format!(
                "this ask's outcome was already recorded as {}{on}; an ask's history is not rewritten",
                ask.outcome
            ),
        ));
    }
    let mut fields = Fields::new();
    let done = result == outcome::DONE;
    let published = [kind::REVIEW, kind::CASE_STUDY, kind::TESTIMONIAL].contains(&ask.kind.as_str());
    if done && published && link.is_none() {
        fields.error(
            "link",
            format!("is required for a done {}: the link to what it produced", kind::label(&ask.kind).to_lowercase()),
        );
    }
    if !done && link.is_some() {
        fields.error("link", "only a done ask has a link");
    }
    let referred = match input.referred_deal_id {
        Some(_) if ask.kind != kind::REFERRAL => {
            fields.error("referred_deal_id", "only a referral can point at the deal it brought");
            None
        }
        Some(_) if !done => {
            fields.error("referred_deal_id", "only a done referral brought a deal");
            None
        }
        Some(deal_id) if Some(deal_id) == ask.deal_id => {
            fields.error("referred_deal_id", "must be the new deal, not the deal the ask was about");
            None
        }
        Some(deal_id) => match deal::Entity::find_by_id(deal_id).one(&txn).await? {
            Some(found) => Some(found.id),
            None => {
                fields.error("referred_deal_id", format!("no deal has the id {deal_id}"));
                None
            }
        },
        None => None,
    };
    fields.finish()?;
    let mut active: advocacy_ask::ActiveModel = ask.into();
    active.outcome = Set(result.clone());
    active.link = Set(link.clone());
    active.outcome_at = Set(Some(now));
    active.referred_deal_id = Set(referred);
    active.update(&txn).await?;
    let mut detail = result;
    if let Some(link) = &link {
        detail = format!("{detail}: {link}");
    }
    if let Some(deal_id) = referred {
        detail = format!("{detail} (referred deal {deal_id})");
    }
    audit::record(&txn, Some(actor), "advocacy.outcome", &format!("advocacy_ask:{id}"), detail, now).await?;
    txn.commit().await?;
    get(db, id).await
}

async fn views(db: &impl ConnectionTrait, asks: Vec<advocacy_ask::Model>) -> AppResult<Vec<AskView>> {
    let mut contact_ids: Vec<i32> = asks.iter().map(|a| a.contact_id).collect();
    contact_ids.sort_unstable();
    contact_ids.dedup();
    let mut deal_ids: Vec<i32> = asks.iter().flat_map(|a| [a.deal_id, a.referred_deal_id]).flatten().collect();
    deal_ids.sort_unstable();
    deal_ids.dedup();
    let mut contacts = HashMap::new();
    for chunk in contact_ids.chunks(crate::db::IN_LIST) {
        for c in contact::Entity::find().filter(contact::Column::Id.is_in(chunk.iter().copied())).all(db).await? {
            contacts.insert(c.id, c);
        }
    }
    let mut deals = HashMap::new();
    for chunk in deal_ids.chunks(crate::db::IN_LIST) {
        for d in deal::Entity::find().filter(deal::Column::Id.is_in(chunk.iter().copied())).all(db).await? {
            deals.insert(d.id, d.name);
        }
    }
    let mut account_ids: Vec<i32> = contacts.values().map(|c| c.account_id).collect();
    account_ids.sort_unstable();
    account_ids.dedup();
    let mut accounts = HashMap::new();
    for chunk in account_ids.chunks(crate::db::IN_LIST) {
        for a in account::Entity::find().filter(account::Column::Id.is_in(chunk.iter().copied())).all(db).await? {
            accounts.insert(a.id, a.name);
        }
    }
    let users: HashMap<i32, String> =
        entity::user::Entity::find().all(db).await?.into_iter().map(|u| (u.id, u.name)).collect();
    Ok(asks
        .into_iter()
        .map(|a| {
            let who = contacts.get(&a.contact_id);
            let account_id = who.map(|c| c.account_id).unwrap_or_default();
            AskView {
                id: a.id,
                kind_label: kind::label(&a.kind).to_owned(),
                kind: a.kind,
                contact_id: a.contact_id,
                contact_name: who.map(|c| c.name.clone()).unwrap_or_default(),
                contact_email: who.map(|c| c.email.clone()).unwrap_or_default(),
                account_id,
                account: accounts.get(&account_id).cloned().unwrap_or_default(),
                deal_id: a.deal_id,
                deal_name: a.deal_id.and_then(|id| deals.get(&id).cloned()),
                asked_by: a.asked_by_id.and_then(|id| users.get(&id).cloned()),
                asked_at: a.asked_at,
                note: a.note,
                outcome: a.outcome,
                link: a.link,
                outcome_at: a.outcome_at,
                referred_deal_id: a.referred_deal_id,
                referred_deal_name: a.referred_deal_id.and_then(|id| deals.get(&id).cloned()),
            }
        })
        .collect())
}

/// One ask.
pub async fn get(db: &impl ConnectionTrait, id: i32) -> AppResult<AskView> {
    let found = advocacy_ask::Entity::find_by_id(id).one(db).await?.ok_or(AppError::NotFound("advocacy ask"))?;
    views(db, vec![found]).await?.pop().ok_or(AppError::NotFound("advocacy ask"))
}

/// The latest `limit` asks, newest first.
pub async fn list(db: &impl ConnectionTrait, limit: u64) -> AppResult<Vec<AskView>> {
    let asks = advocacy_ask::Entity::find()
        .order_by_desc(advocacy_ask::Column::AskedAt)
        .order_by_desc(advocacy_ask::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    views(db, asks).await
}

/// Asks by kind and outcome, with the total last.
pub async fn outcomes(db: &impl ConnectionTrait) -> AppResult<Vec<OutcomeCounts>> {
    let rows: Vec<(String, String)> = advocacy_ask::Entity::find()
        .select_only()
        .column(advocacy_ask::Column::Kind)
        .column(advocacy_ask::Column::Outcome)
        .into_tuple()
        .all(db)
        .await?;
    let mut counts: Vec<OutcomeCounts> = kind::ALL
        .iter()
        .chain(std::iter::once(&("all", "All asks")))
        .map(|(k, label)| OutcomeCounts { kind: (*k).to_owned(), label: (*label).to_owned(), ..Default::default() })
        .collect();
    for (ask_kind, result) in rows {
        for row in counts.iter_mut().filter(|c| c.kind == ask_kind || c.kind == "all") {
            match result.as_str() {
                outcome::DONE => row.done += 1,
                outcome::DECLINED => row.declined += 1,
                _ => row.pending += 1,
            }
            row.total += 1;
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).single().expect("a valid instant")
    }

    fn touch(at: DateTime<Utc>) -> Touch {
        Touch { at, what: "review".to_owned() }
    }

    fn survey(at: DateTime<Utc>) -> Touch {
        Touch { at, what: "survey".to_owned() }
    }

    #[test]
    fn quarters_start_on_the_first_of_january_april_july_october() {
        let start = |y, m, d| quarter_start(at(y, m, d)).date_naive().to_string();
        assert_eq!(start(2026, 3, 31), "2026-01-01");
        assert_eq!(start(2026, 4, 1), "2026-04-01");
        assert_eq!(start(2026, 9, 30), "2026-07-01");
        assert_eq!(start(2026, 12, 31), "2026-10-01");
        assert_eq!(next_quarter_start(at(2026, 11, 5)).date_naive().to_string(), "2027-01-01");
    }

    #[test]
    fn the_budget_counts_the_quiet_period_and_the_quarter() {
        let now = at(2026, 9, 30);
        let budget = AskBudget::default();
        // 89 days ago: too recent; 90 days ago: allowed again.
        let status = status_of(&[touch(now - Duration::days(89))], budget, now);
        assert!(!status.may_ask && status.asked_recently && !status.quarter_used);
        assert_eq!(status.next_ask_from, Some(now + Duration::days(1)));
        assert!(status_of(&[touch(now - Duration::days(90))], budget, now).may_ask);
        // Two this quarter (both 91 days ago, on 1 July): the quarter is used up.
        let twice = [touch(at(2026, 7, 1)), touch(at(2026, 7, 1))];
        let status = status_of(&twice, budget, now);
        assert_eq!(
            (status.may_ask, status.asked_recently, status.quarter_used, status.left_this_quarter),
            (false, false, true, 0)
        );
        assert_eq!(
            status.next_ask_from,
            Some(Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).single().expect("an instant"))
        );
        assert!(status_of(&twice[..1], budget, now).may_ask);
        assert_eq!(status_of(&[], budget, now).left_this_quarter, 2);
        // A survey 10 days ago spends the quarter's budget but starts no quiet period.
        let status = status_of(&[survey(now - Duration::days(10))], budget, now);
        assert_eq!((status.may_ask, status.asked_recently, status.left_this_quarter), (true, false, 1));
        let status = status_of(&[survey(now - Duration::days(10)), touch(at(2026, 7, 1))], budget, now);
        assert_eq!((status.may_ask, status.quarter_used), (false, true));
    }
}
