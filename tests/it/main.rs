//! Aftercare's integration tests: one binary, each test on its own fresh
//! database (SQLite by default; PostgreSQL when
//! `AFTERCARE_TEST_DATABASE_URL` names a server), driving the real router.

mod advocacy;
mod api_bad_input;
mod api_holds;
mod api_pipeline;
mod api_roles;
mod cli;
mod digests;
mod digests_web;
mod e2e;
mod helpers;
mod import;
mod jobs;
mod metrics_pipeline;
mod metrics_surveys;
mod migrations;
mod openapi;
mod outbox;
mod profitability;
mod scale;
mod smoke;
mod smtp;
mod surveys_email;
mod surveys_helpers;
mod surveys_page;
mod surveys_planner;
mod surveys_promises;
mod surveys_reminders;
mod web_client;
mod web_pages;
mod web_security;
mod webhooks;
