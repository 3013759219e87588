//! The web UI (placeholder while being built).
use axum::Router;
use crate::AppState;
/// The web UI's routes.
pub fn router() -> Router<AppState> { Router::new() }
