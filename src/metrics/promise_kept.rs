//! What counts as a kept promise, and the promise-kept rate.
//!
//! Every verdict a customer gives on a promise counts once. The rate is
//! `kept / (kept + partly + not kept)`: "too early to tell" is left out, and
//! "partly" counts against the rate (it is shown beside it). Every rate
//! carries its count and a 95 % Wilson interval, and a warning below 30
//! verdicts. The target is 80 %, the ambition 85 %.
//!
//! Verdicts are tallied in SQL (grouped and counted in the database), so the
//! cost stays close to the raw aggregate at a million verdicts.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbBackend};
use serde::{Deserialize, Serialize};

use super::stats::{Quarter, SMALL_SAMPLE, round4, wilson};
use crate::AppResult;
use crate::auth::users;
use crate::db::Sql;
use crate::validate::Fields;

/// The target line.
pub const TARGET: f64 = 0.80;
/// The ambition line.
pub const AMBITION: f64 = 0.85;

/// Verdict counts and the rate they give.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = PromiseKeptTally)]
pub struct Tally {
    /// Kept.
    pub kept: u64,
    /// Partly kept.
    pub partly: u64,
    /// Not kept.
    pub not_kept: u64,
    /// Too early to tell (not in the rate).
    pub too_early: u64,
    /// The verdicts behind the rate: kept + partly + not kept.
    pub n: u64,
    /// kept / n; `null` without verdicts.
    pub rate: Option<f64>,
    /// partly / n, shown beside the rate.
    pub partly_rate: Option<f64>,
    /// The 95 % Wilson interval's lower bound.
    pub ci_low: Option<f64>,
    /// Its upper bound.
    pub ci_high: Option<f64>,
    /// Fewer than 30 verdicts stand behind the rate.
    pub small_sample: bool,
}

impl Tally {
    fn add(&mut self, verdict: &str, count: u64) {
        match verdict {
            "kept" => self.kept += count,
            "partly" => self.partly += count,
            "not_kept" => self.not_kept += count,
            "too_early" => self.too_early += count,
            _ => {}
        }
    }

    /// Derives the rate, interval and warning from the counts.
    pub fn finish(mut self) -> Self {
        self.n = self.kept + self.partly + self.not_kept;
        let interval = wilson(self.kept, self.n);
        self.rate = (self.n > 0).then(|| round4(self.kept as f64 / self.n as f64));
        self.partly_rate = (self.n > 0).then(|| round4(self.partly as f64 / self.n as f64));
        self.ci_low = interval.map(|(low, _)| round4(low));
        self.ci_high = interval.map(|(_, high)| round4(high));
        self.small_sample = self.n < SMALL_SAMPLE;
        self
    }
}

/// One group's tally.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = PromiseKeptGroup)]
pub struct Group {
    /// The group's key (a wave's months, a user id, a segment, `2026-Q1`, `2026-03`).
    pub key: String,
    /// What people read.
    pub label: String,
    /// The counts and rate.
    #[serde(flatten)]
    pub tally: Tally,
}

/// The promise-kept rate, overall and by group.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PromiseKept {
    /// Every verdict matching the filter.
    pub overall: Tally,
    /// By the requested dimension (empty without `group_by`).
    pub groups: Vec<Group>,
    /// The dimension.
    pub group_by: Option<String>,
    /// The target line (0.80).
    pub target: f64,
    /// The ambition line (0.85).
    pub ambition: f64,
}

/// Filters and grouping, as raw query values.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// Verdicts answered on or after this date (`YYYY-MM-DD`).
    #[serde(default)]
    #[param(format = Date)]
    pub from: Option<String>,
    /// ... and on or before this date.
    #[serde(default)]
    #[param(format = Date)]
    pub to: Option<String>,
    /// A wave, in months (6, 9, 12).
    #[serde(default)]
    #[param(value_type = Option<i32>)]
    pub wave: Option<String>,
    /// The deals' account manager (email).
    #[serde(default)]
    #[param(format = Email)]
    pub account_manager: Option<String>,
    /// The deals' CS manager (email).
    #[serde(default)]
    #[param(format = Email)]
    pub csm: Option<String>,
    /// The accounts' segment.
    #[serde(default)]
    pub segment: Option<String>,
    /// The close cohort, `YYYY-Qn` (quarter of closed-won).
    #[serde(default)]
    pub cohort: Option<String>,
    /// The promises' category.
    #[serde(default)]
    pub category: Option<String>,
    /// `wave`, `account_manager`, `csm`, `segment`, `cohort`, `category` or `month`.
    #[serde(default)]
    pub group_by: Option<String>,
}

