//! Survey metrics: the promise-kept rate, NPS and survey health.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::{ApiQuery, ApiResult, ApiUser};
use crate::AppState;
use crate::metrics::nps::{self, Nps, NpsFilter};
use crate::metrics::promise_kept::{self, Filter, Group, PromiseKept};
use crate::metrics::survey_health::{self, SurveyHealth};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/metrics/promise-kept", get(promise_kept_rate))
        .route("/metrics/promise-kept/trend", get(promise_kept_trend))
        .route("/metrics/nps", get(nps_score))
        .route("/metrics/survey-health", get(health))
}

async fn promise_kept_rate(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiQuery(filter): ApiQuery<Filter>,
) -> ApiResult<Json<PromiseKept>> {
    Ok(Json(promise_kept::compute(&state.db, &filter).await?))
}

/// The monthly trend of the promise-kept rate.
#[derive(Debug, Serialize)]
struct Trend {
    months: Vec<Group>,
    target: f64,
    ambition: f64,
}

async fn promise_kept_trend(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiQuery(filter): ApiQuery<Filter>,
) -> ApiResult<Json<Trend>> {
    let months = promise_kept::trend(&state.db, &filter).await?;
    Ok(Json(Trend { months, target: promise_kept::TARGET, ambition: promise_kept::AMBITION }))
}

async fn nps_score(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiQuery(filter): ApiQuery<NpsFilter>,
) -> ApiResult<Json<Nps>> {
    Ok(Json(nps::compute(&state.db, &filter).await?))
}

async fn health(State(state): State<AppState>, _user: ApiUser) -> ApiResult<Json<SurveyHealth>> {
    Ok(Json(survey_health::compute(&state.db).await?))
}
