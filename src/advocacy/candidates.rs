//! Who is an advocacy candidate: evidence, not gut feeling.
//!
//! Each contact who answered a survey is judged on their **latest answered
//! survey** and the deals it covers (its waves' deals; the account's deals
//! when it covers none). With the default [`Rules`] a contact is a
//! candidate when:
//! 1. a deal the survey covers is **live** (in the last stage of the
//!    pipeline), and
//! 2. **none** of the deals it covers has **churned**;
//! 3. the survey has **no "not kept" verdict**, and
//! 4. a **kept rate** of at least 80 %: kept / (kept + partly + not kept),
//!    "too early" left out; a survey with no judged promise does not count;
//! 5. the contact gave **NPS 9 or 10**;
//! 6. the contact has **not unsubscribed** (from surveys: they asked to be
//!    left alone);
//! 7. the contact's **ask budget** allows an ask now: nothing (no advocacy
//!    ask, no survey) in the last 90 days and fewer than 2 this calendar
//!    quarter (see [`super::asks`]: surveys and asks share the budget);
//! 8. the account's **LTV:CAC** is at least 3 **where known**; an account
//!    without ARR, margin or CAC is not held back.
//!
//! Candidates are ranked by a score (higher first; ties by NPS, then the
//! latest answer, then the contact's id):
//! - kept rate x 40 (up to 40);
//! - NPS above 8: 10 points per step (NPS 9: 10, NPS 10: 20);
//! - said yes to being a reference: 15; to writing a review: 10;
//! - 2 points per kept promise, up to 10: more promises kept is more proof;
//! - a point per month live, up to 12;
//! - 5 when LTV:CAC is known and at least 3.
//!
//! Each candidate carries its reasons in words ("3/3 promises kept at 9
//! months, NPS 10, open to references, live 7 months") and the asks left in
//! its budget this quarter. Contacts that miss a rule are kept, with the
//! rules they miss, for [`assess`]; [`list`] returns only the candidates.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use entity::{account, contact, deal, stage, stage_transition, survey, survey_answer, survey_response, survey_wave};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use super::asks::{self, AskBudget, plural};
use crate::AppResult;
use crate::db::Sql;
use crate::metrics::profitability::{self, DEFAULT_MONTHLY_CHURN};
use crate::surveys::{Verdict, status};

/// The rules, each adjustable; [`Rules::default`] are the product's.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// A deal the survey covers must be live.
    pub require_live: bool,
    /// A single "not kept" verdict rules the contact out.
    pub reject_not_kept: bool,
    /// The lowest kept rate, in percent.
    pub min_kept_pct: u32,
    /// The lowest recommend score (0-10).
    pub min_nps: i32,
    /// Churned customers are left out.
    pub exclude_churned: bool,
    /// Contacts who unsubscribed are left out.
    pub exclude_unsubscribed: bool,
    /// How often a contact may be asked (surveys included).
    pub budget: AskBudget,
    /// The lowest LTV:CAC where it is known; `None` ignores profitability.
    pub min_ltv_cac: Option<f64>,
    /// The monthly churn rate (fraction) used when the data is too thin.
    pub configured_churn: f64,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            require_live: true,
            reject_not_kept: true,
            min_kept_pct: 80,
            min_nps: 9,
            exclude_churned: true,
            exclude_unsubscribed: true,
            budget: AskBudget::default(),
            min_ltv_cac: Some(profitability::TARGET_LTV_CAC),
            configured_churn: DEFAULT_MONTHLY_CHURN,
        }
    }
}

impl Rules {
    /// The rules in effect, in words, for the advocacy page.
    pub fn describe(&self) -> Vec<String> {
        let mut rules = Vec::new();
        if self.require_live {
            rules.push("a deal the latest survey covers is live".to_owned());
        }
        if self.exclude_churned {
            rules.push("not churned".to_owned());
        }
        if self.reject_not_kept {
            rules.push("no promise judged not kept".to_owned());
        }
        rules.push(format!("at least {} % of promises kept", self.min_kept_pct));
        rules.push(format!("recommend score {} or higher", self.min_nps));
        if self.exclude_unsubscribed {
            rules.push("not unsubscribed".to_owned());
        }
        rules.push(format!(
            "not asked for advocacy in the last {} days and fewer than {} asks and surveys this quarter",
            self.budget.quiet_days, self.budget.per_quarter
        ));
        if let Some(ratio) = self.min_ltv_cac {
            rules.push(format!("LTV:CAC at least {ratio}:1 where known"));
        }
        rules
    }
}

