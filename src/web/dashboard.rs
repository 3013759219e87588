//! The dashboard: the promise-kept rate against its 80/85 % lines, NPS,
//! response rate, stuck deals and open follow-ups, with charts. Every figure
//! links to what stands behind it.
//!
//! Computing the figures reads every deal and verdict (seconds at a hundred
//! thousand deals), so they are rendered into a snapshot in the database:
//! the `dashboard-snapshot` job refreshes it every few minutes, the page
//! shows the newest one and says how old it is, and renders afresh when it
//! is older than [`MAX_AGE`] (or on the refresh button).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, Utc};
use entity::dashboard_snapshot;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::charts::{self, Datum};
use super::{Chrome, CsrfForm, Empty, PageError, WebSession, render};
use crate::advocacy::candidates;
use crate::auth::Role;
use crate::metrics::nps::{self, NpsFilter, Score};
use crate::metrics::pipeline::{self, PipelineFilter, PipelineMetrics};
use crate::metrics::profitability::{self, SegmentEconomics};
use crate::metrics::promise_kept::{self, AMBITION, Filter, Group, TARGET, Tally};
use crate::metrics::survey_health::{self, Health};
use crate::surveys::followups;
use crate::{AppError, AppResult, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/dashboard", get(show_dashboard)).route("/dashboard/refresh", post(refresh_dashboard))
}

/// A snapshot older than this is rendered afresh when the page is viewed
/// (the job normally refreshes it well before).
pub const MAX_AGE: Duration = Duration::minutes(15);

#[derive(Template)]
#[template(path = "pages/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    snapshot: dashboard_snapshot::Model,
}

impl DashboardPage {
    /// How long ago the figures were computed, in words.
    fn age(&self) -> String {
        let seconds = (Utc::now() - self.snapshot.computed_at).num_seconds().max(0);
        match seconds {
            0..60 => "less than a minute ago".to_owned(),
            60..120 => "1 minute ago".to_owned(),
            120..3600 => format!("{} minutes ago", seconds / 60),
            _ => format!("{} hours ago", seconds / 3600),
        }
    }
}

/// The figures: tiles, charts and their tables.
#[derive(Template)]
#[template(path = "pages/dashboard_figures.html")]
struct Figures {
    kept: Tally,
    nps: Score,
    health: Health,
    stuck: u64,
    in_flight: u64,
    open_followups: usize,
    by_wave: Vec<Group>,
    by_cohort: Vec<Group>,
    trend: Vec<Group>,
    trend_chart: String,
    wave_chart: String,
    cohort_chart: String,
    pipeline: PipelineMetrics,
    funnel_chart: String,
    stage_time_chart: String,
    candidates: usize,
    segments: Vec<SegmentEconomics>,
    ltv_chart: String,
}

/// A rate (0-1) as a whole percentage, for display.
fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".to_owned(), |r| format!("{:.0}%", r * 100.0))
}

impl Figures {
    /// The deals behind a month of the trend (`YYYY-MM`).
    fn month_link(&self, month: &str) -> String {
        let first = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d");
        match first {
            Ok(first) => {
                let last = first.checked_add_months(chrono::Months::new(1)).and_then(|d| d.pred_opt()).unwrap_or(first);
                format!("/reports/verdicts?from={first}&to={last}")
            }
            Err(_) => "/reports/verdicts".to_owned(),
        }
    }

    fn pct(&self, rate: &Option<f64>) -> String {
        percent(*rate)
    }

    fn days(&self, days: &Option<f64>) -> String {
        days.map_or_else(|| "–".to_owned(), |d| format!("{d:.0}"))
    }

    fn ratio(&self, ratio: &Option<f64>) -> String {
        ratio.map_or_else(|| "–".to_owned(), |r| format!("{r:.1}:1"))
    }

    /// `ok`, `near` or `below` against the 80/85 % lines.
    fn kept_class(&self) -> &'static str {
        match self.kept.rate {
            Some(rate) if rate >= AMBITION => "ok",
            Some(rate) if rate >= TARGET => "near",
            Some(_) => "below",
            None => "none",
        }
    }
}

