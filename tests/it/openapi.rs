//! The OpenAPI document at `GET /api/v1/openapi.json`: it matches its
//! snapshot (`tests/snapshots/openapi.json`; `UPDATE_SNAPSHOTS=1` rewrites
//! it), every operation it lists is served and guarded as it says, no route
//! bypasses it, and the docs page at `GET /api/docs` renders it.

use std::path::Path;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::helpers::TestApp;

/// The snapshot of the document, as pretty JSON.
const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/openapi.json");

/// The methods an OpenAPI path item may hold.
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

async fn document(app: &TestApp) -> Value {
    let response = app.request(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let content_type = response.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("application/json"), "served as {content_type}");
    response.json()
}

/// Every operation of the document: (method, path, operation).
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let paths = document["paths"].as_object().expect("paths");
    let mut found = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((method.to_owned(), path.clone(), operation.clone()));
            }
        }
    }
    found
}

/// Where `expected` and `actual` differ, as JSON pointers with both values.
fn differences(expected: &Value, actual: &Value, at: &str, found: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, value) in e {
                let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                match a.get(key) {
                    Some(other) => differences(value, other, &here, found),
                    None => found.push(format!("{here}: removed")),
                }
            }
            for key in a.keys().filter(|k| !e.contains_key(*k)) {
                found.push(format!("{at}/{}: added", key.replace('~', "~0").replace('/', "~1")));
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (e, a)) in e.iter().zip(a).enumerate() {
                differences(e, a, &format!("{at}/{i}"), found);
            }
        }
        _ if expected != actual => {
            let short = |v: &Value| {
                let text = v.to_string();
                if text.chars().count() > 120 {
                    format!("{}...", text.chars().take(120).collect::<String>())
                } else {
                    text
                }
            };
            found.push(format!("{at}: was {}, now {}", short(expected), short(actual)));
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_document_matches_its_snapshot() {
    let app = TestApp::new().await;
    let actual = document(&app).await;
    let pretty = format!("{}\n", serde_json::to_string_pretty(&actual).expect("serializable"));
    if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(Path::new(SNAPSHOT).parent().expect("a folder")).expect("creating tests/snapshots");
        std::fs::write(SNAPSHOT, pretty).expect("writing the snapshot");
        eprintln!("rewrote {SNAPSHOT}; review it with `git diff tests/snapshots/openapi.json`");
        return;
    }
    let hint = "if the change is intended, run `UPDATE_SNAPSHOTS=1 cargo test --test it openapi` and review \
                `git diff tests/snapshots/openapi.json`";
    let expected = std::fs::read_to_string(SNAPSHOT).unwrap_or_else(|e| panic!("reading {SNAPSHOT}: {e}; {hint}"));
    let expected: Value = serde_json::from_str(&expected).unwrap_or_else(|e| panic!("{SNAPSHOT} is not JSON: {e}"));
    let mut found = Vec::new();
    differences(&expected, &actual, "", &mut found);
    assert!(
        found.is_empty(),
        "the OpenAPI document differs from {SNAPSHOT} in {} place(s) (JSON pointers):\n  {}{}\n{hint}",
        found.len(),
        found.iter().take(30).cloned().collect::<Vec<_>>().join("\n  "),
        if found.len() > 30 { "\n  ..." } else { "" },
    );
}

#[tokio::test]
async fn every_reference_in_the_document_resolves() {
    fn walk(value: &Value, root: &Value, broken: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    let pointer = target.strip_prefix('#').unwrap_or(target);
                    if root.pointer(pointer).is_none() {
                        broken.push(target.clone());
                    }
                }
                map.values().for_each(|v| walk(v, root, broken));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, root, broken)),
            _ => {}
        }
    }
    let app = TestApp::new().await;
    let document = document(&app).await;
    assert_eq!(document["openapi"], "3.1.0");
    let mut broken = Vec::new();
    walk(&document, &document, &mut broken);
    assert!(broken.is_empty(), "references to nothing: {broken:?}");
    // Every operation has a tag, a summary and a unique id.
    let mut ids = std::collections::BTreeSet::new();
    for (method, path, operation) in operations(&document) {
        assert!(operation["tags"].as_array().is_some_and(|t| !t.is_empty()), "{method} {path} has no tag");
        assert!(operation["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path} has no summary");
        let id = operation["operationId"].as_str().unwrap_or_default().to_owned();
        assert!(ids.insert(id.clone()), "{method} {path}: operationId {id:?} is used twice");
    }
}

