//! The public survey page's rules beyond the happy path: expired and
//! unknown links look the same; one-click unsubscribe; bad answers are
//! refused and change nothing; a "not kept" verdict opens a follow-up that
//! someone resolves with a note.

use aftercare::auth::Role;
use aftercare::jobs::{self, RunReport};
use aftercare::surveys::wave_status;
use axum::http::{Method, StatusCode};
use chrono::Duration;
use entity::{survey_answer, survey_response};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::helpers::{TestApp, TestUser};
use crate::surveys_helpers::{Customer, Won, day, id_of, survey_token};
use crate::web_client::{Browser, Form, Page};

/// A customer asked on 2026-09-01; returns the deal, the survey and its token.
async fn asked(app: &TestApp, user: &TestUser, customer: &Customer) -> (Won, i32, String) {
    let won = app.won(user, customer).await;
    app.plan(day("2026-09-01")).await;
    let survey = app.only_survey_of(won.contact_ids[0]).await;
    let token = survey_token(&app.initial_email(survey.id).await.text_body);
    (won, survey.id, token)
}

/// The status and body of a public request.
async fn public(app: &TestApp, method: Method, path: &str) -> (StatusCode, String) {
    let form = Form::new(path, &[("nps", "5")]);
    let page: Page = if method == Method::GET { app.public_page(path).await } else { app.public_submit(&form).await };
    (page.status, page.html)
}

#[tokio::test]
async fn expired_and_unknown_links_get_the_same_page_and_status() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let (_, survey_id, token) = asked(&app, &member, &Customer::new("Expiring")).await;
    let expires_at = app.surveys().await[0].expires_at;
    assert_eq!(expires_at, day("2026-10-01"), "30 days after sending");

    let unknown = "0123456789abcdef".repeat(4);
    let reference_get = public(&app, Method::GET, &format!("/s/{unknown}")).await;
    let reference_post = public(&app, Method::POST, &format!("/s/{unknown}")).await;
    assert_eq!(reference_get.0, StatusCode::NOT_FOUND);
    assert!(reference_get.1.contains("This link no longer works"), "{}", reference_get.1);
    assert_eq!(reference_post, reference_get, "posting to an unknown link looks the same");

    // Still open a second before it expires.
    app.clock.set(expires_at - Duration::seconds(1));
    assert_eq!(app.public_page(&format!("/s/{token}")).await.status, StatusCode::OK);

    // (when, path): every one looks exactly like the unknown link.
    let cases = [
        ("just expired, before the expiry job", format!("/s/{token}")),
        ("a malformed token", "/s/not-a-token".to_owned()),
        ("an upper-case variant of a real token", format!("/s/{}", token.to_uppercase())),
        ("a truncated token", format!("/s/{}", &token[..63])),
    ];
    app.clock.set(expires_at);
    for (what, path) in &cases {
        assert_eq!(public(&app, Method::GET, path).await, reference_get, "GET {what}");
        assert_eq!(public(&app, Method::POST, path).await, reference_post, "POST {what}");
    }
    let expired = jobs::run_manually(&app.state, "survey-expiry", expires_at).await.expect("expiring");
    assert_eq!(expired, RunReport::Ran("expired=1".to_owned()));
    assert_eq!(app.api_survey(&member, survey_id).await["status"], json!("expired"));
    // After the expiry job, even with the clock turned back.
    app.clock.set(day("2026-09-02"));
    assert_eq!(public(&app, Method::GET, &format!("/s/{token}")).await, reference_get, "GET expired");
    assert_eq!(public(&app, Method::POST, &format!("/s/{token}")).await, reference_post, "POST expired");
    assert_eq!(survey_response::Entity::find().count(&app.state.db).await.expect("count"), 0, "nothing stored");
}

