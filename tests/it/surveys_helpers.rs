//! Shared fixtures of the survey, outbox and job tests: customers with
//! contacts and promises, the jobs run as of a chosen instant, the links in
//! survey emails, and the public survey page's form.

#![allow(dead_code)]

use aftercare::mail::outbox::{self, SendReport};
use aftercare::surveys::planner::{self, PlanReport};
use aftercare::surveys::reminders::{self, ExpiryReport, ReminderReport};
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use entity::{contact, outbox_message, survey, survey_promise, survey_wave};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};
use crate::web_client::{Browser, Form, Page};

/// `date` (`YYYY-MM-DD`) at 09:00 UTC, the hour the tests' jobs run at.
pub fn day(date: &str) -> DateTime<Utc> {
    date_of(date).and_hms_opt(9, 0, 0).expect("a valid time").and_utc()
}

/// `YYYY-MM-DD` as a date.
pub fn date_of(date: &str) -> NaiveDate {
    NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap_or_else(|e| panic!("{date:?}: {e}"))
}

/// A person at a customer.
#[derive(Debug, Clone)]
pub struct Person {
    /// Their name.
    pub name: String,
    /// Their email.
    pub email: String,
    /// Their language tag.
    pub language: String,
    /// Whether they are marked as a survey recipient.
    pub recipient: bool,
}

/// A won deal to enter, with its customer's contacts and promises.
#[derive(Debug, Clone)]
pub struct Customer {
    /// The account's name (deals with the same account name share it).
    pub account: String,
    /// The deal's name.
    pub deal: String,
    /// `YYYY-MM-DD`.
    pub closed_won_on: String,
    /// The account's contacts, in order.
    pub contacts: Vec<Person>,
    /// The promises recorded on the deal.
    pub promises: Vec<String>,
    /// The account manager's email (replies to survey emails go there).
    pub account_manager: Option<String>,
}

impl Customer {
    /// `name`'s deal won on 2026-03-01, one English contact and one promise.
    pub fn new(name: &str) -> Self {
        let slug: String = name.to_lowercase().chars().filter(char::is_ascii_alphanumeric).collect();
        Self {
            account: format!("{name} BV"),
            deal: format!("{name} rollout"),
            closed_won_on: "2026-03-01".to_owned(),
            contacts: vec![Person {
                name: format!("Dana {name}"),
                email: format!("dana@{slug}.example"),
                language: "en".to_owned(),
                recipient: false,
            }],
            promises: vec![format!("{name}: month-end close in 5 days instead of 10")],
            account_manager: None,
        }
    }

    /// Another deal of the same account, won on `closed_won_on`, with `promise`.
    pub fn another_deal(&self, deal: &str, closed_won_on: &str, promise: &str) -> Self {
        Self {
            deal: deal.to_owned(),
            closed_won_on: closed_won_on.to_owned(),
            promises: vec![promise.to_owned()],
            ..self.clone()
        }
    }

    /// Won on `date` instead.
    pub fn won_on(mut self, date: &str) -> Self {
        self.closed_won_on = date.to_owned();
        self
    }

    /// With these contacts `(name, email, language)` instead.
    pub fn contacts(mut self, contacts: &[(&str, &str, &str)]) -> Self {
        self.contacts = contacts
            .iter()
            .map(|(name, email, language)| Person {
                name: (*name).to_owned(),
                email: (*email).to_owned(),
                language: (*language).to_owned(),
                recipient: false,
            })
            .collect();
        self
    }

    /// With `count` English contacts (`contact1@<account>.example`, ...) instead.
    pub fn staff(mut self, count: usize) -> Self {
        let slug: String = self.account.to_lowercase().chars().filter(char::is_ascii_alphanumeric).collect();
        self.contacts = (1..=count)
            .map(|i| Person {
                name: format!("Contact{i} {}", self.account),
                email: format!("contact{i}@{slug}.example"),
                language: "en".to_owned(),
                recipient: false,
            })
            .collect();
        self
    }

    /// With the contacts at `indices` marked as survey recipients.
    pub fn recipients(mut self, indices: &[usize]) -> Self {
        for (i, person) in self.contacts.iter_mut().enumerate() {
            person.recipient = indices.contains(&i);
        }
        self
    }

