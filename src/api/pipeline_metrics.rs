//! `GET /api/v1/metrics/pipeline`: time in stage, conversion by close
//! cohort, time to live and the go-live forecast. Any signed-in role may
//! read it.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::{ApiQuery, ApiResult, ApiUser};
use crate::AppState;
use crate::metrics::pipeline::{self, PipelineFilter, PipelineMetrics};

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics/pipeline", get(show_pipeline_metrics))
}

async fn show_pipeline_metrics(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiQuery(filter): ApiQuery<PipelineFilter>,
) -> ApiResult<Json<PipelineMetrics>> {
    Ok(Json(pipeline::compute(&state.db, &filter, state.now()).await?))
}
