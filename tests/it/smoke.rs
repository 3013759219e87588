//! The app starts on a fresh database and answers its health checks.

use axum::http::{Method, StatusCode};

use crate::helpers::TestApp;

#[tokio::test]
async fn health_and_readiness_answer_on_a_fresh_database() {
    let app = TestApp::new().await;
    assert_eq!(app.request(Method::GET, "/healthz", None, None).await.status, StatusCode::OK);
    assert_eq!(app.request(Method::GET, "/readyz", None, None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_report_request_latency_outbox_depth_and_job_runs_for_prometheus() {
    let app = TestApp::new().await;
    for _ in 0..3 {
        app.request(Method::GET, "/healthz", None, None).await;
    }
    app.request(Method::GET, "/api/v1/deals/12345", None, None).await;
    let now = aftercare::Clock::now(&app.clock);
    aftercare::jobs::run_manually(&app.state, "survey-expiry", now).await.expect("a job run");
    let email = aftercare::mail::outbox::NewEmail {
        dedupe_key: "test:1".to_owned(),
        kind: "test",
        recipient: "Ann <ann@example.com>".to_owned(),
        reply_to: None,
        subject: "Hello".to_owned(),
        text_body: "Hi".to_owned(),
        html_body: "<p>Hi</p>".to_owned(),
        list_unsubscribe: None,
    };
    let base = app.state.config.base_url.clone();
    aftercare::mail::outbox::enqueue(&app.state.db, email, &base, now - chrono::Duration::minutes(5))
        .await
        .expect("queueing");

    let response = app.request(Method::GET, "/metrics", None, None).await;
    assert_eq!(response.status, StatusCode::OK);
    let text = &response.text;
    let line = |prefix: &str| {
        text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix} in:\n{text}")).to_owned()
    };
    assert!(
        line("aftercare_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\",status=\"200\"}")
            .ends_with(" 3")
    );
    // By route template, not by id.
    line("aftercare_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/deals/{id}\",status=\"401\"}");
    assert!(line("aftercare_outbox_messages{channel=\"email\",status=\"pending\"}").ends_with(" 1"));
    let age: f64 = line("aftercare_outbox_oldest_pending_age_seconds")
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a number");
    assert!((age - 300.0).abs() < 1e-9, "queued five minutes before the clock's now: {age}");
    assert!(line("aftercare_job_runs{job=\"survey-expiry\",outcome=\"ok\"}").ends_with(" 1"));
    line("aftercare_job_last_run_timestamp_seconds{job=\"survey-expiry\"}");
}
