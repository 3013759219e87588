//! Bad input on every API route gets a 4xx in the error envelope that names
//! the field and the problem; never a 500, and nothing is written.

use aftercare::auth::Role;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{
    ApiCall, Snapshot, TestApp, TestResponse, TestUser, evidence_body, read_calls, state_changing_calls,
};

/// A deal in closed_won with evidence on one criterion, and what the bad
/// requests are aimed at.
struct Fixture {
    app: TestApp,
    member: TestUser,
    deal: i32,
    /// A required criterion of closed_won, with evidence.
    criterion: i32,
    /// Its evidence row.
    evidence: i32,
    /// Another required criterion of closed_won, without evidence.
    other_criterion: i32,
    before: Snapshot,
}

impl Fixture {
    async fn new() -> Self {
        let app = TestApp::new().await;
        let member = app.user(Role::Member).await;
        let deal = app.create_deal(&member, "Acme rollout").await;
        let required = app.required_criteria("closed_won").await;
        let evidence = app.record_evidence_for(&member, deal, &required[..1]).await[0];
        let before = app.snapshot(&member, &[deal]).await;
        Self { app, member, deal, criterion: required[0], evidence, other_criterion: required[1], before }
    }

    /// Every state-changing route, with a valid body, aimed at the deal.
    fn body_routes(&self) -> Vec<ApiCall> {
        let id = self.deal.to_string();
        state_changing_calls(&id, &id, self.criterion, &self.member.email)
    }

    fn path(&self, action: &str) -> String {
        match action {
            "create" => "/api/v1/deals".to_owned(),
            "update" => format!("/api/v1/deals/{}", self.deal),
            action => format!("/api/v1/deals/{}/{action}", self.deal),
        }
    }

    fn method(action: &str) -> Method {
        if action == "update" { Method::PATCH } else { Method::POST }
    }

    /// Sends `body` to the route `action` (`create`, `update`, `evidence`,
    /// `advance`, `move-back`, `hold`, `resume`) as JSON.
    async fn send_json(&self, action: &str, body: &Value) -> TestResponse {
        self.app.request(Self::method(action), &self.path(action), Some(&self.member.token), Some(body.clone())).await
    }

    async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: impl Into<Body>,
        content_type: Option<&str>,
    ) -> TestResponse {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.member.token));
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        self.app.send(request.body(body.into()).expect("a valid request")).await
    }

    /// Asserts the response is `status` with `code` in the envelope, and
    /// that nothing was written.
    async fn assert_refused(&self, case: &str, response: &TestResponse, status: StatusCode, code: &str) {
        assert_ne!(response.status, StatusCode::INTERNAL_SERVER_ERROR, "{case}: {}", response.text);
        assert_eq!(response.status, status, "{case}: {}", response.text);
        let content_type = response.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert_eq!(
            content_type, "application/json",
            "{case}: the error is in the JSON envelope: {:.300}",
            response.text
        );
        assert_eq!(response.error_code(), code, "{case}: {}", response.text);
        let message = response.json()["error"]["message"].as_str().unwrap_or_default().to_owned();
        assert!(!message.is_empty(), "{case}: the error says what is wrong");
        assert_eq!(self.app.snapshot(&self.member, &[self.deal]).await, self.before, "{case}: something was written");
    }

    /// Asserts a 422 that names `field`.
    async fn assert_field_error(&self, case: &str, response: &TestResponse, field: &str) {
        self.assert_refused(case, response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        let problem =
            response.field_error(field).unwrap_or_else(|| panic!("{case}: {field} is not named: {}", response.text));
        assert!(!problem.is_empty(), "{case}: {field} has a message");
    }

    /// Sends each `(action, body, field)` case and asserts a 422 naming `field`.
    async fn assert_field_errors(&self, cases: &[(&str, Value, &str)]) {
        for (action, body, field) in cases {
            let response = self.send_json(action, body).await;
            self.assert_field_error(&format!("{action} {}", brief(body)), &response, field).await;
        }
    }
}