#[tokio::test]
async fn one_click_unsubscribe_stops_reminders_and_later_waves() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let customer = Customer::new("Quitter");
    let (won, survey_id, token) = asked(&app, &member, &customer).await;
    let contact = won.contact_ids[0];
    let email = app.initial_email(survey_id).await;
    let path = format!("/u/{token}");
    assert_eq!(email.list_unsubscribe.as_deref(), Some(format!("{}{path}", app.state.config.base_url).as_str()));

    // Opening the link only asks.
    let ask = app.public_page(&path).await;
    assert_eq!(ask.status, StatusCode::OK);
    assert_eq!(ask.form("form").action, path, "a button that posts back");
    assert!(app.contact(contact).await.unsubscribed_at.is_none(), "GET changes nothing");

    // The one-click POST (what mail clients send, with no fields) unsubscribes.
    app.clock.set(day("2026-09-02"));
    let done = app.public_submit(&Form::new(&path, &[("List-Unsubscribe", "One-Click")])).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.html);
    assert!(done.text().contains("You will not receive these surveys any more."), "{}", done.html);
    assert_eq!(app.contact(contact).await.unsubscribed_at, Some(day("2026-09-02")));
    let again = app.public_submit(&Form::new(&path, &[])).await;
    assert_eq!(again.status, StatusCode::OK, "unsubscribing twice is fine");
    assert_eq!(app.contact(contact).await.unsubscribed_at, Some(day("2026-09-02")), "the first date stands");
    let view = app.deal(&member, won.deal_id).await;
    assert_eq!(view["contacts"][0]["unsubscribed"], json!(true));
    let unknown = app.public_submit(&Form::new(format!("/u/{}", "f".repeat(64)), &[])).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // No reminder, and the later waves skip the contact.
    assert_eq!(app.remind(day("2026-09-04")).await.reminded, 0);
    app.plan(day("2026-12-01")).await;
    app.plan(day("2027-03-01")).await;
    assert_eq!(
        app.wave_statuses(won.deal_id).await,
        vec![
            (6, wave_status::SURVEYED.to_owned()),
            (9, wave_status::SKIPPED.to_owned()),
            (12, wave_status::SKIPPED.to_owned())
        ]
    );
    assert_eq!(app.surveys().await.len(), 1);
    assert_eq!(app.outbox().await.len(), 1, "not one more email");
}

#[tokio::test]
async fn bad_answers_and_too_many_tries_are_refused_and_change_nothing() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let customer = Customer::new("Careless").promises(&["Faster close", "Fewer spreadsheets"]);
    let (won, survey_id, token) = asked(&app, &member, &customer).await;
    let (first, second) = (won.promise_ids[0], won.promise_ids[1]);
    let valid = app.answer_form(&token, "kept", &[("comment", "Keep this")]).await;
    // (what is wrong, the form, how the error names the question)
    let cases = [
        (
            "a promise unanswered",
            valid.clone().without(&format!("verdict_{second}")),
            "\u{201c}fewer spreadsheets\u{201d}".to_owned(),
        ),
        (
            "an unknown verdict",
            valid.clone().set(&format!("verdict_{second}"), "maybe"),
            "\u{201c}fewer spreadsheets\u{201d}".to_owned(),
        ),
        ("nps out of range", valid.clone().set("nps", "11"), "how likely are you to recommend us".to_owned()),
        ("a checkbox with another value", valid.clone().set("reference", "sure"), "reference".to_owned()),
        ("a question of another survey", valid.clone().set("verdict_999999", "kept"), "verdict_999999".to_owned()),
    ];
    for (what, form, names) in cases {
        let page = app.public_submit(&form).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}:\n{}", page.html);
        // The page names the question as the customer reads it: the promise, not its id.
        let errors = page.text_of(".notice.notice-error").to_lowercase();
        assert!(errors.contains(&names), "{what}: the error names {names}: {errors}");
        // The form again, with the choices made so far.
        assert_eq!(page.one(&format!("input[name=verdict_{first}][value=kept]")).attr("checked"), Some(""), "{what}");
        assert_eq!(page.text_of("textarea#comment"), "Keep this", "{what}");
        assert_eq!(
            survey_answer::Entity::find().count(&app.state.db).await.expect("count"),
            0,
            "{what}: nothing stored"
        );
        assert_eq!(app.api_survey(&member, survey_id).await["status"], json!("sent"), "{what}");
    }
    // Five tries a minute per link: the sixth waits, even when it is valid.
    let throttled = app.public_submit(&valid).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS, "{}", throttled.html);
    assert!(throttled.text().contains("Too many attempts"), "{}", throttled.html);
    assert_eq!(app.api_survey(&member, survey_id).await["status"], json!("sent"));
    // The reminder's link is another capability for the same survey.
    assert_eq!(app.remind(day("2026-09-04")).await.reminded, 1);
    let reminder = survey_token(&app.email_with_key(&format!("survey:{survey_id}:reminder-1")).await.text_body);
    let form = app.answer_form(&reminder, "kept", &[]).await;
    assert_eq!(app.public_submit(&form).await.status, StatusCode::OK);
    assert_eq!(app.api_survey(&member, survey_id).await["status"], json!("answered"));
}

