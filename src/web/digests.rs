//! Digest pages: the profile page with digest settings, the preview and
//! "send me this now", and the public unsubscribe page.
//!
//! The preview shows the HTML email exactly as it is sent, inside a
//! sandboxed `<iframe srcdoc>` (no scripts, no forms, an origin of its own).
//! A `srcdoc` frame inherits the page's Content-Security-Policy, which
//! blocks inline styles, and the email is styled with `style` attributes
//! only; so the preview page alone sends the app's policy with
//! `style-src-attr 'unsafe-inline'` added ([`PREVIEW_CSP`]). Scripts, frames
//! of the page and everything else stay as strict as on every other page.
//!
//! The unsubscribe link in a digest is the capability: `GET` shows a
//! confirmation, `POST` (the RFC 8058 one-click target named in the
//! `List-Unsubscribe-Post` header) turns the user's digests off, without a
//! session or a CSRF token, like the survey unsubscribe at `/u/{token}`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc, Weekday};
use entity::user;
use sea_orm::EntityTrait;
use serde::Deserialize;

use super::{Chrome, CsrfForm, Empty, Notice, PageError, WebSession, render, status_of};
use crate::auth::Role;
use crate::auth::users::{self, UserInfo};
use crate::digests::schedule::{self, Frequency};
use crate::digests::{self, LANGUAGES, SettingsInput, email};
use crate::error::AppError;
use crate::{AppResult, AppState};

/// The profile, preview and unsubscribe routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/profile", get(show_profile))
        .route("/profile/digest", post(save_settings))
        .route("/profile/digest/send", post(send_now))
        .route("/digests/preview", get(show_preview))
        .route("/digests/unsubscribe/{token}", get(show_unsubscribe).post(unsubscribe))
}

/// The navigation section of these pages.
const SECTION: &str = "profile";

/// The preview page's Content-Security-Policy: the app's own (see
/// `app.rs`) plus inline `style` attributes, which the email in the
/// `srcdoc` frame (inheriting this policy) is styled with.
static PREVIEW_CSP: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{}; style-src-attr 'unsafe-inline'", crate::app::CONTENT_SECURITY_POLICY));

/// Time zone regions offered as suggestions (any IANA name is accepted).
const ZONE_REGIONS: [&str; 9] =
    ["Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/", "Europe/", "Indian/", "Pacific/"];

#[derive(Debug, Deserialize)]
struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

/// The digest settings as the form shows them: saved, or as submitted.
#[derive(Debug, Clone)]
struct SettingsView {
    time_zone: String,
    language: String,
    frequency: String,
    all_clear: bool,
}

impl SettingsView {
    fn saved(profile: &user::Model) -> Self {
        Self {
            time_zone: profile.time_zone.clone(),
            language: profile.language.clone(),
            frequency: profile.digest_frequency.clone(),
            all_clear: profile.digest_all_clear,
        }
    }

    fn submitted(input: &SettingsInput) -> Self {
        let text = |value: &Option<String>| value.as_deref().unwrap_or_default().trim().to_owned();
        Self {
            time_zone: text(&input.time_zone),
            language: text(&input.language),
            frequency: text(&input.digest_frequency),
            all_clear: matches!(text(&input.digest_all_clear).as_str(), "true" | "1" | "yes" | "on"),
        }
    }
}

