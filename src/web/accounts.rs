//! Accounts and their contacts.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::advocacy::{EconomicsValues, account_economics, money};
use super::{Chrome, CsrfForm, Notice, PageError, WebSession, render, status_of};
use crate::accounts::{self, AccountView, ContactInput};
use crate::auth::Role;
use crate::error::AppError;
use crate::metrics::profitability::{self, AccountEconomics, EconomicsInput};
use crate::pipeline::deals::{self, DealFilter, DealSummary};
use crate::{AppResult, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/accounts", get(list_accounts))
        .route("/accounts/{id}", get(show_account))
        .route("/accounts/{id}/contacts", post(add_contact))
        .route("/accounts/{id}/contacts/{contact}/recipient", post(set_recipient))
        .route("/accounts/{id}/economics", post(update_economics))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientForm {
    recipient: String,
}

async fn set_recipient(
    State(state): State<AppState>,
    Path((id, contact)): Path<(String, String)>,
    form: CsrfForm<RecipientForm>,
) -> Response {
    let CsrfForm { session, form } = form;
    let chrome = session.chrome("accounts");
    if let Err(error) = session.require(Role::Member, "accounts") {
        return error.into_response();
    }
    let (Ok(account_id), Ok(contact_id)) = (id.parse::<i32>(), contact.parse::<i32>()) else {
        return PageError::new(AppError::NotFound("contact"), chrome).into_response();
    };
    let recipient = form.recipient == "true";
    match accounts::set_survey_recipient(&state.db, account_id, contact_id, recipient, session.user().id, state.now())
        .await
    {
        Ok(()) => Redirect::to(&format!("/accounts/{account_id}?done=recipient")).into_response(),
        Err(error) => PageError::new(error, chrome).into_response(),
    }
}

#[derive(Template)]
#[template(path = "pages/accounts.html")]
struct AccountsPage {
    chrome: Chrome,
    accounts: Vec<AccountView>,
}

async fn list_accounts(State(state): State<AppState>, session: WebSession) -> Result<Response, PageError> {
    let chrome = session.chrome("accounts");
    let accounts = accounts::list(&state.db).await.map_err(|e| PageError::new(e, chrome.clone()))?;
    Ok(render(StatusCode::OK, &AccountsPage { chrome, accounts }))
}

#[derive(Template)]
#[template(path = "pages/account.html")]
struct AccountPage {
    chrome: Chrome,
    account: AccountView,
    deals: Vec<DealSummary>,
    notice: Option<Notice>,
    contact: ContactInput,
    economics: AccountEconomics,
    economics_form: EconomicsValues,
}

impl AccountPage {
    fn money(&self, value: &Option<f64>) -> String {
        money(*value)
    }
}

#[derive(Debug, Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn account_page(
    state: &AppState,
    session: &WebSession,
    raw_id: &str,
    notice: Option<Notice>,
    contact: ContactInput,
) -> AppResult<AccountPage> {
    let id: i32 = raw_id.parse().map_err(|_| AppError::NotFound("account"))?;
    let account = accounts::get(&state.db, id).await?;
    let filter = DealFilter { account: Some(id.to_string()), ..Default::default() };
    let deals = deals::list(&state.db, &filter, state.now()).await?;
    let economics = account_economics(state, id).await?;
    let economics_form = EconomicsValues::stored(&economics);
    Ok(AccountPage { chrome: session.chrome("accounts"), account, deals, notice, contact, economics, economics_form })
}

async fn show_account(
    State(state): State<AppState>,
    session: WebSession,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let notice = match query.done.as_deref() {
        Some("contact") => Some(Notice::success("Contact added.")),
        Some("recipient") => Some(Notice::success("Survey recipients saved.")),
        Some("economics") => Some(Notice::success("Economics saved.")),
        _ => None,
    };
    let page = account_page(&state, &session, &id, notice, ContactInput::default())
        .await
        .map_err(|e| PageError::new(e, session.chrome("accounts")))?;
    Ok(render(StatusCode::OK, &page))
}

/// Runs an account form for a member: back to the account with a notice,
/// or the page again with what went wrong and what was typed (nothing saved).
async fn act(
    state: &AppState,
    session: &WebSession,
    raw_id: &str,
    done: &str,
    action: impl AsyncFnOnce(i32, i32) -> AppResult<()>,
    refill: impl FnOnce(&mut AccountPage),
) -> Response {
    let chrome = session.chrome("accounts");
    if let Err(error) = session.require(Role::Member, "accounts") {
        return error.into_response();
    }
    let Ok(account_id) = raw_id.parse::<i32>() else {
        return PageError::new(AppError::NotFound("account"), chrome).into_response();
    };
    match action(account_id, session.user().id).await {
        Ok(()) => Redirect::to(&format!("/accounts/{account_id}?done={done}")).into_response(),
        Err(error @ AppError::Validation(_)) => {
            match account_page(state, session, raw_id, Some(Notice::error(&error)), ContactInput::default()).await {
                Ok(mut page) => {
                    refill(&mut page);
                    render(status_of(&error), &page)
                }
                Err(error) => PageError::new(error, chrome).into_response(),
            }
        }
        Err(error) => PageError::new(error, chrome).into_response(),
    }
}

async fn add_contact(State(state): State<AppState>, Path(id): Path<String>, form: CsrfForm<ContactInput>) -> Response {
    let CsrfForm { session, form } = form;
    let input = form.clone();
    let action = async |account_id, actor| {
        accounts::add_contact(&state.db, account_id, input, actor, state.now()).await.map(|_| ())
    };
    act(&state, &session, &id, "contact", action, |page| page.contact = form).await
}

async fn update_economics(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: CsrfForm<EconomicsInput>,
) -> Response {
    let CsrfForm { session, form } = form;
    let input = form.clone();
    let action = async |account_id, actor| {
        profitability::update_economics(&state.db, account_id, input, actor, state.now()).await
    };
    act(&state, &session, &id, "economics", action, |page| page.economics_form = EconomicsValues::submitted(&form))
        .await
}
