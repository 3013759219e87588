//! The deal page (owners, next call, the current stage's checklist with
//! evidence forms, the timeline, and the moves), and the new-deal form.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Chrome, CsrfForm, Empty, Notice, PageError, WebSession, render, status_of};
use crate::accounts::{AccountInput, ContactInput};
use crate::auth::Role;
use crate::auth::users::{self, UserInfo};
use crate::error::AppError;
use crate::pipeline::deals::{self, DealUpdate, DealView, NewDeal, OwnersInput};
use crate::pipeline::evidence::{self, EvidenceInput};
use crate::pipeline::gate::{self, MoveBackInput};
use crate::pipeline::holds::{self, HoldInput};
use crate::pipeline::stages::{self, StageView};
use crate::surveys::followups::{self, FollowupView, ResolveInput};
use crate::surveys::promises::{self, PromiseInput, PromiseView};
use crate::surveys::queries::{self, SurveyDetail};
use crate::{AppResult, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/deals", post(create_deal))
        .route("/deals/new", get(new_deal))
        .route("/deals/{id}", get(show_deal))
        .route("/deals/{id}/evidence", post(record_evidence))
        .route("/deals/{id}/advance", post(advance_deal))
        .route("/deals/{id}/move-back", post(move_back_deal))
        .route("/deals/{id}/hold", post(hold_deal))
        .route("/deals/{id}/resume", post(resume_deal))
        .route("/deals/{id}/owners", post(update_deal))
        .route("/deals/{id}/churn", post(record_churn))
        .route("/deals/{id}/promises", post(add_promise))
        .route("/deals/{id}/promises/{promise}", post(edit_promise))
        .route("/deals/{id}/promises/{promise}/retire", post(retire_promise))
        .route("/followups/{id}/resolve", post(resolve_followup))
}

/// One line of the deal's timeline.
struct TimelineItem {
    at: DateTime<Utc>,
    kind: &'static str,
    title: String,
    detail: Option<String>,
    link: Option<String>,
    by: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/deal.html")]
struct DealPage {
    chrome: Chrome,
    deal: DealView,
    stages: Vec<StageView>,
    users: Vec<UserInfo>,
    notice: Option<Notice>,
    timeline: Vec<TimelineItem>,
    today: String,
    next_call_value: String,
    promises: Vec<PromiseView>,
    followups: Vec<FollowupView>,
    surveys: Vec<SurveyDetail>,
}

impl DealPage {
    fn is_current(&self, key: &str) -> bool {
        self.deal.summary.stage == key
    }

    fn is_passed(&self, key: &str) -> bool {
        let position = |k: &str| self.stages.iter().position(|s| s.key == k);
        position(key) < position(&self.deal.summary.stage)
    }

    /// The contract value with thousands grouped, e.g. "EUR 24,500".
    fn amount(&self) -> Option<String> {
        let amount = self.deal.summary.amount?;
        let whole = amount.trunc() as i64;
        let cents = ((amount - amount.trunc()) * 100.0).round() as i64;
        let digits = whole.to_string();
        let mut grouped = String::new();
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        if cents > 0 {
            grouped = format!("{grouped}.{cents:02}");
        }
        Some(match &self.deal.summary.currency {
            Some(currency) => format!("{currency} {grouped}"),
            None => grouped,
        })
    }

    fn is_final(&self) -> bool {
        self.stages.last().is_some_and(|s| s.key == self.deal.summary.stage)
    }

    fn is_first(&self) -> bool {
        self.stages.first().is_some_and(|s| s.key == self.deal.summary.stage)
    }

    fn owner_is(&self, owner: &Option<crate::pipeline::deals::UserRef>, email: &str) -> bool {
        owner.as_ref().is_some_and(|o| o.email == email)
    }

    fn call_lead_is(&self, email: &str) -> bool {
        self.deal.summary.next_call.as_ref().is_some_and(|c| self.owner_is(&c.lead, email))
    }

