//! Holds and time in stage, with the clock moved instead of waited for:
//! days on hold do not count toward the stage's SLA; a deal over its SLA is
//! stuck; a deal on hold does not move; owners and the next customer call.

use aftercare::auth::Role;
use axum::http::StatusCode;
use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestResponse, TestUser};

async fn hold(app: &TestApp, user: &TestUser, deal: i32) -> TestResponse {
    app.post(&format!("/api/v1/deals/{deal}/hold"), user, json!({"reason": "Waiting on the customer's IT"})).await
}

async fn resume(app: &TestApp, user: &TestUser, deal: i32) -> TestResponse {
    app.post(&format!("/api/v1/deals/{deal}/resume"), user, json!({})).await
}

fn days(deal: &Value) -> (i64, i64, bool) {
    let number = |key: &str| deal[key].as_i64().unwrap_or_else(|| panic!("{key} in {deal}"));
    (number("active_days_in_stage"), number("on_hold_days_in_stage"), deal["stuck"].as_bool().expect("stuck"))
}

#[tokio::test]
async fn days_on_hold_do_not_count_toward_the_sla() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.create_deal(&member, "Acme rollout").await;

    app.clock.advance(Duration::days(2));
    let held = hold(&app, &member, id).await;
    assert_eq!(held.status, StatusCode::OK, "{}", held.text);
    assert_eq!(held.json()["on_hold"], true);
    assert_eq!(held.json()["hold_reason"], "Waiting on the customer's IT");
    app.clock.advance(Duration::days(10));
    assert_eq!(days(&app.deal(&member, id).await), (2, 10, false), "an open hold counts as on-hold time");

    let resumed = resume(&app, &member, id).await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.text);
    assert_eq!(resumed.json()["on_hold"], false);
    app.clock.advance(Duration::days(3));

    // 15 days in the stage, 10 of them on hold: 5 active days, within the 7-day SLA.
    let deal = app.deal(&member, id).await;
    assert_eq!(days(&deal), (5, 10, false));
    let stuck = app.get("/api/v1/deals?stuck=true", &member).await.json();
    assert_eq!(stuck, json!([]), "a deal within its SLA is not listed as stuck");
}

#[tokio::test]
async fn a_deal_is_stuck_once_its_active_days_exceed_the_sla() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.create_deal(&member, "Acme rollout").await;
    assert_eq!(app.deal(&member, id).await["sla_days"], 7, "closed_won's SLA is seven days");

    app.clock.advance(Duration::days(7));
    assert_eq!(days(&app.deal(&member, id).await), (7, 0, false), "on the SLA is not over it");

    app.clock.advance(Duration::days(1));
    let deal = app.deal(&member, id).await;
    assert_eq!(days(&deal), (8, 0, true));
    assert_eq!(deal["days_over_sla"], 1);
}

#[tokio::test]
async fn holding_twice_is_a_conflict() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.create_deal(&member, "Acme rollout").await;
    assert_eq!(hold(&app, &member, id).await.status, StatusCode::OK);
    let before = app.snapshot(&member, &[id]).await;

    let response = hold(&app, &member, id).await;

    assert_eq!(response.status, StatusCode::CONFLICT, "{}", response.text);
    assert_eq!(response.error_code(), "already_on_hold");
    assert_eq!(app.snapshot(&member, &[id]).await, before);
}

#[tokio::test]
async fn resuming_a_deal_that_is_not_on_hold_is_a_conflict() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.create_deal(&member, "Acme rollout").await;
    let before = app.snapshot(&member, &[id]).await;

    let response = resume(&app, &member, id).await;

    assert_eq!(response.status, StatusCode::CONFLICT, "{}", response.text);
    assert_eq!(response.error_code(), "not_on_hold");
    assert_eq!(app.snapshot(&member, &[id]).await, before);
}

