//! Pipeline analytics through `GET /api/v1/metrics/pipeline`, on fixtures
//! whose numbers are worked out by hand, with the clock moved instead of
//! waited for: time in stage (holds excluded), conversion by close cohort
//! (a move back counts once), time to live, the go-live forecast, filters
//! and their errors.

use aftercare::auth::Role;
use axum::http::{Method, StatusCode};
use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::{NowForTests, TestApp, TestUser};

const PATH: &str = "/api/v1/metrics/pipeline";

/// Enters a won deal with its close date, segment and extra fields.
async fn won(app: &TestApp, user: &TestUser, name: &str, closed_won_on: &str, segment: &str, extra: Value) -> i32 {
    let mut body = json!({
        "name": name,
        "closed_won_on": closed_won_on,
        "account": {"name": format!("{name} Inc."), "segment": segment},
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let response = app.post("/api/v1/deals", user, body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    i32::try_from(response.json()["id"].as_i64().expect("an id")).expect("a small id")
}

/// Moves a deal forward, with evidence, until it is in the stage `key`.
async fn advance_to(app: &TestApp, user: &TestUser, id: i32, key: &str) {
    while app.deal(user, id).await["stage"] != json!(key) {
        app.meet_exit_criteria(user, id).await;
        let response = app.advance(user, id).await;
        assert_eq!(response.status, StatusCode::OK, "advancing towards {key}: {}", response.text);
    }
}

async fn move_back(app: &TestApp, user: &TestUser, id: i32) {
    let response =
        app.post(&format!("/api/v1/deals/{id}/move-back"), user, json!({"reason": "Customer reopened UAT"})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
}

async fn post_ok(app: &TestApp, user: &TestUser, path: &str) {
    let body = if path.ends_with("/hold") { json!({"reason": "Waiting on the customer's IT"}) } else { json!({}) };
    let response = app.post(path, user, body).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
}

/// The analytics as `user` sees them with the query `query` (asserts 200).
async fn metrics(app: &TestApp, user: &TestUser, query: &str) -> Value {
    let response = app.get(&format!("{PATH}{query}"), user).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    response.json()
}

fn stage<'a>(metrics: &'a Value, key: &str) -> &'a Value {
    metrics["stages"]
        .as_array()
        .and_then(|stages| stages.iter().find(|s| s["key"] == key))
        .unwrap_or_else(|| panic!("no stage {key} in {metrics}"))
}

/// `(reached, share, from_previous)` of `key` in a cohort's conversion.
fn reach(cohort: &Value, key: &str) -> (Value, Value, Value) {
    let found = cohort["stages"]
        .as_array()
        .and_then(|stages| stages.iter().find(|s| s["key"] == key))
        .unwrap_or_else(|| panic!("no stage {key} in {cohort}"));
    (found["reached"].clone(), found["share"].clone(), found["from_previous"].clone())
}

fn expected(metrics: &Value) -> Vec<f64> {
    metrics["forecast"]["horizons"]
        .as_array()
        .expect("horizons")
        .iter()
        .map(|h| h["expected_go_lives"].as_f64().expect("a number"))
        .collect()
}

#[tokio::test]
async fn an_empty_pipeline_reports_zeros_and_nulls() {
    let app = TestApp::new().await;
    let viewer = app.user(Role::Viewer).await;

    let body = metrics(&app, &viewer, "").await;

    assert_eq!(body["deals"], 0);
    let keys: Vec<&str> = body["stages"].as_array().expect("stages").iter().filter_map(|s| s["key"].as_str()).collect();
    assert_eq!(keys, ["closed_won", "handoff", "implementing", "live"], "every stage, in pipeline order");
    for stage in body["stages"].as_array().expect("stages") {
        assert_eq!(stage["deals_now"], 0, "{stage}");
        assert_eq!(stage["median_active_days"], Value::Null, "{stage}");
        assert_eq!(stage["p90_active_days"], Value::Null, "{stage}");
        assert_eq!(stage["on_hold_days"], 0, "{stage}");
        assert_eq!(stage["sla_breaches"], 0, "{stage}");
        assert_eq!(stage["completed_stays"], 0, "{stage}");
        assert_eq!(stage["median_completed_active_days"], Value::Null, "{stage}");
    }
    assert_eq!(stage(&body, "handoff")["sla_days"], 14);
    assert_eq!(stage(&body, "live")["sla_days"], Value::Null);
    assert_eq!(body["conversion"]["overall"]["deals"], 0);
    assert_eq!(reach(&body["conversion"]["overall"], "closed_won"), (json!(0), Value::Null, Value::Null));
    assert_eq!(body["conversion"]["cohorts"], json!([]));
    assert_eq!(body["live_deals"], 0);
    assert_eq!(body["median_days_to_live"], Value::Null);
    assert_eq!(body["p90_days_to_live"], Value::Null);
    assert_eq!(body["forecast"]["in_flight"], 0);
    assert_eq!(body["forecast"]["likely"], json!([]));
    assert_eq!(expected(&body), [0.0, 0.0, 0.0]);
    let days: Vec<i64> =
        body["forecast"]["horizons"].as_array().expect("horizons").iter().filter_map(|h| h["days"].as_i64()).collect();
    assert_eq!(days, [30, 60, 90]);
    assert_eq!(body["as_of"], "2026-03-02T09:00:00Z");
}

#[tokio::test]
async fn one_deal_is_counted_in_its_stage_cohort_and_forecast() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let viewer = app.user(Role::Viewer).await;
    app.create_deal(&member, "Acme rollout").await;
    app.clock.advance(Duration::days(3));

    let body = metrics(&app, &viewer, "").await;

    assert_eq!(body["deals"], 1);
    let won = stage(&body, "closed_won");
    assert_eq!(
        (won["deals_now"].clone(), won["median_active_days"].clone(), won["p90_active_days"].clone()),
        (json!(1), json!(3.0), json!(3.0))
    );
    assert_eq!(won["sla_breaches"], 0);
    assert_eq!(stage(&body, "handoff")["deals_now"], 0);
    let overall = &body["conversion"]["overall"];
    assert_eq!(reach(overall, "closed_won"), (json!(1), json!(1.0), Value::Null));
    assert_eq!(reach(overall, "handoff"), (json!(0), json!(0.0), json!(0.0)));
    assert_eq!(reach(overall, "live"), (json!(0), json!(0.0), Value::Null), "none reached implementing");
    let cohorts = body["conversion"]["cohorts"].as_array().expect("cohorts");
    assert_eq!(cohorts.len(), 1);
    assert_eq!((cohorts[0]["cohort"].clone(), cohorts[0]["deals"].clone()), (json!("2026-Q1"), json!(1)));
    // The only deal is the one in flight: no other deal's outcome to learn from.
    assert_eq!(body["forecast"]["in_flight"], 1);
    assert_eq!(body["forecast"]["without_history"], 1);
    assert_eq!(expected(&body), [0.0, 0.0, 0.0]);
    assert_eq!(body["live_deals"], 0);
}

#[tokio::test]
async fn median_and_p90_interpolate_over_ten_deals_and_over_breaches_count() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    // Ten deals entered a day apart: 10, 9, ..., 1 days in closed_won.
    for n in 0..10 {
        app.create_deal(&member, &format!("Deal {n}")).await;
        app.clock.advance(Duration::days(1));
    }

    let won = stage(&metrics(&app, &member, "").await, "closed_won").clone();

    assert_eq!(won["deals_now"], 10);
    // Sorted 1..=10: the median sits between 5 and 6; p90 at rank 8.1
    // (0-based) is 9 + 0.1 x (10 - 9).
    assert_eq!(won["median_active_days"], 5.5);
    assert_eq!(won["p90_active_days"], 9.1);
    // The SLA is 7 active days: 8, 9 and 10 are over it.
    assert_eq!(won["sla_breaches"], 3);
}

