//! Typed settings, resolved once at start-up from flags and environment.

use std::net::SocketAddr;

/// The default embedded database: a SQLite file under `data/`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/aftercare.db";

/// Settings that the running server needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the database lives (`sqlite://...` or `postgres://...`).
    pub database_url: String,
    /// The address `serve` listens on.
    pub listen: SocketAddr,
    /// The public base URL, for absolute links (no trailing slash).
    pub base_url: String,
    /// Whether session cookies carry the `Secure` attribute.
    pub secure_cookies: bool,
}

impl Config {
    /// Settings for tests and tools: a database, everything else default.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            base_url: "http://127.0.0.1:3000".to_owned(),
            secure_cookies: false,
        }
    }
}
