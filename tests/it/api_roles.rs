//! Who may do what through the API: viewers read, members and above change
//! deals, and requests without a valid token get 401 and change nothing.

use aftercare::auth::{Role, tokens};
use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{ApiCall, NowForTests, Snapshot, TestApp, TestUser, read_calls, state_changing_calls};

/// A deal in handoff ready to advance, and a deal on hold.
struct Fixture {
    ready: i32,
    held: i32,
    optional_criterion: i32,
    owner: TestUser,
}

async fn fixture(app: &TestApp) -> Fixture {
    let owner = app.user(Role::Member).await;
    let ready = app.deal_in_stage(&owner, "Ready deal", "handoff").await;
    app.meet_exit_criteria(&owner, ready).await;
    let held = app.create_deal(&owner, "Held deal").await;
    let response = app.post(&format!("/api/v1/deals/{held}/hold"), &owner, json!({"reason": "Waiting on IT"})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let optional_criterion = app.optional_criteria("handoff").await[0];
    Fixture { ready, held, optional_criterion, owner }
}

impl Fixture {
    async fn snapshot(&self, app: &TestApp) -> Snapshot {
        app.snapshot(&self.owner, &[self.ready, self.held]).await
    }

    fn state_changing_calls(&self) -> Vec<ApiCall> {
        state_changing_calls(
            &self.ready.to_string(),
            &self.held.to_string(),
            self.optional_criterion,
            &self.owner.email,
        )
    }
}

#[tokio::test]
async fn a_viewer_cannot_change_anything() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let viewer = app.user(Role::Viewer).await;
    let before = f.snapshot(&app).await;

    for call in f.state_changing_calls() {
        let response = app.request(call.method.clone(), &call.path, Some(&viewer.token), Some(call.body.clone())).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{}: {}", call.label(), response.text);
        assert_eq!(response.error_code(), "forbidden", "{}", call.label());
        assert_eq!(f.snapshot(&app).await, before, "{} changed something for a viewer", call.label());
    }
}

#[tokio::test]
async fn members_managers_and_admins_can_change_deals() {
    for role in [Role::Member, Role::Manager, Role::Admin] {
        let app = TestApp::new().await;
        let f = fixture(&app).await;
        let user = app.user(role).await;

        for call in f.state_changing_calls() {
            let before = f.snapshot(&app).await;
            let response =
                app.request(call.method.clone(), &call.path, Some(&user.token), Some(call.body.clone())).await;
            assert_eq!(response.status, call.success, "{role}: {}: {}", call.label(), response.text);
            assert_ne!(f.snapshot(&app).await, before, "{role}: {} changed nothing", call.label());
        }
        let deal = app.deal(&user, f.ready).await;
        assert_eq!(deal["stage"], "handoff");
        assert_eq!(deal["on_hold"], true);
        assert_eq!(app.deal(&user, f.held).await["on_hold"], false);
    }
}

#[tokio::test]
async fn a_viewer_can_read_every_deal_and_stage() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let viewer = app.user(Role::Viewer).await;

    for call in read_calls(&f.ready.to_string()) {
        let response = app.request(call.method.clone(), &call.path, Some(&viewer.token), None).await;
        assert_eq!(response.status, call.success, "{}: {}", call.label(), response.text);
    }
    let list = app.get("/api/v1/deals", &viewer).await.json();
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    assert_eq!(app.deal(&viewer, f.ready).await["name"], "Ready deal");
}

/// A member's token, revoked after checking that it worked.
async fn revoked_token(app: &TestApp) -> String {
    let user = app.user(Role::Member).await;
    assert_eq!(app.get("/api/v1/deals", &user).await.status, StatusCode::OK, "the token works before it is revoked");
    let listed = tokens::list(&app.state.db).await.expect("listing tokens");
    let token = listed.iter().find(|t| t.user_email == user.email).expect("the user's token");
    tokens::revoke(&app.state.db, token.id, None, app.clock.now_for_tests()).await.expect("revoking");
    user.token
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401_and_change_nothing() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let revoked = revoked_token(&app).await;
    let wrong = format!("{}0", f.owner.token);
    let credentials: [(&str, Option<&str>); 4] = [
        ("no token", None),
        ("a wrong token", Some(&wrong)),
        ("a revoked token", Some(&revoked)),
        ("an empty token", Some("")),
    ];
    let before = f.snapshot(&app).await;

    for call in f.state_changing_calls().into_iter().chain(read_calls(&f.ready.to_string())) {
        for (label, token) in credentials {
            let body = (!call.body.is_null()).then(|| call.body.clone());
            let response = app.request(call.method.clone(), &call.path, token, body).await;
            assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{} with {label}: {}", call.label(), response.text);
            assert_eq!(response.error_code(), "unauthenticated", "{} with {label}", call.label());
            assert!(!response.json()["error"]["message"].as_str().unwrap_or_default().is_empty());
            assert_eq!(response.headers.get("www-authenticate").map(|v| v.as_bytes()), Some(&b"Bearer"[..]));
        }
    }
    assert_eq!(f.snapshot(&app).await, before);
}