#[tokio::test]
async fn tied_values_give_the_median_of_the_tie() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    // Days in stage at the end: 9, 5, 5, 2.
    app.create_deal(&member, "Nine").await;
    app.clock.advance(Duration::days(4));
    app.create_deal(&member, "Five").await;
    app.create_deal(&member, "Five too").await;
    app.clock.advance(Duration::days(3));
    app.create_deal(&member, "Two").await;
    app.clock.advance(Duration::days(2));

    let won = stage(&metrics(&app, &member, "").await, "closed_won").clone();

    assert_eq!(won["median_active_days"], 5.0);
    // Rank 0.9 x 3 = 2.7 between 5 and 9: 5 + 0.7 x 4.
    assert_eq!(won["p90_active_days"], 7.8);
    assert_eq!(won["sla_breaches"], 1);
}

#[tokio::test]
async fn days_on_hold_are_not_active_days_now_or_in_completed_stays() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let held = app.create_deal(&member, "Held").await;
    app.create_deal(&member, "Waiting").await;
    app.clock.advance(Duration::days(2));
    post_ok(&app, &member, &format!("/api/v1/deals/{held}/hold")).await;
    app.clock.advance(Duration::days(3));

    let during = stage(&metrics(&app, &member, "").await, "closed_won").clone();
    assert_eq!(during["deals_on_hold"], 1);
    assert_eq!(during["on_hold_days"], 3);
    assert_eq!(during["median_active_days"], 3.5, "2 active days (held) and 5 (waiting)");

    app.clock.advance(Duration::days(7));
    post_ok(&app, &member, &format!("/api/v1/deals/{held}/resume")).await;
    app.clock.advance(Duration::days(3));

    // Day 15: the held deal had 2 + 3 active days and 10 on hold; the other 15 active.
    let body = metrics(&app, &member, "").await;
    let won = stage(&body, "closed_won");
    assert_eq!(won["deals_on_hold"], 0);
    assert_eq!(won["on_hold_days"], 10);
    assert_eq!(won["median_active_days"], 10.0, "the median of 5 and 15");
    assert_eq!(won["p90_active_days"], 14.0);
    assert_eq!(won["sla_breaches"], 1, "only the deal that never waited is over the 7-day SLA");

    advance_to(&app, &member, held, "handoff").await;
    let body = metrics(&app, &member, "").await;
    let won = stage(&body, "closed_won");
    assert_eq!(won["completed_stays"], 1);
    assert_eq!(won["median_completed_active_days"], 5.0, "the hold is not counted in the completed stay");
    assert_eq!(won["on_hold_days"], 0, "the deal that was held has left the stage");
    assert_eq!(stage(&body, "handoff")["deals_now"], 1);
    assert_eq!(stage(&body, "handoff")["median_active_days"], 0.0);
}

