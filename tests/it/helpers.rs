//! `TestApp`: the real application on a fresh, migrated database, with a
//! fixed clock and helpers to make users, tokens and deals and to send
//! requests.

#![allow(dead_code)]

use std::sync::Arc;

use aftercare::auth::users::{self, NewUser};
use aftercare::auth::{Role, tokens};
use aftercare::clock::FixedClock;
use aftercare::config::Config;
use aftercare::{AppState, router};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use sea_orm::{ConnectionTrait, Database, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The instant every test starts at, unless it moves the clock.
pub fn start_of_test() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().expect("a valid instant")
}

/// A fresh database for one test, removed (SQLite) when dropped.
pub struct TestDatabase {
    /// The URL the app connects to.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// The PostgreSQL server and the database to drop when done.
    server_database: Option<(String, String)>,
}

impl TestDatabase {
    /// A new, empty database on the backend the environment selects.
    pub async fn new() -> Self {
        match std::env::var("AFTERCARE_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
            Some(server) if server.starts_with("postgres") => {
                let name = format!("aftercare_test_{}", tokens::random_secret().expect("randomness")[..16].to_owned());
                let admin = Database::connect(server.as_str()).await.expect("connecting to the PostgreSQL test server");
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("creating a test database");
                admin.close().await.ok();
                let (base, _) = server.rsplit_once('/').expect("a database URL with a path");
                Self { url: format!("{base}/{name}"), _dir: None, server_database: Some((server, name)) }
            }
            _ => {
                let dir = tempfile::tempdir().expect("a temporary folder");
                let url = format!("sqlite://{}/aftercare.db", dir.path().display());
                Self { url, _dir: Some(dir), server_database: None }
            }
        }
    }

    /// Whether this database is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }
}

impl Drop for TestDatabase {
    /// Drops a PostgreSQL test database, so runs do not pile them up on the
    /// server (a SQLite file goes with its temporary folder).
    fn drop(&mut self) {
        let Some((server, name)) = self.server_database.take() else { return };
        // Drop runs inside the test's runtime, which cannot be blocked on;
        // a short-lived thread with its own runtime does the work.
        let dropping = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let admin = Database::connect(server.as_str()).await.ok()?;
                admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok()?;
                admin.close().await.ok()
            })
        });
        let _ = dropping.join();
    }
}

/// The application under test.
pub struct TestApp {
    /// The state handlers see.
    pub state: AppState,
    /// The clock the app reads; move it to let time pass.
    pub clock: FixedClock,
    /// The database behind it.
    pub database: TestDatabase,
    /// Where the app writes `.eml` files when it has no SMTP server (a
    /// temporary folder, so tests never write into `data/outbox`).
    pub outbox_dir: tempfile::TempDir,
    router: Router,
}

/// A user made for a test, with an API token.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// The user's id.
    pub id: i32,
    /// Their email.
    pub email: String,
    /// Their password.
    pub password: String,
    /// A bearer token for the API.
    pub token: String,
}

/// A response, with its body read.
#[derive(Debug)]
pub struct TestResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: axum::http::HeaderMap,
    /// The body as text.
    pub text: String,
}

impl TestResponse {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The error envelope's code.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_owned()
    }

    /// The problem reported for `field` in the error envelope.
    pub fn field_error(&self, field: &str) -> Option<String> {
        self.json()["error"]["fields"][field].as_str().map(str::to_owned)
    }
}

impl TestApp {
    /// The app on a fresh database, clock at [`start_of_test`].
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    /// The app on a fresh database with the settings `configure` makes of
    /// the defaults (e.g. a survey policy or an SMTP URL); clock at
    /// [`start_of_test`], `.eml` files in [`TestApp::outbox_dir`].
    pub async fn with_config(configure: impl FnOnce(&mut Config)) -> Self {
        let database = TestDatabase::new().await;
        let outbox_dir = tempfile::tempdir().expect("a temporary outbox folder");
        let mut config = Config::for_database(&database.url);
        config.mail.outbox_dir = outbox_dir.path().to_owned();
        configure(&mut config);
        let clock = FixedClock::new(start_of_test());
        let state = AppState::build(config, Arc::new(clock.clone())).await.expect("building the app");
        let router = router(state.clone());
        Self { state, clock, database, outbox_dir, router }
    }