    /// With these promises instead.
    pub fn promises(mut self, promises: &[&str]) -> Self {
        self.promises = promises.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    /// With this account manager.
    pub fn managed_by(mut self, email: &str) -> Self {
        self.account_manager = Some(email.to_owned());
        self
    }

    /// The first contact's email.
    pub fn email(&self) -> &str {
        &self.contacts[0].email
    }
}

/// What entering a [`Customer`] made.
#[derive(Debug, Clone)]
pub struct Won {
    /// The deal.
    pub deal_id: i32,
    /// Its account.
    pub account_id: i32,
    /// The account's contacts, in order.
    pub contact_ids: Vec<i32>,
    /// The deal's promises, in order.
    pub promise_ids: Vec<i32>,
}

/// The id in a JSON value.
pub fn id_of(value: &Value) -> i32 {
    i32::try_from(value.as_i64().unwrap_or_else(|| panic!("not an id: {value}"))).expect("a small id")
}

/// The survey token in the first `/s/` link of `text`.
pub fn survey_token(text: &str) -> String {
    tokens_after(text, "/s/").into_iter().next().unwrap_or_else(|| panic!("no /s/ link in:\n{text}"))
}

/// Every 64-hex-digit token that follows `marker` in `text`.
pub fn tokens_after(text: &str, marker: &str) -> Vec<String> {
    text.match_indices(marker)
        .filter_map(|(at, _)| {
            let token: String = text[at + marker.len()..].chars().take_while(char::is_ascii_hexdigit).collect();
            (token.len() == 64).then_some(token)
        })
        .collect()
}

/// The verdicts offered for every promise, in order.
pub const VERDICTS: [&str; 4] = ["kept", "partly", "not_kept", "too_early"];

impl TestApp {
    /// Enters `customer`'s deal through the API, then its promises.
    pub async fn won(&self, user: &TestUser, customer: &Customer) -> Won {
        let contacts: Vec<Value> = customer
            .contacts
            .iter()
            .map(|c| json!({"name": c.name, "email": c.email, "language": c.language, "survey_recipient": c.recipient.to_string()}))
            .collect();
        let mut body = json!({
            "name": customer.deal,
            "closed_won_on": customer.closed_won_on,
            "account": {"name": customer.account},
            "contacts": contacts,
        });
        if let Some(manager) = &customer.account_manager {
            body["owners"] = json!({"account_manager": manager});
        }
        let created = self.post("/api/v1/deals", user, body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let deal_id = id_of(&created.json()["id"]);
        for text in &customer.promises {
            self.add_promise(user, deal_id, text).await;
        }
        let view = self.deal(user, deal_id).await;
        let ids = |key: &str| view[key].as_array().expect("a list").iter().map(|v| id_of(&v["id"])).collect::<Vec<_>>();
        Won {
            deal_id,
            account_id: id_of(&view["account"]["id"]),
            contact_ids: ids("contacts"),
            promise_ids: ids("promises"),
        }
    }

    /// Records a promise through the API; returns its id.
    pub async fn add_promise(&self, user: &TestUser, deal_id: i32, text: &str) -> i32 {
        let response = self.post(&format!("/api/v1/deals/{deal_id}/promises"), user, json!({"text": text})).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
        let promises = response.json()["promises"].as_array().cloned().expect("the deal's promises");
        promises.iter().filter(|p| p["text"] == json!(text)).map(|p| id_of(&p["id"])).max().expect("the new promise")
    }

    /// Moves the clock to `at` and runs the planner as the job would.
    pub async fn plan(&self, at: DateTime<Utc>) -> PlanReport {
        self.clock.set(at);
        let config = &self.state.config;
        planner::plan(&self.state.db, &config.surveys, &config.base_url, at).await.expect("planning surveys")
    }

    /// Moves the clock to `at` and queues the reminders that are due.
    pub async fn remind(&self, at: DateTime<Utc>) -> ReminderReport {
        self.clock.set(at);
        let config = &self.state.config;
        reminders::remind(&self.state.db, &config.surveys, &config.base_url, at).await.expect("reminding")
    }

    /// Moves the clock to `at` and expires surveys whose time ran out.
    pub async fn expire(&self, at: DateTime<Utc>) -> ExpiryReport {
        self.clock.set(at);
        reminders::expire(&self.state.db, at).await.expect("expiring surveys")
    }

    /// Sends the due outbox messages as of the clock, with the app's mailer.
    pub async fn send_mail(&self) -> SendReport {
        let now = aftercare::Clock::now(&self.clock);
        outbox::send_due(&self.state.db, &self.state.mailer, &self.state.instance, 500, now)
            .await
            .expect("sending email")
    }

    /// Every outbox row, oldest first.
    pub async fn outbox(&self) -> Vec<outbox_message::Model> {
        outbox_message::Entity::find()
            .order_by_asc(outbox_message::Column::Id)
            .all(&self.state.db)
            .await
            .expect("reading the outbox")
    }

    /// The email that first asked survey `survey_id`.
    pub async fn initial_email(&self, survey_id: i32) -> outbox_message::Model {
        self.email_with_key(&format!("survey:{survey_id}:initial")).await
    }

    /// The outbox row with this dedupe key.
    pub async fn email_with_key(&self, key: &str) -> outbox_message::Model {
        outbox_message::Entity::find()
            .filter(outbox_message::Column::DedupeKey.eq(key))
            .one(&self.state.db)
            .await
            .expect("reading the outbox")
            .unwrap_or_else(|| panic!("no email {key}"))
    }

    /// Every survey, oldest first.
    pub async fn surveys(&self) -> Vec<survey::Model> {
        survey::Entity::find().order_by_asc(survey::Column::Id).all(&self.state.db).await.expect("reading surveys")
    }

    /// The surveys sent to `contact_id`, oldest first.
    pub async fn surveys_of(&self, contact_id: i32) -> Vec<survey::Model> {
        self.surveys().await.into_iter().filter(|s| s.contact_id == contact_id).collect()
    }

    /// The one survey sent to `contact_id`.
    pub async fn only_survey_of(&self, contact_id: i32) -> survey::Model {
        let mut found = self.surveys_of(contact_id).await;
        assert_eq!(found.len(), 1, "one survey to contact {contact_id}: {found:?}");
        found.remove(0)
    }

    /// The promises survey `survey_id` asks about, sorted.
    pub async fn asked(&self, survey_id: i32) -> Vec<i32> {
        let mut ids: Vec<i32> = survey_promise::Entity::find()
            .filter(survey_promise::Column::SurveyId.eq(survey_id))
            .all(&self.state.db)
            .await
            .expect("reading survey promises")
            .into_iter()
            .map(|sp| sp.promise_id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Every recorded wave, as `(deal, months, due on, status, survey)`, sorted.
    pub async fn waves(&self) -> Vec<(i32, i32, NaiveDate, String, Option<i32>)> {
        let mut rows: Vec<_> = survey_wave::Entity::find()
            .all(&self.state.db)
            .await
            .expect("reading waves")
            .into_iter()
            .map(|w| (w.deal_id, w.wave_months, w.due_on, w.status, w.survey_id))
            .collect();
        rows.sort();
        rows
    }

    /// The recorded waves of `deal_id` as `(months, status)`.
    pub async fn wave_statuses(&self, deal_id: i32) -> Vec<(i32, String)> {
        self.waves().await.into_iter().filter(|w| w.0 == deal_id).map(|w| (w.1, w.3)).collect()
    }

    /// Unsubscribes contact `id` as of `at`.
    pub async fn unsubscribe_contact(&self, id: i32, at: DateTime<Utc>) {
        contact::Entity::update_many()
            .col_expr(contact::Column::UnsubscribedAt, Expr::value(at))
            .filter(contact::Column::Id.eq(id))
            .exec(&self.state.db)
            .await
            .expect("unsubscribing");
    }

    /// The contact `id` as stored.
    pub async fn contact(&self, id: i32) -> contact::Model {
        contact::Entity::find_by_id(id).one(&self.state.db).await.expect("reading a contact").expect("the contact")
    }

    /// Records through the API that deal `id` churned on `date`, with the
    /// clock moved to that day (a churn date cannot be in the future).
    pub async fn churn(&self, user: &TestUser, id: i32, date: &str) {
        self.clock.set(day(date));
        let response = self.patch(&format!("/api/v1/deals/{id}"), user, json!({"churned_on": date})).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
        assert_eq!(response.json()["churned_on"], json!(date));
    }

    /// The public page behind a link path such as `/s/{token}`.
    pub async fn public_page(&self, path: &str) -> Page {
        Browser::anonymous(self).get(path).await
    }

    /// Submits `form` on the public page, as the customer's browser would.
    pub async fn public_submit(&self, form: &Form) -> Page {
        Browser::anonymous(self).submit(form).await
    }

    /// `GET /api/v1/surveys/{id}` (asserts 200).
    pub async fn api_survey(&self, user: &TestUser, id: i32) -> Value {
        let response = self.get(&format!("/api/v1/surveys/{id}"), user).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
        response.json()
    }

    /// Opens survey link `token`, chooses `verdict` for every promise and
    /// sets `extra` fields; returns the filled-in form.
    pub async fn answer_form(&self, token: &str, verdict: &str, extra: &[(&str, &str)]) -> Form {
        let page = self.public_page(&format!("/s/{token}")).await;
        assert_eq!(page.status, StatusCode::OK, "the survey page:\n{}", page.html);
        let mut form = page.form("form#survey-form");
        for fieldset in page.all("fieldset.promise[data-promise-id]") {
            let id = fieldset.attr("data-promise-id").expect("a promise id");
            form = form.set(&format!("verdict_{id}"), verdict);
        }
        for (name, value) in extra {
            form = form.set(name, value);
        }
        form
    }

    /// Answers survey link `token` with `verdict` for every promise
    /// (asserting the thank-you page).
    pub async fn answer(&self, token: &str, verdict: &str) -> Page {
        let form = self.answer_form(token, verdict, &[("nps", "8")]).await;
        let page = self.public_submit(&form).await;
        assert_eq!(page.status, StatusCode::OK, "answering:\n{}", page.html);
        assert_eq!(page.count("form#survey-form"), 0, "a thank-you, not the form again:\n{}", page.html);
        page
    }
}