#[tokio::test]
async fn a_move_back_then_re_advance_reaches_each_stage_once_and_time_to_live_stops_at_the_first_go_live() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.create_deal(&member, "Acme rollout").await; // closed 2026-03-01, created 03-02
    app.clock.advance(Duration::days(1));
    advance_to(&app, &member, id, "handoff").await;
    app.clock.advance(Duration::days(2));
    advance_to(&app, &member, id, "implementing").await;
    app.clock.advance(Duration::days(4));
    move_back(&app, &member, id).await;
    app.clock.advance(Duration::days(3));
    advance_to(&app, &member, id, "implementing").await;
    app.clock.advance(Duration::days(5));

    let body = metrics(&app, &member, "").await;
    let overall = &body["conversion"]["overall"];
    assert_eq!(reach(overall, "handoff"), (json!(1), json!(1.0), json!(1.0)));
    assert_eq!(reach(overall, "implementing"), (json!(1), json!(1.0), json!(1.0)), "counted once");
    let handoff = stage(&body, "handoff");
    assert_eq!(handoff["completed_stays"], 2);
    assert_eq!(handoff["median_completed_active_days"], 2.5, "stays of 2 and 3 days");
    let implementing = stage(&body, "implementing");
    assert_eq!(implementing["completed_stays"], 1);
    assert_eq!(implementing["median_completed_active_days"], 4.0);
    assert_eq!(implementing["median_active_days"], 5.0, "the current stay started at the re-advance");

    // Live on 2026-03-17 (15 days after 03-02); won on 03-01: 16 days.
    advance_to(&app, &member, id, "live").await;
    app.clock.advance(Duration::days(2));
    move_back(&app, &member, id).await;
    app.clock.advance(Duration::days(3));
    advance_to(&app, &member, id, "live").await;

    let body = metrics(&app, &member, "").await;
    assert_eq!(reach(&body["conversion"]["overall"], "live"), (json!(1), json!(1.0), json!(1.0)));
    assert_eq!(body["live_deals"], 1);
    assert_eq!(body["median_days_to_live"], 16.0, "measured to the first entry into live");
    assert_eq!(stage(&body, "live")["deals_now"], 1);
    assert_eq!(stage(&body, "implementing")["completed_stays"], 3);
    assert_eq!(body["forecast"]["in_flight"], 0);
}

