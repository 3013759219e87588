//! The evidence-gated pipeline through the JSON API: a deal leaves a stage
//! only when every required exit criterion has the customer's evidence;
//! every move is a transition row; evidence is append-only.

use aftercare::auth::Role;
use aftercare::pipeline::stages::{self, CriterionInput};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{NowForTests, TestApp, TestUser, evidence_body, sorted, sorted_ids};

fn last_transition(deal: &Value) -> &Value {
    deal["transitions"].as_array().and_then(|t| t.last()).expect("at least one transition")
}

fn transition_count(deal: &Value) -> usize {
    deal["transitions"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn advancing_without_evidence_names_every_required_criterion_and_changes_nothing() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.create_deal(&member, "Acme rollout").await;
    let before = app.snapshot(&member, &[id]).await;

    let response = app.advance(&member, id).await;

    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", response.text);
    assert_eq!(response.error_code(), "exit_criteria_unmet");
    let required = app.required_criteria("closed_won").await;
    assert_eq!(required.len(), 3, "the default closed_won stage has three required criteria");
    assert_eq!(sorted_ids(&response.json()["error"]["unmet_criterion_ids"]), sorted(required));
    assert_eq!(app.snapshot(&member, &[id]).await, before, "a refused advance changes nothing");
    let deal = app.deal(&member, id).await;
    assert_eq!(deal["stage"], "closed_won");
    assert_eq!(transition_count(&deal), 1, "only the creation is recorded");
}

#[tokio::test]
async fn the_unmet_list_shrinks_to_the_criteria_still_lacking_evidence() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.create_deal(&member, "Acme rollout").await;
    let required = app.required_criteria("closed_won").await;
    app.record_evidence_for(&member, id, &required[..2]).await;

    let response = app.advance(&member, id).await;

    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", response.text);
    assert_eq!(sorted_ids(&response.json()["error"]["unmet_criterion_ids"]), vec![required[2]]);
    assert_eq!(app.deal(&member, id).await["stage"], "closed_won");
}

#[tokio::test]
async fn evidence_for_every_required_criterion_moves_the_deal_and_records_the_transition() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.create_deal(&member, "Acme rollout").await;
    app.meet_exit_criteria(&member, id).await;

    let response = app.advance(&member, id).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.json()["stage"], "handoff");
    let deal = app.deal(&member, id).await;
    assert_eq!(deal["stage"], "handoff");
    assert_eq!(transition_count(&deal), 2);
    let moved = last_transition(&deal);
    assert_eq!(moved["kind"], "advance");
    assert_eq!(moved["from"], "closed_won");
    assert_eq!(moved["to"], "handoff");
    assert_eq!(moved["by"]["id"], json!(member.id));
    let handoff_criteria: Vec<i32> =
        sorted([app.required_criteria("handoff").await, app.optional_criteria("handoff").await].concat());
    let shown: Vec<i32> =
        deal["criteria"].as_array().expect("criteria").iter().map(|c| c["id"].as_i64().expect("id") as i32).collect();
    assert_eq!(sorted(shown), handoff_criteria, "the checklist is now the handoff stage's");
}

#[tokio::test]
async fn optional_criteria_do_not_gate_a_stage() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.deal_in_stage(&member, "Acme rollout", "handoff").await;
    let optional = app.optional_criteria("handoff").await;
    assert!(!optional.is_empty(), "the default handoff stage has an optional criterion");

    let refused = app.advance(&member, id).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
    let unmet = sorted_ids(&refused.json()["error"]["unmet_criterion_ids"]);
    assert_eq!(unmet, sorted(app.required_criteria("handoff").await), "optional criteria are not listed as unmet");

    app.meet_exit_criteria(&member, id).await;
    let response = app.advance(&member, id).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.json()["stage"], "implementing");
}

#[tokio::test]
async fn evidence_is_only_taken_for_criteria_of_the_current_stage() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.create_deal(&member, "Acme rollout").await;
    let other_stage = app.required_criteria("handoff").await[0];
    let before = app.snapshot(&member, &[id]).await;

    for criterion in [other_stage, 999_999] {
        let response = app.record_evidence(&member, id, criterion).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "criterion {criterion}: {}", response.text);
        assert_eq!(response.error_code(), "validation_failed");
        assert!(response.field_error("criterion_id").is_some(), "criterion {criterion}: {}", response.text);
    }
    assert_eq!(app.snapshot(&member, &[id]).await, before, "no evidence was written");
}