#[tokio::test]
async fn a_not_kept_verdict_opens_a_follow_up_until_someone_resolves_it_with_a_note() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let customer = Customer::new("Broken").promises(&["Go-live before the audit", "Two-day onboarding"]);
    let (won, survey_id, token) = asked(&app, &member, &customer).await;
    let (broken, kept) = (won.promise_ids[0], won.promise_ids[1]);
    let form = app.answer_form(&token, "kept", &[(&format!("verdict_{broken}"), "not_kept")]).await;
    app.clock.set(day("2026-09-05"));
    assert_eq!(app.public_submit(&form).await.status, StatusCode::OK);

    let open = app.get("/api/v1/followups?status=open", &member).await;
    assert_eq!(open.status, StatusCode::OK, "{}", open.text);
    let open = open.json();
    assert_eq!(open.as_array().map(Vec::len), Some(1), "{open}");
    let followup = &open[0];
    assert_eq!(
        (
            followup["deal_id"].clone(),
            followup["promise_id"].clone(),
            followup["survey_id"].clone(),
            followup["status"].clone()
        ),
        (json!(won.deal_id), json!(broken), json!(survey_id), json!("open"))
    );
    assert_eq!(followup["promise"], json!("Go-live before the audit"));
    assert!(!open.to_string().contains(&format!("\"promise_id\":{kept}")), "kept promises open nothing");
    let id = id_of(&followup["id"]);

    // On the board and the deal page.
    let browser = Browser::sign_in(&app, &member).await;
    let card = format!("article.deal-card[data-deal-id=\"{}\"]", won.deal_id);
    let board = browser.get("/board").await;
    assert_eq!(board.text_of(&format!("{card} .badge-followup")), "1 broken promise");
    let deal_path = format!("/deals/{}", won.deal_id);
    let page = browser.get(&deal_path).await;
    let item = format!("#followups li.followup-open[data-followup-id=\"{id}\"]");
    assert!(page.text_of(&item).contains("Go-live before the audit"), "{}", page.text_of(&item));

    // Resolving needs a note...
    let resolve = page.form(&format!("{item} form.resolve-form"));
    assert_eq!(resolve.action, format!("/followups/{id}/resolve"));
    browser.refused(&resolve.clone().set("note", "  "), StatusCode::UNPROCESSABLE_ENTITY, "Note: is required").await;
    // ...and the session's CSRF token.
    browser
        .refused(&resolve.clone().set("note", "Done").set("csrf", "forged"), StatusCode::FORBIDDEN, "reload the page")
        .await;
    assert_eq!(app.get("/api/v1/followups?status=open", &member).await.json().as_array().map(Vec::len), Some(1));

    let note = "Extra training on 12 September; go-live moved up";
    browser.submit(&resolve.set("note", note)).await.assert_redirect_to(&format!("{deal_path}?done=resolved"));
    assert_eq!(app.get("/api/v1/followups?status=open", &member).await.json(), json!([]));
    let resolved = app.get("/api/v1/followups?status=resolved", &member).await.json();
    assert_eq!((resolved[0]["id"].clone(), resolved[0]["resolution"].clone()), (json!(id), json!(note)));
    assert!(resolved[0]["resolved_at"].is_string());
    assert_eq!(browser.get("/board").await.count(&format!("{card} .badge-followup")), 0, "gone from the board");
    let page = browser.get(&deal_path).await;
    assert!(page.text_of(&format!("#followups li.followup-resolved[data-followup-id=\"{id}\"]")).contains(note));
    assert_eq!(page.count(&format!("{item} form")), 0, "no resolve form any more");
    let bad = app.get("/api/v1/followups?status=closed", &member).await;
    assert_eq!(
        (bad.status, bad.field_error("status").is_some()),
        (StatusCode::UNPROCESSABLE_ENTITY, true),
        "{}",
        bad.text
    );
}
