//! The advocacy page: the candidates with their reasons and an ask form
//! each, the asks ledger with outcome forms, the outcomes so far, and
//! profitability by segment against the 3:1 line. Also the account page's
//! economics figures.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Chrome, CsrfForm, Notice, PageError, WebSession, render, status_of};
use crate::advocacy::asks::{self, AskView, NewAsk, OutcomeCounts, OutcomeInput};
use crate::advocacy::candidates::{self, Candidate, Rules};
use crate::advocacy::kind;
use crate::auth::Role;
use crate::error::AppError;
use crate::metrics::profitability::{self, AccountEconomics, EconomicsInput, ProfitabilityReport};
use crate::{AppResult, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/advocacy", get(show_advocacy))
        .route("/advocacy/asks", post(create_ask))
        .route("/advocacy/asks/{id}/outcome", post(update_ask))
}

/// The ask form as posted (from a candidate's row or the ledger).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AskForm {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    contact_email: Option<String>,
    #[serde(default)]
    deal_id: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

impl AskForm {
    fn parse(&self) -> AppResult<NewAsk> {
        let deal_id = match self.deal_id.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(raw) => Some(raw.parse().map_err(|_| AppError::field("deal_id", "must be a deal's number"))?),
            None => None,
        };
        Ok(NewAsk {
            kind: self.kind.clone(),
            contact_email: self.contact_email.clone(),
            deal_id,
            note: self.note.clone(),
        })
    }
}

/// An outcome form as posted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeForm {
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    link: Option<String>,
    #[serde(default)]
    referred_deal_id: Option<String>,
}

impl OutcomeForm {
    fn parse(&self) -> AppResult<OutcomeInput> {
        let referred_deal_id = match self.referred_deal_id.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(raw) => Some(raw.parse().map_err(|_| AppError::field("referred_deal_id", "must be a deal's number"))?),
            None => None,
        };
        Ok(OutcomeInput { outcome: self.outcome.clone(), link: self.link.clone(), referred_deal_id })
    }
}

#[derive(Template)]
#[template(path = "pages/advocacy.html")]
struct AdvocacyPage {
    chrome: Chrome,
    notice: Option<Notice>,
    candidates: Vec<Candidate>,
    excluded: Vec<Candidate>,
    asks: Vec<AskView>,
    outcomes: Vec<OutcomeCounts>,
    profitability: ProfitabilityReport,
    kinds: Vec<(&'static str, &'static str)>,
    form: AskForm,
    rules: Rules,
}

impl AdvocacyPage {
    fn near_misses(&self) -> u64 {
        NEAR_MISSES
    }

    fn money(&self, value: &Option<f64>) -> String {
        money(*value)
    }

    fn ratio(&self, value: &Option<f64>) -> String {
        value.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}:1"))
    }

    fn months(&self, value: &Option<f64>) -> String {
        value.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}"))
    }

    fn percent(&self, value: &Option<f64>) -> String {
        value.map_or_else(|| "—".to_owned(), |v| format!("{v:.1} %"))
    }

    fn is_selected(&self, key: &str) -> bool {
        self.form.kind.as_deref() == Some(key)
    }
}

/// An amount with thousands grouped, e.g. "120,000" or "1,250.50"; a dash
/// when unknown.
pub(super) fn money(value: Option<f64>) -> String {
    let Some(value) = value else { return "—".to_owned() };
    let cents = (value * 100.0).round() as i64;
    let (whole, cents) = (cents / 100, (cents % 100).abs());
    let digits = whole.abs().to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if whole < 0 { "-" } else { "" };
    if cents > 0 { format!("{sign}{grouped}.{cents:02}") } else { format!("{sign}{grouped}") }
}

/// The economics form's values, as the account page shows them.
#[derive(Debug, Clone, Default)]
pub(super) struct EconomicsValues {
    /// ARR as typed or stored.
    pub arr: String,
    /// Gross margin in percent.
    pub gross_margin_pct: String,
    /// CAC.
    pub cac: String,
}

impl EconomicsValues {
    /// The stored figures.
    pub(super) fn stored(economics: &AccountEconomics) -> Self {
        let plain = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_default();
        Self {
            arr: plain(economics.arr),
            gross_margin_pct: plain(economics.gross_margin_pct),
            cac: plain(economics.cac),
        }
    }