#[tokio::test]
async fn a_correction_keeps_the_corrected_evidence_inspectable() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.create_deal(&member, "Acme rollout").await;
    let criterion = app.required_criteria("closed_won").await[0];
    let original = app.record_evidence_for(&member, id, &[criterion]).await[0];
    let mut correction = evidence_body(criterion);
    correction["supersedes_id"] = json!(original);
    correction["note"] = json!("Customer confirmed it again, with the right date");

    let response = app.post(&format!("/api/v1/deals/{id}/evidence"), &member, correction.clone()).await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    let deal = app.deal(&member, id).await;
    let history = deal["evidence_history"].as_array().expect("history");
    assert_eq!(history.len(), 2, "the corrected row is kept");
    let old = history.iter().find(|e| e["id"] == json!(original)).expect("the original row");
    let new = history.iter().find(|e| e["id"] != json!(original)).expect("the correction");
    assert_eq!(old["superseded"], true);
    assert_eq!(old["note"], "Customer confirmed it in writing");
    assert_eq!(new["superseded"], false);
    assert_eq!(new["supersedes_id"], json!(original));
    let checklist = deal["criteria"]
        .as_array()
        .expect("criteria")
        .iter()
        .find(|c| c["id"] == json!(criterion))
        .expect("the criterion");
    assert_eq!(checklist["met"], true);
    assert_eq!(checklist["evidence"].as_array().map(Vec::len), Some(1), "only the correction is current");
    assert_eq!(checklist["evidence"][0]["id"], new["id"]);

    let before = app.snapshot(&member, &[id]).await;
    let twice = app.post(&format!("/api/v1/deals/{id}/evidence"), &member, correction).await;
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", twice.text);
    assert!(twice.field_error("supersedes_id").is_some(), "{}", twice.text);
    assert_eq!(app.snapshot(&member, &[id]).await, before);
}

#[tokio::test]
async fn a_deal_in_the_final_stage_cannot_advance() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.deal_in_stage(&member, "Acme rollout", "live").await;
    let before = app.snapshot(&member, &[id]).await;

    let response = app.advance(&member, id).await;

    assert_eq!(response.status, StatusCode::CONFLICT, "{}", response.text);
    assert_eq!(response.error_code(), "final_stage");
    assert_eq!(app.snapshot(&member, &[id]).await, before);
}

#[tokio::test]
async fn moving_back_needs_a_reason_and_records_it() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.deal_in_stage(&member, "Acme rollout", "handoff").await;
    let path = format!("/api/v1/deals/{id}/move-back");
    let before = app.snapshot(&member, &[id]).await;

    for body in [json!({}), json!({"reason": null}), json!({"reason": "   "})] {
        let refused = app.post(&path, &member, body.clone()).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", refused.text);
        assert!(refused.field_error("reason").is_some(), "{body}: {}", refused.text);
    }
    assert_eq!(app.snapshot(&member, &[id]).await, before);

    let response = app.post(&path, &member, json!({"reason": "Customer withdrew the kickoff date"})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.json()["stage"], "closed_won");
    let deal = app.deal(&member, id).await;
    let moved = last_transition(&deal);
    assert_eq!(moved["kind"], "move_back");
    assert_eq!(moved["from"], "handoff");
    assert_eq!(moved["to"], "closed_won");
    assert_eq!(moved["reason"], "Customer withdrew the kickoff date");
    assert_eq!(moved["by"]["id"], json!(member.id));
}

#[tokio::test]
async fn a_deal_in_the_first_stage_cannot_move_back() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.create_deal(&member, "Acme rollout").await;
    let before = app.snapshot(&member, &[id]).await;

    let response = app.post(&format!("/api/v1/deals/{id}/move-back"), &member, json!({"reason": "oops"})).await;

    assert_eq!(response.status, StatusCode::CONFLICT, "{}", response.text);
    assert_eq!(response.error_code(), "first_stage");
    assert_eq!(app.snapshot(&member, &[id]).await, before);
}

#[tokio::test]
async fn retiring_a_required_criterion_lets_the_deal_advance_and_keeps_its_evidence() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let manager = app.user(Role::Manager).await;
    let id = app.create_deal(&member, "Acme rollout").await;
    let [evidenced, met, unmet] =
        <[i32; 3]>::try_from(app.required_criteria("closed_won").await).expect("three criteria");
    let kept = app.record_evidence_for(&member, id, &[evidenced, met]).await;
    let now = app.clock.now_for_tests();

    // Retire one criterion that has evidence and the one that lacks it.
    for criterion in [evidenced, unmet] {
        stages::retire_criterion(&app.state.db, criterion, manager.id, now).await.expect("retiring a criterion");
    }

    let retired = app.record_evidence(&member, id, unmet).await;
    assert_eq!(
        retired.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a retired criterion takes no evidence: {}",
        retired.text
    );
    assert!(retired.field_error("criterion_id").is_some(), "{}", retired.text);

    let response = app.advance(&member, id).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.json()["stage"], "handoff");
    let history = app.deal(&member, id).await["evidence_history"].clone();
    let ids: Vec<Value> = history.as_array().expect("history").iter().map(|e| e["id"].clone()).collect();
    assert_eq!(ids, kept.iter().map(|k| json!(k)).collect::<Vec<_>>(), "evidence of retired criteria stays");
    assert_eq!(history[0]["criterion_id"], json!(evidenced));
}

