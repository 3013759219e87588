//! When a deal may leave a stage.
//!
//! A deal advances one stage at a time, and only when every required,
//! current exit criterion of its stage has evidence from the customer.
//! Moving back needs a reason. A deal on hold does not move. Every move is an
//! immutable transition row.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use entity::{criterion, deal, stage, stage_transition};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::Deserialize;

use super::{evidence, find_deal, holds};
use crate::error::UnmetCriterion;
use crate::validate::{Fields, MAX_TEXT};
use crate::webhooks::outbound;
use crate::{AppError, AppResult, audit};

/// The kinds of stage transition.
pub mod kind {
    /// The deal entered the pipeline at closed-won.
    pub const CREATED: &str = "created";
    /// The deal moved to the next stage.
    pub const ADVANCE: &str = "advance";
    /// The deal moved back to the previous stage.
    pub const MOVE_BACK: &str = "move_back";
}

/// The required, current criteria of the deal's stage that lack evidence.
pub async fn unmet_criteria(db: &impl ConnectionTrait, deal: &deal::Model) -> AppResult<Vec<UnmetCriterion>> {
    let required = criterion::Entity::find()
        .filter(criterion::Column::StageId.eq(deal.stage_id))
        .filter(criterion::Column::Required.eq(true))
        .filter(criterion::Column::RetiredAt.is_null())
        .order_by_asc(criterion::Column::Position)
        .all(db)
        .await?;
    let evidenced: HashSet<i32> =
        evidence::current_for_deal(db, deal.id).await?.into_iter().map(|row| row.criterion_id).collect();
    Ok(required
        .into_iter()
        .filter(|c| !evidenced.contains(&c.id))
        .map(|c| UnmetCriterion { id: c.id, text: c.text })
        .collect())
}

/// Moves a deal to the next stage; returns that stage.
pub async fn advance(db: &DatabaseConnection, deal_id: i32, actor: i32, now: DateTime<Utc>) -> AppResult<stage::Model> {
    let txn = crate::db::begin_write(db).await?;
    let deal = find_deal(&txn, deal_id).await?;
    refuse_while_on_hold(&txn, deal_id).await?;
    let (current, next) = neighbours(&txn, deal.stage_id).await?;
    let next = next.ok_or_else(|| {
        AppError::conflict("final_stage", format!("the deal is already in the final stage, {:?}", current.name))
    })?;
    let unmet = unmet_criteria(&txn, &deal).await?;
    if !unmet.is_empty() {
        return Err(AppError::ExitCriteriaUnmet(unmet));
    }
    move_to(&txn, &deal, &current, &next, kind::ADVANCE, None, actor, now).await?;
    txn.commit().await?;
    Ok(next)
}

/// Why a deal goes back a stage.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveBackInput {
    /// Required: what happened, e.g. "customer withdrew the plan sign-off".
    #[schema(value_type = String, required = true)]
    pub reason: Option<String>,
}

/// Moves a deal back to the previous stage; returns that stage.
pub async fn move_back(
    db: &DatabaseConnection,
    deal_id: i32,
    input: MoveBackInput,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<stage::Model> {
    let mut fields = Fields::new();
    let reason = fields.required("reason", input.reason.as_deref(), MAX_TEXT);
    fields.finish()?;
    let txn = crate::db::begin_write(db).await?;
    let deal = find_deal(&txn, deal_id).await?;
    refuse_while_on_hold(&txn, deal_id).await?;
    let stages = ordered(&txn).await?;
    let index = stages.iter().position(|s| s.id == deal.stage_id).unwrap_or(0);
    let previous = index.checked_sub(1).and_then(|i| stages.get(i)).cloned().ok_or_else(|| {
        AppError::conflict("first_stage", "the deal is in the first stage; there is no stage before it")
    })?;
    let current = stages[index].clone();
    move_to(&txn, &deal, &current, &previous, kind::MOVE_BACK, Some(reason), actor, now).await?;
    txn.commit().await?;
    Ok(previous)
}

async fn refuse_while_on_hold(db: &impl ConnectionTrait, deal_id: i32) -> AppResult<()> {
    if holds::open_hold(db, deal_id).await?.is_some() {
        return Err(AppError::conflict("on_hold", "the deal is on hold; resume it before moving it"));
    }
    Ok(())
}

async fn ordered(db: &impl ConnectionTrait) -> AppResult<Vec<stage::Model>> {
    Ok(stage::Entity::find().order_by_asc(stage::Column::Position).all(db).await?)
}

async fn neighbours(db: &impl ConnectionTrait, stage_id: i32) -> AppResult<(stage::Model, Option<stage::Model>)> {
    let stages = ordered(db).await?;
    let index = stages
        .iter()
        .position(|s| s.id == stage_id)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("stage {stage_id} is not in the pipeline")))?;
    Ok((stages[index].clone(), stages.get(index + 1).cloned()))
}

/// Tells webhook subscribers about the move (in the move's transaction):
/// `deal.stage_changed`, and `deal.live` when the deal reached the last stage.
async fn announce(
    db: &impl ConnectionTrait,
    deal: &deal::Model,
    from: &stage::Model,
    to: &stage::Model,
    transition: &stage_transition::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let data = serde_json::json!({
        "deal_id": deal.id,
        "deal_name": deal.name,
        "external_id": deal.external_id,
        "account_id": deal.account_id,
        "from": {"key": from.key, "name": from.name},
        "to": {"key": to.key, "name": to.name},
        "kind": transition.kind,
        "reason": transition.reason,
        "at": transition.at.to_rfc3339(),
        "actor_id": transition.actor_id,
    });
    let id = transition.id;
    outbound::emit(db, "deal.stage_changed", &format!("deal.stage_changed:{id}"), data.clone(), now).await?;
    let last = stage::Entity::find().order_by_desc(stage::Column::Position).one(db).await?;
    if last.is_some_and(|l| l.id == to.id) && transition.kind == kind::ADVANCE {
        outbound::emit(db, "deal.live", &format!("deal.live:{id}"), data, now).await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn move_to(
    db: &impl ConnectionTrait,
    deal: &deal::Model,
    from: &stage::Model,
    to: &stage::Model,
    kind: &str,
    reason: Option<String>,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<()> {
    // Conditional on the stage we read: two people advancing at once move
    // the deal once, and the second gets a conflict instead of a double move.
    let moved = deal::Entity::update_many()
        .col_expr(deal::Column::StageId, Expr::value(to.id))
        .col_expr(deal::Column::StageEnteredAt, Expr::value(now))
        .col_expr(deal::Column::UpdatedAt, Expr::value(now))
        .filter(deal::Column::Id.eq(deal.id))
        .filter(deal::Column::StageId.eq(from.id))
        .exec(db)
        .await?;
    if moved.rows_affected != 1 {
        return Err(AppError::conflict("stage_changed", "someone else moved this deal meanwhile; reload and retry"));
    }
    let transition = stage_transition::ActiveModel {
        deal_id: Set(deal.id),
        from_stage_id: Set(Some(from.id)),
        to_stage_id: Set(to.id),
        kind: Set(kind.to_owned()),
        reason: Set(reason.clone()),
        actor_id: Set(Some(actor)),
        at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    announce(db, deal, from, to, &transition, now).await?;
    let detail = match reason {
        Some(reason) => format!("{} -> {}: {reason}", from.key, to.key),
        None => format!("{} -> {}", from.key, to.key),
    };
    audit::record(db, Some(actor), &format!("deal.{kind}"), &format!("deal:{}", deal.id), detail, now).await
}