/// A valid new-deal body with `changes` merged in (a `null` removes a key).
fn new_deal(changes: Value) -> Value {
    let mut body = json!({
        "name": "Globex rollout",
        "closed_won_on": "2026-03-01",
        "account": {"name": "Globex", "domain": "globex.example", "segment": "Mid-market"},
        "contacts": [{"name": "Ann Lee", "email": "ann@globex.example", "role": "CFO", "language": "en"}],
    });
    merge(&mut body, changes);
    body
}

/// Valid evidence for `criterion` with `changes` merged in.
fn evidence(criterion: i32, changes: Value) -> Value {
    let mut body = evidence_body(criterion);
    merge(&mut body, changes);
    body
}

fn merge(body: &mut Value, changes: Value) {
    if let (Some(body), Value::Object(changes)) = (body.as_object_mut(), changes) {
        for (key, value) in changes {
            if value.is_null() {
                body.remove(&key);
            } else {
                body.insert(key, value);
            }
        }
    }
}

/// The start of a body, for assertion messages.
fn brief(body: &Value) -> String {
    body.to_string().chars().take(200).collect()
}

/// A string of `bytes` bytes.
fn long(bytes: usize) -> String {
    "x".repeat(bytes)
}

#[tokio::test]
async fn the_valid_bodies_the_cases_below_vary_are_accepted() {
    let f = Fixture::new().await;

    let created = f.send_json("create", &new_deal(json!({}))).await;
    let recorded = f.send_json("evidence", &evidence(f.other_criterion, json!({}))).await;

    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(recorded.status, StatusCode::CREATED, "{}", recorded.text);
}