#[derive(Template)]
#[template(path = "pages/profile.html")]
struct ProfilePage {
    chrome: Chrome,
    profile: user::Model,
    settings: SettingsView,
    /// The fields the notice reports a problem with.
    invalid: Vec<String>,
    zones: Vec<&'static str>,
    languages: &'static [(&'static str, &'static str)],
    /// (value, label) of each frequency, the label saying when it arrives.
    frequencies: Vec<(&'static str, String)>,
    /// The time now in the saved time zone.
    local_now: String,
    notice: Option<Notice>,
}

impl ProfilePage {
    fn is_invalid(&self, field: &str) -> bool {
        self.invalid.iter().any(|f| f == field)
    }
}

/// A weekday's English name.
fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// Each frequency with when it arrives, under the configured policy.
fn frequency_labels(state: &AppState) -> Vec<(&'static str, String)> {
    let policy = state.config.digests;
    let at = format!("{:02}:00", policy.hour.min(23));
    Frequency::ALL
        .into_iter()
        .map(|frequency| {
            let label = match frequency {
                Frequency::Weekly => format!("Weekly: {} {at} your time", weekday_name(policy.weekday)),
                Frequency::Daily => format!("Daily: every day at {at} your time"),
                Frequency::Off => "Off: no digests".to_owned(),
            };
            (frequency.as_str(), label)
        })
        .collect()
}

/// The IANA zones offered as suggestions: the regional ones, and UTC.
fn zone_names() -> Vec<&'static str> {
    std::iter::once("UTC")
        .chain(
            chrono_tz::TZ_VARIANTS
                .iter()
                .map(|tz| tz.name())
                .filter(|name| ZONE_REGIONS.iter().any(|region| name.starts_with(region))),
        )
        .collect()
}

/// Renders the signed-in user's profile; `settings` overrides the saved
/// values (a refused form shows what was submitted).
async fn profile_page(
    state: &AppState,
    session: &WebSession,
    settings: Option<SettingsView>,
    notice: Option<Notice>,
    invalid: Vec<String>,
    status: StatusCode,
) -> Response {
    let chrome = session.chrome(SECTION);
    let found = user::Entity::find_by_id(session.user().id).one(&state.db).await.map_err(AppError::from);
    let profile = match found {
        Ok(Some(profile)) => profile,
        Ok(None) => return PageError::new(AppError::NotFound("user"), chrome).into_response(),
        Err(error) => return PageError::new(error, chrome).into_response(),
    };
    let zone = schedule::zone(&profile.time_zone);
    let local_now = state.now().with_timezone(&zone).format("%A %Y-%m-%d %H:%M").to_string();
    let page = ProfilePage {
        chrome,
        settings: settings.unwrap_or_else(|| SettingsView::saved(&profile)),
        profile,
        invalid,
        zones: zone_names(),
        languages: &LANGUAGES,
        frequencies: frequency_labels(state),
        local_now,
        notice,
    };
    render(status, &page)
}

/// `GET /profile`: who the user is and their digest settings.
async fn show_profile(State(state): State<AppState>, session: WebSession, Query(query): Query<DoneQuery>) -> Response {
    let notice = query.done.as_deref().and_then(|done| match done {
        "saved" => Some(Notice::success("Your digest settings are saved.")),
        "sent" => Some(Notice::success("Your digest is queued; it arrives within a minute.")),
        _ => None,
    });
    profile_page(&state, &session, None, notice, Vec::new(), StatusCode::OK).await
}

/// `POST /profile/digest`: saves the digest settings, or shows the form
/// again with what was wrong and what was entered.
async fn save_settings(State(state): State<AppState>, form: CsrfForm<SettingsInput>) -> Response {
    let CsrfForm { session, form } = form;
    let id = session.user().id;
    match digests::update_settings(&state.db, id, &form, id, state.now()).await {
        Ok(_) => Redirect::to("/profile?done=saved").into_response(),
        Err(AppError::Validation(fields)) => {
            let invalid = fields.keys().cloned().collect();
            let error = AppError::Validation(fields);
            let settings = Some(SettingsView::submitted(&form));
            profile_page(&state, &session, settings, Some(Notice::error(&error)), invalid, status_of(&error)).await
        }
        Err(error) => PageError::new(error, session.chrome(SECTION)).into_response(),
    }
}

/// `POST /profile/digest/send`: queues the user's digest now.
async fn send_now(State(state): State<AppState>, form: CsrfForm<Empty>) -> Result<Response, PageError> {
    let session = form.session;
    digests::send_now(&state, session.user().id, state.now())
        .await
        .map_err(|e| PageError::new(e, session.chrome(SECTION)))?;
    Ok(Redirect::to("/profile?done=sent").into_response())
}

