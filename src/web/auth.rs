//! Signing in and out.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::session::{COOKIE, session_cookie};
use super::{Chrome, CsrfForm, Empty, WebSession, render};
use crate::AppState;
use crate::auth::{sessions, users};

pub fn router() -> Router<AppState> {
    Router::new().route("/login", get(show_login).post(login)).route("/logout", post(logout))
}

#[derive(Template)]
#[template(path = "pages/login.html")]
struct LoginPage {
    chrome: Chrome,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only local paths are followed after signing in (no open redirects).
fn safe_next(next: Option<&str>) -> String {
    // Browsers drop tabs and newlines and read `\` as `/`, so `/\t/evil`
    // would become `//evil`: refuse anything but a plain local path.
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains(|c: char| c == '\\' || c.is_control()))
        .unwrap_or("/board")
        .to_owned()
}

async fn show_login(session: Option<WebSession>, Query(query): Query<NextQuery>) -> Response {
    let next = safe_next(query.next.as_deref());
    if session.is_some() {
        return Redirect::to(&next).into_response();
    }
    render(StatusCode::OK, &LoginPage { chrome: Chrome::default(), email: String::new(), next, error: None })
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

async fn login(State(state): State<AppState>, jar: CookieJar, Form(form): Form<LoginForm>) -> Response {
    let next = safe_next(form.next.as_deref());
    let failed = |error: &str| {
        let page = LoginPage {
            chrome: Chrome::default(),
            email: form.email.clone(),
            next: next.clone(),
            error: Some(error.to_owned()),
        };
        render(StatusCode::UNAUTHORIZED, &page)
    };
    let user = match users::authenticate(&state.db, &form.email, &form.password).await {
        Ok(Some(user)) => user,
        Ok(None) => return failed("That email and password do not match an active account."),
        Err(error) => {
            tracing::error!(%error, "signing in failed");
            return failed("Signing in failed on our side. Please try again.");
        }
    };
    match sessions::create(&state.db, user.id, state.now()).await {
        Ok(secret) => {
            let jar = jar.add(session_cookie(secret, state.config.secure_cookies));
            (jar, Redirect::to(&next)).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "starting a session failed");
            failed("Signing in failed on our side. Please try again.")
        }
    }
}

async fn logout(State(state): State<AppState>, jar: CookieJar, _form: CsrfForm<Empty>) -> Response {
    if let Some(cookie) = jar.get(COOKIE)
        && let Err(error) = sessions::delete(&state.db, cookie.value()).await
    {
        tracing::error!(%error, "ending a session failed");
    }
    (jar.remove(axum_extra::extract::cookie::Cookie::build(COOKIE).path("/")), Redirect::to("/login")).into_response()
}