    /// What was submitted.
    pub(super) fn submitted(input: &EconomicsInput) -> Self {
        let typed = |v: &Option<Option<String>>| v.clone().flatten().unwrap_or_default();
        Self { arr: typed(&input.arr), gross_margin_pct: typed(&input.gross_margin_pct), cac: typed(&input.cac) }
    }
}

/// An account's economics as of now (for the account page).
pub(super) async fn account_economics(state: &AppState, id: i32) -> AppResult<AccountEconomics> {
    profitability::for_account(&state.db, id, state.config.advocacy.configured_churn, state.now()).await
}

/// How many recent promoters the page checks for near misses.
const NEAR_MISSES: u64 = 100;

async fn advocacy_page(
    state: &AppState,
    session: &WebSession,
    notice: Option<Notice>,
    form: AskForm,
) -> AppResult<AdvocacyPage> {
    let now = state.now();
    let rules = &state.config.advocacy;
    let candidates = candidates::list(&state.db, rules, now).await?;
    let excluded = candidates::near_misses(&state.db, rules, now, NEAR_MISSES).await?;
    let asks = asks::list(&state.db, 300).await?;
    let outcomes = asks::outcomes(&state.db).await?;
    let profitability = profitability::report(&state.db, rules.configured_churn, now).await?;
    Ok(AdvocacyPage {
        chrome: session.chrome("advocacy"),
        notice,
        candidates,
        excluded,
        asks,
        outcomes,
        profitability,
        kinds: kind::ALL.to_vec(),
        form,
        rules: rules.clone(),
    })
}

#[derive(Debug, Deserialize)]
struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn show_advocacy(
    State(state): State<AppState>,
    session: WebSession,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let notice = match query.done.as_deref() {
        Some("ask") => Some(Notice::success("Ask recorded.")),
        Some("outcome") => Some(Notice::success("Outcome recorded.")),
        _ => None,
    };
    let page = advocacy_page(&state, &session, notice, AskForm::default())
        .await
        .map_err(|e| PageError::new(e, session.chrome("advocacy")))?;
    Ok(render(StatusCode::OK, &page))
}

/// Shows a refused form's reasons on the page, with what was typed; other
/// errors get the error page.
async fn refused(state: &AppState, session: &WebSession, error: AppError, form: AskForm) -> Response {
    let chrome = session.chrome("advocacy");
    match error {
        AppError::Validation(_) | AppError::Conflict { .. } => {
            match advocacy_page(state, session, Some(Notice::error(&error)), form).await {
                Ok(page) => render(status_of(&error), &page),
                Err(error) => PageError::new(error, chrome).into_response(),
            }
        }
        other => PageError::new(other, chrome).into_response(),
    }
}

async fn create_ask(State(state): State<AppState>, form: CsrfForm<AskForm>) -> Response {
    let CsrfForm { session, form } = form;
    if let Err(error) = session.require(Role::Member, "advocacy") {
        return error.into_response();
    }
    let result = match form.parse() {
        Ok(input) => asks::record(&state.db, input, session.user().id, state.config.advocacy.budget, state.now())
            .await
            .map(|_| ()),
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => Redirect::to("/advocacy?done=ask").into_response(),
        Err(error) => refused(&state, &session, error, form).await,
    }
}

async fn update_ask(State(state): State<AppState>, Path(id): Path<String>, form: CsrfForm<OutcomeForm>) -> Response {
    let CsrfForm { session, form } = form;
    if let Err(error) = session.require(Role::Member, "advocacy") {
        return error.into_response();
    }
    let Ok(id) = id.parse::<i32>() else {
        return PageError::new(AppError::NotFound("advocacy ask"), session.chrome("advocacy")).into_response();
    };
    let result = match form.parse() {
        Ok(input) => asks::record_outcome(&state.db, id, input, session.user().id, state.now()).await.map(|_| ()),
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => Redirect::to("/advocacy?done=outcome").into_response(),
        Err(error) => refused(&state, &session, error, AskForm::default()).await,
    }
}

#[cfg(test)]
mod tests {
    use super::money;

    #[test]
    fn money_groups_thousands_and_keeps_cents() {
        assert_eq!(money(Some(120_000.0)), "120,000");
        assert_eq!(money(Some(1_250.5)), "1,250.50");
        assert_eq!(money(Some(999.0)), "999");
        assert_eq!(money(None), "—");
    }
}