#[tokio::test]
async fn a_deal_on_hold_neither_advances_nor_moves_back() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.deal_in_stage(&member, "Acme rollout", "handoff").await;
    app.meet_exit_criteria(&member, id).await;
    assert_eq!(hold(&app, &member, id).await.status, StatusCode::OK);
    let before = app.snapshot(&member, &[id]).await;

    let advance = app.advance(&member, id).await;
    let back = app.post(&format!("/api/v1/deals/{id}/move-back"), &member, json!({"reason": "plan withdrawn"})).await;

    for response in [advance, back] {
        assert_eq!(response.status, StatusCode::CONFLICT, "{}", response.text);
        assert_eq!(response.error_code(), "on_hold");
    }
    assert_eq!(app.snapshot(&member, &[id]).await, before);
    assert_eq!(resume(&app, &member, id).await.status, StatusCode::OK);
    let moved = app.advance(&member, id).await;
    assert_eq!(moved.status, StatusCode::OK, "once resumed the deal moves: {}", moved.text);
    assert_eq!(moved.json()["stage"], "implementing");
}

#[tokio::test]
async fn a_next_call_whose_time_has_passed_is_overdue() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.create_deal(&member, "Acme rollout").await;
    let body = json!({"next_call_at": "2026-03-03T14:30:00Z", "next_call_lead": member.email, "next_call_scheduler": member.email});

    let response = app.patch(&format!("/api/v1/deals/{id}"), &member, body).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let call = &response.json()["next_call"];
    assert_eq!(call["at"], "2026-03-03T14:30:00Z");
    assert_eq!(call["lead"]["email"], json!(member.email));
    assert_eq!(call["scheduler"]["email"], json!(member.email));
    assert_eq!(call["overdue"], false);

    app.clock.advance(Duration::days(2));
    assert_eq!(app.deal(&member, id).await["next_call"]["overdue"], true);

    let past = app.patch(&format!("/api/v1/deals/{id}"), &member, json!({"next_call_at": "2026-03-01T10:00"})).await;
    assert_eq!(past.status, StatusCode::OK, "{}", past.text);
    assert_eq!(past.json()["next_call"]["overdue"], true, "a call set in the past is overdue at once");
}

#[tokio::test]
async fn owners_are_set_by_email_and_cleared_with_null() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let am = app.user(Role::Member).await;
    let lead = app.user(Role::Manager).await;
    let id = app.create_deal(&member, "Acme rollout").await;
    let path = format!("/api/v1/deals/{id}");

    let body =
        json!({"account_manager": am.email.to_uppercase(), "implementation_lead": lead.email, "csm": member.email});
    let response = app.patch(&path, &member, body).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let owners = &response.json()["owners"];
    assert_eq!(owners["account_manager"]["id"], json!(am.id));
    assert_eq!(owners["implementation_lead"]["id"], json!(lead.id));
    assert_eq!(owners["csm"]["id"], json!(member.id));

    let cleared = app.patch(&path, &member, json!({"account_manager": null, "next_call_at": null})).await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text);
    let view = cleared.json();
    assert_eq!(view["owners"]["account_manager"], Value::Null);
    assert_eq!(view["owners"]["csm"]["id"], json!(member.id), "fields left out stay as they were");
    assert_eq!(view["next_call"], Value::Null);
}

#[tokio::test]
async fn an_unknown_owner_email_names_the_field_and_changes_nothing() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.create_deal(&member, "Acme rollout").await;
    let before = app.snapshot(&member, &[id]).await;

    for field in ["account_manager", "implementation_lead", "csm", "next_call_lead", "next_call_scheduler"] {
        // A valid change alongside the bad one must not be half-applied.
        let body = json!({field: "nobody@team.example", "next_call_at": "2026-03-05T10:00:00Z"});
        let response = app.patch(&format!("/api/v1/deals/{id}"), &member, body).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {}", response.text);
        let problem = response.field_error(field).unwrap_or_else(|| panic!("{field} not named: {}", response.text));
        assert!(problem.contains("nobody@team.example"), "{problem}");
    }
    assert_eq!(app.snapshot(&member, &[id]).await, before);
}