#[derive(Debug, Deserialize)]
struct PreviewQuery {
    /// Whose digest (admins only, for someone else's); the user's own when absent.
    #[serde(default)]
    user: Option<String>,
    /// `YYYY-MM-DD`: that day at 12:00 UTC; now when absent.
    #[serde(default)]
    as_of: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/digest_preview.html")]
struct PreviewPage {
    chrome: Chrome,
    target: user::Model,
    /// Whether the target is the signed-in user.
    own: bool,
    as_of: DateTime<Utc>,
    /// The as-of date for the date field.
    as_of_date: NaiveDate,
    local_date: NaiveDate,
    window_days: i64,
    has_news: bool,
    /// What the schedule would do with this digest, in words.
    outcome: String,
    /// The email's HTML, for the frame's `srcdoc`.
    email_html: String,
    /// Everyone, for an admin's picker (empty for others).
    users: Vec<UserInfo>,
}

/// A query value, `None` when absent or blank.
fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// What the schedule would do with a digest: send it, send an all-clear,
/// or skip it.
fn outcome(target: &user::Model, has_news: bool) -> String {
    let off = Frequency::parse(&target.digest_frequency) == Some(Frequency::Off);
    let what = match (has_news, target.digest_all_clear) {
        (true, _) => "This digest has news: it would be sent.",
        (false, true) => "Nothing to report: a short all-clear would be sent (asked for in the settings).",
        (false, false) => "Nothing to report: this digest would be skipped.",
    };
    if off {
        format!("{what} Digests are off for {}, so the schedule sends none.", target.name)
    } else {
        what.to_owned()
    }
}

/// Lets the email's links open in the app's window rather than in the frame
/// (which the app's pages refuse to be shown in).
fn for_frame(html: &str) -> String {
    html.replacen("<head>", "<head><base target=\"_top\">", 1)
}

/// `GET /digests/preview`: a digest as it would be sent, in the page.
async fn show_preview(
    State(state): State<AppState>,
    session: WebSession,
    Query(query): Query<PreviewQuery>,
) -> Result<Response, PageError> {
    let chrome = session.chrome(SECTION);
    let fail = |e| PageError::new(e, chrome.clone());
    let me = session.user().id;
    let user_id = match given(query.user.as_deref()) {
        None => me,
        Some(raw) => raw.parse::<i32>().map_err(|_| fail(AppError::field("user", "must be a user's number")))?,
    };
    if user_id != me {
        session.require(Role::Admin, SECTION)?;
    }
    let as_of = match given(query.as_of.as_deref()) {
        None => state.now(),
        Some(raw) => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .ok()
            .and_then(|date| date.and_hms_opt(12, 0, 0))
            .map(|noon| noon.and_utc())
            .ok_or_else(|| fail(AppError::field("as_of", "must be a date like 2026-03-02")))?,
    };
    let loaded = async {
        let target = user::Entity::find_by_id(user_id).one(&state.db).await?.ok_or(AppError::NotFound("user"))?;
        let digest = digests::preview(&state, user_id, as_of).await?;
        let base = &state.config.base_url;
        // A preview mints no unsubscribe token: its link goes to the profile.
        let html = email::html(&digest, base, &format!("{base}/profile"))?;
        let users = if session.user().can(Role::Admin) { users::list(&state.db).await? } else { Vec::new() };
        AppResult::Ok((target, digest, html, users))
    };
    let (target, digest, html, users) = loaded.await.map_err(fail)?;
    let has_news = digest.has_news();
    let page = PreviewPage {
        outcome: outcome(&target, has_news),
        own: target.id == me,
        as_of,
        as_of_date: as_of.date_naive(),
        local_date: digest.local_date,
        window_days: digest.window_days,
        has_news,
        email_html: for_frame(&html),
        users,
        target,
        chrome,
    };
    Ok(([(header::CONTENT_SECURITY_POLICY, PREVIEW_CSP.as_str())], render(StatusCode::OK, &page)).into_response())
}

/// The words of the public unsubscribe page in one language.
struct Words {
    lang: &'static str,
    ask_title: &'static str,
    ask: &'static str,
    button: &'static str,
    done_title: &'static str,
    done: &'static str,
    profile: &'static str,
}

const ENGLISH: Words = Words {
    lang: "en",
    ask_title: "Stop your Aftercare digests?",
    ask: "You will no longer get the email of what needs you on the deals you own. \
          You can turn digests back on in your profile at any time.",
    button: "Stop my digests",
    done_title: "Unsubscribed",
    done: "Your digests are off. You can turn them back on in your profile.",
    profile: "Open your profile",
};

const DUTCH: Words = Words {
    lang: "nl",
    ask_title: "Je Aftercare-overzichten stoppen?",
    ask: "Je krijgt dan geen e-mail meer met wat je aandacht vraagt bij de deals die je beheert. \
          Je kunt de overzichten altijd weer aanzetten in je profiel.",
    button: "Stop mijn overzichten",
    done_title: "Afgemeld",
    done: "Je overzichten staan uit. Je kunt ze weer aanzetten in je profiel.",
    profile: "Open je profiel",
};

/// The words for `language` (`nl`, or English).
fn words(language: &str) -> &'static Words {
    if language == "nl" { &DUTCH } else { &ENGLISH }
}

