//! `GET /api/v1/metrics/pipeline`: time in stage, conversion by close
//! cohort, time to live and the go-live forecast. Any signed-in role may
//! read it.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::{Unauthenticated, ValidationFailed};
use super::{ApiQuery, ApiResult, ApiUser};
use crate::AppState;
use crate::metrics::pipeline::{self, PipelineFilter, PipelineMetrics};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show_pipeline_metrics))
}

/// Pipeline analytics.
///
/// Per stage: deals now, median and p90 active days, on-hold days and SLA
/// breaches; conversion by close cohort; median days from closed-won to
/// live; expected go-lives within 30, 60 and 90 days.
#[utoipa::path(
    get,
    path = "/metrics/pipeline",
    tag = "metrics",
    params(PipelineFilter),
    responses(
        (status = 200, description = "The pipeline's metrics as of now", body = PipelineMetrics),
        (status = 401, response = Unauthenticated),
        (status = 422, response = ValidationFailed),
    ),
)]
async fn show_pipeline_metrics(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiQuery(filter): ApiQuery<PipelineFilter>,
) -> ApiResult<Json<PipelineMetrics>> {
    Ok(Json(pipeline::compute(&state.db, &filter, state.now()).await?))
}