    fn call_scheduler_is(&self, email: &str) -> bool {
        self.deal.summary.next_call.as_ref().is_some_and(|c| self.owner_is(&c.scheduler, email))
    }
}

fn timeline(deal: &DealView) -> Vec<TimelineItem> {
    let mut items = Vec::new();
    for t in &deal.transitions {
        let title = match t.kind.as_str() {
            gate::kind::CREATED => format!("Won; entered \u{201c}{}\u{201d}", t.to_name),
            gate::kind::MOVE_BACK => format!("Moved back to \u{201c}{}\u{201d}", t.to_name),
            _ => format!("Advanced to \u{201c}{}\u{201d}", t.to_name),
        };
        let kind = if t.kind == gate::kind::MOVE_BACK { "move-back" } else { "move" };
        items.push(TimelineItem {
            at: t.at,
            kind,
            title,
            detail: t.reason.clone(),
            link: None,
            by: t.by.as_ref().map(|u| u.name.clone()),
        });
    }
    for e in &deal.evidence_history {
        let prefix = if e.supersedes_id.is_some() { "Corrected evidence" } else { "Evidence" };
        let mut detail = format!("Confirmed by {} on {}", e.confirmed_by, e.confirmed_on);
        if let Some(note) = &e.note {
            detail = format!("{detail}. {note}");
        }
        if e.superseded {
            detail = format!("{detail} (since corrected)");
        }
        items.push(TimelineItem {
            at: e.recorded_at,
            kind: "evidence",
            title: format!("{prefix}: {}", e.criterion),
            detail: Some(detail),
            link: e.url.clone(),
            by: e.recorded_by.as_ref().map(|u| u.name.clone()),
        });
    }
    for h in &deal.holds {
        let by = h.started_by.as_ref().map(|u| u.name.clone());
        items.push(TimelineItem {
            at: h.started_at,
            kind: "hold",
            title: "Put on hold".into(),
            detail: Some(h.reason.clone()),
            link: None,
            by,
        });
        if let Some(ended) = h.ended_at {
            items.push(TimelineItem {
                at: ended,
                kind: "resume",
                title: "Resumed".into(),
                detail: None,
                link: None,
                by: None,
            });
        }
    }
    items.sort_by_key(|item| std::cmp::Reverse(item.at));
    items
}

async fn deal_page(state: &AppState, session: &WebSession, id: i32, notice: Option<Notice>) -> AppResult<DealPage> {
    let deal = deals::get(&state.db, id, state.now()).await?;
    let next_call_value =
        deal.summary.next_call.as_ref().map(|c| c.at.format("%Y-%m-%dT%H:%M").to_string()).unwrap_or_default();
    Ok(DealPage {
        chrome: session.chrome("board"),
        stages: stages::list(&state.db).await?,
        users: users::list(&state.db).await?.into_iter().filter(|u| u.active).collect(),
        timeline: timeline(&deal),
        today: state.now().date_naive().to_string(),
        next_call_value,
        promises: promises::for_deal(&state.db, id).await?,
        followups: followups::list(&state.db, None, Some(id)).await?,
        surveys: queries::for_deal(&state.db, id).await?,
        deal,
        notice,
    })
}

#[derive(Debug, Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "created" => "The deal is in the pipeline.",
        "evidence" => "Evidence recorded.",
        "advanced" => "The deal moved to the next stage.",
        "moved_back" => "The deal moved back a stage.",
        "held" => "The deal is on hold; its SLA clock is paused.",
        "resumed" => "The deal is active again.",
        "updated" => "Owners and next call saved.",
        "promise" => "Promise saved.",
        "retired" => "Promise retired; its answers are kept.",
        "resolved" => "Follow-up resolved.",
        "churn" => "Churn saved; no further surveys go out for this deal.",
        _ => return None,
    })
}

