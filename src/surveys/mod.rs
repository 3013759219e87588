//! Promises of value and the surveys that ask, 6, 9 and 12 months after the
//! purchase, whether each was kept.
//!
//! - [`promises`]: recording promises; editable until a survey covers them;
//! - [`planner`]: **who gets a survey when** (waves, lateness, cooldown,
//!   merging, unsubscribes, churn);
//! - [`email`]: the survey and reminder emails (English, Dutch);
//! - [`page`]: the public survey page: tokens, one submission, unsubscribe;
//! - [`reminders`]: reminding non-respondents and expiring surveys;
//! - [`followups`]: a "not kept" verdict becomes work for the deal's owners;
//! - [`queries`]: surveys as lists and pages show them.

pub mod email;
pub mod followups;
pub mod page;
pub mod planner;
pub mod promises;
pub mod queries;
pub mod reminders;

/// Survey statuses.
pub mod status {
    /// Sent, waiting for the customer.
    pub const SENT: &str = "sent";
    /// The customer answered.
    pub const ANSWERED: &str = "answered";
    /// Not answered in time; the link no longer works.
    pub const EXPIRED: &str = "expired";
}

/// Wave statuses.
pub mod wave_status {
    /// Due, waiting for the contact's cooldown to pass.
    pub const WAITING: &str = "waiting";
    /// Not surveyed (imported late, no reachable contact, churned).
    pub const SKIPPED: &str = "skipped";
    /// Covered by a survey.
    pub const SURVEYED: &str = "surveyed";
}

/// A customer's verdict on one promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The promise was kept.
    Kept,
    /// Partly kept.
    Partly,
    /// Not kept: this opens a follow-up.
    NotKept,
    /// Too early to tell: left out of the promise-kept rate.
    TooEarly,
}

impl Verdict {
    /// Every verdict, in the order the page offers them.
    pub const ALL: [Verdict; 4] = [Verdict::Kept, Verdict::Partly, Verdict::NotKept, Verdict::TooEarly];

    /// The stored and submitted value.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Kept => "kept",
            Verdict::Partly => "partly",
            Verdict::NotKept => "not_kept",
            Verdict::TooEarly => "too_early",
        }
    }

    /// Parses a submitted value.
    pub fn parse(value: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == value)
    }
}