/// The dimensions verdicts can be grouped by.
pub const GROUPS: [&str; 7] = ["wave", "account_manager", "csm", "segment", "cohort", "category", "month"];

struct Checked {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    wave: Option<i32>,
    account_manager: Option<i32>,
    csm: Option<i32>,
    segment: Option<String>,
    cohort: Option<(NaiveDate, NaiveDate)>,
    category: Option<String>,
    group_by: Option<&'static str>,
}

/// The first and last day of a `YYYY-Qn` quarter.
pub fn quarter_bounds(cohort: &str) -> Option<(NaiveDate, NaiveDate)> {
    let quarter = Quarter::parse(cohort)?;
    Some((quarter.first_day()?, quarter.end()?.pred_opt()?))
}

async fn check(db: &impl ConnectionTrait, filter: &Filter) -> AppResult<Checked> {
    let mut fields = Fields::new();
    let from = fields.optional_date("from", filter.from.as_deref());
    let to = fields.optional_date("to", filter.to.as_deref());
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        fields.error("to", "must not be before from");
    }
    let wave = filter.wave.as_deref().map(str::trim).filter(|w| !w.is_empty()).and_then(|w| {
        let parsed = w.parse::<i32>().ok().filter(|m| (1..=120).contains(m));
        if parsed.is_none() {
            fields.error("wave", "must be a number of months, e.g. 6");
        }
        parsed
    });
    let am_email = fields.optional_email("account_manager", filter.account_manager.as_deref());
    let csm_email = fields.optional_email("csm", filter.csm.as_deref());
    let segment = fields.optional("segment", filter.segment.as_deref(), 200);
    let category = fields.optional("category", filter.category.as_deref(), 200);
    let cohort = filter.cohort.as_deref().map(str::trim).filter(|c| !c.is_empty()).and_then(|c| {
        let bounds = quarter_bounds(c);
        if bounds.is_none() {
            fields.error("cohort", "must be a quarter such as 2026-Q1");
        }
        bounds
    });
    let group_by = match filter.group_by.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
        None => None,
        Some(g) => match GROUPS.iter().find(|known| **known == g) {
            Some(known) => Some(*known),
            None => {
                fields.error("group_by", format!("must be one of {}", GROUPS.join(", ")));
                None
            }
        },
    };
    fields.finish()?;
    let account_manager = match am_email {
        Some(email) => Some(users::id_by_email(db, "account_manager", &email).await?),
        None => None,
    };
    let csm = match csm_email {
        Some(email) => Some(users::id_by_email(db, "csm", &email).await?),
        None => None,
    };
    Ok(Checked { from, to, wave, account_manager, csm, segment, cohort, category, group_by })
}

pub(crate) fn group_expression(backend: DbBackend, group_by: &str) -> &'static str {
    match (group_by, backend) {
        ("wave", _) => "CAST(w.wave_months AS TEXT)",
        ("account_manager", _) => "CAST(d.account_manager_id AS TEXT)",
        ("deal", _) => "CAST(d.id AS TEXT)",
        ("csm", _) => "CAST(d.csm_id AS TEXT)",
        ("segment", _) => "acc.segment",
        ("category", _) => "p.category",
        ("cohort", DbBackend::Postgres) => "TO_CHAR(d.closed_won_on, 'YYYY-\"Q\"Q')",
        ("cohort", _) => {
            "strftime('%Y', d.closed_won_on) || '-Q' || ((CAST(strftime('%m', d.closed_won_on) AS INTEGER) + 2) / 3)"
        }
        ("month", DbBackend::Postgres) => "TO_CHAR(s.answered_at AT TIME ZONE 'UTC', 'YYYY-MM')",
        // SQLite keeps instants as ISO 8601 text: the month is its prefix.
        ("month", _) => "substr(s.answered_at, 1, 7)",
        _ => "''",
    }
}

/// The promise-kept rate matching `filter`, overall and grouped.
pub async fn compute(db: &impl ConnectionTrait, filter: &Filter) -> AppResult<PromiseKept> {
    let checked = check(db, filter).await?;
    let backend = db.get_database_backend();
    let rows = tally(db, backend, &checked, checked.group_by).await?;
    let mut overall = Tally::default();
    let mut grouped: BTreeMap<String, Tally> = BTreeMap::new();
    for (key, verdict, count) in rows {
        overall.add(&verdict, count);
        if checked.group_by.is_some() {
            grouped.entry(key.unwrap_or_else(|| "none".to_owned())).or_default().add(&verdict, count);
        }
    }
    let labels = labels(db, checked.group_by).await?;
    let mut groups: Vec<Group> = grouped
        .into_iter()
        .map(|(key, tally)| Group { label: label_of(checked.group_by, &key, &labels), key, tally: tally.finish() })
        .collect();
    if checked.group_by == Some("wave") {
        groups.sort_by_key(|g| g.key.parse::<i32>().unwrap_or(i32::MAX));
    }
    Ok(PromiseKept {
        overall: overall.finish(),
        groups,
        group_by: checked.group_by.map(str::to_owned),
        target: TARGET,
        ambition: AMBITION,
    })
}