/// A rule a contact misses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Exclusion {
    /// `not_live`, `churned`, `not_kept`, `no_verdicts`, `kept_rate`,
    /// `no_nps`, `nps`, `unsubscribed`, `asked_recently`, `quarter_used` or
    /// `ltv_cac`.
    #[schema(value_type = String)]
    pub code: &'static str,
    /// In words.
    pub reason: String,
}

/// A contact judged as an advocacy candidate.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    /// Position among the candidates (1 = ask first); `None` when excluded.
    pub rank: Option<usize>,
    /// The contact.
    pub contact_id: i32,
    /// Their name.
    pub contact_name: String,
    /// Their email.
    pub contact_email: String,
    /// Their account.
    pub account_id: i32,
    /// Its name.
    pub account: String,
    /// Its segment.
    pub segment: Option<String>,
    /// The deal to ask about: the longest-live deal the survey covers.
    pub deal_id: Option<i32>,
    /// Its name.
    pub deal_name: Option<String>,
    /// The latest answered survey.
    pub survey_id: i32,
    /// When it was answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// Its wave (months after the purchase; the latest when it covers several).
    pub wave_months: Option<i32>,
    /// Promises judged kept.
    pub kept: u32,
    /// Partly kept.
    pub partly: u32,
    /// Not kept.
    pub not_kept: u32,
    /// Too early to tell.
    pub too_early: u32,
    /// kept / (kept + partly + not kept), as a fraction.
    pub kept_rate: Option<f64>,
    /// The recommend score.
    pub nps: Option<i32>,
    /// Said yes to being a reference.
    pub open_to_reference: bool,
    /// Said yes to writing a review.
    pub open_to_review: bool,
    /// When the deal went live.
    pub live_since: Option<NaiveDate>,
    /// Whole months live.
    pub live_months: Option<u32>,
    /// The account's LTV:CAC, when known.
    pub ltv_cac: Option<f64>,
    /// The ranking score.
    pub score: f64,
    /// Why they are a good ask, in words.
    pub reasons: Vec<String>,
    /// The reasons in one line.
    pub summary: String,
    /// Asks (and surveys) the budget still allows this quarter.
    pub asks_left_this_quarter: u32,
    /// The latest ask or survey within the budget's horizon.
    pub last_asked_at: Option<DateTime<Utc>>,
    /// When they may be asked again, if not now.
    pub next_ask_from: Option<DateTime<Utc>>,
    /// Whether every rule is met.
    pub eligible: bool,
    /// The rules missed.
    pub excluded_because: Vec<Exclusion>,
}

/// Whose latest answered survey is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Only contacts who can pass every rule checked in SQL: the list.
    Candidates,
    /// The most recently answered promoters, at most this many.
    RecentPromoters(u64),
    /// Every contact with an answered survey.
    Everyone,
}

/// The candidates as of `now`, best first.
pub async fn list(db: &impl ConnectionTrait, rules: &Rules, now: DateTime<Utc>) -> AppResult<Vec<Candidate>> {
    Ok(judge_contacts(db, rules, now, Scope::Candidates).await?.into_iter().filter(|c| c.eligible).collect())
}

/// Every contact with an answered survey, judged: the candidates first,
/// ranked, then the rest with the rules they miss.
pub async fn assess(db: &impl ConnectionTrait, rules: &Rules, now: DateTime<Utc>) -> AppResult<Vec<Candidate>> {
    judge_contacts(db, rules, now, Scope::Everyone).await
}

/// The near misses: of the `limit` contacts who most recently gave a
/// promoter's score, those who miss another rule, with the rules they miss.
pub async fn near_misses(
    db: &impl ConnectionTrait,
    rules: &Rules,
    now: DateTime<Utc>,
    limit: u64,
) -> AppResult<Vec<Candidate>> {
    let judged = judge_contacts(db, rules, now, Scope::RecentPromoters(limit)).await?;
    Ok(judged.into_iter().filter(|c| !c.eligible).collect())
}