#[tokio::test]
async fn a_new_required_criterion_gates_the_stage_again() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let manager = app.user(Role::Manager).await;
    let id = app.create_deal(&member, "Acme rollout").await;
    app.meet_exit_criteria(&member, id).await;
    let input = CriterionInput { text: "Customer paid the first invoice".into(), required: Some("true".into()) };
    let added = stages::add_criterion(&app.state.db, "closed_won", input, manager.id, app.clock.now_for_tests())
        .await
        .expect("adding a criterion");

    let refused = app.advance(&member, id).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
    assert_eq!(sorted_ids(&refused.json()["error"]["unmet_criterion_ids"]), vec![added.id]);

    app.record_evidence_for(&member, id, &[added.id]).await;
    let response = app.advance(&member, id).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.json()["stage"], "handoff");
}

#[tokio::test]
async fn the_same_external_id_never_creates_a_second_deal() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let body = |name: &str| {
        json!({
            "name": name,
            "closed_won_on": "2026-02-20",
            "external_id": "crm-opportunity-42",
            "account": {"name": "Acme Corp", "domain": "acme.example"},
        })
    };

    let first = app.post("/api/v1/deals", &member, body("Acme rollout")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let counts = app.row_counts().await;
    let second = app.post("/api/v1/deals", &member, body("Acme rollout, resent")).await;

    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(second.json()["id"], first.json()["id"]);
    assert_eq!(second.json()["name"], "Acme rollout", "the existing deal is returned unchanged");
    assert_eq!(app.row_counts().await, counts, "nothing was written the second time");
    let list = app.get("/api/v1/deals", &member).await.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1));
}

/// Four deals, each singled out by one filter.
struct FilterFixture {
    owned: i32,
    in_handoff: i32,
    on_hold: i32,
    stuck: i32,
    owner: TestUser,
}

async fn filter_fixture(app: &TestApp, member: &TestUser) -> FilterFixture {
    let stuck = app.create_deal(member, "Stuck deal").await;
    app.clock.advance(chrono::Duration::days(8));
    let owner = app.user(Role::Member).await;
    let owned = app.create_deal(member, "Owned deal").await;
    let patched = app.patch(&format!("/api/v1/deals/{owned}"), member, json!({"csm": owner.email})).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    let in_handoff = app.deal_in_stage(member, "Handoff deal", "handoff").await;
    let on_hold = app.create_deal(member, "Waiting deal").await;
    let held = app.post(&format!("/api/v1/deals/{on_hold}/hold"), member, json!({"reason": "waiting on IT"})).await;
    assert_eq!(held.status, StatusCode::OK, "{}", held.text);
    FilterFixture { owned, in_handoff, on_hold, stuck, owner }
}

fn listed_ids(response: &crate::helpers::TestResponse) -> Vec<i32> {
    sorted(
        response.json().as_array().expect("a list").iter().map(|d| d["id"].as_i64().expect("an id") as i32).collect(),
    )
}

#[tokio::test]
async fn the_deal_list_filters_by_stage_owner_stuck_and_hold() {
    let app = TestApp::new().await;
    let viewer = app.user(Role::Viewer).await;
    let member = app.user(Role::Member).await;
    let f = filter_fixture(&app, &member).await;
    let cases = [
        (String::new(), vec![f.owned, f.in_handoff, f.on_hold, f.stuck]),
        ("?stage=handoff".to_owned(), vec![f.in_handoff]),
        ("?stage=closed_won".to_owned(), vec![f.owned, f.on_hold, f.stuck]),
        ("?stage=live".to_owned(), vec![]),
        (format!("?owner={}", f.owner.email), vec![f.owned]),
        ("?stuck=true".to_owned(), vec![f.stuck]),
        ("?on_hold=true".to_owned(), vec![f.on_hold]),
        ("?stage=closed_won&on_hold=false&stuck=false".to_owned(), vec![f.owned]),
    ];

    for (query, expected) in cases {
        let response = app.get(&format!("/api/v1/deals{query}"), &viewer).await;
        assert_eq!(response.status, StatusCode::OK, "{query}: {}", response.text);
        assert_eq!(listed_ids(&response), sorted(expected), "{query}");
    }
}

#[tokio::test]
async fn stages_are_listed_in_order_with_their_criteria() {
    let app = TestApp::new().await;
    let viewer = app.user(Role::Viewer).await;

    let stages = app.get("/api/v1/stages", &viewer).await.json();

    let keys: Vec<&str> =
        stages.as_array().expect("a list").iter().map(|s| s["key"].as_str().expect("a key")).collect();
    assert_eq!(keys, ["closed_won", "handoff", "implementing", "live"]);
    assert_eq!(stages[0]["sla_days"], 7);
    assert_eq!(stages[3]["sla_days"], Value::Null);
    let first = &stages[0]["criteria"][0];
    assert!(first["id"].is_number() && first["text"].is_string() && first["required"].is_boolean(), "{first}");
}
