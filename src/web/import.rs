//! The import page (`/settings/import`, managers and admins): upload a CSV
//! file, read what a dry run found, then import it or discard it. The rules
//! live in [`crate::import`]; the stored previews in
//! [`crate::import::stored`].
//!
//! The upload is a `multipart/form-data` post (a file cannot travel in a
//! URL-encoded form). Its CSRF token is a field of the multipart body and
//! is checked by [`CsrfForm`] itself, the one place tokens are checked:
//! the other fields are handed to it as the URL-encoded form they would be.

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::multipart::MultipartError;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Multipart, Path, Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Chrome, CsrfForm, Notice, PageError, WebSession, render, status_of};
use crate::auth::Role;
use crate::error::AppError;
use crate::import::stored::{self, ImportView, Previewed, Upload};
use crate::import::text::{self, Encoding};
use crate::import::{Kind, Options, RowError};
use crate::{AppResult, AppState};

/// The navigation section.
const SECTION: &str = "import";

/// The largest file the page takes (a 100 000-row export is about 12 MB).
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;

/// How many errors a report page lists (the command line prints them all).
const SHOWN_ERRORS: usize = 1_000;

/// How many past imports the page lists.
const RECENT: u64 = 20;

/// The import page's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings/import", get(show_imports).post(upload_import).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)))
        .route("/settings/import/{id}", get(show_import))
        .route("/settings/import/{id}/apply", post(apply_import))
        .route("/settings/import/{id}/discard", post(discard_import))
}

/// A past import as the list shows it.
struct ImportLine {
    id: i32,
    at: String,
    kind: &'static str,
    filename: String,
    format: String,
    status: String,
    by: String,
    counts: String,
}

#[derive(Template)]
#[template(path = "pages/import.html")]
struct ImportsPage {
    chrome: Chrome,
    kinds: [&'static str; 4],
    imports: Vec<ImportLine>,
    notice: Option<Notice>,
}

#[derive(Template)]
#[template(path = "pages/import_show.html")]
struct ImportPage {
    chrome: Chrome,
    import: ImportView,
    pending: bool,
    verdict: String,
    errors: Vec<String>,
    more_errors: usize,
    notice: Option<Notice>,
}

#[derive(Debug, Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn show_imports(
    State(state): State<AppState>,
    session: WebSession,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    session.require(Role::Manager, SECTION)?;
    let notice = query.done.filter(|d| d == "discarded").map(|_| Notice::success("The import was discarded."));
    Ok(imports_page(&state, &session, notice, StatusCode::OK).await)
}

async fn imports_page(state: &AppState, session: &WebSession, notice: Option<Notice>, status: StatusCode) -> Response {
    let imports = match stored::recent(&state.db, RECENT).await {
        Ok(imports) => imports,
        Err(error) => return PageError::new(error, session.chrome(SECTION)).into_response(),
    };
    let imports = imports
        .into_iter()
        .map(|i| ImportLine {
            id: i.id,
            at: i.created_at.format("%Y-%m-%d %H:%M").to_string(),
            kind: i.kind.as_str(),
            counts: i.report.counts(),
            filename: i.filename,
            format: i.format,
            status: i.status,
            by: i.created_by.unwrap_or_else(|| "command line".to_owned()),
        })
        .collect();
    let kinds = Kind::ALL.map(Kind::as_str);
    render(status, &ImportsPage { chrome: session.chrome(SECTION), kinds, imports, notice })
}

/// The upload form's fields besides the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadForm {
    kind: String,
    #[serde(default)]
    won_stage: Option<String>,
    #[serde(default)]
    day_first: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    mapping: Option<String>,
}

/// An upload from a manager whose CSRF token matched.
struct UploadPost {
    session: WebSession,
    form: UploadForm,
    file: Option<(String, Vec<u8>)>,
}

impl FromRequest<AppState> for UploadPost {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = <WebSession as FromRequestParts<AppState>>::from_request_parts(&mut parts, state).await?;
        session.require(Role::Manager, SECTION).map_err(IntoResponse::into_response)?;
        let cookies: Vec<_> = parts.headers.get_all(header::COOKIE).iter().cloned().collect();
        let refused = |status: StatusCode, message: String| {
            let error = AppError::field("file", message);
            (status, PageError::new(error, session.chrome(SECTION))).into_response()
        };
        let unreadable = |e: MultipartError| refused(e.status(), e.body_text());
        let mut multipart = Multipart::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|rejection| refused(rejection.status(), rejection.body_text()))?;
        let mut fields = Vec::new();
        let mut file = None;
        while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
            let name = field.name().unwrap_or_default().to_owned();
            if name == "file" {
                let filename = field.file_name().unwrap_or_default().to_owned();
                let bytes = field.bytes().await.map_err(unreadable)?;
                file = Some((filename, bytes.to_vec()));
            } else {
                fields.push((name, field.text().await.map_err(unreadable)?));
            }
        }
        let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
        let mut check = Request::builder()
            .method(Method::POST)
            .uri("/settings/import")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for cookie in cookies {
            check = check.header(header::COOKIE, cookie);
        }
        let check = check.body(Body::from(encoded)).map_err(|e| refused(StatusCode::BAD_REQUEST, e.to_string()))?;
        let CsrfForm { session, form } = CsrfForm::<UploadForm>::from_request(check, state).await?;
        Ok(Self { session, form, file })
    }
}

