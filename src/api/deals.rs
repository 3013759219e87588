//! Deals: create, list, show, update owners and next call, record
//! evidence, and move through the pipeline.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{ApiJson, ApiQuery, ApiResult, ApiUser};
use crate::auth::{CurrentUser, Role};
use crate::error::AppError;
use crate::pipeline::deals::{self, Created, DealFilter, DealSummary, DealUpdate, DealView, NewDeal};
use crate::pipeline::evidence::{self, EvidenceInput};
use crate::pipeline::gate::{self, MoveBackInput};
use crate::pipeline::holds::{self, HoldInput};
use crate::surveys::promises::{self, PromiseView};
use crate::{AppResult, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/deals", get(list_deals).post(create_deal))
        .route("/deals/{id}", get(show_deal).patch(update_deal))
        .route("/deals/{id}/evidence", post(record_evidence))
        .route("/deals/{id}/advance", post(advance_deal))
        .route("/deals/{id}/move-back", post(move_back_deal))
        .route("/deals/{id}/hold", post(hold_deal))
        .route("/deals/{id}/resume", post(resume_deal))
}

/// An empty body, for actions that take none (`{}` or nothing).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoBody {}

/// A deal as the API returns it: the pipeline view and its promises.
#[derive(Debug, Serialize)]
pub struct DealResponse {
    #[serde(flatten)]
    deal: DealView,
    promises: Vec<PromiseView>,
}

/// Loads the API's view of a deal.
pub async fn deal_response(state: &AppState, id: i32) -> Result<Json<DealResponse>, AppError> {
    let deal = deals::get(&state.db, id, state.now()).await?;
    let promises = promises::for_deal(&state.db, id).await?;
    Ok(Json(DealResponse { deal, promises }))
}

/// Ids in paths that are not numbers name no deal.
fn deal_id(raw: &str) -> Result<i32, AppError> {
    raw.parse().map_err(|_| AppError::NotFound("deal"))
}

async fn list_deals(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiQuery(filter): ApiQuery<DealFilter>,
) -> ApiResult<Json<Vec<DealSummary>>> {
    Ok(Json(deals::list(&state.db, &filter, state.now()).await?))
}

async fn create_deal(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(input): ApiJson<NewDeal>,
) -> ApiResult<(StatusCode, Json<DealResponse>)> {
    user.require(Role::Member)?;
    let (id, created) = deals::create(&state.db, input, Some(user.id), state.now()).await?;
    let status = if created == Created::New { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, deal_response(&state, id).await?))
}

async fn show_deal(
    State(state): State<AppState>,
    _user: ApiUser,
    Path(id): Path<String>,
) -> ApiResult<Json<DealResponse>> {
    Ok(deal_response(&state, deal_id(&id)?).await?)
}

/// Runs a state-changing action for a member and answers with the deal.
async fn act(
    state: &AppState,
    user: &CurrentUser,
    raw_id: &str,
    action: impl AsyncFnOnce(i32) -> AppResult<()>,
) -> ApiResult<Json<DealResponse>> {
    user.require(Role::Member)?;
    let id = deal_id(raw_id)?;
    action(id).await?;
    Ok(deal_response(state, id).await?)
}

async fn update_deal(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<DealUpdate>,
) -> ApiResult<Json<DealResponse>> {
    act(&state, &user, &id, async |id| deals::update(&state.db, id, input, user.id, state.now()).await).await
}

async fn record_evidence(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<EvidenceInput>,
) -> ApiResult<(StatusCode, Json<DealResponse>)> {
    let deal = act(&state, &user, &id, async |id| {
        evidence::record(&state.db, id, input, user.id, state.now()).await.map(|_| ())
    })
    .await?;
    Ok((StatusCode::CREATED, deal))
}

async fn advance_deal(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(NoBody {}): ApiJson<NoBody>,
) -> ApiResult<Json<DealResponse>> {
    act(&state, &user, &id, async |id| gate::advance(&state.db, id, user.id, state.now()).await.map(|_| ())).await
}

async fn move_back_deal(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<MoveBackInput>,
) -> ApiResult<Json<DealResponse>> {
    act(&state, &user, &id, async |id| gate::move_back(&state.db, id, input, user.id, state.now()).await.map(|_| ()))
        .await
}

async fn hold_deal(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<HoldInput>,
) -> ApiResult<Json<DealResponse>> {
    act(&state, &user, &id, async |id| holds::hold(&state.db, id, input, user.id, state.now()).await).await
}

async fn resume_deal(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(NoBody {}): ApiJson<NoBody>,
) -> ApiResult<Json<DealResponse>> {
    act(&state, &user, &id, async |id| holds::resume(&state.db, id, user.id, state.now()).await).await
}
