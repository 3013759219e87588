//! Customers who say the promises were kept are the company's best
//! salespeople; this finds them and keeps them from being over-asked.
//!
//! - [`candidates`]: **who is an advocacy candidate**, ranked, with reasons;
//! - [`asks`]: the ledger of asks (review, reference call, case study,
//!   referral, testimonial) and their outcomes, and the one ask budget per
//!   contact that surveys and advocacy asks share.

pub mod asks;
pub mod candidates;

/// The kinds of ask.
pub mod kind {
    /// A public review (e.g. on a review site).
    pub const REVIEW: &str = "review";
    /// A call with a prospect.
    pub const REFERENCE_CALL: &str = "reference_call";
    /// A written case study.
    pub const CASE_STUDY: &str = "case_study";
    /// An introduction to a new customer.
    pub const REFERRAL: &str = "referral";
    /// A quote for the website or sales material.
    pub const TESTIMONIAL: &str = "testimonial";

    /// Every kind with its label, in the order forms offer them.
    pub const ALL: [(&str, &str); 5] = [
        (REFERENCE_CALL, "Reference call"),
        (REVIEW, "Review"),
        (CASE_STUDY, "Case study"),
        (TESTIMONIAL, "Testimonial"),
        (REFERRAL, "Referral"),
    ];

    /// The label of a stored kind.
    pub fn label(kind: &str) -> &'static str {
        ALL.iter().find(|(k, _)| *k == kind).map_or("Ask", |(_, label)| label)
    }
}

/// The outcomes of an ask.
pub mod outcome {
    /// Asked; no answer yet.
    pub const PENDING: &str = "pending";
    /// They did it (with a link to the review, recording, case study...).
    pub const DONE: &str = "done";
    /// They said no.
    pub const DECLINED: &str = "declined";

    /// Every outcome, in the order summaries show them.
    pub const ALL: [&str; 3] = [PENDING, DONE, DECLINED];
}
