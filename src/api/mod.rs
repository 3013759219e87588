//! The JSON API under `/api/v1`: bearer-token auth, one error envelope
//! (`{"error": {"code", "message", "fields"}}`), thin handlers over the
//! services.
//!
//! Every route is registered through utoipa-axum's `OpenApiRouter` with
//! `routes!`, so the router and the OpenAPI document (`GET
//! /api/v1/openapi.json`, see [`openapi`]) are built from the same list and
//! cannot drift apart. [`openapi`] explains how to add a route.

mod advocacy;
mod deals;
pub mod docs;
mod extract;
mod metrics;
pub mod openapi;
mod pipeline_metrics;
mod stages;
mod surveys;
mod webhooks;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;

pub use extract::{ApiJson, ApiQuery, ApiUser};

use crate::AppState;
use crate::error::{AppError, FieldErrors, UnmetCriterion};

/// The API's routes, relative to `/api/v1`.
pub fn router() -> Router<AppState> {
    let (router, _) = routes().split_for_parts();
    router.fallback(not_found)
}

/// Every route of the API with its OpenAPI description (paths relative to
/// `/api/v1`): the one list both [`router`] and [`openapi::document`] read.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(openapi::router())
        .merge(stages::router())
        .merge(deals::router())
        .merge(surveys::router())
        .merge(advocacy::router())
        .merge(metrics::router())
        .merge(pipeline_metrics::router())
        .merge(webhooks::router())
}

async fn not_found() -> ApiError {
    ApiError::from(AppError::NotFound("route"))
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"error": {"code": "validation_failed", "message": "invalid input (confirmed_on: must be a date as YYYY-MM-DD)", "fields": {"confirmed_on": "must be a date as YYYY-MM-DD"}}}))]
pub struct ErrorEnvelope {
    /// What went wrong.
    pub error: ErrorBody,
}

/// What went wrong, for programs (`code`, `fields`) and for people
/// (`message`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code: `malformed_json`, `unauthenticated`,
    /// `forbidden`, `not_found`, `payload_too_large`,
    /// `unsupported_media_type`, `validation_failed`, `exit_criteria_unmet`,
    /// `internal`, or a conflict's own code (409).
    pub code: String,
    /// Field name (e.g. `account.name`, `contacts[0].email`) -> what is wrong
    /// with it; empty unless `code` is `validation_failed`.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub fields: FieldErrors,
    /// What a person should know.
    pub message: String,
    /// With `exit_criteria_unmet`: the criteria that still lack evidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub unmet_criteria: Option<Vec<UnmetCriterion>>,
    /// With `exit_criteria_unmet`: their ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub unmet_criterion_ids: Option<Vec<i32>>,
}

/// An error as the API reports it.
#[derive(Debug)]
pub enum ApiError {
    /// A service error.
    App(AppError),
    /// 400 `malformed_json`: the body is not JSON at all.
    MalformedJson(String),
    /// 415 `unsupported_media_type`: the body is not `application/json`.
    UnsupportedMediaType,
    /// 413 `payload_too_large`.
    PayloadTooLarge,
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        Self::App(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let plain = |status, code: &str, message: String| (status, code.to_owned(), message, FieldErrors::new(), None);
        let (status, code, message, fields, unmet): (
            StatusCode,
            String,
            String,
            FieldErrors,
            Option<Vec<UnmetCriterion>>,
        ) = match self {
            ApiError::MalformedJson(detail) => {
                plain(StatusCode::BAD_REQUEST, "malformed_json", format!("the body is not valid JSON: {detail}"))
            }
            ApiError::UnsupportedMediaType => plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json".to_owned(),
            ),
            ApiError::PayloadTooLarge => plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body is larger than {} bytes", crate::app::MAX_BODY_BYTES),
            ),
            ApiError::App(error) => {
                let message = error.to_string();
                match error {
                    AppError::Validation(fields) => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed".to_owned(), message, fields, None)
                    }
                    AppError::ExitCriteriaUnmet(unmet) => (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "exit_criteria_unmet".to_owned(),
                        message,
                        FieldErrors::new(),
                        Some(unmet),
                    ),
                    AppError::Conflict { code, .. } => plain(StatusCode::CONFLICT, code, message),
                    AppError::NotFound(_) => plain(StatusCode::NOT_FOUND, "not_found", message),
                    AppError::Unauthenticated => plain(
                        StatusCode::UNAUTHORIZED,
                        "unauthenticated",
                        "send a valid API token as Authorization: Bearer <token>".to_owned(),
                    ),
                    AppError::Forbidden => plain(StatusCode::FORBIDDEN, "forbidden", message),
                    AppError::Internal(cause) => {
                        tracing::error!(error = ?cause, "internal error in the API");
                        plain(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
                    }
                }
            }
        };
        let unmet_criterion_ids = unmet.as_ref().map(|unmet| unmet.iter().map(|c| c.id).collect());
        let body =
            ErrorEnvelope { error: ErrorBody { code, fields, message, unmet_criteria: unmet, unmet_criterion_ids } };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;
