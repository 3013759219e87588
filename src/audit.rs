//! The audit log: who changed what, written in the same transaction as the
//! change itself.

use chrono::{DateTime, Utc};
use entity::audit_entry;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QueryOrder, QuerySelect, Set};

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

/// An audit entry as people read it.
#[derive(Debug, Clone)]
pub struct AuditLine {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it (their email), or `system`.
    pub actor: String,
    /// What they did, e.g. `deal.advance`.
    pub action: String,
    /// What it was done to, e.g. `deal:12`.
    pub subject: String,
    /// The particulars.
    pub detail: String,
}

/// The latest `limit` entries, newest first.
pub async fn recent(db: &impl ConnectionTrait, limit: u64) -> AppResult<Vec<AuditLine>> {
    let rows = audit_entry::Entity::find().order_by_desc(audit_entry::Column::Id).limit(limit).all(db).await?;
    let names = crate::auth::users::emails_by_id(db).await?;
    Ok(rows
        .into_iter()
        .map(|row| AuditLine {
            at: row.at,
            actor: row.actor_id.and_then(|id| names.get(&id).cloned()).unwrap_or_else(|| "system".to_owned()),
            action: row.action,
            subject: row.subject,
            detail: row.detail,
        })
        .collect())
}
