//! `GET /api/v1/stages`: the pipeline's stages and exit criteria.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::Unauthenticated;
use super::{ApiResult, ApiUser};
use crate::AppState;
use crate::pipeline::stages::{self, StageView};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_stages))
}

/// The stages in order, with their exit criteria.
///
/// Each stage has its stable `key`, its `name`, its time target `sla_days`
/// (`null` for the final stage) and its current `criteria`.
#[utoipa::path(
    get,
    path = "/stages",
    tag = "stages",
    responses(
        (status = 200, description = "The stages in pipeline order", body = [StageView]),
        (status = 401, response = Unauthenticated),
    ),
)]
async fn list_stages(State(state): State<AppState>, _user: ApiUser) -> ApiResult<Json<Vec<StageView>>> {
    Ok(Json(stages::list(&state.db).await?))
}
