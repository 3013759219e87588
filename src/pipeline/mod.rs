//! The post-close pipeline: where a deal is, and when it may move.
//!
//! - [`stages`]: the stages, their time targets and exit criteria (settings);
//! - [`gate`]: **when a deal may leave a stage** (advance, move back);
//! - [`evidence`]: recording the customer's evidence for a criterion;
//! - [`holds`]: holds, and time in stage (active vs on-hold days, stuck);
//! - [`deals`]: creating, listing and showing deals; owners and next call;
//! - [`board`]: the board's counts and cards, without measuring every deal.

pub mod board;
pub mod deals;
pub mod evidence;
pub mod gate;
pub mod holds;
pub mod stages;

use sea_orm::{ConnectionTrait, EntityTrait};

use crate::{AppError, AppResult};

/// Loads a deal or fails with 404.
pub(crate) async fn find_deal(db: &impl ConnectionTrait, id: i32) -> AppResult<entity::deal::Model> {
    entity::deal::Entity::find_by_id(id).one(db).await?.ok_or(AppError::NotFound("deal"))
}
