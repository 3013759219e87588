//! Promises, surveys and follow-ups.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::deals::{DealResponse, deal_response};
use super::openapi::{
    Forbidden, MalformedJson, NotFound, PayloadTooLarge, Unauthenticated, UnsupportedMediaType, ValidationFailed,
};
use super::{ApiJson, ApiQuery, ApiResult, ApiUser};
use crate::AppState;
use crate::auth::Role;
use crate::error::AppError;
use crate::surveys::followups::{self, FollowupView};
use crate::surveys::promises::{self, PromiseInput};
use crate::surveys::queries::{self, SurveyDetail, SurveyFilter, SurveySummary};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_promise))
        .routes(routes!(list_surveys))
        .routes(routes!(show_survey))
        .routes(routes!(list_followups))
}

fn id_of(raw: &str, what: &'static str) -> Result<i32, AppError> {
    raw.parse().map_err(|_| AppError::NotFound(what))
}

/// Records a promise of value made during the sale.
///
/// `text` is the promised outcome in the customer's words; `category` and
/// a measurable `target` are optional. Surveys later ask whether it was
/// kept. `GET /api/v1/deals/{id}` lists the deal's promises.
#[utoipa::path(
    post,
    path = "/deals/{id}/promises",
    tag = "surveys",
    params(("id" = i32, Path, description = "The deal's id")),
    request_body = PromiseInput,
    responses(
        (status = 201, description = "The promise was recorded; the deal with its promises", body = DealResponse),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
    ),
)]
async fn add_promise(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PromiseInput>,
) -> ApiResult<(StatusCode, Json<DealResponse>)> {
    user.require(Role::Member)?;
    let id = id_of(&id, "deal")?;
    promises::add(&state.db, id, input, None, user.id, state.now()).await?;
    Ok((StatusCode::CREATED, deal_response(&state, id).await?))
}

/// Lists surveys, newest first.
#[utoipa::path(
    get,
    path = "/surveys",
    tag = "surveys",
    params(SurveyFilter),
    responses(
        (status = 200, description = "The surveys matching the filters", body = [SurveySummary]),
        (status = 401, response = Unauthenticated),
        (status = 422, response = ValidationFailed),
    ),
)]
async fn list_surveys(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiQuery(filter): ApiQuery<SurveyFilter>,
) -> ApiResult<Json<Vec<SurveySummary>>> {
    Ok(Json(queries::list(&state.db, &filter).await?))
}

/// Shows a survey with its answer.
///
/// Its status, waves, due date, sent and answered times, the promises it
/// asks about, the verdicts and the rest of the answer (NPS, reference,
/// review, comment).
#[utoipa::path(
    get,
    path = "/surveys/{id}",
    tag = "surveys",
    params(("id" = i32, Path, description = "The survey's id")),
    responses(
        (status = 200, description = "The survey", body = SurveyDetail),
        (status = 401, response = Unauthenticated),
        (status = 404, response = NotFound),
    ),
)]
async fn show_survey(
    State(state): State<AppState>,
    _user: ApiUser,
    Path(id): Path<String>,
) -> ApiResult<Json<SurveyDetail>> {
    Ok(Json(queries::get(&state.db, id_of(&id, "survey")?).await?))
}

/// Filters for follow-ups.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct FollowupFilter {
    /// `open` or `resolved`.
    #[serde(default)]
    status: Option<String>,
    /// A deal id.
    #[serde(default)]
    deal_id: Option<i32>,
}

/// Lists the follow-ups opened by "not kept" verdicts.
#[utoipa::path(
    get,
    path = "/followups",
    tag = "surveys",
    params(FollowupFilter),
    responses(
        (status = 200, description = "The follow-ups matching the filters", body = [FollowupView]),
        (status = 401, response = Unauthenticated),
        (status = 422, response = ValidationFailed),
    ),
)]
async fn list_followups(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiQuery(filter): ApiQuery<FollowupFilter>,
) -> ApiResult<Json<Vec<FollowupView>>> {
    let status = filter.status.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if status.is_some_and(|s| s != followups::status::OPEN && s != followups::status::RESOLVED) {
        return Err(AppError::field("status", "must be open or resolved").into());
    }
    Ok(Json(followups::list(&state.db, status, filter.deal_id).await?))
}