#[tokio::test]
async fn every_documented_operation_is_served_and_guarded_as_documented() {
    let app = TestApp::new().await;
    let document = document(&app).await;
    let operations = operations(&document);
    assert!(operations.len() >= 27, "only {} operations documented", operations.len());
    // What a route that is not served answers.
    let unrouted = app.request(Method::GET, "/api/v1/no-such-route", None, None).await;
    assert_eq!((unrouted.status, unrouted.error_code()), (StatusCode::NOT_FOUND, "not_found".to_owned()));
    let not_routed = |response: &crate::helpers::TestResponse| {
        response.status == StatusCode::METHOD_NOT_ALLOWED
            || (response.status == StatusCode::NOT_FOUND && response.json()["error"]["message"] == "route not found")
    };
    for (method, path, operation) in operations {
        assert!(path.starts_with("/api/v1/"), "{path} is outside the API");
        let concrete = path.replace("{id}", "1");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
        let response = app.request_raw(method.clone(), &concrete, None, None, None).await;
        let label = format!("{method} {path}");
        assert!(!not_routed(&response), "{label} is documented but not routed: {} {}", response.status, response.text);
        // An operation without `security` has the document's: bearer.
        let security = operation.get("security").unwrap_or(&document["security"]);
        let bearer = security.as_array().is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        let public = security == &serde_json::json!([{}]);
        if bearer {
            assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{label} without a token: {}", response.text);
            assert_eq!(response.error_code(), "unauthenticated", "{label}");
            assert!(operation["responses"]["401"].is_object(), "{label} does not document its 401");
        } else if public && method == Method::GET {
            assert_eq!(response.status, StatusCode::OK, "{label} is documented as public: {}", response.text);
        }
    }
    // The document's default is bearer auth, and the scheme is described.
    assert_eq!(document["security"], serde_json::json!([{"bearer": []}]));
    assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(document["paths"]["/api/v1/openapi.json"]["get"]["security"], serde_json::json!([{}]));
}

/// Routes must be registered with `routes!` on an `OpenApiRouter`, which
/// documents them; axum's plain `.route(...)` would serve a route that the
/// document does not list (axum's router cannot be asked for its routes, so
/// this reads the sources of `src/api`). `docs.rs` serves the HTML page at
/// `/api/docs`, outside `/api/v1`.
#[test]
fn no_route_bypasses_the_document() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut bypasses = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("src/api") {
        let path = entry.expect("an entry").path();
        if path.extension().is_none_or(|e| e != "rs") || path.file_name().is_some_and(|n| n == "docs.rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("a source file");
        for (number, line) in source.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if [".route(", ".route_service(", ".nest_service(", "routing::"].iter().any(|p| code.contains(p)) {
                bypasses.push(format!("{}:{}: {}", path.display(), number + 1, line.trim()));
            }
        }
    }
    assert!(
        bypasses.is_empty(),
        "register API routes with `.routes(routes!(handler))` and a #[utoipa::path] annotation \
         (see src/api/openapi.rs), not with axum's routing:\n  {}",
        bypasses.join("\n  ")
    );
}

#[tokio::test]
async fn the_docs_page_lists_every_operation_without_scripts() {
    let app = TestApp::new().await;
    let document = document(&app).await;
    // Through the whole app, as a browser would reach it.
    let router = aftercare::router(app.state.clone());
    let request = Request::builder().uri("/api/docs").body(Body::empty()).expect("a request");
    let response = router.oneshot(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "served as {content_type}");
    let bytes = response.into_body().collect().await.expect("a body").to_bytes();
    let html = String::from_utf8(bytes.to_vec()).expect("UTF-8");
    assert!(!html.contains("<script"), "the page must work without scripts (the CSP forbids them)");
    assert!(!html.contains("http://") && !html.contains("https://cdn"), "the page must load nothing from elsewhere");
    let page = scraper::Html::parse_document(&html);
    let operation = scraper::Selector::parse("[data-operation]").expect("a selector");
    let listed: std::collections::BTreeMap<String, String> = page
        .select(&operation)
        .filter_map(|e| Some((e.value().attr("data-operation")?.to_owned(), e.text().collect::<String>())))
        .collect();
    for (method, path, op) in operations(&document) {
        let key = format!("{} {path}", method.to_uppercase());
        let text = listed.get(&key).unwrap_or_else(|| panic!("the docs page does not list {key}"));
        let summary = op["summary"].as_str().expect("a summary").replace('`', "");
        assert!(text.contains(&summary), "the docs page lacks the summary of {key}: {summary}");
    }
    for tag in document["tags"].as_array().expect("tags") {
        let name = tag["name"].as_str().expect("a tag name");
        assert!(html.contains(&format!("id=\"tag-{name}\"")), "no section for the tag {name}");
    }
    // Request body fields and error responses are spelled out.
    assert!(html.contains("closed_won_on"), "the fields of POST /api/v1/deals are missing");
    assert!(html.contains("validation_failed"), "the error responses are missing");
    assert!(html.contains("/api/v1/openapi.json"), "the page links the document");
}