    /// Another instance of the app (as a second `aftercare serve` would be):
    /// its own connection pool to the same database, the same settings and
    /// clock, and the instance name `instance`.
    pub async fn other_instance(&self, instance: &str) -> AppState {
        let config = (*self.state.config).clone();
        let mut state =
            AppState::build(config, Arc::new(self.clock.clone())).await.expect("building a second instance");
        state.instance = instance.to_owned();
        state
    }

    /// Adds a user with `role` and an API token.
    pub async fn user(&self, role: Role) -> TestUser {
        let n = tokens::random_secret().expect("randomness")[..8].to_owned();
        let email = format!("{}-{n}@team.example", role.as_str());
        let password = format!("password-{n}");
        let input = NewUser {
            email: email.clone(),
            name: format!("Test {}", role.as_str()),
            role: role.as_str().to_owned(),
            password: Some(password.clone()),
        };
        let (info, _) =
            users::add(&self.state.db, input, None, self.clock.now_for_tests()).await.expect("adding a user");
        let token = tokens::create(&self.state.db, &email, Some("tests"), None, self.clock.now_for_tests())
            .await
            .expect("creating a token");
        TestUser { id: info.id, email, password, token }
    }

    /// Sends a request to the router; `body` is sent as JSON.
    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> TestResponse {
        let raw = body.map(|b| b.to_string());
        self.request_raw(method, path, token, raw.as_deref(), Some("application/json")).await
    }