#[tokio::test]
async fn conversion_is_split_by_close_quarter_and_the_cohort_filter_picks_one() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    won(&app, &member, "Autumn", "2025-11-15", "SMB", json!({})).await;
    let january = won(&app, &member, "January", "2026-01-10", "SMB", json!({})).await;
    won(&app, &member, "February", "2026-02-20", "SMB", json!({})).await;
    advance_to(&app, &member, january, "handoff").await;

    let body = metrics(&app, &member, "").await;

    let cohorts = body["conversion"]["cohorts"].as_array().expect("cohorts");
    let names: Vec<&str> = cohorts.iter().filter_map(|c| c["cohort"].as_str()).collect();
    assert_eq!(names, ["2025-Q4", "2026-Q1"], "oldest first");
    assert_eq!(cohorts[0]["deals"], 1);
    assert_eq!(reach(&cohorts[0], "handoff"), (json!(0), json!(0.0), json!(0.0)));
    assert_eq!(cohorts[1]["deals"], 2);
    assert_eq!(reach(&cohorts[1], "closed_won"), (json!(2), json!(1.0), Value::Null));
    assert_eq!(reach(&cohorts[1], "handoff"), (json!(1), json!(0.5), json!(0.5)));
    assert_eq!(reach(&body["conversion"]["overall"], "handoff"), (json!(1), json!(0.3333), json!(0.3333)));

    let q1 = metrics(&app, &member, "?cohort=2026-Q1").await;
    assert_eq!(q1["deals"], 2);
    assert_eq!(stage(&q1, "closed_won")["deals_now"], 1);
    assert_eq!(stage(&q1, "handoff")["deals_now"], 1);
    let q4 = metrics(&app, &member, "?cohort=2025-q4").await;
    assert_eq!(q4["deals"], 1);
    assert_eq!(q4["conversion"]["cohorts"][0]["cohort"], "2025-Q4");
    assert_eq!(metrics(&app, &member, "?cohort=2024-Q1").await["deals"], 0);
}

