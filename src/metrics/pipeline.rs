//! Pipeline analytics: time in stage, stage-to-stage conversion, time to
//! live and a forecast of go-lives, all from the immutable transition rows
//! and the holds.
//!
//! Definitions (the filter picks the deals; everything below is computed
//! from those deals only):
//! - **Live** is the last stage by position; a deal *went live* when it has a
//!   transition into it, and its go-live instant is the *first* such
//!   transition (a move back and a second go-live change nothing).
//! - **Per stage, now**: `deals_now` counts the deals whose current stage it
//!   is, churned deals left out. Their active and on-hold days are measured
//!   exactly as the board does ([`holds::time_in_stage`]: whole days since
//!   the deal entered its current stay, holds not counted as active);
//!   `median_active_days`/`p90_active_days` are over those deals,
//!   `on_hold_days` is the *total* of their whole on-hold days, and
//!   `sla_breaches` counts those over the stage's SLA (stuck).
//! - **Per stage, history**: every *completed* stay (a deal entered the
//!   stage and later left it, forwards or back), churned deals included,
//!   measured the same way up to the instant it left; reported apart as
//!   `completed_stays` with its median and p90, because the deals now in a
//!   stage have not finished their stay and would understate it.
//! - **Conversion**: per close cohort (quarter of `closed_won_on`, e.g.
//!   `2026-Q1`) and overall, how many deals ever entered each stage; a deal
//!   that moved back and advanced again counts once. `share` is of the
//!   cohort's deals, `from_previous` of those that reached the stage before.
//! - **Time to live**: calendar days from `closed_won_on` to the date of the
//!   first entry into live, over deals that went live (holds included: the
//!   customer waited, but the calendar did not).
//! - **Forecast**: for a deal in flight (not churned, not in live) that
//!   first entered its current stage `e` ago, the chance it goes live within
//!   the next `h` days is, over the filtered deals that ever entered that
//!   stage (first entry) and whose outcome over `(e, e + h]` is known:
//!   `went live within (e, e + h]` / (`went live after e` + `churned without
//!   going live` + `not live, observed for at least e + h`). This is the
//!   share of comparable deals that went on to live, times the share of
//!   their remaining durations that fit the horizon; deals whose outcome is
//!   still open (observed for less than `e + h`) are left out rather than
//!   counted as failures. Durations are calendar time. The expected number
//!   of go-lives is the sum of the chances, rounded to one decimal; a deal
//!   with no comparable history adds nothing and is counted in
//!   `without_history`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use entity::{account, deal, deal_hold, stage, stage_transition};
use sea_orm::sea_query::{self, Condition, Expr, Func};
use sea_orm::{
    AccessMode, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, FromQueryResult,
    IsolationLevel, QueryFilter, QueryOrder, QuerySelect, QueryTrait, TransactionOptions, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::stats::{median, quantile, round1, round4};
use crate::AppResult;
use crate::auth::users;
use crate::pipeline::holds;
use crate::validate::{Fields, MAX_LINE};

/// The forecast's horizons, in days.
pub const HORIZONS: [i64; 3] = [30, 60, 90];

/// How many deals the forecast lists as most likely to go live.
pub const LIKELY_LIMIT: usize = 10;

const SECONDS_PER_DAY: i64 = 86_400;

/// Which deals the analytics cover, as raw query values.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PipelineFilter {
    /// A user's email: deals they own as account manager, implementation
    /// lead or CS manager.
    #[serde(default)]
    #[param(format = Email)]
    pub owner: Option<String>,
    /// The account's segment (case-insensitive).
    #[serde(default)]
    pub segment: Option<String>,
    /// A close cohort, `YYYY-Qn`: deals won in that quarter.
    #[serde(default)]
    pub cohort: Option<String>,
}

pub use super::stats::Quarter;

/// The pipeline analytics.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PipelineMetrics {
    /// The instant they were computed for.
    pub as_of: DateTime<Utc>,
    /// Deals matching the filter, churned ones included.
    pub deals: u64,
    /// Per stage, in pipeline order.
    pub stages: Vec<StageMetrics>,
    /// Stage-to-stage conversion, overall and per close cohort.
    pub conversion: Conversion,
    /// Deals that went live.
    pub live_deals: u64,
    /// Median calendar days from closed-won to the first entry into live.
    pub median_days_to_live: Option<f64>,
    /// The 90th percentile of the same.
    pub p90_days_to_live: Option<f64>,
    /// Expected go-lives of the deals in flight.
    pub forecast: Forecast,
}

