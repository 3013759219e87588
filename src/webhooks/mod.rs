//! Webhooks: a CRM workflow posts closed-won deals in ([`inbound`]), and
//! Aftercare tells other tools what happens after ([`outbound`]).
//!
//! Both directions sign the same way: `X-Aftercare-Timestamp` carries the
//! Unix time in seconds and `X-Aftercare-Signature` is
//! `v1=` + hex(HMAC-SHA256(secret, "{timestamp}.{body}")). A receiver
//! recomputes it over the raw body and refuses timestamps outside
//! [`REPLAY_WINDOW`]. Inbound requests also name their source in
//! `X-Aftercare-Source`; each source has its own secret.
//!
//! Admins manage sources and endpoints here (the web settings page is a
//! thin layer over these functions); secrets are shown once, when made.

pub mod inbound;
pub mod outbound;

use chrono::{DateTime, Duration, Utc};
use entity::{webhook_endpoint, webhook_source};
use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use sha2::Sha256;

use crate::auth::tokens;
use crate::validate::{Fields, MAX_LINE};
use crate::{AppError, AppResult, audit};

/// The header naming an inbound request's source.
pub const SOURCE_HEADER: &str = "x-aftercare-source";
/// The header carrying the signing time (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-aftercare-timestamp";
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-aftercare-signature";
/// The header naming an outbound event's type.
pub const EVENT_HEADER: &str = "x-aftercare-event";
/// The header carrying an outbound event's id: the same event always has
/// the same id, so receivers can drop a repeat delivery.
pub const EVENT_ID_HEADER: &str = "x-aftercare-event-id";

/// How far a signed timestamp may be from now.
pub const REPLAY_WINDOW: Duration = Duration::minutes(5);

/// The events endpoints can subscribe to.
pub const EVENTS: [(&str, &str); 6] = [
    ("deal.stage_changed", "A deal moved to another stage (advanced or moved back)."),
    ("deal.live", "A deal reached the last stage: the customer is live."),
    ("deal.stuck", "A deal went over its stage's time target."),
    ("survey.answered", "A customer answered a survey."),
    ("promise.not_kept", "A customer said a promise was not kept."),
    ("advocacy.candidate", "A contact became an advocacy candidate."),
];

/// The signature of `body` signed at `timestamp` with `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v1={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

