//! `POST /api/v1/webhooks/closed-won`: a CRM workflow enters a won deal.
//!
//! A request is accepted only when its source is known and not revoked, its
//! signature matches the raw body under that source's secret, its timestamp
//! is within the replay window, and the same signed request has not been
//! received before. The body is the deal as `POST /api/v1/deals` takes it,
//! with `external_id` required: the same external id never makes a second
//! deal (the existing one is returned), so a CRM may safely send again.

use chrono::{DateTime, Utc};
use entity::{inbound_event, webhook_source};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set, SqlErr};

use crate::AppError;
use crate::pipeline::deals::{self, Created, NewDeal};

/// The signing headers of a request, as sent.
#[derive(Debug, Clone, Default)]
pub struct Signed<'a> {
    /// `X-Aftercare-Source`.
    pub source: Option<&'a str>,
    /// `X-Aftercare-Timestamp`.
    pub timestamp: Option<&'a str>,
    /// `X-Aftercare-Signature`.
    pub signature: Option<&'a str>,
}

/// Why a request was refused before its body was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401: a signing header is missing or malformed.
    MissingHeader(&'static str),
    /// 401: no such source, or it was revoked.
    UnknownSource,
    /// 401: the signature does not match the body.
    BadSignature,
    /// 401: the timestamp is outside the replay window.
    Stale,
    /// 409: this exact signed request was received before.
    Replayed,
}

impl Refusal {
    /// A stable code for the error envelope.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::MissingHeader(_) => "missing_signature",
            Refusal::UnknownSource => "unknown_source",
            Refusal::BadSignature => "bad_signature",
            Refusal::Stale => "stale_timestamp",
            Refusal::Replayed => "replayed",
        }
    }

    /// What the sender should know.
    pub fn message(&self) -> String {
        match self {
            Refusal::MissingHeader(header) => format!("send the {header} header (see the webhook documentation)"),
            Refusal::UnknownSource => "no active webhook source has this name".to_owned(),
            Refusal::BadSignature => {
                "the signature does not match: sign \"{timestamp}.{raw body}\" with HMAC-SHA256 and the source's secret"
                    .to_owned()
            }
            Refusal::Stale => format!(
                "the timestamp is more than {} minutes from now; sign each request when it is sent",
                super::REPLAY_WINDOW.num_minutes()
            ),
            Refusal::Replayed => "this signed request was already received; nothing was changed".to_owned(),
        }
    }
}

/// What receiving a request can end in.
#[derive(Debug)]
pub enum Failure {
    /// Refused for its signing.
    Refused(Refusal),
    /// Signed well, but the body is wrong (or a fault on our side).
    App(AppError),
}

impl From<AppError> for Failure {
    fn from(error: AppError) -> Self {
        Self::App(error)
    }
}

impl From<sea_orm::DbErr> for Failure {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::App(error.into())
    }
}

/// Checks the request's signing (source, signature over the raw `body`,
/// timestamp window) before anything reads the body; returns the source.
pub async fn authenticate(
    db: &DatabaseConnection,
    signed: &Signed<'_>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<webhook_source::Model, Refusal> {
    let name =
        signed.source.map(str::trim).filter(|s| !s.is_empty()).ok_or(Refusal::MissingHeader("X-Aftercare-Source"))?;
    let timestamp: i64 =
        signed.timestamp.and_then(|t| t.trim().parse().ok()).ok_or(Refusal::MissingHeader("X-Aftercare-Timestamp"))?;
    let signature = signed.signature.ok_or(Refusal::MissingHeader("X-Aftercare-Signature"))?;
    let source = webhook_source::Entity::find()
        .filter(webhook_source::Column::Name.eq(name))
        .filter(webhook_source::Column::RevokedAt.is_null())
        .one(db)
        .await
        .ok()
        .flatten()
        .ok_or(Refusal::UnknownSource)?;
    if !super::verify(&source.secret, timestamp, body, signature) {
        return Err(Refusal::BadSignature);
    }
    if !super::fresh(timestamp, now) {
        return Err(Refusal::Stale);
    }
    Ok(source)
}

/// Enters the deal an authenticated request from `source` carried, unless
/// this signed request was received before; returns the deal's id and
/// whether it is new.
pub async fn enter(
    db: &DatabaseConnection,
    source: &webhook_source::Model,
    signature: &str,
    deal: NewDeal,
    now: DateTime<Utc>,
) -> Result<(i32, Created), Failure> {
    let signature = signature.trim().to_owned();
    let seen = inbound_event::Entity::find().filter(inbound_event::Column::Signature.eq(&signature)).one(db).await?;
    if seen.is_some() {
        return Err(Failure::Refused(Refusal::Replayed));
    }
    let Some(external_id) = deal.external_id.clone().filter(|id| !id.trim().is_empty()) else {
        return Err(AppError::field("external_id", "is required: the CRM's id of the deal").into());
    };
    let (deal_id, created) = deals::create(db, deal, None, now).await?;
    let recorded = inbound_event::ActiveModel {
        source_id: Set(source.id),
        signature: Set(signature),
        external_id: Set(external_id),
        deal_id: Set(Some(deal_id)),
        received_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await;
    match recorded {
        Ok(_) => Ok((deal_id, created)),
        // The same request raced in twice: the deal exists once (external
        // id), and the second copy is the replay.
        Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(Failure::Refused(Refusal::Replayed))
        }
        Err(error) => Err(error.into()),
    }
}