    /// Sends a request with a raw body and content type.
    pub async fn request_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        content_type: Option<&str>,
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if body.is_some()
            && let Some(content_type) = content_type
        {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        let request = builder.body(Body::from(body.unwrap_or_default().to_owned())).expect("a valid request");
        self.send(request).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("a readable body").to_bytes();
        TestResponse { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
    }

    /// `GET` as `user`.
    pub async fn get(&self, path: &str, user: &TestUser) -> TestResponse {
        self.request(Method::GET, path, Some(&user.token), None).await
    }

    /// `POST` JSON as `user`.
    pub async fn post(&self, path: &str, user: &TestUser, body: Value) -> TestResponse {
        self.request(Method::POST, path, Some(&user.token), Some(body)).await
    }

    /// Creates a deal through the API and returns its id.
    pub async fn create_deal(&self, user: &TestUser, name: &str) -> i32 {
        let body = json!({
            "name": name,
            "closed_won_on": "2026-03-01",
            "account": {"name": format!("{name} Inc."), "segment": "SMB"},
        });
        let response = self.post("/api/v1/deals", user, body).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
        i32::try_from(response.json()["id"].as_i64().expect("an id")).expect("a small id")
    }

    /// `PATCH` JSON as `user`.
    pub async fn patch(&self, path: &str, user: &TestUser, body: Value) -> TestResponse {
        self.request(Method::PATCH, path, Some(&user.token), Some(body)).await
    }

    /// The deal as `GET /api/v1/deals/{id}` shows it (asserts 200).
    pub async fn deal(&self, user: &TestUser, id: i32) -> Value {
        let response = self.get(&format!("/api/v1/deals/{id}"), user).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
        response.json()
    }

    /// The ids of the current, required exit criteria of the stage `key`.
    pub async fn required_criteria(&self, key: &str) -> Vec<i32> {
        let stages = aftercare::pipeline::stages::list(&self.state.db).await.expect("listing stages");
        let stage = stages.into_iter().find(|s| s.key == key).unwrap_or_else(|| panic!("no stage {key}"));
        stage.criteria.into_iter().filter(|c| c.required).map(|c| c.id).collect()
    }

    /// The ids of the current, optional exit criteria of the stage `key`.
    pub async fn optional_criteria(&self, key: &str) -> Vec<i32> {
        let stages = aftercare::pipeline::stages::list(&self.state.db).await.expect("listing stages");
        let stage = stages.into_iter().find(|s| s.key == key).unwrap_or_else(|| panic!("no stage {key}"));
        stage.criteria.into_iter().filter(|c| !c.required).map(|c| c.id).collect()
    }

    /// Records valid evidence for `criterion` on `deal` as `user`.
    pub async fn record_evidence(&self, user: &TestUser, deal: i32, criterion: i32) -> TestResponse {
        self.post(&format!("/api/v1/deals/{deal}/evidence"), user, evidence_body(criterion)).await
    }

    /// Records evidence for each of `criteria` (asserting 201) and returns
    /// the new evidence rows' ids.
    pub async fn record_evidence_for(&self, user: &TestUser, deal: i32, criteria: &[i32]) -> Vec<i32> {
        let mut ids = Vec::new();
        for criterion in criteria {
            let response = self.record_evidence(user, deal, *criterion).await;
            assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
            let history = response.json()["evidence_history"].as_array().cloned().unwrap_or_default();
            let newest = history.iter().filter_map(|e| e["id"].as_i64()).max().expect("the new evidence");
            ids.push(i32::try_from(newest).expect("a small id"));
        }
        ids
    }

    /// Records evidence for every required criterion of the deal's current
    /// stage, so that it may advance.
    pub async fn meet_exit_criteria(&self, user: &TestUser, deal: i32) {
        let view = self.deal(user, deal).await;
        let required: Vec<i32> = view["criteria"]
            .as_array()
            .expect("criteria")
            .iter()
            .filter(|c| c["required"] == json!(true))
            .map(|c| i32::try_from(c["id"].as_i64().expect("an id")).expect("a small id"))
            .collect();
        self.record_evidence_for(user, deal, &required).await;
    }

    /// `POST /api/v1/deals/{id}/advance` as `user`.
    pub async fn advance(&self, user: &TestUser, deal: i32) -> TestResponse {
        self.post(&format!("/api/v1/deals/{deal}/advance"), user, json!({})).await
    }

    /// Creates a deal and moves it, with evidence, to the stage `key`.
    pub async fn deal_in_stage(&self, user: &TestUser, name: &str, key: &str) -> i32 {
        let id = self.create_deal(user, name).await;
        while self.deal(user, id).await["stage"] != json!(key) {
            self.meet_exit_criteria(user, id).await;
            let response = self.advance(user, id).await;
            assert_eq!(response.status, StatusCode::OK, "advancing towards {key}: {}", response.text);
        }
        id
    }

    /// How many rows the tables that requests write to hold.
    pub async fn row_counts(&self) -> RowCounts {
        let db = &self.state.db;
        let count = |n: Result<u64, sea_orm::DbErr>| n.expect("counting rows");
        RowCounts {
            accounts: count(entity::account::Entity::find().count(db).await),
            contacts: count(entity::contact::Entity::find().count(db).await),
            deals: count(entity::deal::Entity::find().count(db).await),
            evidence: count(entity::evidence::Entity::find().count(db).await),
            transitions: count(entity::stage_transition::Entity::find().count(db).await),
            holds: count(entity::deal_hold::Entity::find().count(db).await),
            audit_entries: count(entity::audit_entry::Entity::find().count(db).await),
        }
    }

    /// What a request could change: the row counts and how `deals` look.
    pub async fn snapshot(&self, user: &TestUser, deals: &[i32]) -> Snapshot {
        let mut views = Vec::new();
        for id in deals {
            views.push(self.deal(user, *id).await);
        }
        Snapshot { rows: self.row_counts().await, deals: views }
    }

    /// Starts the app on a real TCP port (for the browser); returns its URL.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = listener.local_addr().expect("a local address");
        let router = self.router.clone();
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serving");
        });
        format!("http://{address}")
    }
}

/// Reads "now" from the test clock.
pub trait NowForTests {
    /// The clock's current reading.
    fn now_for_tests(&self) -> DateTime<Utc>;
}