/// Whether `signature` is `body`'s at `timestamp` under `secret`
/// (compared in constant time).
pub fn verify(secret: &str, timestamp: i64, body: &[u8], signature: &str) -> bool {
    let Some(given) = signature.trim().strip_prefix("v1=").and_then(|h| hex::decode(h).ok()) else { return false };
    mac(secret, timestamp, body).verify_slice(&given).is_ok()
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this never fails.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Whether a signing time is within [`REPLAY_WINDOW`] of `now`.
pub fn fresh(timestamp: i64, now: DateTime<Utc>) -> bool {
    (now.timestamp() - timestamp).abs() <= REPLAY_WINDOW.num_seconds()
}

/// Every source, newest first.
pub async fn sources(db: &DatabaseConnection) -> AppResult<Vec<webhook_source::Model>> {
    Ok(webhook_source::Entity::find().order_by_desc(webhook_source::Column::Id).all(db).await?)
}

/// Adds a source named `name`; returns it with its secret (shown once).
pub async fn add_source(
    db: &DatabaseConnection,
    name: Option<&str>,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<webhook_source::Model> {
    let mut fields = Fields::new();
    let name = fields.required("name", name, MAX_LINE);
    fields.finish()?;
    let txn = crate::db::begin_write(db).await?;
    let taken = webhook_source::Entity::find().filter(webhook_source::Column::Name.eq(&name)).one(&txn).await?;
    if taken.is_some() {
        return Err(AppError::field("name", format!("a source called {name:?} exists; pick another name")));
    }
    let made = webhook_source::ActiveModel {
        name: Set(name.clone()),
        secret: Set(tokens::random_secret()?),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, Some(actor), "webhook_source.add", &format!("webhook_source:{}", made.id), name, now).await?;
    txn.commit().await?;
    Ok(made)
}

/// Revokes source `id`: its requests are refused from now on.
pub async fn revoke_source(db: &DatabaseConnection, id: i32, actor: i32, now: DateTime<Utc>) -> AppResult<()> {
    let txn = crate::db::begin_write(db).await?;
    let found = webhook_source::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound("webhook source"))?;
    if found.revoked_at.is_none() {
        let name = found.name.clone();
        let mut active: webhook_source::ActiveModel = found.into();
        active.revoked_at = Set(Some(now));
        active.update(&txn).await?;
        audit::record(&txn, Some(actor), "webhook_source.revoke", &format!("webhook_source:{id}"), name, now).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Every endpoint, newest first.
pub async fn endpoints(db: &DatabaseConnection) -> AppResult<Vec<webhook_endpoint::Model>> {
    Ok(webhook_endpoint::Entity::find().order_by_desc(webhook_endpoint::Column::Id).all(db).await?)
}

/// Registers an endpoint for `events`; returns it with its secret.
pub async fn add_endpoint(
    db: &DatabaseConnection,
    url: Option<&str>,
    events: &[String],
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<webhook_endpoint::Model> {
    let mut fields = Fields::new();
    let given = url.map(str::trim).filter(|u| !u.is_empty());
    let url = fields.optional_url("url", given);
    if given.is_none() {
        fields.error("url", "is required: the http:// or https:// address to post events to");
    } else if url.as_deref().is_some_and(|u| u.starts_with("mailto:")) {
        fields.error("url", "must be an http:// or https:// address");
    }
    let unknown: Vec<&String> = events.iter().filter(|e| !EVENTS.iter().any(|(name, _)| name == e)).collect();
    if events.is_empty() {
        fields.error("events", "pick at least one event");
    } else if !unknown.is_empty() {
        fields.error("events", format!("unknown events: {unknown:?}"));
    }
    fields.finish()?;
    let url = url.unwrap_or_default();
    let txn = crate::db::begin_write(db).await?;
    let made = webhook_endpoint::ActiveModel {
        url: Set(url.clone()),
        events: Set(events.join(",")),
        secret: Set(tokens::random_secret()?),
        active: Set(true),
        created_by_id: Set(Some(actor)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let detail = format!("{url} for {}", made.events);
    audit::record(&txn, Some(actor), "webhook_endpoint.add", &format!("webhook_endpoint:{}", made.id), detail, now)
        .await?;
    txn.commit().await?;
    Ok(made)
}

/// Pauses or resumes endpoint `id` (paused endpoints get no new events).
pub async fn set_endpoint_active(
    db: &DatabaseConnection,
    id: i32,
    active: bool,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let txn = crate::db::begin_write(db).await?;
    let found =
        webhook_endpoint::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound("webhook endpoint"))?;
    let mut row: webhook_endpoint::ActiveModel = found.into();
    row.active = Set(active);
    row.update(&txn).await?;
    let action = if active { "webhook_endpoint.resume" } else { "webhook_endpoint.pause" };
    audit::record(&txn, Some(actor), action, &format!("webhook_endpoint:{id}"), "", now).await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_the_same_secret_time_and_body() {
        let signature = sign("s3cret", 1_790_000_000, b"{\"a\":1}");
        assert!(signature.starts_with("v1=") && signature.len() == 3 + 64, "{signature}");
        assert!(verify("s3cret", 1_790_000_000, b"{\"a\":1}", &signature));
        assert!(!verify("other", 1_790_000_000, b"{\"a\":1}", &signature));
        assert!(!verify("s3cret", 1_790_000_001, b"{\"a\":1}", &signature));
        assert!(!verify("s3cret", 1_790_000_000, b"{\"a\":2}", &signature));
        assert!(!verify("s3cret", 1_790_000_000, b"{\"a\":1}", "v1=zz"));
        assert!(!verify("s3cret", 1_790_000_000, b"{\"a\":1}", signature.trim_start_matches("v1=")));
    }

    #[test]
    fn timestamps_are_fresh_within_five_minutes_either_way() {
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        assert!(fresh(1_790_000_000 - 300, now) && fresh(1_790_000_000 + 300, now));
        assert!(!fresh(1_790_000_000 - 301, now) && !fresh(1_790_000_000 + 301, now));
    }
}
