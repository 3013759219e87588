//! Aftercare's integration tests: one binary, each test on its own fresh
//! database (SQLite by default; PostgreSQL when
//! `AFTERCARE_TEST_DATABASE_URL` names a server), driving the real router.

mod api_bad_input;
mod api_holds;
mod api_pipeline;
mod api_roles;
mod cli;
mod e2e;
mod helpers;
mod migrations;
mod smoke;
mod web_client;
mod web_pages;
mod web_security;