fn parse_id(raw: &str) -> AppResult<i32> {
    raw.parse().map_err(|_| AppError::NotFound("deal"))
}

async fn show_deal(
    State(state): State<AppState>,
    session: WebSession,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let notice = query.done.as_deref().and_then(done_message).map(Notice::success);
    let page = async { deal_page(&state, &session, parse_id(&id)?, notice).await }
        .await
        .map_err(|e| PageError::new(e, session.chrome("board")))?;
    Ok(render(StatusCode::OK, &page))
}

/// After a deal action: back to the deal with a success notice, or the deal
/// page again with what went wrong (nothing was changed).
async fn finish(state: &AppState, session: &WebSession, id: i32, result: AppResult<()>, done: &str) -> Response {
    let error = match result {
        Ok(()) => return Redirect::to(&format!("/deals/{id}?done={done}")).into_response(),
        Err(
            error @ (AppError::Internal(_) | AppError::NotFound(_) | AppError::Forbidden | AppError::Unauthenticated),
        ) => {
            return PageError::new(error, session.chrome("board")).into_response();
        }
        Err(error) => error,
    };
    match deal_page(state, session, id, Some(Notice::error(&error))).await {
        Ok(page) => render(status_of(&error), &page),
        Err(error) => PageError::new(error, session.chrome("board")).into_response(),
    }
}

/// Runs a deal action for a member, then [`finish`]es.
async fn act<F>(state: &AppState, session: &WebSession, raw_id: &str, done: &str, action: F) -> Response
where
    F: AsyncFnOnce(i32, i32) -> AppResult<()>,
{
    let Ok(id) = parse_id(raw_id) else {
        return PageError::new(AppError::NotFound("deal"), session.chrome("board")).into_response();
    };
    if let Err(error) = session.require(Role::Member, "board") {
        return error.into_response();
    }
    let result = action(id, session.user().id).await;
    finish(state, session, id, result, done).await
}

async fn record_evidence(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: CsrfForm<EvidenceInput>,
) -> Response {
    let CsrfForm { session, form } = form;
    act(&state, &session, &id, "evidence", async |id, actor| {
        evidence::record(&state.db, id, form, actor, state.now()).await.map(|_| ())
    })
    .await
}

async fn advance_deal(State(state): State<AppState>, Path(id): Path<String>, form: CsrfForm<Empty>) -> Response {
    act(&state, &form.session, &id, "advanced", async |id, actor| {
        gate::advance(&state.db, id, actor, state.now()).await.map(|_| ())
    })
    .await
}

async fn move_back_deal(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: CsrfForm<MoveBackInput>,
) -> Response {
    let CsrfForm { session, form } = form;
    act(&state, &session, &id, "moved_back", async |id, actor| {
        gate::move_back(&state.db, id, form, actor, state.now()).await.map(|_| ())
    })
    .await
}

async fn hold_deal(State(state): State<AppState>, Path(id): Path<String>, form: CsrfForm<HoldInput>) -> Response {
    let CsrfForm { session, form } = form;
    act(&state, &session, &id, "held", async |id, actor| holds::hold(&state.db, id, form, actor, state.now()).await)
        .await
}

async fn resume_deal(State(state): State<AppState>, Path(id): Path<String>, form: CsrfForm<Empty>) -> Response {
    act(&state, &form.session, &id, "resumed", async |id, actor| holds::resume(&state.db, id, actor, state.now()).await)
        .await
}

/// The owners form: every field present, blank meaning "nobody".
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnersForm {
    #[serde(default)]
    account_manager: String,
    #[serde(default)]
    implementation_lead: String,
    #[serde(default)]
    csm: String,
    #[serde(default)]
    next_call_at: String,
    #[serde(default)]
    next_call_lead: String,
    #[serde(default)]
    next_call_scheduler: String,
}

fn blank_is_none(value: String) -> Option<Option<String>> {
    Some(Some(value).filter(|v| !v.trim().is_empty()))
}

