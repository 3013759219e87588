//! The API's OpenAPI 3.1 document, served at `GET /api/v1/openapi.json`
//! and rendered as a page at `GET /api/docs` (see [`super::docs`]).
//!
//! The document is generated with utoipa from the `#[utoipa::path(...)]`
//! annotations next to the handlers, and the API's router is built from the
//! same `routes!(...)` lists (utoipa-axum's `OpenApiRouter`), so a route
//! cannot be served without being described, nor described without being
//! served.
//!
//! # Adding a route
//!
//! 1. Annotate the handler, next to it, with its path *relative to
//!    `/api/v1`*, a tag, its parameters, request body and every status it
//!    can answer with. The handler's doc comment becomes the summary (first
//!    line) and description (the rest):
//!
//!    ```text
//!    /// Records a closed-won deal sent by a CRM.
//!    #[utoipa::path(
//!        post,
//!        path = "/webhooks/closed-won",
//!        tag = "webhooks",
//!        request_body = ClosedWonEvent,
//!        responses(
//!            (status = 201, description = "The deal was created", body = DealResponse),
//!            (status = 400, response = MalformedJson),
//!            (status = 401, response = Unauthenticated),
//!            (status = 413, response = PayloadTooLarge),
//!            (status = 415, response = UnsupportedMediaType),
//!            (status = 422, response = ValidationFailed),
//!        ),
//!    )]
//!    async fn closed_won(...) -> ApiResult<...> { ... }
//!    ```
//!
//!    Bearer auth applies to every operation unless it says otherwise
//!    (`security(())` for a public one, like [`openapi_json`]; another
//!    scheme must be added in [`ApiDoc`]'s modifier first). Path
//!    parameters: `params(("id" = i32, Path, description = "..."))`; query
//!    strings: derive `utoipa::IntoParams` with
//!    `#[into_params(parameter_in = Query)]` on the filter struct and list
//!    it in `params(...)`. Bodies and responses: derive `utoipa::ToSchema`
//!    on their types (attributes only; `value_type`/`format`/`required` to
//!    document what a raw `Option<String>` really accepts).
//! 2. Register it with `routes!` in the module's `router()` (which returns
//!    an `OpenApiRouter<AppState>`); one `routes!` per path, listing every
//!    method of that path: `.routes(routes!(list_things, create_thing))`.
//!    A plain `.route(...)` would serve an undocumented route: a test
//!    (`openapi::no_route_bypasses_the_document`) refuses it.
//! 3. A new tag gets a line in [`ApiDoc`]'s `tags(...)`.
//! 4. Refresh the snapshot and review the diff:
//!    `UPDATE_SNAPSHOTS=1 cargo test --test it openapi` rewrites
//!    `tests/snapshots/openapi.json`.

use std::sync::LazyLock;

use axum::Json;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::Header;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToResponse};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorEnvelope;
use crate::AppState;

/// Where the API is mounted; the document's paths start with it.
pub const PREFIX: &str = "/api/v1";

