//! `POST /api/v1/webhooks/closed-won`: a CRM workflow enters a won deal,
//! authenticated by its signature rather than a bearer token (the rules
//! are in `crate::webhooks::inbound`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::parse_json;
use super::{ApiError, ErrorBody, ErrorEnvelope};
use crate::AppState;
use crate::error::FieldErrors;
use crate::pipeline::deals::{Created, NewDeal};
use crate::webhooks::inbound::{self, Failure, Refusal, Signed};
use crate::webhooks::{SIGNATURE_HEADER, SOURCE_HEADER, TIMESTAMP_HEADER};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(closed_won))
}

/// What a received deal came to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Received {
    /// The deal's id.
    pub deal_id: i32,
    /// `created`, or `existing` when the external id was known (nothing changed).
    pub outcome: String,
}

/// A refusal in the API's error envelope: 409 for a replay, else 401.
fn refused(refusal: &Refusal) -> Response {
    let status = if *refusal == Refusal::Replayed { StatusCode::CONFLICT } else { StatusCode::UNAUTHORIZED };
    let error = ErrorBody {
        code: refusal.code().to_owned(),
        fields: FieldErrors::new(),
        message: refusal.message(),
        unmet_criteria: None,
        unmet_criterion_ids: None,
    };
    (status, Json(ErrorEnvelope { error })).into_response()
}

/// Enters a closed-won deal sent by a CRM workflow, signed.
///
/// Not a bearer-token route: the request names its source in
/// `X-Aftercare-Source`, carries `X-Aftercare-Timestamp` (Unix seconds,
/// within 5 minutes of now) and `X-Aftercare-Signature`: `v1=` + hex
/// HMAC-SHA256 of `{timestamp}.{raw body}` under the source's secret
/// (Settings > Webhooks). The body is the deal as `POST /api/v1/deals`
/// takes it, with `external_id` required; the same external id never makes
/// a second deal. 401 codes: `missing_signature`, `unknown_source`,
/// `bad_signature`, `stale_timestamp`; 409 `replayed` for a request
/// received before.
#[utoipa::path(
    post,
    path = "/webhooks/closed-won",
    tag = "webhooks",
    security(()),
    params(
        ("X-Aftercare-Source" = String, Header, description = "The webhook source's name"),
        ("X-Aftercare-Timestamp" = i64, Header, description = "When the request was signed, Unix seconds"),
        ("X-Aftercare-Signature" = String, Header, description = "`v1=` + hex HMAC-SHA256 of `{timestamp}.{raw body}`"),
    ),
    request_body = NewDeal,
    responses(
        (status = 201, description = "The deal was entered", body = Received),
        (status = 200, description = "A deal with this external id exists; nothing changed", body = Received),
        (status = 401, description = "The signature is missing, wrong or stale, or the source unknown", body = ErrorEnvelope),
        (status = 400, response = super::openapi::MalformedJson),
        (status = 409, description = "`replayed`: this signed request was received before", body = ErrorEnvelope),
        (status = 413, response = super::openapi::PayloadTooLarge),
        (status = 415, response = super::openapi::UnsupportedMediaType),
        (status = 422, response = super::openapi::ValidationFailed),
    ),
)]
async fn closed_won(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = Signed {
        source: header(SOURCE_HEADER),
        timestamp: header(TIMESTAMP_HEADER),
        signature: header(SIGNATURE_HEADER),
    };
    if !header("content-type").is_some_and(|t| t.starts_with("application/json")) {
        return ApiError::UnsupportedMediaType.into_response();
    }
    let now = state.now();
    let source = match inbound::authenticate(&state.db, &signed, &body, now).await {
        Ok(source) => source,
        Err(refusal) => return refused(&refusal),
    };
    let deal = match parse_json(&body) {
        Ok(deal) => deal,
        Err(error) => return error.into_response(),
    };
    match inbound::enter(&state.db, &source, signed.signature.unwrap_or_default(), deal, now).await {
        Ok((deal_id, created)) => {
            let (status, outcome) =
                if created == Created::New { (StatusCode::CREATED, "created") } else { (StatusCode::OK, "existing") };
            (status, Json(Received { deal_id, outcome: outcome.to_owned() })).into_response()
        }
        Err(Failure::Refused(refusal)) => refused(&refusal),
        Err(Failure::App(error)) => ApiError::App(error).into_response(),
    }
}
