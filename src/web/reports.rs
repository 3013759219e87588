//! The reports page: every table behind the dashboard, each downloadable
//! as CSV (`/reports/{table}.csv`).

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{Chrome, PageError, WebSession, render};
use crate::advocacy::asks;
use crate::advocacy::candidates;
use crate::error::AppError;
use crate::metrics::nps::{self, NpsFilter, NpsGroup};
use crate::metrics::pipeline::{self, PipelineFilter};
use crate::metrics::profitability;
use crate::metrics::promise_kept::{self, Filter, Group, Tally};
use crate::metrics::survey_health::{self, Health};
use crate::{AppResult, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/reports", get(show_reports))
        .route("/reports/verdicts", get(show_verdicts))
        .route("/reports/{table}", get(download))
}

/// Deals listed behind a figure, at most.
const DEALS_BEHIND: usize = 500;

#[derive(Template)]
#[template(path = "pages/verdicts.html")]
struct VerdictsPage {
    chrome: Chrome,
    what: String,
    overall: Tally,
    deals: Vec<promise_kept::DealTally>,
    total: usize,
}

impl VerdictsPage {
    fn pct(&self, rate: &Option<f64>) -> String {
        rate.map_or_else(|| "–".to_owned(), |r| format!("{:.0}%", r * 100.0))
    }
}

/// The filter in words ("wave 6 months, closed 2026-Q1").
fn describe(filter: &Filter) -> String {
    let parts: Vec<String> = [
        filter.wave.as_ref().map(|w| format!("wave {w} months")),
        filter.cohort.as_ref().map(|c| format!("closed {c}")),
        filter.segment.as_ref().map(|s| format!("segment {s}")),
        filter.category.as_ref().map(|c| format!("category {c}")),
        filter.account_manager.as_ref().map(|m| format!("account manager {m}")),
        filter.csm.as_ref().map(|m| format!("CSM {m}")),
        filter.from.as_ref().map(|f| format!("answered from {f}")),
        filter.to.as_ref().map(|t| format!("to {t}")),
    ]
    .into_iter()
    .flatten()
    .filter(|p| !p.trim().is_empty())
    .collect();
    if parts.is_empty() { "all verdicts".to_owned() } else { parts.join(", ") }
}

/// The deals behind a promise-kept figure: `/reports/verdicts?wave=6`,
/// `?cohort=2026-Q1`, `?from=2026-03-01&to=2026-03-31`... (the filters of
/// the promise-kept API).
async fn show_verdicts(
    State(state): State<AppState>,
    session: WebSession,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let chrome = session.chrome("reports");
    let fail = |error: AppError| PageError::new(error, chrome.clone());
    let filter: Filter = crate::validate::urlencoded(raw.unwrap_or_default().as_bytes()).map_err(fail)?;
    let filter = Filter { group_by: None, ..filter };
    let overall = promise_kept::compute(&state.db, &filter).await.map_err(fail)?.overall;
    let (deals, total) = promise_kept::by_deal(&state.db, &filter, DEALS_BEHIND).await.map_err(fail)?;
    let what = describe(&filter);
    Ok(render(StatusCode::OK, &VerdictsPage { chrome, what, overall, deals, total }))
}

/// A table: its title, column names and rows of cells.
pub struct Table {
    /// The id and CSV name.
    pub id: &'static str,
    /// What it shows.
    pub title: String,
    /// Column names.
    pub columns: Vec<&'static str>,
    /// Cells, as text.
    pub rows: Vec<Vec<String>>,
}

fn pct(rate: Option<f64>) -> String {
    rate.map_or_else(String::new, |r| format!("{:.1}", r * 100.0))
}

fn kept_rows(groups: &[Group], overall: Option<&Tally>) -> Vec<Vec<String>> {
    let row = |label: &str, t: &Tally| {
        vec![
            label.to_owned(),
            t.kept.to_string(),
            t.partly.to_string(),
            t.not_kept.to_string(),
            t.too_early.to_string(),
            t.n.to_string(),
            pct(t.rate),
            pct(t.ci_low),
            pct(t.ci_high),
            if t.small_sample { "yes" } else { "" }.to_owned(),
        ]
    };
    let mut rows: Vec<Vec<String>> = groups.iter().map(|g| row(&g.label, &g.tally)).collect();
    if let Some(overall) = overall {
        rows.push(row("All", overall));
    }
    rows
}

const KEPT_COLUMNS: [&str; 10] =
    ["Group", "Kept", "Partly", "Not kept", "Too early", "Verdicts", "Rate %", "CI low %", "CI high %", "Under 30"];

fn nps_rows(groups: &[NpsGroup]) -> Vec<Vec<String>> {
    groups
        .iter()
        .map(|g| {
            let s = &g.score;
            vec![
                g.label.clone(),
                s.promoters.to_string(),
                s.passives.to_string(),
                s.detractors.to_string(),
                s.n.to_string(),
                s.nps.map(|v| v.to_string()).unwrap_or_default(),
                s.ci_low.map(|v| v.to_string()).unwrap_or_default(),
                s.ci_high.map(|v| v.to_string()).unwrap_or_default(),
            ]
        })
        .collect()
}