#[derive(Template)]
#[template(path = "public/digest_unsubscribe.html")]
struct UnsubscribePage {
    w: &'static Words,
    title: &'static str,
    message: &'static str,
    /// Set on the confirmation: the form posts to this token's link.
    token: Option<String>,
    /// Whether to link to the profile.
    profile_link: bool,
}

/// The page for unknown links: the same words whatever the token was.
fn invalid_link() -> Response {
    render(
        StatusCode::NOT_FOUND,
        &UnsubscribePage {
            w: &ENGLISH,
            title: "This link does not work",
            message: "The link is unknown. To change your digests, sign in to Aftercare and open your profile.",
            token: None,
            profile_link: false,
        },
    )
}

/// The page for a fault on our side (logged, not shown).
fn failure(error: AppError) -> Response {
    tracing::error!(%error, "the digest unsubscribe page failed");
    render(
        StatusCode::INTERNAL_SERVER_ERROR,
        &UnsubscribePage {
            w: &ENGLISH,
            title: "Something went wrong",
            message: "Please try again in a moment.",
            token: None,
            profile_link: false,
        },
    )
}

/// The page saying the digests are off, in the user's language.
fn unsubscribed(language: &str) -> Response {
    let w = words(language);
    render(
        StatusCode::OK,
        &UnsubscribePage { w, title: w.done_title, message: w.done, token: None, profile_link: true },
    )
}

/// `GET /digests/unsubscribe/{token}`: asks before turning digests off
/// (mail scanners follow links; only the `POST` changes anything).
async fn show_unsubscribe(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match digests::unsubscribe_target(&state.db, &token).await {
        Ok(Some(found)) if found.digest_frequency == Frequency::Off.as_str() => unsubscribed(&found.language),
        Ok(Some(found)) => {
            let w = words(&found.language);
            render(
                StatusCode::OK,
                &UnsubscribePage { w, title: w.ask_title, message: w.ask, token: Some(token), profile_link: false },
            )
        }
        Ok(None) => invalid_link(),
        Err(error) => failure(error),
    }
}

/// `POST /digests/unsubscribe/{token}`: turns the link's user's digests
/// off. The body (`List-Unsubscribe=One-Click`, or nothing) is ignored.
async fn unsubscribe(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let language = match digests::unsubscribe_target(&state.db, &token).await {
        Ok(Some(found)) => found.language,
        Ok(None) => return invalid_link(),
        Err(error) => return failure(error),
    };
    match digests::unsubscribe(&state.db, &token, state.now()).await {
        Ok(true) => unsubscribed(&language),
        Ok(false) => invalid_link(),
        Err(error) => failure(error),
    }
}
