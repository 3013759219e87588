//! sea-orm entities for Aftercare, one module per table. No logic lives here:
//! the rules are in the application crate's domain modules.

pub mod account;
pub mod api_token;
pub mod audit_entry;
pub mod contact;
pub mod criterion;
pub mod deal;
pub mod deal_hold;
pub mod evidence;
pub mod session;
pub mod stage;
pub mod stage_transition;
pub mod user;