fn datum(group: &Group) -> Option<Datum> {
    let tally = &group.tally;
    Some(Datum {
        label: group.label.clone(),
        value: tally.rate? * 100.0,
        interval: tally.ci_low.zip(tally.ci_high).map(|(low, high)| (low * 100.0, high * 100.0)),
    })
}

async fn figures(state: &AppState, now: DateTime<Utc>) -> AppResult<Figures> {
    let db = &state.db;
    let grouped = |dimension: &str| Filter { group_by: Some(dimension.to_owned()), ..Default::default() };
    let (everything, wave_filter, cohort_filter) = (Filter::default(), grouped("wave"), grouped("cohort"));
    let (all_deals, all_groups) = (PipelineFilter::default(), NpsFilter::default());
    let rules = &state.config.advocacy;
    // The figures are independent: fetch them side by side.
    let (overall, by_wave, by_cohort, trend, pipeline, found, economics, nps, health, open) = tokio::try_join!(
        promise_kept::compute(db, &everything),
        promise_kept::compute(db, &wave_filter),
        promise_kept::compute(db, &cohort_filter),
        promise_kept::trend(db, &everything),
        pipeline::compute(db, &all_deals, now),
        candidates::list(db, rules, now),
        profitability::report(db, rules.configured_churn, now),
        nps::compute(db, &all_groups),
        survey_health::compute(db),
        followups::open_counts(db),
    )?;
    let (by_wave, by_cohort) = (by_wave.groups, by_cohort.groups);
    let recent: Vec<&Group> = trend.iter().rev().take(12).rev().collect();
    let trend_points: Vec<Datum> = recent.iter().filter_map(|g| datum(g)).collect();
    let describe = |groups: &[&Group]| {
        groups
            .iter()
            .map(|g| format!("{}: {} of {} kept", g.label, g.tally.kept, g.tally.n))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let trend_chart = charts::trend(
        "Promise-kept rate by month answered",
        &format!("Monthly kept rate with 95% intervals against the 80-85% target band. {}", describe(&recent)),
        &trend_points,
        (TARGET * 100.0, AMBITION * 100.0),
    );
    let wave_refs: Vec<&Group> = by_wave.iter().collect();
    let wave_chart = charts::bars(
        "Promise-kept rate by survey wave",
        &describe(&wave_refs),
        &by_wave.iter().filter_map(datum).collect::<Vec<_>>(),
        &[TARGET * 100.0],
        "%",
        100.0,
    );
    let cohort_refs: Vec<&Group> = by_cohort.iter().collect();
    let cohort_chart = charts::bars(
        "Promise-kept rate by close cohort",
        &describe(&cohort_refs),
        &by_cohort.iter().filter_map(datum).collect::<Vec<_>>(),
        &[TARGET * 100.0],
        "%",
        100.0,
    );
    let reach = &pipeline.conversion.overall;
    let funnel: Vec<Datum> = reach
        .stages
        .iter()
        .zip(&pipeline.stages)
        .map(|(r, s)| Datum { label: s.name.clone(), value: r.share.unwrap_or(0.0) * 100.0, interval: None })
        .collect();
    let funnel_chart = charts::bars(
        "Share of deals that reached each stage",
        &reach
            .stages
            .iter()
            .map(|r| format!("{}: {} of {} deals", r.key, r.reached, reach.deals))
            .collect::<Vec<_>>()
            .join("; "),
        &funnel,
        &[],
        "%",
        100.0,
    );
    let in_stages: Vec<&crate::metrics::pipeline::StageMetrics> =
        pipeline.stages.iter().filter(|s| s.sla_days.is_some()).collect();
    let longest =
        in_stages.iter().filter_map(|s| s.p90_active_days.or(s.p90_completed_active_days)).fold(10.0f64, f64::max);
    let stage_time_chart = charts::bars(
        "Active days in stage: median (bar) to 90th percentile (line), deals now in the stage",
        &in_stages
            .iter()
            .map(|s| {
                format!(
                    "{}: median {:?}, p90 {:?} active days, target {:?}",
                    s.name, s.median_active_days, s.p90_active_days, s.sla_days
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        &in_stages
            .iter()
            .map(|s| Datum {
                label: s.name.clone(),
                value: s.median_active_days.unwrap_or(0.0),
                interval: s.median_active_days.zip(s.p90_active_days),
            })
            .collect::<Vec<_>>(),
        &[],
        " d",
        (longest * 1.15).ceil(),
    );
    let candidates = found.len();
    let segments = economics.segments;
    let top = segments.iter().filter_map(|s| s.ltv_cac).fold(4.0f64, f64::max);
    let ltv_chart = charts::bars(
        "LTV:CAC by segment, against the 3:1 line",
        &segments
            .iter()
            .map(|s| format!("{}: {}", s.segment, s.ltv_cac.map_or("unknown".to_owned(), |r| format!("{r:.1}:1"))))
            .collect::<Vec<_>>()
            .join("; "),
        &segments
            .iter()
            .filter_map(|s| Some(Datum { label: s.segment.clone(), value: s.ltv_cac?, interval: None }))
            .collect::<Vec<_>>(),
        &[profitability::TARGET_LTV_CAC],
        ":1",
        (top * 1.15).ceil(),
    );
    let (nps, health) = (nps.overall, health.overall);
    let in_flight_stages = pipeline.stages.iter().filter(|s| s.sla_days.is_some());
    let (stuck, in_flight) =
        in_flight_stages.fold((0, 0), |(stuck, all), s| (stuck + s.sla_breaches, all + s.deals_now));
    let open_followups = open.values().sum();
    Ok(Figures {
        kept: overall.overall,
        nps,
        health,
        stuck,
        in_flight,
        open_followups,
        by_wave,
        by_cohort,
        trend,
        trend_chart,
        wave_chart,
        cohort_chart,
        pipeline,
        funnel_chart,
        stage_time_chart,
        candidates,
        segments,
        ltv_chart,
    })
}

/// Renders the figures as of `now` and stores them as the newest snapshot
/// (older ones are dropped).
pub async fn refresh(state: &AppState, now: DateTime<Utc>) -> AppResult<dashboard_snapshot::Model> {
    let started = Utc::now();
    let html = figures(state, now).await?.render().map_err(|e| AppError::Internal(e.into()))?;
    let computed_at = Utc::now();
    let snapshot = dashboard_snapshot::ActiveModel {
        version: Set(env!("CARGO_PKG_VERSION").to_owned()),
        computed_at: Set(computed_at),
        as_of: Set(now),
        took_ms: Set((computed_at - started).num_milliseconds()),
        html: Set(html),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    dashboard_snapshot::Entity::delete_many()
        .filter(dashboard_snapshot::Column::Id.lt(snapshot.id))
        .exec(&state.db)
        .await?;
    Ok(snapshot)
}

/// The newest snapshot this version rendered, if it is younger than
/// [`MAX_AGE`].
async fn fresh_snapshot(state: &AppState) -> AppResult<Option<dashboard_snapshot::Model>> {
    Ok(dashboard_snapshot::Entity::find()
        .filter(dashboard_snapshot::Column::Version.eq(env!("CARGO_PKG_VERSION")))
        .filter(dashboard_snapshot::Column::ComputedAt.gt(Utc::now() - MAX_AGE))
        .order_by_desc(dashboard_snapshot::Column::Id)
        .one(&state.db)
        .await?)
}

async fn show_dashboard(State(state): State<AppState>, session: WebSession) -> Result<Response, PageError> {
    let chrome = session.chrome("dashboard");
    let snapshot = match fresh_snapshot(&state).await {
        Ok(Some(snapshot)) => Ok(snapshot),
        Ok(None) => refresh(&state, state.now()).await,
        Err(error) => Err(error),
    }
    .map_err(|e| PageError::new(e, chrome.clone()))?;
    Ok(render(StatusCode::OK, &DashboardPage { chrome, snapshot }))
}

async fn refresh_dashboard(State(state): State<AppState>, form: CsrfForm<Empty>) -> Result<Response, PageError> {
    let session = form.session;
    session.require(Role::Member, "dashboard")?;
    let chrome = session.chrome("dashboard");
    refresh(&state, state.now()).await.map_err(|e| PageError::new(e, chrome))?;
    Ok(Redirect::to("/dashboard").into_response())
}
