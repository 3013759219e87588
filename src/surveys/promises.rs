//! Promises of value on a deal, in the customer's words. A promise can be
//! reworded until the first survey that asks about it is sent; after that it
//! is append-only: retire it and record a replacement, so nobody rewrites
//! what the customer already judged.

use chrono::{DateTime, Utc};
use entity::promise;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};

use crate::pipeline::find_deal;
use crate::validate::{Fields, MAX_LINE};
use crate::{AppError, AppResult, audit};

/// The longest promise text.
pub const MAX_PROMISE: usize = 1_000;

/// A promise as submitted.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromiseInput {
    /// The promised outcome in the customer's words.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub text: Option<String>,
    /// An optional category, e.g. "Finance".
    #[serde(default)]
    pub category: Option<String>,
    /// An optional measurable target, e.g. "5 days".
    #[serde(default)]
    pub target: Option<String>,
}

/// A promise as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PromiseView {
    /// The promise's id.
    pub id: i32,
    /// The promised outcome.
    pub text: String,
    /// Its category.
    pub category: Option<String>,
    /// Its measurable target.
    pub target: Option<String>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// Whether a survey has asked about it (then it can only be replaced).
    pub locked: bool,
    /// When it was retired.
    pub retired_at: Option<DateTime<Utc>>,
    /// The promise it replaces.
    pub replaces_id: Option<i32>,
}

impl From<promise::Model> for PromiseView {
    fn from(p: promise::Model) -> Self {
        Self {
            id: p.id,
            text: p.text,
            category: p.category,
            target: p.target,
            created_at: p.created_at,
            locked: p.locked_at.is_some(),
            retired_at: p.retired_at,
            replaces_id: p.replaces_id,
        }
    }
}

struct ValidPromise {
    text: String,
    category: Option<String>,
    target: Option<String>,
}

fn parse(input: &PromiseInput) -> AppResult<ValidPromise> {
    let mut fields = Fields::new();
    let text = fields.required("text", input.text.as_deref(), MAX_PROMISE);
    let category = fields.optional("category", input.category.as_deref(), MAX_LINE);
    let target = fields.optional("target", input.target.as_deref(), MAX_LINE);
    fields.finish()?;
    Ok(ValidPromise { text, category, target })
}

/// Records a promise on a deal (or, with `replaces`, a replacement for a
/// retired or still current one, which is then retired).
pub async fn add(
    db: &DatabaseConnection,
    deal_id: i32,
    input: PromiseInput,
    replaces: Option<i32>,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<PromiseView> {
    let valid = parse(&input)?;
    let txn = crate::db::begin_write(db).await?;
    find_deal(&txn, deal_id).await?;
    if let Some(old_id) = replaces {
        let old = of_deal(&txn, deal_id, old_id).await?;
        if old.retired_at.is_none() {
            retire_row(&txn, old, now).await?;
        }
    }
    let created = promise::ActiveModel {
        deal_id: Set(deal_id),
        text: Set(valid.text.clone()),
        category: Set(valid.category),
        target: Set(valid.target),
        recorded_by_id: Set(Some(actor)),
        created_at: Set(now),
        replaces_id: Set(replaces),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, Some(actor), "promise.add", &format!("deal:{deal_id}"), valid.text, now).await?;
    txn.commit().await?;
    Ok(created.into())
}

/// Rewords a promise that no survey has asked about yet.
pub async fn edit(
    db: &DatabaseConnection,
    deal_id: i32,
    id: i32,
    input: PromiseInput,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<PromiseView> {
    let valid = parse(&input)?;
    let txn = crate::db::begin_write(db).await?;
    let found = of_deal(&txn, deal_id, id).await?;
    if found.locked_at.is_some() {
        return Err(AppError::conflict(
            "promise_locked",
            "a survey has already asked the customer about this promise; retire it and record a replacement instead",
        ));
    }
    if found.retired_at.is_some() {
        return Err(AppError::conflict("promise_retired", "this promise has been retired"));
    }
    let mut active: promise::ActiveModel = found.into();
    active.text = Set(valid.text.clone());
    active.category = Set(valid.category);
    active.target = Set(valid.target);
    let updated = active.update(&txn).await?;
    audit::record(&txn, Some(actor), "promise.edit", &format!("promise:{id}"), valid.text, now).await?;
    txn.commit().await?;
    Ok(updated.into())
}

/// Retires a promise: later surveys no longer ask about it; its answers stay.
pub async fn retire(db: &DatabaseConnection, deal_id: i32, id: i32, actor: i32, now: DateTime<Utc>) -> AppResult<()> {
    let txn = crate::db::begin_write(db).await?;
    let found = of_deal(&txn, deal_id, id).await?;
    if found.retired_at.is_none() {
        retire_row(&txn, found, now).await?;
        audit::record(&txn, Some(actor), "promise.retire", &format!("promise:{id}"), "", now).await?;
    }
    txn.commit().await?;
    Ok(())
}

async fn retire_row(db: &impl ConnectionTrait, found: promise::Model, now: DateTime<Utc>) -> AppResult<()> {
    let mut active: promise::ActiveModel = found.into();
    active.retired_at = Set(Some(now));
    active.update(db).await?;
    Ok(())
}

async fn of_deal(db: &impl ConnectionTrait, deal_id: i32, id: i32) -> AppResult<promise::Model> {
    promise::Entity::find_by_id(id).one(db).await?.filter(|p| p.deal_id == deal_id).ok_or(AppError::NotFound("promise"))
}

/// Every promise of a deal, current first, oldest first within.
pub async fn for_deal(db: &impl ConnectionTrait, deal_id: i32) -> AppResult<Vec<PromiseView>> {
    let mut rows = promise::Entity::find()
        .filter(promise::Column::DealId.eq(deal_id))
        .order_by_asc(promise::Column::Id)
        .all(db)
        .await?;
    rows.sort_by_key(|p| p.retired_at.is_some());
    Ok(rows.into_iter().map(Into::into).collect())
}