fn health_rows(rows: &[Health], label: impl Fn(&str) -> String) -> Vec<Vec<String>> {
    rows.iter()
        .map(|h| {
            vec![
                label(&h.key),
                h.sent.to_string(),
                h.answered.to_string(),
                pct(h.response_rate),
                h.reminded.to_string(),
                h.expired.to_string(),
            ]
        })
        .collect()
}

/// Every report table, computed now.
pub async fn tables(state: &AppState) -> AppResult<Vec<Table>> {
    let db = &state.db;
    let mut tables = Vec::new();
    let overall = promise_kept::compute(db, &Filter::default()).await?.overall;
    for (id, dimension, title) in [
        ("promise-kept-by-wave", "wave", "Promise-kept rate by wave"),
        ("promise-kept-by-cohort", "cohort", "Promise-kept rate by close cohort"),
        ("promise-kept-by-account-manager", "account_manager", "Promise-kept rate by account manager"),
        ("promise-kept-by-csm", "csm", "Promise-kept rate by CS manager"),
        ("promise-kept-by-segment", "segment", "Promise-kept rate by segment"),
        ("promise-kept-by-category", "category", "Promise-kept rate by promise category"),
        ("promise-kept-by-month", "month", "Promise-kept rate by month answered"),
    ] {
        let groups = promise_kept::compute(db, &Filter { group_by: Some(dimension.to_owned()), ..Default::default() })
            .await?
            .groups;
        tables.push(Table {
            id,
            title: title.to_owned(),
            columns: KEPT_COLUMNS.to_vec(),
            rows: kept_rows(&groups, Some(&overall)),
        });
    }
    let nps_columns = vec!["Group", "Promoters", "Passives", "Detractors", "Answers", "NPS", "CI low", "CI high"];
    for (id, dimension, title) in [
        ("nps-by-wave", "wave", "NPS by wave"),
        ("nps-by-segment", "segment", "NPS by segment"),
        ("nps-by-account-manager", "account_manager", "NPS by account manager"),
    ] {
        let nps = nps::compute(db, &NpsFilter { group_by: Some(dimension.to_owned()) }).await?;
        let mut rows = nps_rows(&nps.groups);
        rows.extend(nps_rows(&[NpsGroup { key: "all".into(), label: "All".into(), score: nps.overall }]));
        tables.push(Table { id, title: title.to_owned(), columns: nps_columns.clone(), rows });
    }
    let health = survey_health::compute(db).await?;
    let health_columns = vec!["Group", "Sent", "Answered", "Response %", "Reminded", "Expired"];
    let mut by_wave = health_rows(&health.by_wave, |k| format!("{k} months"));
    by_wave.extend(health_rows(std::slice::from_ref(&health.overall), |_| "All".to_owned()));
    tables.push(Table {
        id: "survey-health-by-wave",
        title: format!("Survey health by wave ({} contacts unsubscribed)", health.unsubscribed),
        columns: health_columns.clone(),
        rows: by_wave,
    });
    tables.push(Table {
        id: "survey-health-by-month",
        title: "Survey health by month sent".to_owned(),
        columns: health_columns,
        rows: health_rows(&health.by_month, str::to_owned),
    });
    tables.extend(pipeline_tables(state).await?);
    tables.extend(advocacy_tables(state).await?);
    Ok(tables)
}

fn number(value: Option<f64>) -> String {
    value.map_or_else(String::new, |v| format!("{v:.1}"))
}

async fn pipeline_tables(state: &AppState) -> AppResult<Vec<Table>> {
    let metrics = pipeline::compute(&state.db, &PipelineFilter::default(), state.now()).await?;
    let stages = Table {
        id: "pipeline-stages",
        title: format!(
            "Time in stage (median closed-won to live: {} days)",
            metrics.median_days_to_live.map_or("-".to_owned(), |d| format!("{d:.0}"))
        ),
        columns: vec![
            "Stage",
            "Target days",
            "Now in it",
            "On hold",
            "Median active days",
            "P90 active days",
            "On-hold days",
            "Over SLA",
        ],
        rows: metrics
            .stages
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.sla_days.map(|d| d.to_string()).unwrap_or_default(),
                    s.deals_now.to_string(),
                    s.deals_on_hold.to_string(),
                    number(s.median_active_days),
                    number(s.p90_active_days),
                    s.on_hold_days.to_string(),
                    s.sla_breaches.to_string(),
                ]
            })
            .collect(),
    };
    let mut conversion_rows = Vec::new();
    for cohort in std::iter::once(&metrics.conversion.overall).chain(&metrics.conversion.cohorts) {
        for reach in &cohort.stages {
            conversion_rows.push(vec![
                cohort.cohort.clone(),
                cohort.deals.to_string(),
                reach.key.clone(),
                reach.reached.to_string(),
                pct(reach.share),
                pct(reach.from_previous),
            ]);
        }
    }
    let conversion = Table {
        id: "pipeline-conversion",
        title: "Stage-to-stage conversion by close cohort".to_owned(),
        columns: vec!["Cohort", "Deals", "Stage", "Reached", "Of cohort %", "From stage before %"],
        rows: conversion_rows,
    };
    let forecast = Table {
        id: "pipeline-forecast",
        title: format!("Go-live forecast ({} deals in flight)", metrics.forecast.in_flight),
        columns: vec!["Within days", "Expected go-lives"],
        rows: metrics
            .forecast
            .horizons
            .iter()
            .map(|h| vec![h.days.to_string(), format!("{:.1}", h.expected_go_lives)])
            .collect(),
    };
    Ok(vec![stages, conversion, forecast])
}