/// Judges the contacts in `scope`. Most contacts are not promoters, and
/// most promoters were asked lately, so narrowing in SQL first keeps the
/// list fast at scale.
async fn judge_contacts(
    db: &impl ConnectionTrait,
    rules: &Rules,
    now: DateTime<Utc>,
    scope: Scope,
) -> AppResult<Vec<Candidate>> {
    let wanted = latest_surveys(db, rules, now, scope).await?;
    let mut latest: HashMap<i32, survey::Model> = HashMap::new();
    for chunk in wanted.chunks(crate::db::IN_LIST) {
        for s in survey::Entity::find().filter(survey::Column::Id.is_in(chunk.iter().copied())).all(db).await? {
            latest.insert(s.contact_id, s);
        }
    }
    if latest.is_empty() {
        return Ok(Vec::new());
    }
    let survey_ids: Vec<i32> = latest.values().map(|s| s.id).collect();
    let contact_ids: Vec<i32> = latest.keys().copied().collect();
    let account_ids: Vec<i32> = latest.values().map(|s| s.account_id).collect::<HashSet<_>>().into_iter().collect();

    let mut answers: HashMap<i32, Vec<survey_answer::Model>> = HashMap::new();
    let mut responses: HashMap<i32, survey_response::Model> = HashMap::new();
    let mut waves: HashMap<i32, Vec<survey_wave::Model>> = HashMap::new();
    for chunk in survey_ids.chunks(crate::db::IN_LIST) {
        let ids = chunk.iter().copied();
        for a in
            survey_answer::Entity::find().filter(survey_answer::Column::SurveyId.is_in(ids.clone())).all(db).await?
        {
            answers.entry(a.survey_id).or_default().push(a);
        }
        for r in
            survey_response::Entity::find().filter(survey_response::Column::SurveyId.is_in(ids.clone())).all(db).await?
        {
            responses.insert(r.survey_id, r);
        }
        for w in survey_wave::Entity::find().filter(survey_wave::Column::SurveyId.is_in(ids)).all(db).await? {
            if let Some(id) = w.survey_id {
                waves.entry(id).or_default().push(w);
            }
        }
    }
    let mut contacts: HashMap<i32, contact::Model> = HashMap::new();
    for chunk in contact_ids.chunks(crate::db::IN_LIST) {
        for c in contact::Entity::find().filter(contact::Column::Id.is_in(chunk.iter().copied())).all(db).await? {
            contacts.insert(c.id, c);
        }
    }
    let mut accounts: HashMap<i32, account::Model> = HashMap::new();
    let mut deals_of_account: HashMap<i32, Vec<deal::Model>> = HashMap::new();
    for chunk in account_ids.chunks(crate::db::IN_LIST) {
        for a in account::Entity::find().filter(account::Column::Id.is_in(chunk.iter().copied())).all(db).await? {
            accounts.insert(a.id, a);
        }
        let found = deal::Entity::find()
            .filter(deal::Column::AccountId.is_in(chunk.iter().copied()))
            .order_by_asc(deal::Column::Id)
            .all(db)
            .await?;
        for d in found {
            deals_of_account.entry(d.account_id).or_default().push(d);
        }
    }
    let deal_ids: Vec<i32> = deals_of_account.values().flatten().map(|d| d.id).collect();
    let last_stage = stage::Entity::find().order_by_desc(stage::Column::Position).one(db).await?;
    let live_dates = go_live_dates(db, last_stage.as_ref(), &deal_ids).await?;
    let stage_names: HashMap<i32, String> =
        stage::Entity::find().all(db).await?.into_iter().map(|s| (s.id, s.name)).collect();
    let budgets = asks::budgets(db, &contact_ids, rules.budget, now).await?;
    let churn = profitability::churn_rate(db, rules.configured_churn, now).await?;

    let mut judged = Vec::with_capacity(latest.len());
    for (contact_id, s) in &latest {
        let Some(who) = contacts.get(contact_id) else { continue };
        let account = accounts.get(&s.account_id);
        let account_deals = deals_of_account.get(&s.account_id).map(Vec::as_slice).unwrap_or_default();
        let covered_ids: HashSet<i32> =
            waves.get(&s.id).map(|ws| ws.iter().map(|w| w.deal_id).collect()).unwrap_or_default();
        let covered: Vec<&deal::Model> = if covered_ids.is_empty() {
            account_deals.iter().collect()
        } else {
            account_deals.iter().filter(|d| covered_ids.contains(&d.id)).collect()
        };
        let facts = Facts {
            survey: s,
            contact: who,
            account,
            covered: &covered,
            answers: answers.get(&s.id).map(Vec::as_slice).unwrap_or_default(),
            response: responses.get(&s.id),
            wave_months: waves.get(&s.id).and_then(|ws| ws.iter().map(|w| w.wave_months).max()),
            last_stage: last_stage.as_ref().map(|st| st.id),
            live_dates: &live_dates,
            stage_names: &stage_names,
            budget: budgets.get(contact_id),
            ltv_cac: account.and_then(|a| profitability::economics(a, churn.monthly).ltv_cac),
        };
        judged.push(judge(&facts, rules, now.date_naive()));
    }
    judged.sort_by(|a, b| {
        b.eligible
            .cmp(&a.eligible)
            .then(b.score.total_cmp(&a.score))
            .then(b.nps.cmp(&a.nps))
            .then(b.answered_at.cmp(&a.answered_at))
            .then(a.contact_id.cmp(&b.contact_id))
    });
    for (i, c) in judged.iter_mut().filter(|c| c.eligible).enumerate() {
        c.rank = Some(i + 1);
    }
    Ok(judged)
}

