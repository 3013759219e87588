//! Promises: recorded through the API (bad input named and refused), and
//! editable until a survey has asked about them; after that they can only be
//! retired and replaced, and the customer's answers stay with the old one.

use aftercare::AppError;
use aftercare::auth::Role;
use aftercare::surveys::promises::{self, PromiseInput};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::surveys_helpers::{Customer, day, id_of, survey_token};
use crate::web_client::Browser;

#[tokio::test]
async fn the_api_records_promises_and_refuses_bad_ones_naming_the_field() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let deal = app.create_deal(&member, "Promises").await;
    let path = format!("/api/v1/deals/{deal}/promises");
    let body = json!({"text": "Month-end close in 5 days instead of 10", "category": "Finance", "target": "5 days"});
    let created = app.post(&path, &member, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let shown = app.deal(&member, deal).await["promises"].clone();
    assert_eq!(shown, created.json()["promises"], "GET /api/v1/deals/{{id}} lists the promises");
    let promise = &shown[0];
    assert_eq!(
        (
            promise["text"].clone(),
            promise["category"].clone(),
            promise["target"].clone(),
            promise["locked"].clone(),
            promise["retired_at"].clone()
        ),
        (
            json!("Month-end close in 5 days instead of 10"),
            json!("Finance"),
            json!("5 days"),
            json!(false),
            Value::Null
        )
    );

    let long = "x".repeat(promises::MAX_PROMISE + 1);
    let line = "c".repeat(aftercare::validate::MAX_LINE + 1);
    // (body, the field the error names)
    let cases = [
        (json!({}), "text"),
        (json!({"text": ""}), "text"),
        (json!({"text": "   "}), "text"),
        (json!({"text": long}), "text"),
        (json!({"text": 42}), "text"),
        (json!({"text": "Fine", "category": line}), "category"),
        (json!({"text": "Fine", "target": "5\ndays"}), "target"),
        (json!({"text": "Fine", "owner": "someone"}), "owner"),
    ];
    for (body, field) in cases {
        let before = app.deal(&member, deal).await;
        let refused = app.post(&path, &member, body.clone()).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", refused.text);
        assert!(refused.field_error(field).is_some(), "{body}: the error names {field}: {}", refused.text);
        assert_eq!(app.deal(&member, deal).await, before, "{body}: nothing changed");
    }
    let viewer = app.user(Role::Viewer).await;
    assert_eq!(app.post(&path, &viewer, json!({"text": "Fine"})).await.status, StatusCode::FORBIDDEN);
    let missing = app.post("/api/v1/deals/999999/promises", &member, json!({"text": "Fine"})).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_promise_is_editable_until_a_survey_asks_then_only_retired_and_replaced() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let customer = Customer::new("Keeper").promises(&["Close in 5 dayz", "Two-day onboarding"]);
    let won = app.won(&member, &customer).await;
    let (first, second) = (won.promise_ids[0], won.promise_ids[1]);
    let deal_path = format!("/deals/{}", won.deal_id);
    let browser = Browser::sign_in(&app, &member).await;
    let item = |id: i32| format!("li.promise-item[data-promise-id=\"{id}\"]");
    let promise = |view: &Value, id: i32| {
        view["promises"]
            .as_array()
            .expect("promises")
            .iter()
            .find(|p| p["id"] == json!(id))
            .cloned()
            .expect("the promise")
    };

    // Before any survey: edited in place.
    let page = browser.get(&deal_path).await;
    let edit = page.form(&format!("{} details form", item(first)));
    assert_eq!(edit.action, format!("{deal_path}/promises/{first}"));
    browser
        .submit(&edit.clone().set("text", "Close in 5 days"))
        .await
        .assert_redirect_to(&format!("{deal_path}?done=promise"));
    let view = app.deal(&member, won.deal_id).await;
    assert_eq!(promise(&view, first)["text"], json!("Close in 5 days"));
    assert_eq!(promise(&view, first)["locked"], json!(false));

    // A survey asks: from now on, no rewording.
    app.plan(day("2026-09-01")).await;
    let browser = Browser::sign_in(&app, &member).await; // the March session has expired
    let survey = app.only_survey_of(won.contact_ids[0]).await;
    let view = app.deal(&member, won.deal_id).await;
    assert!([first, second].iter().all(|id| promise(&view, *id)["locked"] == json!(true)), "{view}");
    let input = PromiseInput { text: Some("Close in 4 days".to_owned()), ..Default::default() };
    let locked = promises::edit(&app.state.db, won.deal_id, first, input, member.id, day("2026-09-01")).await;
    assert!(matches!(locked, Err(AppError::Conflict { code: "promise_locked", .. })), "{locked:?}");
    let stale = browser.get(&deal_path).await.form(&format!("{} details form", item(first)));
    assert_eq!(stale.value("replaces_id"), Some(first.to_string().as_str()), "the page now offers a replacement");
    let edit = edit.set("csrf", stale.value("csrf").expect("a csrf token")).set("text", "Close in 4 days");
    browser.refused(&edit, StatusCode::CONFLICT, "retire it and record a replacement").await;
    assert_eq!(promise(&app.deal(&member, won.deal_id).await, first)["text"], json!("Close in 5 days"));

    // The customer answers about the promises as asked.
    let token = survey_token(&app.initial_email(survey.id).await.text_body);
    let form = app.answer_form(&token, "kept", &[(&format!("verdict_{second}"), "partly")]).await;
    assert_eq!(app.public_submit(&form).await.status, StatusCode::OK);

    // The page now offers to replace it: a new promise, the old one retired.
    let page = browser.get(&deal_path).await;
    let replace = page.form(&format!("{} details form", item(first)));
    assert_eq!(
        (replace.action.as_str(), replace.value("replaces_id")),
        (format!("{deal_path}/promises").as_str(), Some(first.to_string().as_str()))
    );
    browser
        .submit(&replace.set("text", "Close in 4 days"))
        .await
        .assert_redirect_to(&format!("{deal_path}?done=promise"));
    let retire = page.form(&format!("{} form[action=\"{deal_path}/promises/{second}/retire\"]", item(second)));
    browser.submit(&retire).await.assert_redirect_to(&format!("{deal_path}?done=retired"));

    let view = app.deal(&member, won.deal_id).await;
    let old = promise(&view, first);
    assert_eq!(
        (old["text"].clone(), old["retired_at"].is_string()),
        (json!("Close in 5 days"), true),
        "the old promise stays, retired"
    );
    assert!(promise(&view, second)["retired_at"].is_string());
    let replacement = view["promises"]
        .as_array()
        .expect("promises")
        .iter()
        .find(|p| p["replaces_id"] == json!(first))
        .cloned()
        .expect("a replacement");
    assert_eq!((replacement["text"].clone(), replacement["locked"].clone()), (json!("Close in 4 days"), json!(false)));
    let answers = app.api_survey(&member, survey.id).await["answers"].clone();
    assert_eq!(
        answers,
        json!([
            {"promise_id": first, "promise": "Close in 5 days", "verdict": "kept", "comment": null},
            {"promise_id": second, "promise": "Two-day onboarding", "verdict": "partly", "comment": null},
        ]),
        "the answers stay with what the customer judged"
    );

    // The next wave asks about the replacement only.
    app.plan(day("2026-12-01")).await;
    let next = app.surveys_of(won.contact_ids[0]).await.pop().expect("the 9-month survey");
    assert_ne!(next.id, survey.id);
    assert_eq!(app.asked(next.id).await, vec![id_of(&replacement["id"])]);
}
