//! Webhooks both ways. Inbound: a signed closed-won deal is entered once;
//! a wrong secret, a stale timestamp, a replay, a tampered body or a bad
//! body is refused with a clear 4xx and changes nothing. Outbound: events
//! are delivered, signed, to a receiver on loopback through the outbox;
//! with the receiver down and then up, every event arrives, none twice.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aftercare::auth::Role;
use aftercare::jobs;
use aftercare::webhooks;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::routing::post;
use chrono::{DateTime, Duration, Utc};
use entity::{outbox_message, webhook_endpoint};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestResponse};
use crate::surveys_helpers::{Customer, day, survey_token};
use crate::web_client::{Browser, TableDump};

const PATH: &str = "/api/v1/webhooks/closed-won";

fn deal_body(external_id: &str, name: &str) -> String {
    json!({
        "external_id": external_id,
        "name": name,
        "closed_won_on": "2026-02-27",
        "account": {"name": format!("{name} BV"), "segment": "Mid-market"},
        "amount": 48000.0,
        "currency": "EUR",
    })
    .to_string()
}

/// Posts `body` as `source`, signed with `secret` at `timestamp`.
async fn post_signed(app: &TestApp, source: &str, secret: &str, timestamp: i64, body: &str) -> TestResponse {
    let signature = webhooks::sign(secret, timestamp, body.as_bytes());
    post_with(app, source, &timestamp.to_string(), &signature, body).await
}

async fn post_with(app: &TestApp, source: &str, timestamp: &str, signature: &str, body: &str) -> TestResponse {
    let request = Request::builder()
        .method(Method::POST)
        .uri(PATH)
        .header("content-type", "application/json")
        .header(webhooks::SOURCE_HEADER, source)
        .header(webhooks::TIMESTAMP_HEADER, timestamp)
        .header(webhooks::SIGNATURE_HEADER, signature)
        .body(Body::from(body.to_owned()))
        .expect("a request");
    app.send(request).await
}

#[tokio::test]
async fn a_signed_closed_won_deal_is_entered_once_and_bad_requests_change_nothing() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let now = aftercare::Clock::now(&app.clock);
    let source = webhooks::add_source(&app.state.db, Some("hubspot"), admin.id, now).await.expect("a source");
    let secret = source.secret.clone();
    let ts = now.timestamp();

    let body = deal_body("hs-1001", "Northwind");
    let created = post_signed(&app, "hubspot", &secret, ts, &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let deal_id = created.json()["deal_id"].as_i64().expect("a deal id");
    let deal = app.deal(&admin, i32::try_from(deal_id).expect("small")).await;
    assert_eq!((deal["external_id"].clone(), deal["stage"].clone()), (json!("hs-1001"), json!("closed_won")));

    // Sent again (a new signature, the same external id): the same deal.
    let again = post_signed(&app, "hubspot", &secret, ts + 1, &body).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.json(), json!({"deal_id": deal_id, "outcome": "existing"}));

    let before = TableDump::of(&app).await;
    let tampered = body.replace("48000", "1");
    let stale = ts - 6 * 60;
    // (what, the response, the status and the error code)
    let cases = [
        ("a wrong secret", post_signed(&app, "hubspot", "not-the-secret", ts, &body).await, 401, "bad_signature"),
        ("a stale timestamp", post_signed(&app, "hubspot", &secret, stale, &body).await, 401, "stale_timestamp"),
        (
            "a timestamp from the future",
            post_signed(&app, "hubspot", &secret, ts + 600, &body).await,
            401,
            "stale_timestamp",
        ),
        (
            "a tampered body",
            post_with(&app, "hubspot", &ts.to_string(), &webhooks::sign(&secret, ts, body.as_bytes()), &tampered).await,
            401,
            "bad_signature",
        ),
        ("an unknown source", post_signed(&app, "salesforce", &secret, ts, &body).await, 401, "unknown_source"),
        ("no signature", post_with(&app, "hubspot", &ts.to_string(), "", &body).await, 401, "bad_signature"),
        ("no timestamp", post_with(&app, "hubspot", "", "v1=00", &body).await, 401, "missing_signature"),
        (
            "a replay of the first request",
            post_with(&app, "hubspot", &ts.to_string(), &webhooks::sign(&secret, ts, body.as_bytes()), &body).await,
            409,
            "replayed",
        ),
        (
            "a deal without a name",
            post_signed(
                &app,
                "hubspot",
                &secret,
                ts + 2,
                &json!({"external_id": "hs-2", "closed_won_on": "2026-02-27", "account": {"name": "X"}}).to_string(),
            )
            .await,
            422,
            "validation_failed",
        ),
        (
            "no external id",
            post_signed(&app, "hubspot", &secret, ts + 3, &deal_body("", "Brightwater")).await,
            422,
            "validation_failed",
        ),
        ("not JSON", post_signed(&app, "hubspot", &secret, ts + 4, "{nope").await, 400, "malformed_json"),
    ];
    for (what, response, status, code) in cases {
        assert_eq!(response.status.as_u16(), status, "{what}: {}", response.text);
        assert_eq!(response.error_code(), code, "{what}: {}", response.text);
        assert!(!response.json()["error"]["message"].as_str().unwrap_or_default().is_empty(), "{what} says why");
    }
    let nameless = post_signed(
        &app,
        "hubspot",
        &secret,
        ts + 5,
        &json!({"external_id": "hs-3", "closed_won_on": "2026-02-27", "account": {"name": "X"}}).to_string(),
    )
    .await;
    assert!(nameless.field_error("name").is_some(), "the field is named: {}", nameless.text);
    assert!(TableDump::of(&app).await.changed_since(&before).is_empty(), "nothing changed");

    // A revoked source is refused.
    webhooks::revoke_source(&app.state.db, source.id, admin.id, now).await.expect("revoking");
    let revoked = post_signed(&app, "hubspot", &secret, ts + 6, &deal_body("hs-9", "Kestrel")).await;
    assert_eq!((revoked.status, revoked.error_code()), (StatusCode::UNAUTHORIZED, "unknown_source".to_owned()));
}