/// The id of each contact's latest answered survey, picked in the database
/// (at a hundred thousand contacts, moving every answered survey into memory
/// would dominate the time). For [`Scope::Candidates`] it also leaves out,
/// there and then, the surveys that cannot pass the rules checked cheapest
/// in SQL: the recommend score, a "not kept" verdict, an unsubscribed contact
/// and an advocacy ask within the quiet period. Each is a rule in its own
/// right, so a contact dropped here would fail [`judge`] too.
async fn latest_surveys(
    db: &impl ConnectionTrait,
    rules: &Rules,
    now: DateTime<Utc>,
    scope: Scope,
) -> AppResult<Vec<i32>> {
    let mut sql = Sql::new(db.get_database_backend());
    let answered = sql.bind(status::ANSWERED);
    sql.text = format!(
        "SELECT t.id FROM (SELECT s.id, s.contact_id, s.answered_at, ROW_NUMBER() OVER \
         (PARTITION BY s.contact_id ORDER BY s.answered_at DESC NULLS LAST, s.id DESC) AS rn \
         FROM surveys s WHERE s.status = {answered}) t WHERE t.rn = 1"
    );
    if scope != Scope::Everyone {
        let min_nps = sql.bind(rules.min_nps);
        sql.text +=
            &format!(" AND EXISTS (SELECT 1 FROM survey_responses r WHERE r.survey_id = t.id AND r.nps >= {min_nps})");
    }
    if scope == Scope::Candidates {
        if rules.reject_not_kept {
            let not_kept = sql.bind(Verdict::NotKept.as_str());
            sql.text += &format!(
                " AND NOT EXISTS (SELECT 1 FROM survey_answers a WHERE a.survey_id = t.id AND a.verdict = {not_kept})"
            );
        }
        if rules.exclude_unsubscribed {
            sql.text += " AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = t.contact_id AND c.unsubscribed_at IS NOT NULL)";
        }
        let quiet_start = sql.bind(now - Duration::days(rules.budget.quiet_days));
        sql.text += &format!(
            " AND NOT EXISTS (SELECT 1 FROM advocacy_asks k WHERE k.contact_id = t.contact_id AND k.asked_at > {quiet_start})"
        );
    }
    if let Scope::RecentPromoters(limit) = scope {
        let limit = sql.bind(i64::try_from(limit).unwrap_or(i64::MAX));
        sql.text += &format!(" ORDER BY t.answered_at DESC, t.id DESC LIMIT {limit}");
    }
    let rows = db.query_all_raw(sql.statement()).await?;
    rows.iter().map(|row| row.try_get::<i32>("", "id").map_err(Into::into)).collect()
}

/// When each of `deal_ids` last entered the last stage.
async fn go_live_dates(
    db: &impl ConnectionTrait,
    last_stage: Option<&stage::Model>,
    deal_ids: &[i32],
) -> AppResult<HashMap<i32, NaiveDate>> {
    let Some(last) = last_stage else { return Ok(HashMap::new()) };
    let mut dates = HashMap::new();
    for chunk in deal_ids.chunks(crate::db::IN_LIST) {
        let moves = stage_transition::Entity::find()
            .filter(stage_transition::Column::ToStageId.eq(last.id))
            .filter(stage_transition::Column::DealId.is_in(chunk.iter().copied()))
            .order_by_asc(stage_transition::Column::At)
            .all(db)
            .await?;
        // The latest entry counts: a deal that went back and live again starts over.
        for m in moves {
            dates.insert(m.deal_id, m.at.date_naive());
        }
    }
    Ok(dates)
}

