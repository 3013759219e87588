//! The web UI: server-rendered pages (askama) that work without JavaScript.
//! Each page is a struct next to the handler that fills it; every
//! state-changing form carries the session's CSRF token.

mod accounts;
mod advocacy;
mod auth;
mod board;
mod charts;
pub mod dashboard;
mod deals;
mod digests;
mod import;
mod public;
mod reports;
mod session;
mod settings;
mod surveys;
mod webhooks;

use askama::Template;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

pub use session::{CsrfForm, WebSession};

use crate::AppState;
use crate::auth::{CurrentUser, Role};
use crate::error::AppError;

/// The web UI's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/board") }))
        .route("/assets/app.css", get(stylesheet))
        .merge(auth::router())
        .merge(board::router())
        .merge(dashboard::router())
        .merge(reports::router())
        .merge(deals::router())
        .merge(accounts::router())
        .merge(settings::router())
        .merge(public::router())
        .merge(surveys::router())
        .merge(advocacy::router())
        .merge(digests::router())
        .merge(import::router())
        .merge(webhooks::router())
        .fallback(not_found)
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=300")],
        include_str!("../../templates/assets/app.css"),
    )
}

async fn not_found(session: Option<WebSession>) -> Response {
    PageError::new(AppError::NotFound("page"), session.map(|s| s.chrome("")).unwrap_or_default()).into_response()
}

/// What every page's frame needs: who is signed in, their form token and
/// which section of the navigation is active.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// The signed-in user, if any.
    pub user: Option<CurrentUser>,
    /// The CSRF token for forms on this page.
    pub csrf: String,
    /// The active navigation section.
    pub section: &'static str,
}

impl Chrome {
    /// Whether the signed-in user holds at least `role`.
    pub fn can(&self, role: &str) -> bool {
        let role = Role::parse(role).unwrap_or(Role::Admin);
        self.user.as_ref().is_some_and(|u| u.can(role))
    }
}

/// Renders a page with a status.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering a page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "The page could not be rendered.").into_response()
        }
    }
}

/// A service error shown as a page.
#[derive(Debug)]
pub struct PageError {
    error: AppError,
    chrome: Box<Chrome>,
}

impl PageError {
    /// Wraps `error` for display inside the signed-in frame.
    pub fn new(error: AppError, chrome: Chrome) -> Self {
        Self { error, chrome: Box::new(chrome) }
    }
}

#[derive(Template)]
#[template(path = "pages/error.html")]
struct ErrorPage {
    chrome: Chrome,
    title: String,
    message: String,
    fields: Vec<(String, String)>,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title) = match &self.error {
            AppError::Unauthenticated => return Redirect::to("/login").into_response(),
            AppError::Validation(_) | AppError::ExitCriteriaUnmet(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "Please check what you entered")
            }
            AppError::Conflict { .. } => (StatusCode::CONFLICT, "That cannot be done right now"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            AppError::Forbidden => (StatusCode::FORBIDDEN, "Not allowed"),
            AppError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error on a page");
                (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong")
            }
        };
        let fields = match &self.error {
            AppError::Validation(fields) => fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            _ => Vec::new(),
        };
        let message = match &self.error {
            AppError::Validation(_) => "Nothing was saved. Fix these fields and try again:".to_owned(),
            AppError::Forbidden => "Your role does not allow this. Ask an admin if you need it.".to_owned(),
            AppError::Internal(_) => "The error has been logged. Please try again in a moment.".to_owned(),
            other => capitalise(&other.to_string()),
        };
        render(status, &ErrorPage { chrome: *self.chrome, title: title.to_owned(), message, fields })
    }
}

/// Turns a service error into human sentences, for notices on pages.
pub fn describe(error: &AppError) -> Vec<String> {
    match error {
        AppError::Validation(fields) => {
            fields.iter().map(|(field, problem)| format!("{}: {problem}", humanise(field))).collect()
        }
        AppError::ExitCriteriaUnmet(unmet) => {
            std::iter::once("The deal cannot advance yet. The customer's evidence is missing for:".to_owned())
                .chain(unmet.iter().map(|c| format!("• {}", c.text)))
                .collect()
        }
        other => vec![capitalise(&other.to_string())],
    }
}

fn humanise(field: &str) -> String {
    capitalise(&field.replace(['_', '.'], " "))
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// A form with no fields besides the CSRF token (a button).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// A one-line notice at the top of a page.
#[derive(Debug, Clone)]
pub struct Notice {
    /// `success` or `error`.
    pub kind: &'static str,
    /// The lines to show.
    pub lines: Vec<String>,
}

impl Notice {
    /// A success notice.
    pub fn success(line: impl Into<String>) -> Self {
        Self { kind: "success", lines: vec![line.into()] }
    }

    /// An error notice describing `error`.
    pub fn error(error: &AppError) -> Self {
        Self { kind: "error", lines: describe(error) }
    }
}

/// The status a page re-rendered after a refused form should carry.
pub fn status_of(error: &AppError) -> StatusCode {
    match error {
        AppError::Validation(_) | AppError::ExitCriteriaUnmet(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::Conflict { .. } => StatusCode::CONFLICT,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Forbidden => StatusCode::FORBIDDEN,
        AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