/// A receiver on loopback that records what it gets, or answers 503.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    failing: Arc<Mutex<bool>>,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if *receiver.failing.lock().expect("a lock") {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    receiver.got.lock().expect("a lock").push((headers, String::from_utf8_lossy(&body).into_owned()));
    StatusCode::NO_CONTENT
}

impl Receiver {
    /// Starts listening on `address`.
    async fn start(&self, address: SocketAddr) {
        let listener = tokio::net::TcpListener::bind(address).await.expect("binding the receiver");
        let app = Router::new().route("/hook", post(receive)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
    }

    fn events(&self) -> Vec<(HeaderMap, String)> {
        self.got.lock().expect("a lock").clone()
    }
}

async fn deliveries(app: &TestApp) -> Vec<outbox_message::Model> {
    outbox_message::Entity::find()
        .filter(outbox_message::Column::Channel.eq("webhook"))
        .all(&app.state.db)
        .await
        .expect("reading the outbox")
}

async fn send(app: &TestApp, at: DateTime<Utc>) -> String {
    jobs::run_manually(&app.state, "outbox-sender", at).await.expect("the sender runs").to_string()
}

#[tokio::test]
async fn events_reach_a_receiver_that_was_down_signed_and_each_exactly_once() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let member = app.user(Role::Member).await;
    let address = SocketAddr::from(([127, 0, 0, 1], crate::smtp::free_port()));
    let url = format!("http://{address}/hook");

    // An admin registers the endpoint on the settings page.
    let browser = Browser::sign_in(&app, &admin).await;
    let mut form = browser.get("/settings/webhooks").await.form("form#endpoint-form").set("url", &url);
    for event in ["deal.stage_changed", "deal.live", "survey.answered", "promise.not_kept", "deal.stuck"] {
        form = form.set(&format!("event:{event}"), "true");
    }
    let page = browser.submit(&form).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let secret = page.text_of("#secret-value");
    let endpoint = webhook_endpoint::Entity::find().one(&app.state.db).await.expect("query").expect("the endpoint");
    assert_eq!(endpoint.secret, secret, "the secret is shown once, on the page");

    // Facts: a deal taken to live (three moves), a survey answered with
    // one promise not kept, and the deal left stuck.
    let live = app.deal_in_stage(&member, "Northwind", "live").await;
    let customer = Customer::new("Brightwater").promises(&["Close in 5 days", "One source of truth"]);
    let won = app.won(&member, &customer).await;
    app.plan(day("2026-09-01")).await;
    let survey = app.only_survey_of(won.contact_ids[0]).await;
    let token = survey_token(&app.initial_email(survey.id).await.text_body);
    let answer = app
        .answer_form(&token, "kept", &[("nps", "8")])
        .await
        .set(&format!("verdict_{}", won.promise_ids[1]), "not_kept");
    assert_eq!(app.public_submit(&answer).await.status, StatusCode::OK);
    let watched = jobs::run_manually(&app.state, "webhook-events", day("2026-09-01")).await.expect("watching");
    assert!(watched.to_string().contains("stuck=1"), "Brightwater is stuck: {watched}");
    jobs::run_manually(&app.state, "webhook-events", day("2026-09-02")).await.expect("watching again");
    let queued = deliveries(&app).await;
    // 3 stage changes + 1 live + 1 answer + 1 broken promise + 1 stuck.
    assert_eq!(queued.len(), 7, "{:?}", queued.iter().map(|d| &d.dedupe_key).collect::<Vec<_>>());