/// Everything one contact is judged on.
struct Facts<'a> {
    survey: &'a survey::Model,
    contact: &'a contact::Model,
    account: Option<&'a account::Model>,
    covered: &'a [&'a deal::Model],
    answers: &'a [survey_answer::Model],
    response: Option<&'a survey_response::Model>,
    wave_months: Option<i32>,
    last_stage: Option<i32>,
    live_dates: &'a HashMap<i32, NaiveDate>,
    stage_names: &'a HashMap<i32, String>,
    budget: Option<&'a asks::BudgetStatus>,
    ltv_cac: Option<f64>,
}

/// Whole months from `since` to `today`.
fn months_between(since: NaiveDate, today: NaiveDate) -> u32 {
    let months = (today.year() - since.year()) * 12 + today.month() as i32 - since.month() as i32;
    let months = if today.day() < since.day() { months - 1 } else { months };
    u32::try_from(months).unwrap_or(0)
}

fn judge(facts: &Facts<'_>, rules: &Rules, today: NaiveDate) -> Candidate {
    let mut out = Vec::new();
    let mut exclude = |code: &'static str, reason: String| out.push(Exclusion { code, reason });

    // Live: the longest-live deal the survey covers (one not churned first).
    let live: Vec<(&deal::Model, NaiveDate)> = facts
        .covered
        .iter()
        .filter(|d| Some(d.stage_id) == facts.last_stage)
        .map(|d| (*d, facts.live_dates.get(&d.id).copied().unwrap_or(d.stage_entered_at.date_naive())))
        .collect();
    let first_live = live.iter().min_by_key(|(d, since)| (d.churned_on.is_some(), *since, d.id)).copied();
    let deal = first_live.map(|(d, _)| d).or_else(|| facts.covered.first().copied());
    let live_since = first_live.map(|(_, since)| since);
    let live_months = live_since.map(|since| months_between(since, today));
    if rules.require_live && first_live.is_none() {
        let reason = match facts.covered.first() {
            Some(d) => format!(
                "not live yet: {} is at \u{201c}{}\u{201d}",
                d.name,
                facts.stage_names.get(&d.stage_id).map_or("an earlier stage", String::as_str)
            ),
            None => "no deal".to_owned(),
        };
        exclude("not_live", reason);
    }
    if rules.exclude_churned
        && let Some(gone) = facts.covered.iter().find(|d| d.churned_on.is_some())
    {
        let on = gone.churned_on.map(|d| d.to_string()).unwrap_or_default();
        exclude("churned", format!("churned: {} on {on}", gone.name));
    }

    // Promises.
    let count = |v: Verdict| {
        u32::try_from(facts.answers.iter().filter(|a| a.verdict == v.as_str()).count()).unwrap_or(u32::MAX)
    };
    let (kept, partly, not_kept, too_early) =
        (count(Verdict::Kept), count(Verdict::Partly), count(Verdict::NotKept), count(Verdict::TooEarly));
    let judged = kept + partly + not_kept;
    let kept_rate = (judged > 0).then(|| f64::from(kept) / f64::from(judged));
    if rules.reject_not_kept && not_kept > 0 {
        exclude("not_kept", format!("{} not kept", plural(i64::from(not_kept), "promise")));
    }
    if judged == 0 {
        exclude("no_verdicts", "no promise judged yet".to_owned());
    } else if u64::from(kept) * 100 < u64::from(rules.min_kept_pct) * u64::from(judged) {
        exclude(
            "kept_rate",
            format!("{kept}/{judged} promises kept ({} %), below {} %", percent(kept, judged), rules.min_kept_pct),
        );
    }

    // The recommend score.
    let nps = facts.response.and_then(|r| r.nps);
    match nps {
        None => exclude("no_nps", "gave no recommend score".to_owned()),
        Some(score) if score < rules.min_nps => exclude("nps", format!("NPS {score}, below {}", rules.min_nps)),
        Some(_) => {}
    }
    let open_to_reference = facts.response.is_some_and(|r| r.reference);
    let open_to_review = facts.response.is_some_and(|r| r.review);

    if rules.exclude_unsubscribed
        && let Some(at) = facts.contact.unsubscribed_at
    {
        exclude("unsubscribed", format!("unsubscribed on {}", at.date_naive()));
    }

    // The ask budget, shared with surveys.
    if let Some(budget) = facts.budget {
        if budget.asked_recently {
            exclude("asked_recently", budget.blocked_because.first().cloned().unwrap_or_default());
        }
        if budget.quarter_used {
            exclude("quarter_used", budget.blocked_because.last().cloned().unwrap_or_default());
        }
    }

    if let (Some(min), Some(ratio)) = (rules.min_ltv_cac, facts.ltv_cac)
        && ratio < min - profitability::TOLERANCE
    {
        exclude("ltv_cac", format!("LTV:CAC {ratio:.1}, below {min}:1"));
    }

    // The score and the reasons.
    let mut score = kept_rate.unwrap_or_default() * 40.0;
    score += f64::from((nps.unwrap_or_default() - 8).max(0) * 10);
    score += if open_to_reference { 15.0 } else { 0.0 } + if open_to_review { 10.0 } else { 0.0 };
    score += f64::from((kept * 2).min(10));
    score += f64::from(live_months.unwrap_or_default().min(12));
    if facts.ltv_cac.is_some_and(profitability::meets_target) {
        score += 5.0;
    }

    let mut reasons = Vec::new();
    let mut promises = format!("{kept}/{judged} promises kept");
    let mut asides = Vec::new();
    if partly > 0 {
        asides.push(format!("{partly} partly"));
    }
    if not_kept > 0 {
        asides.push(format!("{not_kept} not kept"));
    }
    if too_early > 0 {
        asides.push(format!("{too_early} too early to tell"));
    }
    if !asides.is_empty() {
        promises = format!("{promises} ({})", asides.join(", "));
    }
    if let Some(months) = facts.wave_months {
        promises = format!("{promises} at {months} months");
    }
    reasons.push(promises);
    if let Some(score) = nps {
        reasons.push(format!("NPS {score}"));
    }
    match (open_to_reference, open_to_review) {
        (true, true) => reasons.push("open to references and reviews".to_owned()),
        (true, false) => reasons.push("open to references".to_owned()),
        (false, true) => reasons.push("open to reviews".to_owned()),
        (false, false) => {}
    }
    if let (Some(since), Some(months)) = (live_since, live_months) {
        reasons.push(if months == 0 {
            format!("live {}", plural((today - since).num_days(), "day"))
        } else {
            format!("live {}", plural(i64::from(months), "month"))
        });
    }
    if let Some(ratio) = facts.ltv_cac {
        reasons.push(format!("LTV:CAC {ratio:.1}"));
    }

    let budget = facts.budget;
    Candidate {
        rank: None,
        contact_id: facts.contact.id,
        contact_name: facts.contact.name.clone(),
        contact_email: facts.contact.email.clone(),
        account_id: facts.survey.account_id,
        account: facts.account.map(|a| a.name.clone()).unwrap_or_default(),
        segment: facts.account.and_then(|a| a.segment.clone()),
        deal_id: deal.map(|d| d.id),
        deal_name: deal.map(|d| d.name.clone()),
        survey_id: facts.survey.id,
        answered_at: facts.survey.answered_at,
        wave_months: facts.wave_months,
        kept,
        partly,
        not_kept,
        too_early,
        kept_rate: kept_rate.map(crate::metrics::stats::round4),
        nps,
        open_to_reference,
        open_to_review,
        live_since,
        live_months,
        ltv_cac: facts.ltv_cac,
        score: crate::metrics::stats::round1(score),
        summary: reasons.join(", "),
        reasons,
        asks_left_this_quarter: budget.map_or(rules.budget.per_quarter, |b| b.left_this_quarter),
        last_asked_at: budget.and_then(|b| b.last_asked_at),
        next_ask_from: budget.and_then(|b| b.next_ask_from),
        eligible: out.is_empty(),
        excluded_because: out,
    }
}

/// `part` of `whole` in percent with one decimal, rounded down so that
/// 79.96 % never reads as 80 %.
fn percent(part: u32, whole: u32) -> f64 {
    (u64::from(part) * 1000 / u64::from(whole.max(1))) as f64 / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a date")
    }

    #[test]
    fn months_live_are_whole_calendar_months() {
        assert_eq!(months_between(date("2026-03-15"), date("2026-10-15")), 7);
        assert_eq!(months_between(date("2026-03-15"), date("2026-10-14")), 6);
        assert_eq!(months_between(date("2026-03-15"), date("2026-03-20")), 0);
        assert_eq!(months_between(date("2025-12-31"), date("2026-01-31")), 1);
    }

    #[test]
    fn percentages_round_down() {
        assert_eq!(percent(15, 19), 78.9);
        assert_eq!(percent(4, 5), 80.0);
        assert_eq!(percent(1999, 2000), 99.9);
        assert_eq!(percent(0, 0), 0.0);
    }
}