#[tokio::test]
async fn malformed_json_is_refused_on_every_route() {
    let f = Fixture::new().await;
    let bodies = ["{", "{\"name\": }", "not json", "{\"reason\": \"x\",}", "{} {}", "[1, 2", "{'reason': 'x'}"];

    for call in f.body_routes() {
        for body in bodies {
            let response = f.send_raw(call.method.clone(), &call.path, body, Some("application/json")).await;
            f.assert_refused(&format!("{} {body}", call.label()), &response, StatusCode::BAD_REQUEST, "malformed_json")
                .await;
        }
        let response =
            f.send_raw(call.method.clone(), &call.path, vec![0xff, 0xfe, b'{'], Some("application/json")).await;
        f.assert_refused(
            &format!("{} with bytes that are not UTF-8", call.label()),
            &response,
            StatusCode::BAD_REQUEST,
            "malformed_json",
        )
        .await;
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_refused_with_415() {
    let f = Fixture::new().await;

    for call in f.body_routes() {
        for content_type in
            [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/xml"), None]
        {
            let response = f.send_raw(call.method.clone(), &call.path, call.body.to_string(), content_type).await;
            let case = format!("{} as {content_type:?}", call.label());
            f.assert_refused(&case, &response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
        }
    }
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_is_refused_on_every_route() {
    let f = Fixture::new().await;

    for call in f.body_routes() {
        for body in [json!("a string"), json!(42), json!(null), json!(true)] {
            let response =
                f.app.request(call.method.clone(), &call.path, Some(&f.member.token), Some(body.clone())).await;
            f.assert_field_error(&format!("{} {body}", call.label()), &response, "body").await;
        }
    }
}

#[tokio::test]
async fn values_of_the_wrong_type_name_the_field() {
    let f = Fixture::new().await;
    let c = f.criterion;
    f.assert_field_errors(&[
        ("create", new_deal(json!({"name": 5})), "name"),
        ("create", new_deal(json!({"closed_won_on": 20_260_301})), "closed_won_on"),
        ("create", new_deal(json!({"amount": "lots"})), "amount"),
        ("create", new_deal(json!({"currency": ["EUR"]})), "currency"),
        ("create", new_deal(json!({"external_id": 42})), "external_id"),
        ("create", new_deal(json!({"account": "Globex"})), "account"),
        ("create", new_deal(json!({"account": {"name": 5}})), "account.name"),
        ("create", new_deal(json!({"account": {"name": "Globex", "segment": {}}})), "account.segment"),
        ("create", new_deal(json!({"owners": {"csm": 5}})), "owners.csm"),
        ("create", new_deal(json!({"contacts": {"name": "Ann"}})), "contacts"),
        ("create", new_deal(json!({"contacts": [{"name": "Ann", "email": 5}]})), "contacts[0].email"),
        (
            "create",
            new_deal(json!({"contacts": [{"name": "Ann", "email": "ann@globex.example"}, {"name": true}]})),
            "contacts[1].name",
        ),
        ("update", json!({"next_call_at": 5}), "next_call_at"),
        ("update", json!({"csm": true}), "csm"),
        ("evidence", evidence(c, json!({"criterion_id": "abc"})), "criterion_id"),
        ("evidence", evidence(c, json!({"criterion_id": 1.5})), "criterion_id"),
        ("evidence", evidence(c, json!({"criterion_id": 99_999_999_999_i64})), "criterion_id"),
        ("evidence", evidence(c, json!({"note": 5})), "note"),
        ("evidence", evidence(c, json!({"confirmed_on": 1})), "confirmed_on"),
        ("evidence", evidence(c, json!({"supersedes_id": "the old one"})), "supersedes_id"),
        ("move-back", json!({"reason": 5}), "reason"),
        ("hold", json!({"reason": ["waiting"]}), "reason"),
    ])
    .await;
}

#[tokio::test]
async fn missing_required_fields_are_named() {
    let f = Fixture::new().await;
    let c = f.criterion;
    f.assert_field_errors(&[
        ("create", json!({}), "name"),
        ("create", json!({}), "closed_won_on"),
        ("create", json!({}), "account"),
        ("create", new_deal(json!({"name": null})), "name"),
        ("create", new_deal(json!({"name": "   "})), "name"),
        ("create", new_deal(json!({"closed_won_on": null})), "closed_won_on"),
        ("create", new_deal(json!({"account": {}})), "account.name"),
        ("create", new_deal(json!({"contacts": [{"name": "Ann"}]})), "contacts[0].email"),
        ("create", new_deal(json!({"contacts": [{"email": "ann@globex.example"}]})), "contacts[0].name"),
        ("evidence", json!({}), "criterion_id"),
        ("evidence", json!({"criterion_id": c}), "confirmed_by"),
        ("evidence", json!({"criterion_id": c}), "confirmed_on"),
        ("evidence", evidence(c, json!({"note": null, "url": null})), "note"),
        ("evidence", evidence(c, json!({"note": " ", "url": ""})), "note"),
        ("move-back", json!({}), "reason"),
        ("hold", json!({}), "reason"),
        ("hold", json!({"reason": ""}), "reason"),
    ])
    .await;
}

#[tokio::test]
async fn unknown_fields_are_named() {
    let f = Fixture::new().await;
    f.assert_field_errors(&[
        ("create", new_deal(json!({"nmae": "Globex"})), "nmae"),
        ("create", new_deal(json!({"stage": "live"})), "stage"),
        ("create", new_deal(json!({"account": {"name": "Globex", "colour": "red"}})), "account.colour"),
        ("create", new_deal(json!({"owners": {"cto": "x@team.example"}})), "owners.cto"),
        (
            "create",
            new_deal(json!({"contacts": [{"name": "Ann", "email": "ann@globex.example", "phone": "1"}]})),
            "contacts[0].phone",
        ),
        ("update", json!({"stage": "live"}), "stage"),
        ("update", json!({"csm": null, "owner": "x@team.example"}), "owner"),
        ("evidence", evidence(f.criterion, json!({"criterion": 1})), "criterion"),
        ("advance", json!({"force": true}), "force"),
        ("move-back", json!({"reason": "x", "to": "closed_won"}), "to"),
        ("hold", json!({"reason": "x", "until": "2026-04-01"}), "until"),
        ("resume", json!({"note": "back"}), "note"),
    ])
    .await;
}

#[tokio::test]
async fn dates_in_a_wrong_format_or_impossible_are_named() {
    let f = Fixture::new().await;
    let mut cases = Vec::new();
    for date in
        ["2026/03/01", "01-03-2026", "2026-02-30", "March 1st", "2026-03-01T09:00:00Z", "-5000-01-01", "2026-03-03"]
    {
        cases.push(("create", new_deal(json!({"closed_won_on": date})), "closed_won_on"));
        cases.push(("evidence", evidence(f.criterion, json!({"confirmed_on": date})), "confirmed_on"));
    }
    for at in [
        "2026/03/05 10:00",
        "05-03-2026 10:00",
        "tomorrow",
        "2026-13-01T10:00:00Z",
        "-5000-01-01T10:00",
        "99999-01-01T10:00",
    ] {
        cases.push(("update", json!({"next_call_at": at}), "next_call_at"));
    }
    f.assert_field_errors(&cases).await;
}

#[tokio::test]
async fn over_long_text_is_refused_without_writing() {
    let f = Fixture::new().await;
    let (mb, kb200) = (long(1024 * 1024), long(200 * 1024));
    f.assert_field_errors(&[
        ("create", new_deal(json!({"name": kb200})), "name"),
        ("create", new_deal(json!({"external_id": kb200})), "external_id"),
        ("create", new_deal(json!({"account": {"name": kb200}})), "account.name"),
        ("create", new_deal(json!({"contacts": [{"name": kb200, "email": "ann@globex.example"}]})), "contacts[0].name"),
        ("update", json!({"csm": kb200}), "csm"),
        ("update", json!({"next_call_at": kb200}), "next_call_at"),
        ("evidence", evidence(f.criterion, json!({"note": mb})), "note"),
        ("evidence", evidence(f.criterion, json!({"url": format!("https://mail.example.com/{mb}")})), "url"),
        ("evidence", evidence(f.criterion, json!({"confirmed_by": kb200})), "confirmed_by"),
        ("move-back", json!({"reason": mb}), "reason"),
        ("hold", json!({"reason": mb}), "reason"),
    ])
    .await;
}

#[tokio::test]
async fn a_body_over_the_size_limit_is_refused_with_413() {
    let f = Fixture::new().await;
    let huge = long(3 * 1024 * 1024);

    for call in f.body_routes() {
        let body = json!({"note": huge, "reason": huge}).to_string();
        let response = f.send_raw(call.method.clone(), &call.path, body, Some("application/json")).await;
        f.assert_refused(
            &format!("{} with 3 MB", call.label()),
            &response,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        )
        .await;
    }
}

#[tokio::test]
async fn text_with_a_nul_character_is_refused() {
    let f = Fixture::new().await;
    f.assert_field_errors(&[
        ("create", new_deal(json!({"name": "Globex\u{0}"})), "name"),
        ("create", new_deal(json!({"account": {"name": "Glo\u{0}bex"}})), "account.name"),
        ("evidence", evidence(f.criterion, json!({"note": "said yes\u{0}"})), "note"),
        ("evidence", evidence(f.criterion, json!({"confirmed_by": "Dana\u{0}"})), "confirmed_by"),
        ("move-back", json!({"reason": "\u{0}"}), "reason"),
        ("hold", json!({"reason": "waiting\u{0}"}), "reason"),
    ])
    .await;
}

#[tokio::test]
async fn invalid_values_are_named() {
    let f = Fixture::new().await;
    let c = f.criterion;
    let contacts: Vec<Value> =
        (0..101).map(|i| json!({"name": format!("Person {i}"), "email": format!("p{i}@globex.example")})).collect();
    f.assert_field_errors(&[
        ("create", new_deal(json!({"amount": -5})), "amount"),
        ("create", new_deal(json!({"amount": 1e300})), "amount"),
        ("create", new_deal(json!({"currency": "EURO"})), "currency"),
        ("create", new_deal(json!({"currency": "E1"})), "currency"),
        ("create", new_deal(json!({"account": {"name": "Globex", "domain": "not a domain"}})), "account.domain"),
        ("create", new_deal(json!({"contacts": [{"name": "Ann", "email": "ann-at-globex"}]})), "contacts[0].email"),
        (
            "create",
            new_deal(json!({"contacts": [{"name": "Ann", "email": "ann@globex.example", "language": "english!"}]})),
            "contacts[0].language",
        ),
        ("create", new_deal(json!({"contacts": contacts})), "contacts"),
        ("create", new_deal(json!({"owners": {"csm": "not-an-email"}})), "owners.csm"),
        ("create", new_deal(json!({"owners": {"account_manager": "nobody@team.example"}})), "owners.account_manager"),
        ("update", json!({"implementation_lead": "not-an-email"}), "implementation_lead"),
        ("evidence", evidence(c, json!({"url": "javascript:alert(1)"})), "url"),
        ("evidence", evidence(c, json!({"url": "not a link"})), "url"),
        ("evidence", evidence(c, json!({"supersedes_id": 999_999})), "supersedes_id"),
        ("evidence", evidence(f.other_criterion, json!({"supersedes_id": f.evidence})), "supersedes_id"),
        ("evidence", evidence(999_999, json!({})), "criterion_id"),
        ("evidence", evidence(-1, json!({})), "criterion_id"),
    ])
    .await;
}

#[tokio::test]
async fn a_criterion_of_another_stage_is_refused() {
    let f = Fixture::new().await;
    let mut cases = Vec::new();
    for stage in ["handoff", "implementing"] {
        for criterion in f.app.required_criteria(stage).await {
            cases.push(("evidence", evidence(criterion, json!({})), "criterion_id"));
        }
    }
    f.assert_field_errors(&cases).await;
}

#[tokio::test]
async fn unknown_or_non_numeric_deal_ids_are_not_found() {
    let f = Fixture::new().await;

    for id in ["abc", "999999", "0", "-1", "1.5", "99999999999", "1e3", "%20"] {
        let calls = state_changing_calls(id, id, f.criterion, &f.member.email).into_iter().skip(1);
        for call in calls.chain(read_calls(id).into_iter().skip(2)) {
            let body = (!call.body.is_null()).then(|| call.body.clone());
            let response = f.app.request(call.method.clone(), &call.path, Some(&f.member.token), body).await;
            f.assert_refused(&call.label(), &response, StatusCode::NOT_FOUND, "not_found").await;
        }
    }
}

#[tokio::test]
async fn unknown_api_routes_answer_404_in_the_envelope() {
    let f = Fixture::new().await;

    for path in ["/api/v1/nothing", format!("/api/v1/deals/{}/promote", f.deal).as_str(), "/api/v1/deals/1/evidence/2"]
    {
        let response = f.app.get(path, &f.member).await;
        f.assert_refused(path, &response, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn bad_query_parameters_on_the_deal_list_are_named() {
    let f = Fixture::new().await;
    let long_owner = format!("{}@team.example", long(10 * 1024));

    for (query, field) in [
        ("stage=signed".to_owned(), "stage"),
        ("stage=closed_won&stage=handoff".to_owned(), "stage"),
        ("owner=nobody@team.example".to_owned(), "owner"),
        ("owner=not-an-email".to_owned(), "owner"),
        (format!("owner={long_owner}"), "owner"),
        ("stuck=perhaps".to_owned(), "stuck"),
        ("on_hold=2".to_owned(), "on_hold"),
        ("account=acme".to_owned(), "account"),
        ("sort=name".to_owned(), "sort"),
    ] {
        let response = f.app.get(&format!("/api/v1/deals?{query}"), &f.member).await;
        f.assert_field_error(&format!("?{query:.80}"), &response, field).await;
    }
}