/// The document's fixed parts: info, tags, the bearer scheme, the error
/// envelope and the shared error responses. The paths come from the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Aftercare API",
        description = "The JSON API of Aftercare: deals from closed-won to live, gated by the customer's evidence; \
            promises of value and the surveys that ask whether they were kept; advocacy; metrics.\n\n\
            Every route needs `Authorization: Bearer <token>` (make one with `aftercare token create`, or as an \
            admin in the web UI's settings), except this document. Bodies are JSON \
            (`Content-Type: application/json`); dates are `YYYY-MM-DD`, instants RFC 3339. Every error has the \
            same envelope, with a message per offending field: \
            `{\"error\": {\"code\": \"validation_failed\", \"message\": \"...\", \"fields\": {\"confirmed_on\": \"...\"}}}`.",
    ),
    tags(
        (name = "stages", description = "The pipeline's stages, their time targets and exit criteria."),
        (name = "deals", description = "Won deals on their way to live: owners, next call, evidence, stage moves and holds."),
        (name = "surveys", description = "Promises of value, the surveys that ask whether they were kept, and the follow-ups of \"not kept\" verdicts."),
        (name = "advocacy", description = "Advocacy candidates and the asks ledger, with the ask budget shared with surveys."),
        (name = "profitability", description = "Account economics: ARR, gross margin, CAC, LTV and LTV:CAC."),
        (name = "metrics", description = "The promise-kept rate, NPS, survey health and pipeline analytics."),
        (name = "webhooks", description = "Closed-won deals posted by a CRM workflow, signed with HMAC-SHA256 instead of a bearer token."),
        (name = "openapi", description = "This document."),
    ),
    components(
        schemas(ErrorEnvelope),
        responses(MalformedJson, Unauthenticated, Forbidden, NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed),
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

/// Adds the `bearer` security scheme every operation refers to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut Document) {
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description = Some(
            "An API token: `aftercare token create --email you@example.com`, or Settings > Users & tokens. \
             Tokens act with their user's role; viewers may only read."
                .to_owned(),
        );
        openapi.components.get_or_insert_default().add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The whole document, with paths under [`PREFIX`]; built once.
pub fn document() -> &'static Document {
    static DOCUMENT: LazyLock<Document> =
        LazyLock::new(|| ApiDoc::openapi().nest(PREFIX, super::routes().into_openapi()));
    &DOCUMENT
}

/// The document's own route.
pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// This OpenAPI document.
///
/// Public, like the docs page rendered from it (`GET /api/docs`): it
/// describes the API's shape, never its data, and a client needs it before
/// it has a token.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "openapi",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
async fn openapi_json() -> Json<&'static Document> {
    Json(document())
}

/// An error response: the envelope, with a description and an example.
fn error_response(description: &str, example: serde_json::Value) -> RefOr<Response> {
    let unauthenticated = example["error"]["code"] == "unauthenticated";
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorEnvelope"))).example(Some(example));
    let mut response = ResponseBuilder::new().description(description).content("application/json", content.build());
    if unauthenticated {
        let mut header = Header::new(ObjectBuilder::new().schema_type(Type::String));
        header.description = Some("`Bearer`".to_owned());
        response = response.header("www-authenticate", header);
    }
    response.build().into()
}

/// The shared error responses. Each is referenced by name from the paths,
/// e.g. `(status = 401, response = Unauthenticated)`.
macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident => ($description:literal, $code:literal, $message:literal $(, $fields:tt)?);)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                #[allow(unused_mut, unused_assignments)]
                let mut fields = serde_json::json!({});
                $(fields = serde_json::json!($fields);)?
                let example = serde_json::json!({"error": {"code": $code, "message": $message, "fields": fields}});
                (stringify!($name), error_response($description, example))
            }
        }
    )*};
}

error_responses! {
    /// 400 `malformed_json`.
    MalformedJson => ("`malformed_json`: the body is not JSON at all", "malformed_json", "the body is not valid JSON: expected value at line 1 column 1");
    /// 401 `unauthenticated` (with `WWW-Authenticate: Bearer`).
    Unauthenticated => ("`unauthenticated`: no bearer token, or one that is unknown, revoked or expired", "unauthenticated", "send a valid API token as Authorization: Bearer <token>");
    /// 403 `forbidden`.
    Forbidden => ("`forbidden`: the token's user may only read (viewer)", "forbidden", "your role does not allow this");
    /// 404 `not_found`.
    NotFound => ("`not_found`: nothing has this id", "not_found", "deal not found");
    /// 413 `payload_too_large`.
    PayloadTooLarge => ("`payload_too_large`: the body is over 2 MiB", "payload_too_large", "the body is larger than 2097152 bytes");
    /// 415 `unsupported_media_type`.
    UnsupportedMediaType => ("`unsupported_media_type`: a body was sent without `Content-Type: application/json`", "unsupported_media_type", "send the body as JSON with Content-Type: application/json");
    /// 422 `validation_failed`.
    ValidationFailed => ("`validation_failed`: a field or query parameter is missing, unknown or invalid; `fields` names each one", "validation_failed", "invalid input (confirmed_on: must be a date as YYYY-MM-DD)", {"confirmed_on": "must be a date as YYYY-MM-DD"});
}
