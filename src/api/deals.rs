//! Deals: create, list, show, update owners and next call, record
//! evidence, and move through the pipeline.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::{
    Forbidden, MalformedJson, NotFound, PayloadTooLarge, Unauthenticated, UnsupportedMediaType, ValidationFailed,
};
use super::{ApiJson, ApiQuery, ApiResult, ApiUser, ErrorEnvelope};
use crate::auth::{CurrentUser, Role};
use crate::error::AppError;
use crate::pipeline::deals::{self, Created, DealFilter, DealSummary, DealUpdate, DealView, NewDeal};
use crate::pipeline::evidence::{self, EvidenceInput};
use crate::pipeline::gate::{self, MoveBackInput};
use crate::pipeline::holds::{self, HoldInput};
use crate::surveys::promises::{self, PromiseView};
use crate::{AppResult, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_deals, create_deal))
        .routes(routes!(show_deal, update_deal))
        .routes(routes!(record_evidence))
        .routes(routes!(advance_deal))
        .routes(routes!(move_back_deal))
        .routes(routes!(hold_deal))
        .routes(routes!(resume_deal))
}

/// An empty body, for actions that take none (`{}` or nothing).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NoBody {}

/// A deal as the API returns it: the pipeline view and its promises.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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

/// Lists deals.
///
/// In pipeline order, longest-waiting first, each with its stage, active
/// and on-hold days in stage, whether it is stuck (over the stage's SLA),
/// its owners and next call.
#[utoipa::path(
    get,
    path = "/deals",
    tag = "deals",
    params(DealFilter),
    responses(
        (status = 200, description = "The deals matching the filters", body = [DealSummary]),
        (status = 401, response = Unauthenticated),
        (status = 422, response = ValidationFailed),
    ),
)]
async fn list_deals(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiQuery(filter): ApiQuery<DealFilter>,
) -> ApiResult<Json<Vec<DealSummary>>> {
    Ok(Json(deals::list(&state.db, &filter, state.now()).await?))
}

/// Enters a won deal at the first stage (`closed_won`).
///
/// The account is found by name or created; owners are user emails;
/// contacts are added to the account. Sending an `external_id` that a deal
/// already has returns that deal unchanged (`200`), so a CRM may retry.
#[utoipa::path(
    post,
    path = "/deals",
    tag = "deals",
    request_body = NewDeal,
    responses(
        (status = 201, description = "The deal was created", body = DealResponse),
        (status = 200, description = "A deal with this `external_id` already existed; it is returned unchanged", body = DealResponse),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
    ),
)]
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

/// Shows a deal.
///
/// Its stage, active and on-hold days in stage, whether it is stuck, its
/// owners and next call, the current stage's criteria with their evidence,
/// its transitions, holds, contacts and promises.
#[utoipa::path(
    get,
    path = "/deals/{id}",
    tag = "deals",
    params(("id" = i32, Path, description = "The deal's id")),
    responses(
        (status = 200, description = "The deal", body = DealResponse),
        (status = 401, response = Unauthenticated),
        (status = 404, response = NotFound),
    ),
)]
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

/// Sets a deal's owners, next customer call or churn date.
///
/// Absent fields stay as they are; `null` (or blank) clears a field.
/// Owners and the call's lead and scheduler are user emails.
#[utoipa::path(
    patch,
    path = "/deals/{id}",
    tag = "deals",
    params(("id" = i32, Path, description = "The deal's id")),
    request_body = DealUpdate,
    responses(
        (status = 200, description = "The updated deal", body = DealResponse),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
    ),
)]
async fn update_deal(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<DealUpdate>,
) -> ApiResult<Json<DealResponse>> {
    act(&state, &user, &id, async |id| deals::update(&state.db, id, input, user.id, state.now()).await).await
}