impl NowForTests for FixedClock {
    fn now_for_tests(&self) -> DateTime<Utc> {
        aftercare::Clock::now(self)
    }
}

/// A valid evidence body for `criterion`.
pub fn evidence_body(criterion: i32) -> Value {
    json!({
        "criterion_id": criterion,
        "note": "Customer confirmed it in writing",
        "url": "https://mail.example.com/messages/42",
        "confirmed_by": "Dana Customer",
        "confirmed_on": "2026-03-01",
    })
}

/// Row counts of the tables requests write to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowCounts {
    /// Accounts.
    pub accounts: u64,
    /// Contacts.
    pub contacts: u64,
    /// Deals.
    pub deals: u64,
    /// Evidence rows.
    pub evidence: u64,
    /// Stage transitions.
    pub transitions: u64,
    /// Holds.
    pub holds: u64,
    /// Audit log entries.
    pub audit_entries: u64,
}

/// Everything a refused request must leave as it was.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Row counts.
    pub rows: RowCounts,
    /// The deals' detail views.
    pub deals: Vec<Value>,
}

/// The ids in a JSON array of numbers, sorted.
pub fn sorted_ids(value: &Value) -> Vec<i32> {
    let mut ids: Vec<i32> = value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| i32::try_from(v.as_i64().expect("a number")).expect("a small id"))
        .collect();
    ids.sort_unstable();
    ids
}

/// `ids`, sorted.
pub fn sorted(mut ids: Vec<i32>) -> Vec<i32> {
    ids.sort_unstable();
    ids
}

/// An API request and the status it gets when it succeeds.
#[derive(Debug, Clone)]
pub struct ApiCall {
    /// The method.
    pub method: Method,
    /// The path.
    pub path: String,
    /// A valid JSON body.
    pub body: Value,
    /// The status of success.
    pub success: StatusCode,
}

impl ApiCall {
    fn new(method: Method, path: String, body: Value, success: StatusCode) -> Self {
        Self { method, path, body, success }
    }

    /// `METHOD path`, for assertion messages.
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Every state-changing API route with a valid body, in an order in which
/// each succeeds for a member when `ready` is a deal in handoff with its exit
/// criteria met, `held` a deal on hold, and `criterion` an optional criterion
/// of handoff; `email` is a user's.
pub fn state_changing_calls(ready: &str, held: &str, criterion: i32, email: &str) -> Vec<ApiCall> {
    let deal = format!("/api/v1/deals/{ready}");
    vec![
        ApiCall::new(
            Method::POST,
            "/api/v1/deals".to_owned(),
            json!({"name": "New deal", "closed_won_on": "2026-03-01", "account": {"name": "Globex"}}),
            StatusCode::CREATED,
        ),
        ApiCall::new(
            Method::PATCH,
            deal.clone(),
            json!({"csm": email, "next_call_at": "2026-03-04T10:00:00Z"}),
            StatusCode::OK,
        ),
        ApiCall::new(Method::POST, format!("{deal}/evidence"), evidence_body(criterion), StatusCode::CREATED),
        ApiCall::new(Method::POST, format!("{deal}/advance"), json!({}), StatusCode::OK),
        ApiCall::new(Method::POST, format!("{deal}/move-back"), json!({"reason": "UAT reopened"}), StatusCode::OK),
        ApiCall::new(Method::POST, format!("{deal}/hold"), json!({"reason": "Customer on holiday"}), StatusCode::OK),
        ApiCall::new(Method::POST, format!("/api/v1/deals/{held}/resume"), json!({}), StatusCode::OK),
    ]
}

/// The API's read routes, for the deal `deal`.
pub fn read_calls(deal: &str) -> Vec<ApiCall> {
    ["/api/v1/stages".to_owned(), "/api/v1/deals".to_owned(), format!("/api/v1/deals/{deal}")]
        .into_iter()
        .map(|path| ApiCall::new(Method::GET, path, Value::Null, StatusCode::OK))
        .collect()
}