async fn update_deal(State(state): State<AppState>, Path(id): Path<String>, form: CsrfForm<OwnersForm>) -> Response {
    let CsrfForm { session, form } = form;
    let update = DealUpdate {
        account_manager: blank_is_none(form.account_manager),
        implementation_lead: blank_is_none(form.implementation_lead),
        csm: blank_is_none(form.csm),
        next_call_at: blank_is_none(form.next_call_at),
        next_call_lead: blank_is_none(form.next_call_lead),
        next_call_scheduler: blank_is_none(form.next_call_scheduler),
        churned_on: None,
    };
    act(&state, &session, &id, "updated", async |id, actor| {
        deals::update(&state.db, id, update, actor, state.now()).await
    })
    .await
}

/// The new-deal form, flat as HTML forms are.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDealForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    closed_won_on: String,
    #[serde(default)]
    account_name: String,
    #[serde(default)]
    account_domain: String,
    #[serde(default)]
    account_segment: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    external_id: String,
    #[serde(default)]
    account_manager: String,
    #[serde(default)]
    implementation_lead: String,
    #[serde(default)]
    csm: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    contact_email: String,
    #[serde(default)]
    contact_role: String,
    #[serde(default)]
    contact_language: String,
}

#[derive(Template)]
#[template(path = "pages/deal_new.html")]
struct NewDealPage {
    chrome: Chrome,
    form: NewDealForm,
    users: Vec<UserInfo>,
    notice: Option<Notice>,
}

impl NewDealPage {
    /// The owner selects: field name, label, chosen email.
    fn owner_fields(&self) -> Vec<(&'static str, &'static str, &str)> {
        vec![
            ("account_manager", "Account manager", self.form.account_manager.as_str()),
            ("implementation_lead", "Implementation lead", self.form.implementation_lead.as_str()),
            ("csm", "CS manager", self.form.csm.as_str()),
        ]
    }
}

fn present(value: &str) -> Option<String> {
    Some(value.trim().to_owned()).filter(|v| !v.is_empty())
}

impl NewDealForm {
    fn to_input(&self) -> AppResult<NewDeal> {
        let amount = match present(&self.amount) {
            Some(raw) => Some(
                raw.replace([',', ' '], "")
                    .parse::<f64>()
                    .map_err(|_| AppError::field("amount", "must be a number such as 24000"))?,
            ),
            None => None,
        };
        let has_contact = [&self.contact_name, &self.contact_email].iter().any(|v| !v.trim().is_empty());
        Ok(NewDeal {
            name: present(&self.name),
            closed_won_on: present(&self.closed_won_on),
            account: Some(AccountInput {
                name: present(&self.account_name),
                domain: present(&self.account_domain),
                segment: present(&self.account_segment),
            }),
            amount,
            currency: present(&self.currency),
            external_id: present(&self.external_id),
            owners: Some(OwnersInput {
                account_manager: present(&self.account_manager),
                implementation_lead: present(&self.implementation_lead),
                csm: present(&self.csm),
            }),
            contacts: if has_contact {
                vec![ContactInput {
                    name: present(&self.contact_name),
                    email: present(&self.contact_email),
                    role: present(&self.contact_role),
                    language: present(&self.contact_language),
                    survey_recipient: None,
                }]
            } else {
                Vec::new()
            },
        })
    }
}

async fn new_deal(State(state): State<AppState>, session: WebSession) -> Result<Response, PageError> {
    session.require(Role::Member, "board")?;
    let users = users::list(&state.db).await.map_err(|e| PageError::new(e, session.chrome("board")))?;
    let form = NewDealForm {
        closed_won_on: state.now().date_naive().to_string(),
        currency: "EUR".into(),
        ..Default::default()
    };
    Ok(render(StatusCode::OK, &NewDealPage { chrome: session.chrome("board"), form, users, notice: None }))
}

