//! Settings: the pipeline's stages and criteria (managers), users and API
//! tokens (admins), and the audit log (managers).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Chrome, CsrfForm, Empty, Notice, PageError, WebSession, render, status_of};
use crate::audit::{self, AuditLine};
use crate::auth::Role;
use crate::auth::tokens::{self, TokenInfo};
use crate::auth::users::{self, NewUser, UserInfo};
use crate::error::AppError;
use crate::pipeline::stages::{self, CriterionInput, StageUpdate, StageView};
use crate::{AppResult, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings", get(|| async { Redirect::to("/settings/pipeline") }))
        .route("/settings/pipeline", get(show_pipeline))
        .route("/settings/stages/{key}", post(update_stage))
        .route("/settings/stages/{key}/criteria", post(add_criterion))
        .route("/settings/criteria/{id}", post(update_criterion))
        .route("/settings/criteria/{id}/move", post(move_criterion))
        .route("/settings/criteria/{id}/retire", post(retire_criterion))
        .route("/settings/users", get(show_users).post(add_user))
        .route("/settings/users/{id}", post(update_user))
        .route("/settings/tokens", post(create_token))
        .route("/settings/tokens/{id}/revoke", post(revoke_token))
        .route("/settings/audit", get(show_audit))
}

#[derive(Debug, Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/settings_pipeline.html")]
struct PipelinePage {
    chrome: Chrome,
    stages: Vec<StageView>,
    notice: Option<Notice>,
}

async fn pipeline_page(state: &AppState, session: &WebSession, notice: Option<Notice>, status: StatusCode) -> Response {
    match stages::list(&state.db).await {
        Ok(stages) => render(status, &PipelinePage { chrome: session.chrome("settings"), stages, notice }),
        Err(error) => PageError::new(error, session.chrome("settings")).into_response(),
    }
}

async fn show_pipeline(
    State(state): State<AppState>,
    session: WebSession,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    session.require(Role::Manager, "settings")?;
    let notice = query.done.map(|_| Notice::success("Pipeline settings saved."));
    Ok(pipeline_page(&state, &session, notice, StatusCode::OK).await)
}

/// Runs a pipeline change for a manager; back to the settings page.
async fn change_pipeline(
    state: &AppState,
    session: &WebSession,
    result: impl AsyncFnOnce(i32) -> AppResult<()>,
) -> Response {
    if let Err(error) = session.require(Role::Manager, "settings") {
        return error.into_response();
    }
    match result(session.user().id).await {
        Ok(()) => Redirect::to("/settings/pipeline?done=saved").into_response(),
        Err(error @ (AppError::Validation(_) | AppError::Conflict { .. })) => {
            pipeline_page(state, session, Some(Notice::error(&error)), status_of(&error)).await
        }
        Err(error) => PageError::new(error, session.chrome("settings")).into_response(),
    }
}

fn criterion_id(raw: &str) -> AppResult<i32> {
    raw.parse().map_err(|_| AppError::NotFound("criterion"))
}

async fn update_stage(State(state): State<AppState>, Path(key): Path<String>, form: CsrfForm<StageUpdate>) -> Response {
    let CsrfForm { session, form } = form;
    change_pipeline(&state, &session, async |actor| {
        stages::update_stage(&state.db, &key, form, actor, state.now()).await
    })
    .await
}

async fn add_criterion(
    State(state): State<AppState>,
    Path(key): Path<String>,
    form: CsrfForm<CriterionInput>,
) -> Response {
    let CsrfForm { session, form } = form;
    change_pipeline(&state, &session, async |actor| {
        stages::add_criterion(&state.db, &key, form, actor, state.now()).await.map(|_| ())
    })
    .await
}

