//! The app starts on a fresh database and answers its health checks.

use axum::http::{Method, StatusCode};

use crate::helpers::TestApp;

#[tokio::test]
async fn health_and_readiness_answer_on_a_fresh_database() {
    let app = TestApp::new().await;
    assert_eq!(app.request(Method::GET, "/healthz", None, None).await.status, StatusCode::OK);
    assert_eq!(app.request(Method::GET, "/readyz", None, None).await.status, StatusCode::OK);
}
