//! Survey metrics: the promise-kept rate, NPS and survey health.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::{Unauthenticated, ValidationFailed};
use super::{ApiQuery, ApiResult, ApiUser};
use crate::AppState;
use crate::metrics::nps::{self, Nps, NpsFilter};
use crate::metrics::promise_kept::{self, Filter, Group, PromiseKept};
use crate::metrics::survey_health::{self, SurveyHealth};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(promise_kept_rate))
        .routes(routes!(promise_kept_trend))
        .routes(routes!(nps_score))
        .routes(routes!(health))
}

/// The promise-kept rate.
///
/// Kept verdicts over kept, partly and not kept ones (too early is left
/// out), `overall` and per group of `group_by`, each with a 95 % Wilson
/// interval and `small_sample` under 30 verdicts.
#[utoipa::path(
    get,
    path = "/metrics/promise-kept",
    tag = "metrics",
    params(Filter),
    responses(
        (status = 200, description = "The rate overall and by the requested dimension", body = PromiseKept),
        (status = 401, response = Unauthenticated),
        (status = 422, response = ValidationFailed),
    ),
)]
async fn promise_kept_rate(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiQuery(filter): ApiQuery<Filter>,
) -> ApiResult<Json<PromiseKept>> {
    Ok(Json(promise_kept::compute(&state.db, &filter).await?))
}

/// The monthly trend of the promise-kept rate.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PromiseKeptTrend)]
struct Trend {
    /// One group per month (`key` `YYYY-MM`), oldest first.
    months: Vec<Group>,
    /// The target line (0.80).
    target: f64,
    /// The ambition line (0.85).
    ambition: f64,
}

/// The monthly trend of the promise-kept rate.
///
/// Takes the same filters as the rate; `group_by` is ignored.
#[utoipa::path(
    get,
    path = "/metrics/promise-kept/trend",
    tag = "metrics",
    params(Filter),
    responses(
        (status = 200, description = "The rate per month", body = Trend),
        (status = 401, response = Unauthenticated),
        (status = 422, response = ValidationFailed),
    ),
)]
async fn promise_kept_trend(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiQuery(filter): ApiQuery<Filter>,
) -> ApiResult<Json<Trend>> {
    let months = promise_kept::trend(&state.db, &filter).await?;
    Ok(Json(Trend { months, target: promise_kept::TARGET, ambition: promise_kept::AMBITION }))
}

/// NPS: promoters (9-10) minus detractors (0-6), in points.
///
/// With a 95 % interval, overall and per group of `group_by`.
#[utoipa::path(
    get,
    path = "/metrics/nps",
    tag = "metrics",
    params(NpsFilter),
    responses(
        (status = 200, description = "NPS overall and by the requested dimension", body = Nps),
        (status = 401, response = Unauthenticated),
        (status = 422, response = ValidationFailed),
    ),
)]
async fn nps_score(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiQuery(filter): ApiQuery<NpsFilter>,
) -> ApiResult<Json<Nps>> {
    Ok(Json(nps::compute(&state.db, &filter).await?))
}

/// Survey health.
///
/// Surveys sent, answered, reminded and expired, overall, by wave and by
/// month sent; contacts who unsubscribed.
#[utoipa::path(
    get,
    path = "/metrics/survey-health",
    tag = "metrics",
    operation_id = "survey_health",
    responses(
        (status = 200, description = "The survey counts", body = SurveyHealth),
        (status = 401, response = Unauthenticated),
    ),
)]
async fn health(State(state): State<AppState>, _user: ApiUser) -> ApiResult<Json<SurveyHealth>> {
    Ok(Json(survey_health::compute(&state.db).await?))
}