/// The verdicts behind a figure, one line per deal.
#[derive(Debug, Clone, Serialize)]
pub struct DealTally {
    /// The deal.
    pub deal_id: i32,
    /// Its name.
    pub deal_name: String,
    /// Its customer.
    pub account: String,
    /// The counts and rate of its verdicts matching the filter.
    pub tally: Tally,
}

/// The deals whose verdicts make up the rate matching `filter` (its
/// `group_by` is ignored), most promises not kept first, at most `limit`;
/// also how many deals there are in all.
pub async fn by_deal(db: &impl ConnectionTrait, filter: &Filter, limit: usize) -> AppResult<(Vec<DealTally>, usize)> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let checked = check(db, &Filter { group_by: None, ..filter.clone() }).await?;
    let rows = tally(db, db.get_database_backend(), &checked, Some("deal")).await?;
    let mut tallies: BTreeMap<i32, Tally> = BTreeMap::new();
    for (key, verdict, count) in rows {
        if let Some(id) = key.and_then(|k| k.parse().ok()) {
            tallies.entry(id).or_default().add(&verdict, count);
        }
    }
    let total = tallies.len();
    let mut ranked: Vec<(i32, Tally)> = tallies.into_iter().map(|(id, t)| (id, t.finish())).collect();
    ranked.sort_by(|a, b| {
        b.1.not_kept
            .cmp(&a.1.not_kept)
            .then(a.1.rate.unwrap_or(1.0).total_cmp(&b.1.rate.unwrap_or(1.0)))
            .then(a.0.cmp(&b.0))
    });
    ranked.truncate(limit);
    let ids: Vec<i32> = ranked.iter().map(|(id, _)| *id).collect();
    let deals = entity::deal::Entity::find().filter(entity::deal::Column::Id.is_in(ids)).all(db).await?;
    let account_ids: Vec<i32> = deals.iter().map(|d| d.account_id).collect();
    let accounts: HashMap<i32, String> = entity::account::Entity::find()
        .filter(entity::account::Column::Id.is_in(account_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let deals: HashMap<i32, entity::deal::Model> = deals.into_iter().map(|d| (d.id, d)).collect();
    let lines = ranked
        .into_iter()
        .filter_map(|(id, tally)| {
            let deal = deals.get(&id)?;
            Some(DealTally {
                deal_id: id,
                deal_name: deal.name.clone(),
                account: accounts.get(&deal.account_id).cloned().unwrap_or_default(),
                tally,
            })
        })
        .collect();
    Ok((lines, total))
}

/// The monthly trend (by month answered) matching `filter`.
pub async fn trend(db: &impl ConnectionTrait, filter: &Filter) -> AppResult<Vec<Group>> {
    let monthly = Filter { group_by: Some("month".to_owned()), ..filter.clone() };
    Ok(compute(db, &monthly).await?.groups)
}

async fn tally(
    db: &impl ConnectionTrait,
    backend: DbBackend,
    c: &Checked,
    group_by: Option<&str>,
) -> AppResult<Vec<(Option<String>, String, u64)>> {
    let mut sql = Sql::new(backend);
    let key = group_by.map_or("NULL", |g| group_expression(backend, g));
    let mut conditions = vec!["s.answered_at IS NOT NULL".to_owned()];
    if let Some(from) = c.from {
        let start = from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        conditions.push(format!("s.answered_at >= {}", sql.bind(start)));
    }
    if let Some(to) = c.to {
        let end: DateTime<Utc> = to.succ_opt().unwrap_or(to).and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        conditions.push(format!("s.answered_at < {}", sql.bind(end)));
    }
    if let Some(wave) = c.wave {
        conditions.push(format!("w.wave_months = {}", sql.bind(wave)));
    }
    if let Some(id) = c.account_manager {
        conditions.push(format!("d.account_manager_id = {}", sql.bind(id)));
    }
    if let Some(id) = c.csm {
        conditions.push(format!("d.csm_id = {}", sql.bind(id)));
    }
    if let Some(segment) = &c.segment {
        conditions.push(format!("acc.segment = {}", sql.bind(segment.clone())));
    }
    if let Some(category) = &c.category {
        conditions.push(format!("p.category = {}", sql.bind(category.clone())));
    }
    if let Some((start, end)) = c.cohort {
        let low = sql.bind(start);
        let high = sql.bind(end);
        conditions.push(format!("d.closed_won_on >= {low} AND d.closed_won_on <= {high}"));
    }
    // Join only what the filter and grouping need: the plain rate costs
    // about what the raw aggregate costs.
    let needs = |what: &str| conditions.iter().any(|c| c.contains(what)) || key.contains(what);
    let mut joins = String::from("JOIN surveys s ON s.id = a.survey_id ");
    let needs_deal = needs("d.") || needs("acc.") || needs("w.");
    if needs_deal || needs("p.") {
        joins.push_str("JOIN promises p ON p.id = a.promise_id ");
    }
    if needs_deal {
        joins.push_str("JOIN deals d ON d.id = p.deal_id ");
    }
    if needs("acc.") {
        joins.push_str("JOIN accounts acc ON acc.id = d.account_id ");
    }
    if needs("w.") {
        joins.push_str(
            "LEFT JOIN (SELECT survey_id, deal_id, MIN(wave_months) AS wave_months FROM survey_waves \
             WHERE survey_id IS NOT NULL GROUP BY survey_id, deal_id) w \
             ON w.survey_id = a.survey_id AND w.deal_id = p.deal_id ",
        );
    }
    sql.text = format!(
        "SELECT {key} AS group_key, a.verdict AS verdict, COUNT(*) AS n FROM survey_answers a {joins} WHERE {} GROUP BY 1, 2",
        conditions.join(" AND ")
    );
    let rows = db.query_all_raw(sql.statement()).await?;
    rows.into_iter()
        .map(|row| {
            let key: Option<String> = row.try_get("", "group_key")?;
            let verdict: String = row.try_get("", "verdict")?;
            let n: i64 = row.try_get("", "n")?;
            Ok((key, verdict, u64::try_from(n).unwrap_or(0)))
        })
        .collect::<Result<_, sea_orm::DbErr>>()
        .map_err(Into::into)
}

/// Display names for group keys that are ids (users).
pub(crate) async fn labels(db: &impl ConnectionTrait, group_by: Option<&str>) -> AppResult<HashMap<String, String>> {
    Ok(match group_by {
        Some("account_manager" | "csm") => entity_names(db).await?,
        _ => HashMap::new(),
    })
}

async fn entity_names(db: &impl ConnectionTrait) -> AppResult<HashMap<String, String>> {
    use sea_orm::EntityTrait;
    Ok(entity::user::Entity::find().all(db).await?.into_iter().map(|u| (u.id.to_string(), u.name)).collect())
}

/// What people read for a group key.
pub(crate) fn label_of(group_by: Option<&str>, key: &str, names: &HashMap<String, String>) -> String {
    match group_by {
        _ if key == "none" => "(none)".to_owned(),
        Some("wave") => format!("{key} months"),
        Some("account_manager" | "csm") => names.get(key).cloned().unwrap_or_else(|| format!("user {key}")),
        _ => key.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_early_is_left_out_and_partly_counts_against() {
        let mut tally = Tally::default();
        tally.add("kept", 8);
        tally.add("partly", 1);
        tally.add("not_kept", 1);
        tally.add("too_early", 5);
        let tally = tally.finish();
        assert_eq!((tally.n, tally.rate, tally.partly_rate), (10, Some(0.8), Some(0.1)));
        assert_eq!((tally.ci_low, tally.ci_high), (Some(0.4902), Some(0.9433)));
        assert!(tally.small_sample);
    }

    #[test]
    fn only_too_early_gives_no_rate() {
        let mut tally = Tally::default();
        tally.add("too_early", 3);
        let tally = tally.finish();
        assert_eq!((tally.n, tally.rate, tally.ci_low), (0, None, None));
    }

    #[test]
    fn quarters_have_their_calendar_bounds() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("a date");
        assert_eq!(quarter_bounds("2026-Q1"), Some((day(2026, 1, 1), day(2026, 3, 31))));
        assert_eq!(quarter_bounds("2025-Q4"), Some((day(2025, 10, 1), day(2025, 12, 31))));
        assert_eq!(quarter_bounds("2026-Q5"), None);
        assert_eq!(quarter_bounds("2026Q1"), None);
    }
}