/// One stage's numbers.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct StageMetrics {
    /// The stage's key.
    pub key: String,
    /// Its name.
    pub name: String,
    /// Its time target in active days.
    pub sla_days: Option<i32>,
    /// Deals in it now, churned ones left out.
    pub deals_now: u64,
    /// Of those, how many are on hold.
    pub deals_on_hold: u64,
    /// Median active days of the deals in it now.
    pub median_active_days: Option<f64>,
    /// The 90th percentile of the same.
    pub p90_active_days: Option<f64>,
    /// Total whole days on hold of the deals in it now.
    pub on_hold_days: i64,
    /// Deals in it now whose active days exceed the SLA.
    pub sla_breaches: u64,
    /// Stays in the stage that ended (the deal moved on or back).
    pub completed_stays: u64,
    /// Median active days of those stays.
    pub median_completed_active_days: Option<f64>,
    /// The 90th percentile of the same.
    pub p90_completed_active_days: Option<f64>,
}

/// Stage-to-stage conversion.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Conversion {
    /// Every filtered deal (`cohort` is `all`).
    pub overall: CohortConversion,
    /// Per close cohort, oldest first.
    pub cohorts: Vec<CohortConversion>,
}

/// How far one cohort's deals got.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CohortConversion {
    /// `YYYY-Qn`, or `all`.
    pub cohort: String,
    /// The cohort's deals.
    pub deals: u64,
    /// Per stage, in pipeline order.
    pub stages: Vec<StageReach>,
}

/// How many of a cohort's deals ever entered a stage.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct StageReach {
    /// The stage's key.
    pub key: String,
    /// Deals that entered it at least once.
    pub reached: u64,
    /// `reached` / the cohort's deals.
    pub share: Option<f64>,
    /// `reached` / those that reached the stage before (`null` for the first).
    pub from_previous: Option<f64>,
}

/// Expected go-lives.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Forecast {
    /// Deals in flight: not churned, not live.
    pub in_flight: u64,
    /// Deals in flight whose stage has no comparable history.
    pub without_history: u64,
    /// Per horizon.
    pub horizons: Vec<HorizonForecast>,
    /// The deals most likely to go live within the longest horizon.
    pub likely: Vec<LikelyGoLive>,
}

/// Expected go-lives within one horizon.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct HorizonForecast {
    /// The horizon in days.
    pub days: i64,
    /// Sum of the deals' chances, to one decimal.
    pub expected_go_lives: f64,
}

/// A deal in flight and its chances of going live.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct LikelyGoLive {
    /// The deal's id.
    pub deal_id: i32,
    /// Its name.
    pub name: String,
    /// Its current stage's key.
    pub stage: String,
    /// Whole days since it first entered that stage.
    pub days_in_stage: i64,
    /// Chance of going live within 30 days.
    pub within_30_days: f64,
    /// Within 60 days.
    pub within_60_days: f64,
    /// Within 90 days.
    pub within_90_days: f64,
}

/// The columns of a deal the analytics read (every column read costs time
/// at 100 k deals, so only these).
#[derive(Debug, Clone, FromQueryResult)]
struct DealRow {
    id: i32,
    stage_id: i32,
    stage_entered_at: DateTime<Utc>,
    closed_won_on: NaiveDate,
    churned_on: Option<NaiveDate>,
}

/// A stage move as the analytics read it.
#[derive(Debug, Clone, Copy)]
struct Move {
    deal_id: i32,
    to_stage_id: i32,
    at: DateTime<Utc>,
}

struct Checked {
    owner: Option<i32>,
    segment: Option<String>,
    cohort: Option<Quarter>,
}

