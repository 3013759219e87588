//! The customer's evidence for an exit criterion: a note and/or a link (the
//! customer's confirming email), who at the customer confirmed it and when,
//! and who recorded it. Append-only: a correction is a new row that
//! supersedes the old one, which stays inspectable.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use entity::{criterion, evidence};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::Deserialize;

use super::find_deal;
use crate::validate::{Fields, MAX_LINE, MAX_TEXT};
use crate::{AppError, AppResult, audit};

/// Evidence as submitted by a form or the API.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceInput {
    /// The criterion of the deal's current stage.
    pub criterion_id: i32,
    /// What the customer said or did.
    #[serde(default)]
    pub note: Option<String>,
    /// A link to the proof, e.g. the customer's email.
    #[serde(default)]
    #[schema(format = "uri")]
    pub url: Option<String>,
    /// Who on the customer side confirmed it.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub confirmed_by: Option<String>,
    /// When they confirmed it (`YYYY-MM-DD`).
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Date)]
    pub confirmed_on: Option<String>,
    /// The evidence row this one corrects.
    #[serde(default)]
    pub supersedes_id: Option<i32>,
}

struct ValidEvidence {
    note: Option<String>,
    url: Option<String>,
    confirmed_by: String,
    confirmed_on: NaiveDate,
}

fn parse(input: &EvidenceInput, today: NaiveDate) -> AppResult<ValidEvidence> {
    let mut fields = Fields::new();
    let note = fields.optional("note", input.note.as_deref(), MAX_TEXT);
    let url = fields.optional_url("url", input.url.as_deref());
    let confirmed_by = fields.required("confirmed_by", input.confirmed_by.as_deref(), MAX_LINE);
    let confirmed_on = fields.date("confirmed_on", input.confirmed_on.as_deref());
    if confirmed_on.is_some_and(|date| date > today) {
        fields.error("confirmed_on", "cannot be in the future");
    }
    let blank = |value: &Option<String>| value.as_deref().is_none_or(|v| v.trim().is_empty());
    if blank(&input.note) && blank(&input.url) {
        fields.error("note", "give a note or a link (or both) that shows what the customer did");
    }
    fields.finish()?;
    Ok(ValidEvidence { note, url, confirmed_by, confirmed_on: confirmed_on.unwrap_or(today) })
}

/// Records evidence on a criterion of the deal's current stage.
pub async fn record(
    db: &DatabaseConnection,
    deal_id: i32,
    input: EvidenceInput,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<evidence::Model> {
    let valid = parse(&input, now.date_naive())?;
    let txn = crate::db::begin_write(db).await?;
    let deal = find_deal(&txn, deal_id).await?;
    let criterion = criterion::Entity::find_by_id(input.criterion_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::field("criterion_id", format!("there is no criterion {}", input.criterion_id)))?;
    if criterion.stage_id != deal.stage_id {
        return Err(AppError::field("criterion_id", "belongs to another stage than the deal's current one"));
    }
    if criterion.retired_at.is_some() {
        return Err(AppError::field("criterion_id", "has been retired and no longer takes evidence"));
    }
    if let Some(old_id) = input.supersedes_id {
        let old = evidence::Entity::find_by_id(old_id).one(&txn).await?;
        if !old.is_some_and(|old| old.deal_id == deal_id && old.criterion_id == criterion.id) {
            return Err(AppError::field("supersedes_id", "is not evidence for this deal and criterion"));
        }
        let already = evidence::Entity::find().filter(evidence::Column::SupersedesId.eq(old_id)).one(&txn).await?;
        if already.is_some() {
            return Err(AppError::field("supersedes_id", "has already been corrected; correct the newer row"));
        }
    }
    let created = evidence::ActiveModel {
        deal_id: Set(deal_id),
        criterion_id: Set(criterion.id),
        note: Set(valid.note),
        url: Set(valid.url),
        confirmed_by: Set(valid.confirmed_by.clone()),
        confirmed_on: Set(valid.confirmed_on),
        recorded_by_id: Set(actor),
        recorded_at: Set(now),
        supersedes_id: Set(input.supersedes_id),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let detail = format!("{:?} confirmed by {}", criterion.text, valid.confirmed_by);
    audit::record(&txn, Some(actor), "evidence.record", &format!("deal:{deal_id}"), detail, now).await?;
    txn.commit().await?;
    Ok(created)
}

/// Every evidence row of a deal, oldest first, corrections included.
pub async fn all_for_deal(db: &impl ConnectionTrait, deal_id: i32) -> AppResult<Vec<evidence::Model>> {
    Ok(evidence::Entity::find()
        .filter(evidence::Column::DealId.eq(deal_id))
        .order_by_asc(evidence::Column::RecordedAt)
        .order_by_asc(evidence::Column::Id)
        .all(db)
        .await?)
}

/// The rows of a deal that no later row supersedes.
pub async fn current_for_deal(db: &impl ConnectionTrait, deal_id: i32) -> AppResult<Vec<evidence::Model>> {
    Ok(current(all_for_deal(db, deal_id).await?))
}

/// Keeps the rows that no other row in `rows` supersedes.
pub fn current(rows: Vec<evidence::Model>) -> Vec<evidence::Model> {
    let superseded: HashSet<i32> = rows.iter().filter_map(|row| row.supersedes_id).collect();
    rows.into_iter().filter(|row| !superseded.contains(&row.id)).collect()
}
