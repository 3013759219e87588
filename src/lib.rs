//! Aftercare carries every won deal from closed-won to live, gated by the
//! customer's evidence, and later asks the customer whether the promises made
//! during the sale were kept.
//!
//! Layers, top to bottom (arrows only point down):
//! - interfaces: [`web`] (HTML), [`api`] (JSON), [`cli`];
//! - services, where every business rule lives once: [`pipeline`],
//!   [`accounts`], [`auth`], [`audit`], [`demo`];
//! - infrastructure: the `entity` crate, [`db`], [`clock`].

pub mod accounts;
pub mod advocacy;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod digests;
pub mod error;
pub mod import;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod pipeline;
pub mod surveys;
pub mod telemetry;
pub mod validate;
pub mod web;
pub mod webhooks;

pub use app::{AppState, router};
pub use clock::Clock;
pub use error::{AppError, AppResult};
