//! The one place where Aftercare is wired together: state, router, server.

use std::sync::Arc;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::json;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::mail::Mailer;
use crate::{api, db, pipeline, web};

/// The largest request body we read (an evidence note is far smaller).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What every request handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub db: DatabaseConnection,
    /// The clock services read "now" from.
    pub clock: Arc<dyn Clock>,
    /// The settings.
    pub config: Arc<Config>,
    /// Delivers the outbox.
    pub mailer: Arc<Mailer>,
    /// Names this process in job runs and outbox claims.
    pub instance: String,
    /// Throttles public survey submissions.
    pub limits: Arc<crate::surveys::page::Limits>,
    /// Request latencies and the figures `/metrics` reports.
    pub telemetry: Arc<crate::telemetry::Telemetry>,
}

impl AppState {
    /// Connects, migrates and prepares the default pipeline.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let db = db::connect(&config.database_url).await?;
        db::migrate(&db).await?;
        pipeline::stages::ensure_defaults(&db, clock.now()).await.context("creating the default pipeline")?;
        let mailer = Arc::new(Mailer::from_config(&config.mail)?);
        let instance = instance_name()?;
        let limits = Arc::new(crate::surveys::page::Limits::new());
        let telemetry = Arc::new(crate::telemetry::Telemetry::new());
        Ok(Self { db, clock, config: Arc::new(config), mailer, instance, limits, telemetry })
    }

    /// Builds state on the wall clock.
    pub async fn with_system_clock(config: Config) -> anyhow::Result<Self> {
        Self::build(config, Arc::new(SystemClock)).await
    }

    /// The current instant, from the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// A name for this process that is unique among instances sharing a database.
fn instance_name() -> anyhow::Result<String> {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "aftercare".to_owned());
    let suffix = &crate::auth::tokens::random_secret().map_err(|e| anyhow::anyhow!("{e}"))?[..8];
    Ok(format!("{host}-{}-{suffix}", std::process::id()))
}

/// The whole HTTP surface: health checks, the JSON API and the web UI.
pub fn router(state: AppState) -> Router {
    let telemetry = state.telemetry.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::telemetry::metrics))
        .nest("/api/v1", api::router())
        .merge(api::docs::router())
        .merge(web::router())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(security_header(header::REFERRER_POLICY, "same-origin"))
        .layer(security_header(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .layer(TraceLayer::new_for_http())
        .route_layer(axum::middleware::from_fn_with_state(telemetry, crate::telemetry::track))
        .with_state(state)
}

/// Pages use no scripts and only our own stylesheet; nothing may frame them.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; \
     frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Serves `router(state)` on `listener` until Ctrl-C or SIGTERM.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    axum::serve(listener, router(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    match state.db.execute_unprepared("SELECT 1").await {
        Ok(_) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "database unavailable"})))
        }
    }
}