    // The receiver is down: nothing is lost, each delivery waits to retry.
    send(&app, day("2026-09-02")).await;
    let waiting = deliveries(&app).await;
    assert!(waiting.iter().all(|d| d.status == "pending" && d.attempts == 1), "{waiting:?}");
    let receiver = Receiver::default();
    receiver.start(address).await;
    *receiver.failing.lock().expect("a lock") = true;
    send(&app, day("2026-09-02") + Duration::hours(1)).await;
    for row in deliveries(&app).await {
        assert_eq!((row.status.as_str(), row.attempts), ("pending", 2), "a 503 is a failure too");
        assert!(row.last_error.as_deref().unwrap_or_default().contains("503"), "{:?}", row.last_error);
    }
    assert!(receiver.events().is_empty());
    *receiver.failing.lock().expect("a lock") = false;
    send(&app, day("2026-09-03")).await;
    assert!(deliveries(&app).await.iter().all(|d| d.status == "sent"), "all delivered once the receiver is up");
    send(&app, day("2026-09-04")).await;

    let events = receiver.events();
    assert_eq!(events.len(), 7);
    let mut ids: Vec<String> = Vec::new();
    for (headers, body) in &events {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let timestamp: i64 = header(webhooks::TIMESTAMP_HEADER).parse().expect("a timestamp");
        assert!(webhooks::verify(&secret, timestamp, body.as_bytes(), &header(webhooks::SIGNATURE_HEADER)), "signed");
        let payload: Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(payload["type"], json!(header(webhooks::EVENT_HEADER)));
        assert_eq!(payload["id"], json!(header(webhooks::EVENT_ID_HEADER)));
        ids.push(header(webhooks::EVENT_ID_HEADER));
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "every event once: {ids:?}");
    let kinds: Vec<&str> = events
        .iter()
        .map(|(h, _)| h.get(webhooks::EVENT_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default())
        .collect();
    for kind in ["deal.stage_changed", "deal.live", "survey.answered", "promise.not_kept", "deal.stuck"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let live_event = events.iter().find(|(h, _)| h.get(webhooks::EVENT_HEADER).is_some_and(|v| v == "deal.live"));
    let payload: Value = serde_json::from_str(&live_event.expect("deal.live").1).expect("JSON");
    assert_eq!(payload["data"]["deal_id"], json!(live));
    assert_eq!(payload["data"]["to"]["key"], json!("live"));

    // A paused endpoint gets no new events (a fresh sign-in: months passed).
    let browser = Browser::sign_in(&app, &admin).await;
    let pause = browser.get("/settings/webhooks").await.form(&format!("tr[data-endpoint-id='{}'] form", endpoint.id));
    browser.submit(&pause).await.assert_redirect_to("/settings/webhooks?done=saved");
    app.deal_in_stage(&member, "Kestrel", "handoff").await;
    assert_eq!(deliveries(&app).await.len(), 7, "paused: nothing queued");
}

#[tokio::test]
async fn the_webhook_settings_are_for_admins_and_refuse_bad_input() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let manager = app.user(Role::Manager).await;
    let page = Browser::sign_in(&app, &manager).await.get("/settings/webhooks").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    let browser = Browser::sign_in(&app, &admin).await;
    let page = browser.get("/settings/webhooks").await;
    let endpoint = page.form("form#endpoint-form");
    browser
        .refused(
            &endpoint.clone().set("url", "not a url").set("event:deal.live", "true"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "must be a full link",
        )
        .await;
    browser
        .refused(
            &endpoint.clone().set("url", "mailto:ops@example.com").set("event:deal.live", "true"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "must be an http",
        )
        .await;
    browser
        .refused(
            &endpoint.clone().set("url", "https://hooks.example.com/a"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "pick at least one event",
        )
        .await;
    browser
        .refused(
            &endpoint.clone().set("url", "https://hooks.example.com/a").set("event:deal.exploded", "true"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown events",
        )
        .await;
    let source = page.form("form#source-form");
    let made = browser.submit(&source.clone().set("name", "hubspot")).await;
    assert_eq!(made.status, StatusCode::OK);
    assert_eq!(made.text_of("#secret-value").len(), 64);
    browser.refused(&source.clone().set("name", "hubspot"), StatusCode::UNPROCESSABLE_ENTITY, "exists").await;
    browser.refused(&source.set("name", ""), StatusCode::UNPROCESSABLE_ENTITY, "is required").await;
}