async fn upload_import(State(state): State<AppState>, upload: UploadPost) -> Response {
    let UploadPost { session, form, file } = upload;
    let prepared = prepare(form, file);
    let upload = match prepared {
        Ok(Ok(upload)) => upload,
        Ok(Err(problem)) => return refused_file(&state, &session, &[problem]).await,
        Err(error) => return imports_page(&state, &session, Some(Notice::error(&error)), status_of(&error)).await,
    };
    match stored::preview(&state.db, upload, session.user().id, state.now()).await {
        Ok(Previewed::Stored(id)) => Redirect::to(&format!("/settings/import/{id}")).into_response(),
        Ok(Previewed::Refused(report)) => refused_file(&state, &session, &report.errors).await,
        Err(error) => PageError::new(error, session.chrome(SECTION)).into_response(),
    }
}

/// The upload as the import service takes it, or why the form is wrong, or
/// why the file cannot be read.
fn prepare(form: UploadForm, file: Option<(String, Vec<u8>)>) -> AppResult<Result<Upload, RowError>> {
    let kind = Kind::parse(&form.kind)
        .ok_or_else(|| AppError::field("kind", "must be deals, contacts, promises or economics"))?;
    let encoding = match form.encoding.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        None => Encoding::Utf8,
        Some(name) => {
            Encoding::parse(name).ok_or_else(|| AppError::field("encoding", "must be utf-8 or windows-1252"))?
        }
    };
    let (filename, bytes) =
        file.filter(|(_, bytes)| !bytes.is_empty()).ok_or_else(|| AppError::field("file", "choose a CSV file"))?;
    let options = Options {
        dry_run: true,
        skip_invalid: false,
        won_stages: form
            .won_stage
            .iter()
            .flat_map(|s| s.split(','))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        day_first: form.day_first.as_deref().is_some_and(|v| matches!(v, "true" | "on" | "yes" | "1")),
        mapping: form.mapping.filter(|m| !m.trim().is_empty()),
    };
    Ok(text::decode(bytes, encoding).map(|text| Upload { kind, filename, text, options }))
}

async fn refused_file(state: &AppState, session: &WebSession, problems: &[RowError]) -> Response {
    let mut lines = vec!["The file cannot be imported as it is; nothing was stored:".to_owned()];
    lines.extend(problems.iter().map(ToString::to_string));
    let notice = Notice { kind: "error", lines };
    imports_page(state, session, Some(notice), StatusCode::UNPROCESSABLE_ENTITY).await
}

fn import_id(raw: &str) -> AppResult<i32> {
    raw.parse().map_err(|_| AppError::NotFound("import"))
}

async fn show_import(
    State(state): State<AppState>,
    session: WebSession,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    session.require(Role::Manager, SECTION)?;
    let page_error = |error| PageError::new(error, session.chrome(SECTION));
    let import = stored::get(&state.db, import_id(&id).map_err(page_error)?).await.map_err(page_error)?;
    let notice = query.done.filter(|d| d == "applied").map(|_| Notice::success(import.report.verdict(&import.options)));
    Ok(import_page(&session, import, notice, StatusCode::OK))
}

fn import_page(session: &WebSession, import: ImportView, notice: Option<Notice>, status: StatusCode) -> Response {
    let errors: Vec<String> = import.report.errors.iter().take(SHOWN_ERRORS).map(ToString::to_string).collect();
    let more_errors = import.report.errors.len().saturating_sub(SHOWN_ERRORS);
    let pending = import.status == stored::status::PREVIEWED;
    let shown = Options { dry_run: pending, ..import.options.clone() };
    let verdict = import.report.verdict(&shown);
    render(
        status,
        &ImportPage { chrome: session.chrome(SECTION), import, pending, verdict, errors, more_errors, notice },
    )
}

/// The "Import" button's form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyForm {
    #[serde(default)]
    skip_invalid: Option<String>,
}

async fn apply_import(State(state): State<AppState>, Path(id): Path<String>, form: CsrfForm<ApplyForm>) -> Response {
    let CsrfForm { session, form } = form;
    if let Err(error) = session.require(Role::Manager, SECTION) {
        return error.into_response();
    }
    let skip_invalid = form.skip_invalid.as_deref().is_some_and(|v| matches!(v, "true" | "on" | "yes" | "1"));
    let id = match import_id(&id) {
        Ok(id) => id,
        Err(error) => return PageError::new(error, session.chrome(SECTION)).into_response(),
    };
    match stored::apply(&state.db, id, skip_invalid, session.user().id, state.now()).await {
        Ok(import) if import.report.applied => {
            Redirect::to(&format!("/settings/import/{id}?done=applied")).into_response()
        }
        Ok(import) => {
            let notice = Notice { kind: "error", lines: vec![import.report.verdict(&import.options)] };
            import_page(&session, import, Some(notice), StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(error @ AppError::Conflict { .. }) => match stored::get(&state.db, id).await {
            Ok(import) => import_page(&session, import, Some(Notice::error(&error)), StatusCode::CONFLICT),
            Err(error) => PageError::new(error, session.chrome(SECTION)).into_response(),
        },
        Err(error) => PageError::new(error, session.chrome(SECTION)).into_response(),
    }
}

async fn discard_import(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: CsrfForm<super::Empty>,
) -> Response {
    let CsrfForm { session, .. } = form;
    if let Err(error) = session.require(Role::Manager, SECTION) {
        return error.into_response();
    }
    let discarded = async { stored::discard(&state.db, import_id(&id)?).await };
    match discarded.await {
        Ok(()) => Redirect::to("/settings/import?done=discarded").into_response(),
        Err(error) => PageError::new(error, session.chrome(SECTION)).into_response(),
    }
}
