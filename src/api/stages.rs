//! `GET /api/v1/stages`: the pipeline's stages and exit criteria.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::{ApiResult, ApiUser};
use crate::AppState;
use crate::pipeline::stages::{self, StageView};

pub fn router() -> Router<AppState> {
    Router::new().route("/stages", get(list_stages))
}

async fn list_stages(State(state): State<AppState>, _user: ApiUser) -> ApiResult<Json<Vec<StageView>>> {
    Ok(Json(stages::list(&state.db).await?))
}