async fn check(db: &impl ConnectionTrait, filter: &PipelineFilter) -> AppResult<Checked> {
    let mut fields = Fields::new();
    let owner = fields.optional_email("owner", filter.owner.as_deref());
    let segment = fields.optional("segment", filter.segment.as_deref(), MAX_LINE);
    let cohort = filter.cohort.as_deref().map(str::trim).filter(|c| !c.is_empty()).and_then(|raw| {
        let parsed = Quarter::parse(raw);
        if parsed.is_none() {
            fields.error("cohort", "must be a quarter such as 2026-Q1");
        }
        parsed
    });
    fields.finish()?;
    let owner = match owner {
        Some(email) => Some(users::id_by_email(db, "owner", &email).await?),
        None => None,
    };
    Ok(Checked { owner, segment, cohort })
}

impl Checked {
    /// The deals the filter selects, as a condition on `deals`.
    fn condition(&self) -> Option<Condition> {
        let mut condition = Condition::all();
        let mut any = false;
        if let Some(id) = self.owner {
            any = true;
            condition = condition.add(
                Condition::any()
                    .add(deal::Column::AccountManagerId.eq(id))
                    .add(deal::Column::ImplementationLeadId.eq(id))
                    .add(deal::Column::CsmId.eq(id)),
            );
        }
        if let Some(segment) = &self.segment {
            any = true;
            let accounts = account::Entity::find()
                .select_only()
                .column(account::Column::Id)
                .filter(sea_query::ExprTrait::eq(
                    Expr::expr(Func::lower(Expr::col((account::Entity, account::Column::Segment)))),
                    segment.to_lowercase(),
                ))
                .into_query();
            condition = condition.add(deal::Column::AccountId.in_subquery(accounts));
        }
        if let Some(cohort) = self.cohort
            && let (Some(first), Some(end)) = (cohort.first_day(), cohort.end())
        {
            any = true;
            condition = condition.add(deal::Column::ClosedWonOn.gte(first)).add(deal::Column::ClosedWonOn.lt(end));
        }
        any.then_some(condition)
    }
}

/// The pipeline analytics for the deals `filter` selects, as of `now`.
///
/// Reads in six queries (owner, stages, deals, transitions, holds, the
/// listed deals' names) inside one read-only snapshot, whatever the number
/// of deals, and aggregates in memory in O(n log n).
pub async fn compute(
    db: &DatabaseConnection,
    filter: &PipelineFilter,
    now: DateTime<Utc>,
) -> AppResult<PipelineMetrics> {
    let checked = check(db, filter).await?;
    // One snapshot, so a deal moved while we read is counted consistently.
    let options = match db.get_database_backend() {
        DbBackend::Postgres => TransactionOptions {
            isolation_level: Some(IsolationLevel::RepeatableRead),
            access_mode: Some(AccessMode::ReadOnly),
            sqlite_transaction_mode: None,
        },
        _ => TransactionOptions::default(),
    };
    let txn = db.begin_with_options(options).await?;
    let stages = stage::Entity::find().order_by_asc(stage::Column::Position).all(&txn).await?;
    let condition = checked.condition();
    let mut deals = deal::Entity::find().select_only().columns([
        deal::Column::Id,
        deal::Column::StageId,
        deal::Column::StageEnteredAt,
        deal::Column::ClosedWonOn,
        deal::Column::ChurnedOn,
    ]);
    // In insertion order, which breaks ties between moves at the same instant.
    let mut moves = stage_transition::Entity::find()
        .select_only()
        .columns([stage_transition::Column::DealId, stage_transition::Column::ToStageId, stage_transition::Column::At])
        .order_by_asc(stage_transition::Column::Id);
    let mut holds = deal_hold::Entity::find();
    if let Some(condition) = condition {
        let ids = deal::Entity::find().select_only().column(deal::Column::Id).filter(condition.clone()).into_query();
        deals = deals.filter(condition);
        moves = moves.filter(stage_transition::Column::DealId.in_subquery(ids.clone()));
        holds = holds.filter(deal_hold::Column::DealId.in_subquery(ids));
    }
    let deals: Vec<DealRow> = deals.into_model::<DealRow>().all(&txn).await?;
    let moves: Vec<Move> = moves
        .into_tuple::<(i32, i32, DateTime<Utc>)>()
        .all(&txn)
        .await?
        .into_iter()
        .map(|(deal_id, to_stage_id, at)| Move { deal_id, to_stage_id, at })
        .collect();
    let holds = holds.all(&txn).await?;
    let mut metrics = aggregate(&stages, &deals, moves, holds, now);
    // Names only for the few deals listed, not for every deal.
    let ids: Vec<i32> = metrics.forecast.likely.iter().map(|d| d.deal_id).collect();
    let names: HashMap<i32, String> = if ids.is_empty() {
        HashMap::new()
    } else {
        deal::Entity::find()
            .select_only()
            .columns([deal::Column::Id, deal::Column::Name])
            .filter(deal::Column::Id.is_in(ids))
            .into_tuple::<(i32, String)>()
            .all(&txn)
            .await?
            .into_iter()
            .collect()
    };
    txn.commit().await?;
    for likely in &mut metrics.forecast.likely {
        likely.name = names.get(&likely.deal_id).cloned().unwrap_or_default();
    }
    Ok(metrics)
}