async fn advocacy_tables(state: &AppState) -> AppResult<Vec<Table>> {
    let economics = profitability::report(&state.db, state.config.advocacy.configured_churn, state.now()).await?;
    let segments = Table {
        id: "profitability-by-segment",
        title: "Profitability by segment (3:1 line)".to_owned(),
        columns: vec![
            "Segment",
            "Accounts",
            "With figures",
            "ARR",
            "Gross margin %",
            "LTV",
            "LTV:CAC",
            "Payback months",
        ],
        rows: economics
            .segments
            .iter()
            .chain(std::iter::once(&economics.overall))
            .map(|s| {
                vec![
                    s.segment.clone(),
                    s.accounts.to_string(),
                    s.with_economics.to_string(),
                    format!("{:.0}", s.arr_total),
                    number(s.gross_margin_pct),
                    number(s.ltv),
                    number(s.ltv_cac),
                    number(s.payback_months),
                ]
            })
            .collect(),
    };
    let accounts = Table {
        id: "profitability-by-account",
        title: "Profitability by account".to_owned(),
        columns: vec!["Account", "Segment", "ARR", "Gross margin %", "CAC", "LTV", "LTV:CAC", "Payback months"],
        rows: economics
            .accounts
            .iter()
            .map(|a| {
                vec![
                    a.account.clone(),
                    a.segment.clone().unwrap_or_default(),
                    number(a.arr),
                    number(a.gross_margin_pct),
                    number(a.cac),
                    number(a.ltv),
                    number(a.ltv_cac),
                    number(a.payback_months),
                ]
            })
            .collect(),
    };
    let found = candidates::list(&state.db, &state.config.advocacy, state.now()).await?;
    let candidates = Table {
        id: "advocacy-candidates",
        title: "Advocacy candidates, best first".to_owned(),
        columns: vec!["Rank", "Contact", "Account", "Score", "Why"],
        rows: found
            .iter()
            .map(|c| {
                vec![
                    c.rank.map(|r| r.to_string()).unwrap_or_default(),
                    format!("{} <{}>", c.contact_name, c.contact_email),
                    c.account.clone(),
                    format!("{:.1}", c.score),
                    c.summary.clone(),
                ]
            })
            .collect(),
    };
    let outcomes = Table {
        id: "advocacy-outcomes",
        title: "Advocacy asks and their outcomes".to_owned(),
        columns: vec!["Kind", "Pending", "Done", "Declined", "Total"],
        rows: asks::outcomes(&state.db)
            .await?
            .iter()
            .map(|o| {
                vec![
                    o.label.clone(),
                    o.pending.to_string(),
                    o.done.to_string(),
                    o.declined.to_string(),
                    o.total.to_string(),
                ]
            })
            .collect(),
    };
    Ok(vec![segments, accounts, candidates, outcomes])
}

#[derive(Template)]
#[template(path = "pages/reports.html")]
struct ReportsPage {
    chrome: Chrome,
    tables: Vec<Table>,
}

async fn show_reports(State(state): State<AppState>, session: WebSession) -> Result<Response, PageError> {
    let chrome = session.chrome("reports");
    let tables = tables(&state).await.map_err(|e| PageError::new(e, chrome.clone()))?;
    Ok(render(StatusCode::OK, &ReportsPage { chrome, tables }))
}

/// Quotes a CSV cell when it needs it, and defuses spreadsheet formulas.
fn csv_cell(cell: &str) -> String {
    let cell = if cell.starts_with(['=', '+', '-', '@']) && cell.parse::<f64>().is_err() {
        format!("'{cell}")
    } else {
        cell.to_owned()
    };
    if cell.contains([',', '"', '\n', '\r']) { format!("\"{}\"", cell.replace('"', "\"\"")) } else { cell }
}

async fn download(
    State(state): State<AppState>,
    session: WebSession,
    Path(file): Path<String>,
) -> Result<Response, PageError> {
    let chrome = session.chrome("reports");
    let fail = |e| PageError::new(e, chrome.clone());
    let id = file.strip_suffix(".csv").ok_or_else(|| fail(AppError::NotFound("report")))?;
    let table = tables(&state)
        .await
        .map_err(fail)?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| fail(AppError::NotFound("report")))?;
    let mut body = String::new();
    for line in std::iter::once(table.columns.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>()).chain(table.rows) {
        body.push_str(&line.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(","));
        body.push_str("\r\n");
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"aftercare-{id}.csv\"")),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a, b"), "\"a, b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-12.5"), "-12.5");
    }
}
