//! The browser session extractor and CSRF-checked forms.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::de::DeserializeOwned;

use super::{Chrome, PageError};
use crate::AppState;
use crate::auth::sessions::{self, SESSION_LIFETIME, Session};
use crate::auth::{CurrentUser, Role};
use crate::error::AppError;

/// The session cookie's name.
pub const COOKIE: &str = "aftercare_session";

/// The signed-in browser session. Without one, pages redirect to the login.
#[derive(Debug, Clone)]
pub struct WebSession(pub Session);

impl WebSession {
    /// The signed-in user.
    pub fn user(&self) -> &CurrentUser {
        &self.0.user
    }

    /// The page frame for this session.
    pub fn chrome(&self, section: &'static str) -> Chrome {
        Chrome { user: Some(self.0.user.clone()), csrf: self.0.csrf_token.clone(), section }
    }

    /// Fails with a "not allowed" page unless the user holds `role`.
    pub fn require(&self, role: Role, section: &'static str) -> Result<(), PageError> {
        self.0.user.require(role).map_err(|e| PageError::new(e, self.chrome(section)))
    }
}

/// Builds the session cookie (HttpOnly, SameSite=Lax, optionally Secure).
pub fn session_cookie(secret: String, secure: bool) -> Cookie<'static> {
    let secure = if secure { "; Secure" } else { "" };
    let max_age = SESSION_LIFETIME.num_seconds();
    let raw = format!("{COOKIE}={secret}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
    // The secret is hex, so the cookie always parses; fall back to a plain
    // session cookie rather than failing the sign-in.
    Cookie::parse(raw)
        .map(Cookie::into_owned)
        .unwrap_or_else(|_| Cookie::build((COOKIE, secret)).path("/").http_only(true).same_site(SameSite::Lax).build())
}

/// Sends the browser to the login page, remembering where it was going.
pub struct LoginRedirect(String);

impl IntoResponse for LoginRedirect {
    fn into_response(self) -> Response {
        let next: String = form_urlencoded::byte_serialize(self.0.as_bytes()).collect();
        Redirect::to(&format!("/login?next={next}")).into_response()
    }
}

async fn lookup(parts: &Parts, state: &AppState) -> Result<Option<Session>, AppError> {
    let jar = CookieJar::from_headers(&parts.headers);
    match jar.get(COOKIE) {
        Some(cookie) => sessions::find(&state.db, cookie.value(), state.now()).await,
        None => Ok(None),
    }
}

impl FromRequestParts<AppState> for WebSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match lookup(parts, state).await {
            Ok(Some(session)) => Ok(Self(session)),
            Ok(None) => {
                let target = if parts.method == Method::GET {
                    parts.uri.path_and_query().map(ToString::to_string).unwrap_or_else(|| "/board".to_owned())
                } else {
                    "/board".to_owned()
                };
                Err(LoginRedirect(target).into_response())
            }
            Err(error) => Err(PageError::new(error, Chrome::default()).into_response()),
        }
    }
}

impl OptionalFromRequestParts<AppState> for WebSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        lookup(parts, state)
            .await
            .map(|s| s.map(Self))
            .map_err(|e| PageError::new(e, Chrome::default()).into_response())
    }
}

/// A form post from a signed-in user whose CSRF token matched the session's.
#[derive(Debug)]
pub struct CsrfForm<T> {
    /// The session that posted it.
    pub session: WebSession,
    /// The form's fields (without the token).
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = <WebSession as FromRequestParts<AppState>>::from_request_parts(&mut parts, state).await?;
        let chrome = session.chrome("");
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.").into_response())?;
        let mut pairs: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
        let token = pairs.iter().position(|(key, _)| key == "csrf").map(|i| pairs.remove(i).1);
        if !token.is_some_and(|token| constant_time_eq(token.as_bytes(), session.0.csrf_token.as_bytes())) {
            let error = AppError::conflict(
                "csrf",
                "this form was not sent from an open Aftercare page, or it has expired; reload the page and try again",
            );
            return Err((StatusCode::FORBIDDEN, PageError::new(error, chrome)).into_response());
        }
        let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
        let form =
            crate::validate::urlencoded(encoded.as_bytes()).map_err(|e| PageError::new(e, chrome).into_response())?;
        Ok(Self { session, form })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