/// The outcome, from one stage's first entry, of the deals that entered it.
#[derive(Debug, Default)]
struct History {
    /// Seconds from first entry to the first go-live, sorted.
    live: Vec<i64>,
    /// Churned without going live: known never to go live.
    never: u64,
    /// Not live yet: seconds observed since first entry, sorted.
    open: Vec<i64>,
}

impl History {
    /// The chance that a deal `elapsed` seconds after its first entry goes
    /// live within `horizon` more; `None` when no comparable deal's outcome
    /// is known.
    fn chance(&self, elapsed: i64, horizon: i64) -> Option<f64> {
        let live_by_now = self.live.partition_point(|&d| d <= elapsed);
        let live_by_horizon = self.live.partition_point(|&d| d <= elapsed + horizon);
        let open_long_enough = self.open.len() - self.open.partition_point(|&o| o < elapsed + horizon);
        let at_risk = (self.live.len() - live_by_now) as u64 + self.never + open_long_enough as u64;
        (at_risk > 0).then(|| (live_by_horizon - live_by_now) as f64 / at_risk as f64)
    }
}

/// Per-stage accumulators.
#[derive(Debug, Default)]
struct StageAcc {
    active_now: Vec<f64>,
    on_hold_now: u64,
    on_hold_days: i64,
    breaches: u64,
    completed: Vec<f64>,
    history: History,
}

struct InFlight<'a> {
    deal: &'a DealRow,
    stage: usize,
    elapsed: i64,
}