async fn update_criterion(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: CsrfForm<CriterionInput>,
) -> Response {
    let CsrfForm { session, form } = form;
    change_pipeline(&state, &session, async |actor| {
        stages::update_criterion(&state.db, criterion_id(&id)?, form, actor, state.now()).await
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveForm {
    direction: String,
}

async fn move_criterion(State(state): State<AppState>, Path(id): Path<String>, form: CsrfForm<MoveForm>) -> Response {
    let CsrfForm { session, form } = form;
    change_pipeline(&state, &session, async |actor| {
        let direction = match form.direction.as_str() {
            "up" => -1,
            "down" => 1,
            _ => return Err(AppError::field("direction", "must be up or down")),
        };
        stages::move_criterion(&state.db, criterion_id(&id)?, direction, actor, state.now()).await
    })
    .await
}

async fn retire_criterion(State(state): State<AppState>, Path(id): Path<String>, form: CsrfForm<Empty>) -> Response {
    change_pipeline(&state, &form.session, async |actor| {
        stages::retire_criterion(&state.db, criterion_id(&id)?, actor, state.now()).await
    })
    .await
}

#[derive(Template)]
#[template(path = "pages/settings_users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserInfo>,
    tokens: Vec<TokenInfo>,
    roles: Vec<&'static str>,
    notice: Option<Notice>,
    /// A secret to show once (a generated password or a new token).
    secret: Option<(String, String)>,
}

async fn users_page(
    state: &AppState,
    session: &WebSession,
    notice: Option<Notice>,
    secret: Option<(String, String)>,
    status: StatusCode,
) -> Response {
    let loaded = async { Ok::<_, AppError>((users::list(&state.db).await?, tokens::list(&state.db).await?)) }.await;
    match loaded {
        Ok((users, tokens)) => {
            let roles = Role::ALL.iter().map(|r| r.as_str()).collect();
            render(status, &UsersPage { chrome: session.chrome("users"), users, tokens, roles, notice, secret })
        }
        Err(error) => PageError::new(error, session.chrome("users")).into_response(),
    }
}

async fn show_users(
    State(state): State<AppState>,
    session: WebSession,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    session.require(Role::Admin, "users")?;
    let notice = query.done.as_deref().map(|done| {
        Notice::success(match done {
            "revoked" => "Token revoked.",
            _ => "User saved.",
        })
    });
    Ok(users_page(&state, &session, notice, None, StatusCode::OK).await)
}

/// Runs a user or token change for an admin. `Ok(Some(..))` carries a
/// secret to show once on the page that follows.
async fn change_users(
    state: &AppState,
    session: &WebSession,
    done: &str,
    result: impl AsyncFnOnce(i32) -> AppResult<Option<(String, String)>>,
) -> Response {
    if let Err(error) = session.require(Role::Admin, "users") {
        return error.into_response();
    }
    match result(session.user().id).await {
        // Secrets are rendered directly, never put in a URL.
        Ok(Some(secret)) => users_page(state, session, None, Some(secret), StatusCode::OK).await,
        Ok(None) => Redirect::to(&format!("/settings/users?done={done}")).into_response(),
        Err(error @ (AppError::Validation(_) | AppError::Conflict { .. })) => {
            users_page(state, session, Some(Notice::error(&error)), None, status_of(&error)).await
        }
        Err(error) => PageError::new(error, session.chrome("users")).into_response(),
    }
}

async fn add_user(State(state): State<AppState>, form: CsrfForm<NewUser>) -> Response {
    let CsrfForm { session, form } = form;
    change_users(&state, &session, "saved", async |actor| {
        let (user, generated) = users::add(&state.db, form, Some(actor), state.now()).await?;
        Ok(generated.map(|password| (format!("Password for {}", user.email), password)))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserUpdateForm {
    role: String,
    #[serde(default)]
    active: Option<String>,
}

async fn update_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: CsrfForm<UserUpdateForm>,
) -> Response {
    let CsrfForm { session, form } = form;
    change_users(&state, &session, "saved", async |_| {
        let id: i32 = id.parse().map_err(|_| AppError::NotFound("user"))?;
        users::update(&state.db, id, &form.role, form.active.is_some(), session.user(), state.now()).await?;
        Ok(None)
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenForm {
    email: String,
    #[serde(default)]
    name: Option<String>,
}

async fn create_token(State(state): State<AppState>, form: CsrfForm<TokenForm>) -> Response {
    let CsrfForm { session, form } = form;
    change_users(&state, &session, "saved", async |actor| {
        let secret = tokens::create(&state.db, &form.email, form.name.as_deref(), Some(actor), state.now()).await?;
        Ok(Some((format!("API token for {}", form.email), secret)))
    })
    .await
}

async fn revoke_token(State(state): State<AppState>, Path(id): Path<String>, form: CsrfForm<Empty>) -> Response {
    change_users(&state, &form.session, "revoked", async |actor| {
        let id: i32 = id.parse().map_err(|_| AppError::NotFound("token"))?;
        tokens::revoke(&state.db, id, Some(actor), state.now()).await?;
        Ok(None)
    })
    .await
}

#[derive(Template)]
#[template(path = "pages/audit.html")]
struct AuditPage {
    chrome: Chrome,
    entries: Vec<AuditLine>,
}

async fn show_audit(State(state): State<AppState>, session: WebSession) -> Result<Response, PageError> {
    session.require(Role::Manager, "audit")?;
    let chrome = session.chrome("audit");
    let entries = audit::recent(&state.db, 500).await.map_err(|e| PageError::new(e, chrome.clone()))?;
    Ok(render(StatusCode::OK, &AuditPage { chrome, entries }))
}
