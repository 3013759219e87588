//! A broken promise is work, not a statistic: each "not kept" verdict opens
//! a follow-up on the deal for its account manager and CS manager, open
//! until someone resolves it with a note.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{account, deal, followup, promise};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use crate::validate::{Fields, MAX_TEXT};
use crate::{AppError, AppResult, audit};

/// Follow-up statuses.
pub mod status {
    /// Needs someone.
    pub const OPEN: &str = "open";
    /// Done, with a note.
    pub const RESOLVED: &str = "resolved";
}

/// A follow-up as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FollowupView {
    /// The follow-up's id.
    pub id: i32,
    /// The deal.
    pub deal_id: i32,
    /// The deal's name.
    pub deal_name: String,
    /// The customer.
    pub account: String,
    /// The promise judged not kept.
    pub promise_id: i32,
    /// Its text.
    pub promise: String,
    /// The survey that said so.
    pub survey_id: i32,
    /// `open` or `resolved`.
    pub status: String,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// How.
    pub resolution: Option<String>,
}

/// Follow-ups, newest first, optionally by status and deal.
pub async fn list(
    db: &impl ConnectionTrait,
    status: Option<&str>,
    deal_id: Option<i32>,
) -> AppResult<Vec<FollowupView>> {
    let mut query = followup::Entity::find().order_by_desc(followup::Column::Id);
    if let Some(status) = status {
        query = query.filter(followup::Column::Status.eq(status));
    }
    if let Some(deal_id) = deal_id {
        query = query.filter(followup::Column::DealId.eq(deal_id));
    }
    let rows = query.all(db).await?;
    // Three batched look-ups, not three queries per follow-up.
    let mut deals = HashMap::new();
    let mut promises = HashMap::new();
    let deal_ids: Vec<i32> = rows.iter().map(|r| r.deal_id).collect();
    let promise_ids: Vec<i32> = rows.iter().map(|r| r.promise_id).collect();
    for chunk in deal_ids.chunks(crate::db::IN_LIST) {
        deals.extend(
            deal::Entity::find()
                .filter(deal::Column::Id.is_in(chunk.to_vec()))
                .all(db)
                .await?
                .into_iter()
                .map(|d| (d.id, d)),
        );
    }
    for chunk in promise_ids.chunks(crate::db::IN_LIST) {
        let found = promise::Entity::find().filter(promise::Column::Id.is_in(chunk.to_vec())).all(db).await?;
        promises.extend(found.into_iter().map(|p| (p.id, p.text)));
    }
    let account_ids: Vec<i32> = deals.values().map(|d: &deal::Model| d.account_id).collect();
    let mut accounts = HashMap::new();
    for chunk in account_ids.chunks(crate::db::IN_LIST) {
        let found = account::Entity::find().filter(account::Column::Id.is_in(chunk.to_vec())).all(db).await?;
        accounts.extend(found.into_iter().map(|a| (a.id, a.name)));
    }
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        let deal = deals.get(&row.deal_id);
        views.push(FollowupView {
            id: row.id,
            deal_id: row.deal_id,
            deal_name: deal.map(|d| d.name.clone()).unwrap_or_default(),
            account: deal.and_then(|d| accounts.get(&d.account_id)).cloned().unwrap_or_default(),
            promise_id: row.promise_id,
            promise: promises.get(&row.promise_id).cloned().unwrap_or_default(),
            survey_id: row.survey_id,
            status: row.status,
            opened_at: row.opened_at,
            resolved_at: row.resolved_at,
            resolution: row.resolution,
        });
    }
    Ok(views)
}

/// How a follow-up was resolved.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveInput {
    /// What was done, e.g. "Extra training delivered on 3 May".
    #[serde(default)]
    pub note: Option<String>,
}

/// Resolves an open follow-up with a note.
pub async fn resolve(
    db: &DatabaseConnection,
    id: i32,
    input: ResolveInput,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<i32> {
    let mut fields = Fields::new();
    let note = fields.required("note", input.note.as_deref(), MAX_TEXT);
    fields.finish()?;
    let txn = crate::db::begin_write(db).await?;
    let found = followup::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound("follow-up"))?;
    let result = followup::Entity::update_many()
        .col_expr(followup::Column::Status, Expr::value(status::RESOLVED))
        .col_expr(followup::Column::ResolvedAt, Expr::value(now))
        .col_expr(followup::Column::ResolvedById, Expr::value(actor))
        .col_expr(followup::Column::Resolution, Expr::value(note.clone()))
        .filter(followup::Column::Id.eq(id))
        .filter(followup::Column::Status.eq(status::OPEN))
        .exec(&txn)
        .await?;
    if result.rows_affected == 0 {
        return Err(AppError::conflict("already_resolved", "this follow-up is already resolved"));
    }
    audit::record(&txn, Some(actor), "followup.resolve", &format!("deal:{}", found.deal_id), note, now).await?;
    txn.commit().await?;
    Ok(found.deal_id)
}

/// How many follow-ups are open per deal.
pub async fn open_counts(db: &impl ConnectionTrait) -> AppResult<HashMap<i32, usize>> {
    count_open(db, Condition::all()).await
}

/// How many follow-ups are open for each of the given deals (those with none
/// are left out).
pub async fn open_counts_for(db: &impl ConnectionTrait, deal_ids: &[i32]) -> AppResult<HashMap<i32, usize>> {
    let mut counts = HashMap::new();
    for chunk in deal_ids.chunks(crate::db::IN_LIST) {
        counts
            .extend(count_open(db, Condition::all().add(followup::Column::DealId.is_in(chunk.iter().copied()))).await?);
    }
    Ok(counts)
}

async fn count_open(db: &impl ConnectionTrait, deals: Condition) -> AppResult<HashMap<i32, usize>> {
    let rows: Vec<(i32, i64)> = followup::Entity::find()
        .select_only()
        .column(followup::Column::DealId)
        .column_as(followup::Column::Id.count(), "open")
        .filter(followup::Column::Status.eq(status::OPEN))
        .filter(deals)
        .group_by(followup::Column::DealId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|(deal, n)| (deal, usize::try_from(n).unwrap_or(0))).collect())
}