/// Computes the analytics from loaded rows (no I/O); the likely deals'
/// names are left blank for the caller to fill.
fn aggregate(
    stages: &[stage::Model],
    deals: &[DealRow],
    mut moves: Vec<Move>,
    holds: Vec<deal_hold::Model>,
    now: DateTime<Utc>,
) -> PipelineMetrics {
    let index: HashMap<i32, usize> = stages.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
    let last = stages.len().checked_sub(1);
    // Stable: moves at the same instant keep their insertion order.
    moves.sort_by_key(|m| (m.deal_id, m.at));
    let moves_of: HashMap<i32, &[Move]> =
        moves.chunk_by(|a, b| a.deal_id == b.deal_id).map(|c| (c[0].deal_id, c)).collect();
    let mut holds_of: HashMap<i32, Vec<deal_hold::Model>> = HashMap::new();
    for hold in holds {
        holds_of.entry(hold.deal_id).or_default().push(hold);
    }

    let mut acc: Vec<StageAcc> = stages.iter().map(|_| StageAcc::default()).collect();
    let mut overall = vec![0_u64; stages.len()];
    let mut cohorts: BTreeMap<Quarter, (u64, Vec<u64>)> = BTreeMap::new();
    let mut days_to_live = Vec::new();
    let mut in_flight = Vec::new();
    let mut first_entry: Vec<Option<DateTime<Utc>>> = vec![None; stages.len()];

    for deal in deals {
        let moves = moves_of.get(&deal.id).copied().unwrap_or_default();
        let holds = holds_of.get(&deal.id).map(Vec::as_slice).unwrap_or_default();
        let churned = deal.churned_on.is_some();
        first_entry.fill(None);
        for (k, step) in moves.iter().enumerate() {
            let Some(&s) = index.get(&step.to_stage_id) else { continue };
            first_entry[s].get_or_insert(step.at);
            if let Some(next) = moves.get(k + 1) {
                let stay = holds::time_in_stage(step.at, holds, stages[s].sla_days, next.at);
                acc[s].completed.push(stay.active_days as f64);
            }
        }
        let current = index.get(&deal.stage_id).copied();
        // A deal without transitions (never expected) still sits in its stage.
        if let Some(s) = current {
            first_entry[s].get_or_insert(deal.stage_entered_at);
        }

        let cohort = cohorts.entry(Quarter::of(deal.closed_won_on)).or_insert_with(|| (0, vec![0; stages.len()]));
        cohort.0 += 1;
        for (s, entered) in first_entry.iter().enumerate() {
            if entered.is_some() {
                overall[s] += 1;
                cohort.1[s] += 1;
            }
        }

        let live_at = last.and_then(|l| first_entry[l]);
        if let Some(live_at) = live_at {
            days_to_live.push((live_at.date_naive() - deal.closed_won_on).num_days().max(0) as f64);
        }
        for (s, entered) in first_entry.iter().enumerate() {
            let Some(entered) = *entered else { continue };
            if Some(s) == last {
                continue;
            }
            let history = &mut acc[s].history;
            match live_at {
                Some(live_at) => history.live.push((live_at - entered).num_seconds().max(0)),
                None if churned => history.never += 1,
                None => history.open.push((now - entered).num_seconds().max(0)),
            }
        }

        if churned {
            continue;
        }
        let Some(s) = current else { continue };
        let time = holds::time_in_stage(deal.stage_entered_at, holds, stages[s].sla_days, now);
        let stage = &mut acc[s];
        stage.active_now.push(time.active_days as f64);
        stage.on_hold_days += time.on_hold_days;
        stage.on_hold_now += u64::from(holds.iter().any(|h| h.ended_at.is_none()));
        stage.breaches += u64::from(time.stuck);
        if Some(s) != last {
            let entered = first_entry[s].unwrap_or(deal.stage_entered_at);
            in_flight.push(InFlight { deal, stage: s, elapsed: (now - entered).num_seconds().max(0) });
        }
    }

    for stage in &mut acc {
        stage.active_now.sort_by(f64::total_cmp);
        stage.completed.sort_by(f64::total_cmp);
        stage.history.live.sort_unstable();
        stage.history.open.sort_unstable();
    }
    days_to_live.sort_by(f64::total_cmp);

    let reach = |cohort: String, deals: u64, counts: &[u64]| CohortConversion {
        cohort,
        deals,
        stages: stages
            .iter()
            .enumerate()
            .map(|(s, stage)| StageReach {
                key: stage.key.clone(),
                reached: counts[s],
                share: ratio(counts[s], deals),
                from_previous: s.checked_sub(1).and_then(|p| ratio(counts[s], counts[p])),
            })
            .collect(),
    };
    let conversion = Conversion {
        overall: reach("all".to_owned(), deals.len() as u64, &overall),
        cohorts: cohorts.iter().map(|(q, (n, counts))| reach(q.to_string(), *n, counts)).collect(),
    };

    let forecast = forecast(stages, &acc, &in_flight);
    let stage_metrics = stages
        .iter()
        .zip(&acc)
        .map(|(stage, acc)| StageMetrics {
            key: stage.key.clone(),
            name: stage.name.clone(),
            sla_days: stage.sla_days,
            deals_now: acc.active_now.len() as u64,
            deals_on_hold: acc.on_hold_now,
            median_active_days: median(&acc.active_now).map(round1),
            p90_active_days: quantile(&acc.active_now, 0.9).map(round1),
            on_hold_days: acc.on_hold_days,
            sla_breaches: acc.breaches,
            completed_stays: acc.completed.len() as u64,
            median_completed_active_days: median(&acc.completed).map(round1),
            p90_completed_active_days: quantile(&acc.completed, 0.9).map(round1),
        })
        .collect();
    PipelineMetrics {
        as_of: now,
        deals: deals.len() as u64,
        stages: stage_metrics,
        conversion,
        live_deals: days_to_live.len() as u64,
        median_days_to_live: median(&days_to_live).map(round1),
        p90_days_to_live: quantile(&days_to_live, 0.9).map(round1),
        forecast,
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| round4(part as f64 / whole as f64))
}

