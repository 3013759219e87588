//! Advocacy candidates and the asks ledger; account economics and
//! profitability.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::{
    Forbidden, MalformedJson, NotFound, PayloadTooLarge, Unauthenticated, UnsupportedMediaType, ValidationFailed,
};
use super::{ApiJson, ApiQuery, ApiResult, ApiUser, ErrorEnvelope};
use crate::AppState;
use crate::advocacy::asks::{self, AskView, NewAsk, OutcomeCounts, OutcomeInput};
use crate::advocacy::candidates::{self, Candidate};
use crate::auth::Role;
use crate::error::AppError;
use crate::metrics::profitability::{self, AccountEconomics, EconomicsInput, ProfitabilityReport};
use crate::validate::Fields;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_candidates))
        .routes(routes!(list_asks, create_ask))
        .routes(routes!(update_ask))
        .routes(routes!(list_outcomes))
        .routes(routes!(update_account))
        .routes(routes!(show_profitability))
}

fn id_of(raw: &str, what: &'static str) -> Result<i32, AppError> {
    raw.parse().map_err(|_| AppError::NotFound(what))
}

/// Filters for the candidates.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CandidateFilter {
    /// `true` also lists the contacts who miss a rule, with the rules.
    #[serde(default)]
    #[param(value_type = Option<bool>)]
    all: Option<String>,
}

/// Ranked advocacy candidates.
///
/// Contacts whose latest survey makes them a good ask (live, promises kept,
/// a high recommend score), each with the reasons and the ask budget left.
/// With `all=true` also everyone else with an answered survey, with the
/// rules they miss.
#[utoipa::path(
    get,
    path = "/advocacy/candidates",
    tag = "advocacy",
    params(CandidateFilter),
    responses(
        (status = 200, description = "The candidates, best first", body = [Candidate]),
        (status = 401, response = Unauthenticated),
        (status = 422, response = ValidationFailed),
    ),
)]
async fn list_candidates(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiQuery(filter): ApiQuery<CandidateFilter>,
) -> ApiResult<Json<Vec<Candidate>>> {
    let mut fields = Fields::new();
    let all = fields.optional_flag("all", filter.all.as_deref()).unwrap_or(false);
    fields.finish()?;
    let rules = &state.config.advocacy;
    let found = if all {
        candidates::assess(&state.db, rules, state.now()).await?
    } else {
        candidates::list(&state.db, rules, state.now()).await?
    };
    Ok(Json(found))
}

/// How many asks to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AskFilter {
    /// At most this many, newest first (default 500).
    #[serde(default)]
    #[param(minimum = 1, maximum = 5000)]
    limit: Option<u64>,
}

/// The asks ledger, newest first.
#[utoipa::path(
    get,
    path = "/advocacy/asks",
    tag = "advocacy",
    params(AskFilter),
    responses(
        (status = 200, description = "The asks", body = [AskView]),
        (status = 401, response = Unauthenticated),
        (status = 422, response = ValidationFailed),
    ),
)]
async fn list_asks(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiQuery(filter): ApiQuery<AskFilter>,
) -> ApiResult<Json<Vec<AskView>>> {
    let limit = filter.limit.unwrap_or(500);
    if !(1..=5_000).contains(&limit) {
        return Err(AppError::field("limit", "must be from 1 to 5000").into());
    }
    Ok(Json(asks::list(&state.db, limit).await?))
}

/// Records an advocacy ask of a contact.
///
/// `kind` is `review`, `reference_call`, `case_study`, `referral` or
/// `testimonial`. Asks and surveys share one ask budget per contact: a
/// contact asked too recently, or too often this quarter, is refused with
/// `409 ask_budget_exhausted`.
#[utoipa::path(
    post,
    path = "/advocacy/asks",
    tag = "advocacy",
    request_body = NewAsk,
    responses(
        (status = 201, description = "The ask was recorded", body = AskView),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 409, description = "`ask_budget_exhausted`: the contact may not be asked now; the message says until when", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
    ),
)]
async fn create_ask(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(input): ApiJson<NewAsk>,
) -> ApiResult<(StatusCode, Json<AskView>)> {
    user.require(Role::Member)?;
    let made = asks::record(&state.db, input, user.id, state.config.advocacy.budget, state.now()).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// Records an ask's outcome, once.
///
/// `done` (with a `link` to what it produced; for a referral the
/// `referred_deal_id`) or `declined`.
#[utoipa::path(
    patch,
    path = "/advocacy/asks/{id}",
    tag = "advocacy",
    params(("id" = i32, Path, description = "The ask's id")),
    request_body = OutcomeInput,
    responses(
        (status = 200, description = "The ask with its outcome", body = AskView),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "`outcome_already_recorded`: an ask's history is not rewritten", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
    ),
)]
async fn update_ask(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<OutcomeInput>,
) -> ApiResult<Json<AskView>> {
    user.require(Role::Member)?;
    let id = id_of(&id, "advocacy ask")?;
    Ok(Json(asks::record_outcome(&state.db, id, input, user.id, state.now()).await?))
}

/// Ask outcomes by kind: pending, done, declined.
#[utoipa::path(
    get,
    path = "/advocacy/outcomes",
    tag = "advocacy",
    responses(
        (status = 200, description = "One row per kind, and `all`", body = [OutcomeCounts]),
        (status = 401, response = Unauthenticated),
    ),
)]
async fn list_outcomes(State(state): State<AppState>, _user: ApiUser) -> ApiResult<Json<Vec<OutcomeCounts>>> {
    Ok(Json(asks::outcomes(&state.db).await?))
}

/// Sets an account's economics: `arr`, `gross_margin_pct`, `cac`.
///
/// Absent fields stay as they are; `null` or blank clears them. Numbers
/// may be JSON numbers or text.
#[utoipa::path(
    patch,
    path = "/accounts/{id}",
    tag = "profitability",
    params(("id" = i32, Path, description = "The account's id")),
    request_body = EconomicsInput,
    responses(
        (status = 200, description = "The account's economics", body = AccountEconomics),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
    ),
)]
async fn update_account(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<EconomicsInput>,
) -> ApiResult<Json<AccountEconomics>> {
    user.require(Role::Member)?;
    let id = id_of(&id, "account")?;
    profitability::update_economics(&state.db, id, input, user.id, state.now()).await?;
    Ok(Json(profitability::for_account(&state.db, id, state.config.advocacy.configured_churn, state.now()).await?))
}

/// Profitability by account and segment.
///
/// ARR, gross margin, CAC, LTV, LTV:CAC and CAC payback, with the churn
/// rate behind every LTV.
#[utoipa::path(
    get,
    path = "/profitability",
    tag = "profitability",
    responses(
        (status = 200, description = "The report", body = ProfitabilityReport),
        (status = 401, response = Unauthenticated),
    ),
)]
async fn show_profitability(State(state): State<AppState>, _user: ApiUser) -> ApiResult<Json<ProfitabilityReport>> {
    Ok(Json(profitability::report(&state.db, state.config.advocacy.configured_churn, state.now()).await?))
}
