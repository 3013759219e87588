//! The numbers a customer-success leader is judged by, computed once here
//! and used by the web, the API, digests and exports alike.
//!
//! - [`stats`]: confidence intervals and percentiles;
//! - [`promise_kept`]: **what counts as a kept promise**, the promise-kept
//!   rate with its interval, by group and as a monthly trend;
//! - [`nps`]: the recommend score (promoters minus detractors);
//! - [`survey_health`]: response rates, reminders, expiries, unsubscribes;
//! - [`pipeline`]: time in stage, conversion by cohort, time to live, go-live forecast;
//! - [`profitability`]: ARPA, LTV, LTV:CAC and CAC payback, by account and segment.

pub mod nps;
pub mod pipeline;
pub mod profitability;
pub mod promise_kept;
pub mod stats;
pub mod survey_health;
