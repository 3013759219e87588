//! sea-orm entities for Aftercare, one module per table. No logic lives here:
//! the rules are in the application crate's domain modules.

pub mod account;
pub mod advocacy_ask;
pub mod api_token;
pub mod audit_entry;
pub mod contact;
pub mod criterion;
pub mod dashboard_snapshot;
pub mod deal;
pub mod deal_hold;
pub mod digest_unsubscribe_token;
pub mod evidence;
pub mod followup;
pub mod import;
pub mod inbound_event;
pub mod job_lease;
pub mod job_run;
pub mod outbox_message;
pub mod promise;
pub mod session;
pub mod stage;
pub mod stage_transition;
pub mod survey;
pub mod survey_answer;
pub mod survey_promise;
pub mod survey_response;
pub mod survey_token;
pub mod survey_wave;
pub mod user;
pub mod webhook_endpoint;
pub mod webhook_source;
