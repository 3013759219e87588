//! Settings > Webhooks (admins): the sources allowed to post closed-won
//! deals, and the endpoints Aftercare posts events to. Secrets are shown
//! once, when made; deliveries and their failures are on the outbox page.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use entity::{webhook_endpoint, webhook_source};
use serde::Deserialize;

use super::{Chrome, CsrfForm, Empty, Notice, PageError, WebSession, render, status_of};
use crate::auth::Role;
use crate::webhooks::{self, EVENTS};
use crate::{AppError, AppResult, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings/webhooks", get(show_webhooks))
        .route("/settings/webhooks/sources", post(add_source))
        .route("/settings/webhooks/sources/{id}/revoke", post(revoke_source))
        .route("/settings/webhooks/endpoints", post(add_endpoint))
        .route("/settings/webhooks/endpoints/{id}/pause", post(pause_endpoint))
        .route("/settings/webhooks/endpoints/{id}/resume", post(resume_endpoint))
}

/// The navigation section.
const SECTION: &str = "webhooks";

#[derive(Template)]
#[template(path = "pages/settings_webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    notice: Option<Notice>,
    secret: Option<(String, String)>,
    sources: Vec<webhook_source::Model>,
    endpoints: Vec<webhook_endpoint::Model>,
    events: Vec<(&'static str, &'static str)>,
    base_url: String,
}

async fn page(
    state: &AppState,
    session: &WebSession,
    notice: Option<Notice>,
    secret: Option<(String, String)>,
    status: StatusCode,
) -> Response {
    let chrome = session.chrome(SECTION);
    let loaded =
        async { Ok::<_, AppError>((webhooks::sources(&state.db).await?, webhooks::endpoints(&state.db).await?)) };
    match loaded.await {
        Ok((sources, endpoints)) => render(
            status,
            &WebhooksPage {
                chrome,
                notice,
                secret,
                sources,
                endpoints,
                events: EVENTS.to_vec(),
                base_url: state.config.base_url.clone(),
            },
        ),
        Err(error) => PageError::new(error, chrome).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn show_webhooks(
    State(state): State<AppState>,
    session: WebSession,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    session.require(Role::Admin, SECTION)?;
    let notice = query.done.map(|_| Notice::success("Saved."));
    Ok(page(&state, &session, notice, None, StatusCode::OK).await)
}

/// Runs an admin's change; a new secret is shown on the page (never put
/// in a URL), errors re-render the page with a notice.
async fn change(
    state: &AppState,
    session: &WebSession,
    result: impl AsyncFnOnce(i32) -> AppResult<Option<(String, String)>>,
) -> Response {
    if let Err(error) = session.require(Role::Admin, SECTION) {
        return error.into_response();
    }
    match result(session.user().id).await {
        Ok(Some(secret)) => page(state, session, None, Some(secret), StatusCode::OK).await,
        Ok(None) => Redirect::to("/settings/webhooks?done=saved").into_response(),
        Err(error @ (AppError::Validation(_) | AppError::Conflict { .. })) => {
            page(state, session, Some(Notice::error(&error)), None, status_of(&error)).await
        }
        Err(error) => PageError::new(error, session.chrome(SECTION)).into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceForm {
    #[serde(default)]
    name: Option<String>,
}

async fn add_source(State(state): State<AppState>, form: CsrfForm<SourceForm>) -> Response {
    let CsrfForm { session, form } = form;
    change(&state, &session, async |actor| {
        let made = webhooks::add_source(&state.db, form.name.as_deref(), actor, state.now()).await?;
        Ok(Some((format!("Signing secret of the source {}", made.name), made.secret)))
    })
    .await
}

fn id_of(raw: &str, what: &'static str) -> AppResult<i32> {
    raw.parse().map_err(|_| AppError::NotFound(what))
}

async fn revoke_source(State(state): State<AppState>, Path(id): Path<String>, form: CsrfForm<Empty>) -> Response {
    change(&state, &form.session, async |actor| {
        webhooks::revoke_source(&state.db, id_of(&id, "webhook source")?, actor, state.now()).await?;
        Ok(None)
    })
    .await
}

/// `url` and one `event:{name}` checkbox per event.
async fn add_endpoint(State(state): State<AppState>, form: CsrfForm<HashMap<String, String>>) -> Response {
    let CsrfForm { session, form } = form;
    change(&state, &session, async |actor| {
        let unknown: Vec<&String> = form.keys().filter(|k| *k != "url" && !k.starts_with("event:")).collect();
        if let Some(field) = unknown.first() {
            return Err(AppError::field(field, "is not a known field"));
        }
        let events: Vec<String> = form
            .iter()
            .filter_map(|(key, value)| key.strip_prefix("event:").filter(|_| value == "true").map(str::to_owned))
            .collect();
        let made =
            webhooks::add_endpoint(&state.db, form.get("url").map(String::as_str), &events, actor, state.now()).await?;
        Ok(Some((format!("Signing secret of {}", made.url), made.secret)))
    })
    .await
}

async fn pause_endpoint(State(state): State<AppState>, Path(id): Path<String>, form: CsrfForm<Empty>) -> Response {
    change(&state, &form.session, async |actor| {
        webhooks::set_endpoint_active(&state.db, id_of(&id, "webhook endpoint")?, false, actor, state.now()).await?;
        Ok(None)
    })
    .await
}

async fn resume_endpoint(State(state): State<AppState>, Path(id): Path<String>, form: CsrfForm<Empty>) -> Response {
    change(&state, &form.session, async |actor| {
        webhooks::set_endpoint_active(&state.db, id_of(&id, "webhook endpoint")?, true, actor, state.now()).await?;
        Ok(None)
    })
    .await
}