async fn create_deal(State(state): State<AppState>, form: CsrfForm<NewDealForm>) -> Result<Response, PageError> {
    let CsrfForm { session, form } = form;
    session.require(Role::Member, "board")?;
    let chrome = session.chrome("board");
    let result = match form.to_input() {
        Ok(input) => deals::create(&state.db, input, Some(session.user().id), state.now()).await,
        Err(error) => Err(error),
    };
    match result {
        Ok((id, _)) => Ok(Redirect::to(&format!("/deals/{id}?done=created")).into_response()),
        Err(error @ (AppError::Validation(_) | AppError::Conflict { .. })) => {
            let users = users::list(&state.db).await.map_err(|e| PageError::new(e, chrome.clone()))?;
            let page = NewDealPage { chrome, form, users, notice: Some(Notice::error(&error)) };
            Ok(render(status_of(&error), &page))
        }
        Err(error) => Err(PageError::new(error, chrome)),
    }
}

/// The promise form; `replaces_id` is set when replacing a locked promise.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromiseForm {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    replaces_id: Option<String>,
}

impl PromiseForm {
    fn split(self) -> AppResult<(PromiseInput, Option<i32>)> {
        let replaces = match self.replaces_id.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            Some(raw) => Some(raw.parse().map_err(|_| AppError::field("replaces_id", "must be a promise id"))?),
            None => None,
        };
        Ok((PromiseInput { text: self.text, category: self.category, target: self.target }, replaces))
    }
}

async fn add_promise(State(state): State<AppState>, Path(id): Path<String>, form: CsrfForm<PromiseForm>) -> Response {
    let CsrfForm { session, form } = form;
    act(&state, &session, &id, "promise", async |id, actor| {
        let (input, replaces) = form.split()?;
        promises::add(&state.db, id, input, replaces, actor, state.now()).await.map(|_| ())
    })
    .await
}

async fn edit_promise(
    State(state): State<AppState>,
    Path((id, promise)): Path<(String, String)>,
    form: CsrfForm<PromiseForm>,
) -> Response {
    let CsrfForm { session, form } = form;
    act(&state, &session, &id, "promise", async |id, actor| {
        let promise: i32 = promise.parse().map_err(|_| AppError::NotFound("promise"))?;
        let (input, _) = form.split()?;
        promises::edit(&state.db, id, promise, input, actor, state.now()).await.map(|_| ())
    })
    .await
}

async fn retire_promise(
    State(state): State<AppState>,
    Path((id, promise)): Path<(String, String)>,
    form: CsrfForm<Empty>,
) -> Response {
    act(&state, &form.session, &id, "retired", async |id, actor| {
        let promise: i32 = promise.parse().map_err(|_| AppError::NotFound("promise"))?;
        promises::retire(&state.db, id, promise, actor, state.now()).await
    })
    .await
}

async fn resolve_followup(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: CsrfForm<ResolveFollowupForm>,
) -> Response {
    let CsrfForm { session, form } = form;
    act(&state, &session, &form.deal_id, "resolved", async |_deal, actor| {
        let id: i32 = id.parse().map_err(|_| AppError::NotFound("follow-up"))?;
        followups::resolve(&state.db, id, ResolveInput { note: form.note }, actor, state.now()).await.map(|_| ())
    })
    .await
}

/// Resolving a follow-up from its deal's page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveFollowupForm {
    deal_id: String,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChurnForm {
    #[serde(default)]
    churned_on: String,
}

async fn record_churn(State(state): State<AppState>, Path(id): Path<String>, form: CsrfForm<ChurnForm>) -> Response {
    let CsrfForm { session, form } = form;
    let update = DealUpdate { churned_on: blank_is_none(form.churned_on), ..Default::default() };
    act(&state, &session, &id, "churn", async |id, actor| {
        deals::update(&state.db, id, update, actor, state.now()).await
    })
    .await
}
