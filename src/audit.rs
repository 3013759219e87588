//! The audit log: who changed what, written in the same transaction as the
//! change itself.

use chrono::{DateTime, Utc};
use entity::audit_entry;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

use crate::AppResult;

/// Records that `actor` did `action` to `subject` (e.g. `deal:12`).
pub async fn record(
    db: &impl ConnectionTrait,
    actor: Option<i32>,
    action: &str,
    subject: &str,
    detail: impl Into<String>,
    at: DateTime<Utc>,
) -> AppResult<()> {
    audit_entry::ActiveModel {
        actor_id: Set(actor),
        action: Set(action.to_owned()),
        subject: Set(subject.to_owned()),
        detail: Set(detail.into()),
        at: Set(at),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}