fn forecast(stages: &[stage::Model], acc: &[StageAcc], in_flight: &[InFlight<'_>]) -> Forecast {
    let mut expected = [0.0_f64; HORIZONS.len()];
    let mut without_history = 0;
    let mut likely = Vec::new();
    for deal in in_flight {
        let history = &acc[deal.stage].history;
        let chances = HORIZONS.map(|days| history.chance(deal.elapsed, days * SECONDS_PER_DAY));
        // The longest horizon has the fewest known outcomes: when it has
        // none, the deal has no comparable history.
        if chances.iter().any(Option::is_none) {
            without_history += 1;
        }
        let chances = chances.map(|c| c.unwrap_or(0.0));
        for (sum, chance) in expected.iter_mut().zip(chances) {
            *sum += chance;
        }
        if chances[HORIZONS.len() - 1] > 0.0 {
            likely.push((deal, chances));
        }
    }
    likely.sort_by(|(a, ca), (b, cb)| {
        cb[2].total_cmp(&ca[2]).then(cb[0].total_cmp(&ca[0])).then(a.deal.id.cmp(&b.deal.id))
    });
    Forecast {
        in_flight: in_flight.len() as u64,
        without_history,
        horizons: HORIZONS
            .iter()
            .zip(expected)
            .map(|(&days, sum)| HorizonForecast { days, expected_go_lives: round1(sum) })
            .collect(),
        likely: likely
            .into_iter()
            .take(LIKELY_LIMIT)
            .map(|(deal, chances)| LikelyGoLive {
                deal_id: deal.deal.id,
                name: String::new(),
                stage: stages[deal.stage].key.clone(),
                days_in_stage: deal.elapsed / SECONDS_PER_DAY,
                within_30_days: round4(chances[0]),
                within_60_days: round4(chances[1]),
                within_90_days: round4(chances[2]),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = SECONDS_PER_DAY;

    #[test]
    fn quarters_parse_and_bound_their_dates() {
        let q = Quarter::parse(" 2026-q1 ").expect("a quarter");
        assert_eq!(q.to_string(), "2026-Q1");
        assert_eq!(q.first_day(), NaiveDate::from_ymd_opt(2026, 1, 1));
        assert_eq!(q.end(), NaiveDate::from_ymd_opt(2026, 4, 1));
        assert_eq!(Quarter::parse("2025-Q4").and_then(Quarter::end), NaiveDate::from_ymd_opt(2026, 1, 1));
        for bad in ["2026-Q5", "2026-Q0", "2026Q1", "26-Q1", "2026-Q11", "2026-1", "0999-Q1", "+202-Q1"] {
            assert_eq!(Quarter::parse(bad), None, "{bad}");
        }
        let date = NaiveDate::from_ymd_opt(2026, 9, 30).expect("a date");
        assert_eq!(Quarter::of(date).to_string(), "2026-Q3");
    }

    #[test]
    fn the_chance_counts_only_deals_whose_outcome_is_known() {
        // Went live after 10, 40 and 100 days; one churned; one open for 20
        // days (unknown beyond that) and one open for 200 days.
        let history = History { live: vec![10 * DAY, 40 * DAY, 100 * DAY], never: 1, open: vec![20 * DAY, 200 * DAY] };
        // At 5 days, within 30: 1 went live (10) of 3 live + 1 never + 1 open
        // for 200 (the 20-day one is unknown at 35 days): 1/5.
        assert_eq!(history.chance(5 * DAY, 30 * DAY), Some(0.2));
        // At 30 days, within 90 (to 120): 40 and 100 of 2 live + 1 + 1.
        assert_eq!(history.chance(30 * DAY, 90 * DAY), Some(0.5));
        // Past every known outcome but one churned: nothing goes live.
        assert_eq!(History { live: vec![], never: 1, open: vec![] }.chance(0, 30 * DAY), Some(0.0));
        assert_eq!(History::default().chance(0, 30 * DAY), None);
    }
}
