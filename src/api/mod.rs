//! The JSON API under `/api/v1`: bearer-token auth, one error envelope
//! (`{"error": {"code", "message", "fields"}}`), thin handlers over the
//! services.

mod advocacy;
mod deals;
mod extract;
mod metrics;
mod pipeline_metrics;
mod stages;
mod surveys;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub use extract::{ApiJson, ApiQuery, ApiUser};

use crate::AppState;
use crate::error::{AppError, FieldErrors};

/// The API's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(stages::router())
        .merge(deals::router())
        .merge(surveys::router())
        .merge(advocacy::router())
        .merge(metrics::router())
        .merge(pipeline_metrics::router())
        .fallback(not_found)
}

async fn not_found() -> ApiError {
    ApiError::from(AppError::NotFound("route"))
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
        let (status, code, message, fields, extra): (StatusCode, &str, String, FieldErrors, Option<serde_json::Value>) =
            match self {
                ApiError::MalformedJson(detail) => (
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    format!("the body is not valid JSON: {detail}"),
                    FieldErrors::new(),
                    None,
                ),
                ApiError::UnsupportedMediaType => (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as JSON with Content-Type: application/json".to_owned(),
                    FieldErrors::new(),
                    None,
                ),
                ApiError::PayloadTooLarge => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the body is larger than {} bytes", crate::app::MAX_BODY_BYTES),
                    FieldErrors::new(),
                    None,
                ),
                ApiError::App(error) => {
                    let message = error.to_string();
                    match error {
                        AppError::Validation(fields) => {
                            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", message, fields, None)
                        }
                        AppError::ExitCriteriaUnmet(unmet) => {
                            let ids: Vec<i32> = unmet.iter().map(|c| c.id).collect();
                            let extra = json!({"unmet_criteria": unmet, "unmet_criterion_ids": ids});
                            (
                                StatusCode::UNPROCESSABLE_ENTITY,
                                "exit_criteria_unmet",
                                message,
                                FieldErrors::new(),
                                Some(extra),
                            )
                        }
                        AppError::Conflict { code, .. } => {
                            (StatusCode::CONFLICT, code, message, FieldErrors::new(), None)
                        }
                        AppError::NotFound(_) => {
                            (StatusCode::NOT_FOUND, "not_found", message, FieldErrors::new(), None)
                        }
                        AppError::Unauthenticated => (
                            StatusCode::UNAUTHORIZED,
                            "unauthenticated",
                            "send a valid API token as Authorization: Bearer <token>".to_owned(),
                            FieldErrors::new(),
                            None,
                        ),
                        AppError::Forbidden => (StatusCode::FORBIDDEN, "forbidden", message, FieldErrors::new(), None),
                        AppError::Internal(cause) => {
                            tracing::error!(error = ?cause, "internal error in the API");
                            (StatusCode::INTERNAL_SERVER_ERROR, "internal", message, FieldErrors::new(), None)
                        }
                    }
                }
            };
        let mut error = json!({"code": code, "message": message, "fields": fields});
        if let (Some(serde_json::Value::Object(extra)), Some(object)) = (extra, error.as_object_mut()) {
            object.extend(extra);
        }
        let mut response = (status, axum::Json(json!({"error": error}))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;
