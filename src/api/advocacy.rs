//! Advocacy candidates and the asks ledger; account economics and
//! profitability.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::Deserialize;

use super::{ApiJson, ApiQuery, ApiResult, ApiUser};
use crate::AppState;
use crate::advocacy::asks::{self, AskView, NewAsk, OutcomeCounts, OutcomeInput};
use crate::advocacy::candidates::{self, Candidate};
use crate::auth::Role;
use crate::error::AppError;
use crate::metrics::profitability::{self, AccountEconomics, EconomicsInput, ProfitabilityReport};
use crate::validate::Fields;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/advocacy/candidates", get(list_candidates))
        .route("/advocacy/asks", get(list_asks).post(create_ask))
        .route("/advocacy/asks/{id}", patch(update_ask))
        .route("/advocacy/outcomes", get(list_outcomes))
        .route("/accounts/{id}", patch(update_account))
        .route("/profitability", get(show_profitability))
}

fn id_of(raw: &str, what: &'static str) -> Result<i32, AppError> {
    raw.parse().map_err(|_| AppError::NotFound(what))
}

/// Filters for the candidates.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CandidateFilter {
    /// `true` also lists the contacts who miss a rule, with the rules.
    #[serde(default)]
    all: Option<String>,
}

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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AskFilter {
    #[serde(default)]
    limit: Option<u64>,
}

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

async fn create_ask(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(input): ApiJson<NewAsk>,
) -> ApiResult<(StatusCode, Json<AskView>)> {
    user.require(Role::Member)?;
    let made = asks::record(&state.db, input, user.id, state.config.advocacy.budget, state.now()).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

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

async fn list_outcomes(State(state): State<AppState>, _user: ApiUser) -> ApiResult<Json<Vec<OutcomeCounts>>> {
    Ok(Json(asks::outcomes(&state.db).await?))
}

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

async fn show_profitability(State(state): State<AppState>, _user: ApiUser) -> ApiResult<Json<ProfitabilityReport>> {
    Ok(Json(profitability::report(&state.db, state.config.advocacy.configured_churn, state.now()).await?))
}