/// Records evidence for a criterion of the deal's current stage.
///
/// A `note` and/or a `url` shows what the customer did; `confirmed_by` and
/// `confirmed_on` say who at the customer confirmed it and when. With
/// `supersedes_id` it corrects earlier evidence.
#[utoipa::path(
    post,
    path = "/deals/{id}/evidence",
    tag = "deals",
    params(("id" = i32, Path, description = "The deal's id")),
    request_body = EvidenceInput,
    responses(
        (status = 201, description = "The evidence was recorded; the deal with it", body = DealResponse),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
    ),
)]
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

/// Moves the deal to the next stage.
///
/// Only when every required criterion of the current stage has evidence;
/// otherwise `422` with code `exit_criteria_unmet` and the unmet criteria.
#[utoipa::path(
    post,
    path = "/deals/{id}/advance",
    tag = "deals",
    params(("id" = i32, Path, description = "The deal's id")),
    request_body(content = NoBody, description = "Nothing, or `{}`"),
    responses(
        (status = 200, description = "The deal, in its new stage", body = DealResponse),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 409, description = "`final_stage` (nothing after it), `on_hold` (resume it first) or `stage_changed` (someone else moved it meanwhile)", body = ErrorEnvelope),
        (status = 422, description = "`exit_criteria_unmet` (with `unmet_criteria` and `unmet_criterion_ids`), or `validation_failed` for a body with fields", body = ErrorEnvelope),
    ),
)]
async fn advance_deal(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(NoBody {}): ApiJson<NoBody>,
) -> ApiResult<Json<DealResponse>> {
    act(&state, &user, &id, async |id| gate::advance(&state.db, id, user.id, state.now()).await.map(|_| ())).await
}

/// Moves the deal back to the previous stage, with a reason.
#[utoipa::path(
    post,
    path = "/deals/{id}/move-back",
    tag = "deals",
    params(("id" = i32, Path, description = "The deal's id")),
    request_body = MoveBackInput,
    responses(
        (status = 200, description = "The deal, in the previous stage", body = DealResponse),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 409, description = "`first_stage` (nothing before it), `on_hold` (resume it first) or `stage_changed` (someone else moved it meanwhile)", body = ErrorEnvelope),
        (status = 422, response = ValidationFailed),
    ),
)]
async fn move_back_deal(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<MoveBackInput>,
) -> ApiResult<Json<DealResponse>> {
    act(&state, &user, &id, async |id| gate::move_back(&state.db, id, input, user.id, state.now()).await.map(|_| ()))
        .await
}

/// Puts the deal on hold, with a reason.
///
/// Days on hold do not count towards the stage's SLA.
#[utoipa::path(
    post,
    path = "/deals/{id}/hold",
    tag = "deals",
    params(("id" = i32, Path, description = "The deal's id")),
    request_body = HoldInput,
    responses(
        (status = 200, description = "The deal, on hold", body = DealResponse),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 409, description = "`already_on_hold`", body = ErrorEnvelope),
        (status = 422, response = ValidationFailed),
    ),
)]
async fn hold_deal(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<HoldInput>,
) -> ApiResult<Json<DealResponse>> {
    act(&state, &user, &id, async |id| holds::hold(&state.db, id, input, user.id, state.now()).await).await
}

/// Ends the deal's hold.
#[utoipa::path(
    post,
    path = "/deals/{id}/resume",
    tag = "deals",
    params(("id" = i32, Path, description = "The deal's id")),
    request_body(content = NoBody, description = "Nothing, or `{}`"),
    responses(
        (status = 200, description = "The deal, no longer on hold", body = DealResponse),
        (status = 400, response = MalformedJson),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 409, description = "`not_on_hold`", body = ErrorEnvelope),
        (status = 422, response = ValidationFailed),
    ),
)]
async fn resume_deal(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    ApiJson(NoBody {}): ApiJson<NoBody>,
) -> ApiResult<Json<DealResponse>> {
    act(&state, &user, &id, async |id| holds::resume(&state.db, id, user.id, state.now()).await).await
}