#[tokio::test]
async fn the_median_time_to_live_counts_calendar_days_from_the_close_date() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let a = won(&app, &member, "A", "2026-02-20", "SMB", json!({})).await;
    let b = won(&app, &member, "B", "2026-03-01", "SMB", json!({})).await;
    let c = won(&app, &member, "C", "2026-03-02", "SMB", json!({})).await;
    won(&app, &member, "Not live", "2026-02-01", "SMB", json!({})).await;
    app.clock.advance(Duration::days(10));
    for id in [a, b, c] {
        advance_to(&app, &member, id, "live").await;
    }
    app.clock.advance(Duration::days(30));

    let body = metrics(&app, &member, "").await;

    // Live on 2026-03-12: 20, 11 and 10 days after closing.
    assert_eq!(body["live_deals"], 3);
    assert_eq!(body["median_days_to_live"], 11.0);
    // Rank 1.8 between 11 and 20: 11 + 0.8 x 9.
    assert_eq!(body["p90_days_to_live"], 18.2);
    assert_eq!(stage(&body, "live")["deals_now"], 3);
    assert_eq!(stage(&body, "live")["sla_breaches"], 0, "the final stage has no SLA");
    assert_eq!(reach(&body["conversion"]["overall"], "live"), (json!(3), json!(0.75), json!(1.0)));
}

#[tokio::test]
async fn the_forecast_matches_a_hand_computed_fixture() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let start = app.clock.now_for_tests();
    // Day 0: four deals enter closed_won.
    let fast = app.create_deal(&member, "Fast").await;
    let slow = app.create_deal(&member, "Slow").await;
    let lost = app.create_deal(&member, "Lost").await;
    let parked = app.create_deal(&member, "Parked").await;
    app.clock.set(start + Duration::days(1));
    advance_to(&app, &member, parked, "handoff").await;
    app.clock.set(start + Duration::days(20));
    advance_to(&app, &member, fast, "live").await;
    app.clock.set(start + Duration::days(30));
    let churned = app.patch(&format!("/api/v1/deals/{lost}"), &member, json!({"churned_on": "2026-04-01"})).await;
    assert_eq!(churned.status, StatusCode::OK, "{}", churned.text);
    app.clock.set(start + Duration::days(50));
    advance_to(&app, &member, slow, "live").await;
    app.clock.set(start + Duration::days(70));
    let thirty = app.create_deal(&member, "Thirty days in").await;
    app.clock.set(start + Duration::days(95));
    let five = app.create_deal(&member, "Five days in").await;
    app.clock.set(start + Duration::days(100));

    let body = metrics(&app, &member, "").await;

    // From closed_won, outcomes: live after 20 and 50 days; one churned
    // (never); open: parked for 100 days, the new deals for 30 and 5.
    // "Five days in", within 30 (to 35): 1 live (20) of 2 live after 5 + 1
    // never + 1 open >= 35 (parked) = 1/4; within 60 and 90: 2/4.
    // "Thirty days in", within 30 (to 60): 1 (50) of 1 + 1 + 1 = 1/3; within
    // 60: 1/3; within 90 (to 120): parked's outcome is unknown, 1/2.
    // "Parked" is alone in handoff with its outcome still open: no history.
    assert_eq!(body["forecast"]["in_flight"], 3);
    assert_eq!(body["forecast"]["without_history"], 1);
    assert_eq!(expected(&body), [0.6, 0.8, 1.0], "0.25 + 0.333, 0.5 + 0.333, 0.5 + 0.5");
    let likely = body["forecast"]["likely"].as_array().expect("likely");
    let ids: Vec<i64> = likely.iter().filter_map(|d| d["deal_id"].as_i64()).collect();
    assert_eq!(ids, [i64::from(thirty), i64::from(five)], "equal at 90 days; the better 30-day chance first");
    assert_eq!(likely[0]["within_30_days"], 0.3333);
    assert_eq!(likely[0]["within_90_days"], 0.5);
    assert_eq!(likely[0]["days_in_stage"], 30);
    assert_eq!(likely[0]["stage"], "closed_won");
    assert_eq!(likely[1]["within_30_days"], 0.25);
    assert_eq!(likely[1]["within_60_days"], 0.5);
    assert_eq!(likely[1]["name"], "Five days in");
    // The churned deal is neither in its stage now nor in flight.
    assert_eq!(stage(&body, "closed_won")["deals_now"], 2);
    assert_eq!(body["live_deals"], 2);
    assert_eq!(body["median_days_to_live"], 36.0, "21 and 51 days after the 03-01 close date");
}

