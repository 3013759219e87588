//! Promises, surveys and follow-ups.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::deals::{DealResponse, deal_response};
use super::{ApiJson, ApiQuery, ApiResult, ApiUser};
use crate::AppState;
use crate::auth::Role;
use crate::error::AppError;
use crate::surveys::followups::{self, FollowupView};
use crate::surveys::promises::{self, PromiseInput};
use crate::surveys::queries::{self, SurveyDetail, SurveyFilter, SurveySummary};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/deals/{id}/promises", post(add_promise))
        .route("/surveys", get(list_surveys))
        .route("/surveys/{id}", get(show_survey))
        .route("/followups", get(list_followups))
}

fn id_of(raw: &str, what: &'static str) -> Result<i32, AppError> {
    raw.parse().map_err(|_| AppError::NotFound(what))
}

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

async fn list_surveys(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiQuery(filter): ApiQuery<SurveyFilter>,
) -> ApiResult<Json<Vec<SurveySummary>>> {
    Ok(Json(queries::list(&state.db, &filter).await?))
}

async fn show_survey(
    State(state): State<AppState>,
    _user: ApiUser,
    Path(id): Path<String>,
) -> ApiResult<Json<SurveyDetail>> {
    Ok(Json(queries::get(&state.db, id_of(&id, "survey")?).await?))
}

/// Filters for follow-ups.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FollowupFilter {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    deal_id: Option<i32>,
}

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
