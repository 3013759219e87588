//! The surveys page (sent, answered, expired, waiting, skipped and upcoming)
//! and the admin pages for the outbox and the job runs.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use entity::{job_run, outbox_message};
use serde::Deserialize;

use super::{Chrome, CsrfForm, Empty, Notice, PageError, WebSession, render};
use crate::auth::Role;
use crate::error::AppError;
use crate::surveys::followups::{self, FollowupView};
use crate::surveys::queries::{self, SurveyFilter, SurveySummary, WaveView};
use crate::{AppState, jobs, mail};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/surveys", get(list_surveys))
        .route("/settings/outbox", get(show_outbox))
        .route("/settings/outbox/{id}/resend", post(resend_email))
        .route("/settings/jobs", get(show_jobs))
        .route("/settings/jobs/{name}/run", post(run_job))
}

#[derive(Debug, Deserialize)]
struct SurveysQuery {
    #[serde(default)]
    status: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/surveys.html")]
struct SurveysPage {
    chrome: Chrome,
    status: String,
    surveys: Vec<SurveySummary>,
    waves: Vec<WaveView>,
    followups: Vec<FollowupView>,
    tabs: Vec<(&'static str, &'static str)>,
}

async fn list_surveys(
    State(state): State<AppState>,
    session: WebSession,
    Query(query): Query<SurveysQuery>,
) -> Result<Response, PageError> {
    let chrome = session.chrome("surveys");
    let fail = |e| PageError::new(e, chrome.clone());
    let status = query.status.unwrap_or_else(|| "sent".to_owned());
    let tabs = vec![
        ("upcoming", "Upcoming"),
        ("waiting", "Waiting"),
        ("sent", "Sent"),
        ("answered", "Answered"),
        ("expired", "Expired"),
        ("skipped", "Skipped"),
        ("followups", "Open follow-ups"),
    ];
    if !tabs.iter().any(|(key, _)| *key == status) {
        return Err(fail(AppError::field(
            "status",
            "must be upcoming, waiting, sent, answered, expired, skipped or followups",
        )));
    }
    let followups = if status == "followups" {
        followups::list(&state.db, Some(followups::status::OPEN), None).await.map_err(fail)?
    } else {
        Vec::new()
    };
    let (surveys, waves) = if status == "followups" {
        (Vec::new(), Vec::new())
    } else if ["upcoming", "waiting", "skipped"].contains(&status.as_str()) {
        let all = queries::waves(&state.db, &state.config.surveys, state.now().date_naive(), 60).await.map_err(fail)?;
        (Vec::new(), all.into_iter().filter(|w| w.status == status).collect())
    } else {
        let filter = SurveyFilter { status: Some(status.clone()), ..Default::default() };
        (queries::list(&state.db, &filter).await.map_err(fail)?, Vec::new())
    };
    Ok(render(StatusCode::OK, &SurveysPage { chrome, status, surveys, waves, followups, tabs }))
}

#[derive(Debug, Deserialize)]
struct OutboxQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/outbox.html")]
struct OutboxPage {
    chrome: Chrome,
    status: String,
    messages: Vec<outbox_message::Model>,
    notice: Option<Notice>,
}

async fn show_outbox(
    State(state): State<AppState>,
    session: WebSession,
    Query(query): Query<OutboxQuery>,
) -> Result<Response, PageError> {
    session.require(Role::Admin, "outbox")?;
    let chrome = session.chrome("outbox");
    let status = query.status.filter(|s| ["pending", "sent", "failed"].contains(&s.as_str()));
    let messages =
        mail::outbox::list(&state.db, status.as_deref(), 300).await.map_err(|e| PageError::new(e, chrome.clone()))?;
    let notice = query.done.map(|_| Notice::success("The email is queued again."));
    Ok(render(StatusCode::OK, &OutboxPage { chrome, status: status.unwrap_or_default(), messages, notice }))
}

async fn resend_email(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: CsrfForm<Empty>,
) -> Result<Response, PageError> {
    let session = form.session;
    session.require(Role::Admin, "outbox")?;
    let chrome = session.chrome("outbox");
    let id: i32 = id.parse().map_err(|_| PageError::new(AppError::NotFound("email"), chrome.clone()))?;
    mail::outbox::resend(&state.db, id, session.user().id, state.now()).await.map_err(|e| PageError::new(e, chrome))?;
    Ok(Redirect::to("/settings/outbox?done=resent").into_response())
}

#[derive(Template)]
#[template(path = "pages/jobs.html")]
struct JobsPage {
    chrome: Chrome,
    schedules: Vec<(String, String)>,
    runs: Vec<job_run::Model>,
    notice: Option<Notice>,
}

#[derive(Debug, Deserialize)]
struct JobsQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn show_jobs(
    State(state): State<AppState>,
    session: WebSession,
    Query(query): Query<JobsQuery>,
) -> Result<Response, PageError> {
    session.require(Role::Admin, "jobs")?;
    let chrome = session.chrome("jobs");
    let runs = jobs::recent_runs(&state.db, 200).await.map_err(|e| PageError::new(e, chrome.clone()))?;
    let notice = query.done.map(|job| Notice::success(format!("{job} ran; its result is at the top of the list.")));
    Ok(render(StatusCode::OK, &JobsPage { chrome, schedules: state.config.schedules.clone(), runs, notice }))
}

async fn run_job(
    State(state): State<AppState>,
    Path(name): Path<String>,
    form: CsrfForm<Empty>,
) -> Result<Response, PageError> {
    let session = form.session;
    session.require(Role::Admin, "jobs")?;
    let chrome = session.chrome("jobs");
    jobs::run_manually(&state, &name, state.now()).await.map_err(|e| PageError::new(e, chrome))?;
    let name: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    Ok(Redirect::to(&format!("/settings/jobs?done={name}")).into_response())
}