#[tokio::test]
async fn filters_select_deals_by_owner_in_any_role_and_by_segment() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let owner = app.user(Role::Member).await;
    let other = app.user(Role::Member).await;
    won(&app, &member, "Owned as AM", "2026-02-01", "Enterprise", json!({"owners": {"account_manager": owner.email}}))
        .await;
    let as_csm = won(&app, &member, "Owned as CSM", "2026-02-01", "SMB", json!({"owners": {"csm": owner.email}})).await;
    won(
        &app,
        &member,
        "Someone else's",
        "2026-02-01",
        "Enterprise",
        json!({"owners": {"implementation_lead": other.email}}),
    )
    .await;
    advance_to(&app, &member, as_csm, "handoff").await;

    let mine = metrics(&app, &member, &format!("?owner={}", owner.email.to_uppercase())).await;
    assert_eq!(mine["deals"], 2);
    assert_eq!(stage(&mine, "closed_won")["deals_now"], 1);
    assert_eq!(stage(&mine, "handoff")["deals_now"], 1);
    assert_eq!(stage(&mine, "closed_won")["completed_stays"], 1);
    let theirs = metrics(&app, &member, &format!("?owner={}", other.email)).await;
    assert_eq!(theirs["deals"], 1);
    assert_eq!(theirs["forecast"]["in_flight"], 1);

    let enterprise = metrics(&app, &member, "?segment=enterprise").await;
    assert_eq!(enterprise["deals"], 2, "segments match whatever the case");
    assert_eq!(stage(&enterprise, "handoff")["deals_now"], 0);
    let both = metrics(&app, &member, &format!("?segment=Enterprise&owner={}", owner.email)).await;
    assert_eq!(both["deals"], 1, "filters combine");
    let none = metrics(&app, &member, "?segment=Mid-market").await;
    assert_eq!(none["deals"], 0);
    assert_eq!(none["conversion"]["cohorts"], json!([]));
    let blank = metrics(&app, &member, "?owner=&segment=&cohort=").await;
    assert_eq!(blank["deals"], 3, "blank filters select everything");
}

#[tokio::test]
async fn a_bad_filter_is_a_422_naming_the_field() {
    let app = TestApp::new().await;
    let viewer = app.user(Role::Viewer).await;
    for (query, field, wording) in [
        ("?cohort=2026-Q5", "cohort", "quarter"),
        ("?cohort=Q1-2026", "cohort", "quarter"),
        ("?owner=not-an-email", "owner", "email"),
        ("?owner=nobody@team.example", "owner", "nobody@team.example"),
        ("?colour=red", "colour", "not a known field"),
    ] {
        let response = app.get(&format!("{PATH}{query}"), &viewer).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {}", response.text);
        assert_eq!(response.error_code(), "validation_failed");
        let problem = response.field_error(field).unwrap_or_else(|| panic!("{field} not named: {}", response.text));
        assert!(problem.contains(wording), "{query}: {problem}");
    }
    let both = app.get(&format!("{PATH}?cohort=2026&owner=x"), &viewer).await;
    assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(both.field_error("cohort").is_some() && both.field_error("owner").is_some(), "{}", both.text);
}

#[tokio::test]
async fn the_analytics_need_a_valid_token_and_any_role_may_read_them() {
    let app = TestApp::new().await;
    let anonymous = app.request(Method::GET, PATH, None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{}", anonymous.text);
    assert_eq!(anonymous.error_code(), "unauthenticated");
    let forged = app.request(Method::GET, &format!("{PATH}?cohort=bad"), Some("not-a-token"), None).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "authentication comes before validation");
    for role in [Role::Viewer, Role::Member, Role::Manager, Role::Admin] {
        let user = app.user(role).await;
        assert_eq!(app.get(PATH, &user).await.status, StatusCode::OK, "{role}");
    }
}
