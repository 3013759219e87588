//! Holds and time in stage. Time spent waiting on the customer (on hold) is
//! reported apart from active time, and only active time counts toward the
//! stage's SLA: a deal is stuck when its active days exceed the SLA.

use chrono::{DateTime, Duration, Utc};
use entity::deal_hold;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::Deserialize;

use super::find_deal;
use crate::validate::{Fields, MAX_TEXT};
use crate::{AppError, AppResult, audit};

/// How long a deal has been in its current stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeInStage {
    /// Whole days in the stage, not counting holds.
    pub active_days: i64,
    /// Whole days on hold since the deal entered the stage.
    pub on_hold_days: i64,
    /// Whether the active days exceed the stage's SLA.
    pub stuck: bool,
    /// Active days beyond the SLA (0 when within it).
    pub days_over_sla: i64,
}

/// Measures time in stage from the stage's entry, the deal's holds and the
/// SLA. Holds are clipped to the stage, so a hold from an earlier stage
/// never counts twice.
pub fn time_in_stage(
    entered_at: DateTime<Utc>,
    holds: &[deal_hold::Model],
    sla_days: Option<i32>,
    now: DateTime<Utc>,
) -> TimeInStage {
    let total = (now - entered_at).max(Duration::zero());
    let held = holds
        .iter()
        .map(|hold| {
            let start = hold.started_at.max(entered_at);
            let end = hold.ended_at.unwrap_or(now).min(now);
            (end - start).max(Duration::zero())
        })
        .fold(Duration::zero(), |sum, d| sum + d)
        .min(total);
    let active_days = (total - held).num_days();
    let days_over_sla = sla_days.map_or(0, |sla| (active_days - i64::from(sla)).max(0));
    TimeInStage { active_days, on_hold_days: held.num_days(), stuck: days_over_sla > 0, days_over_sla }
}

/// The open hold of a deal, if it is on hold.
pub async fn open_hold(db: &impl ConnectionTrait, deal_id: i32) -> AppResult<Option<deal_hold::Model>> {
    Ok(deal_hold::Entity::find()
        .filter(deal_hold::Column::DealId.eq(deal_id))
        .filter(deal_hold::Column::EndedAt.is_null())
        .one(db)
        .await?)
}

/// Every hold of the given deals, oldest first.
pub async fn for_deals(db: &impl ConnectionTrait, deal_ids: &[i32]) -> AppResult<Vec<deal_hold::Model>> {
    if deal_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut holds = Vec::new();
    // Bounded IN lists stay within every backend's parameter limit.
    for chunk in deal_ids.chunks(crate::db::IN_LIST) {
        holds.extend(
            deal_hold::Entity::find()
                .filter(deal_hold::Column::DealId.is_in(chunk.iter().copied()))
                .order_by_asc(deal_hold::Column::StartedAt)
                .all(db)
                .await?,
        );
    }
    Ok(holds)
}

/// Why a deal is put on hold.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldInput {
    /// What the deal waits for, e.g. "waiting on customer's IT".
    #[schema(value_type = String, required = true)]
    pub reason: Option<String>,
}

/// Puts a deal on hold.
pub async fn hold(
    db: &DatabaseConnection,
    deal_id: i32,
    input: HoldInput,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut fields = Fields::new();
    let reason = fields.required("reason", input.reason.as_deref(), MAX_TEXT);
    fields.finish()?;
    let txn = crate::db::begin_write(db).await?;
    let deal = find_deal(&txn, deal_id).await?;
    if open_hold(&txn, deal_id).await?.is_some() {
        return Err(AppError::conflict("already_on_hold", "the deal is already on hold"));
    }
    deal_hold::ActiveModel {
        deal_id: Set(deal_id),
        stage_id: Set(deal.stage_id),
        reason: Set(reason.clone()),
        started_at: Set(now),
        started_by_id: Set(Some(actor)),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, Some(actor), "deal.hold", &format!("deal:{deal_id}"), reason, now).await?;
    txn.commit().await?;
    Ok(())
}

/// Takes a deal off hold.
pub async fn resume(db: &DatabaseConnection, deal_id: i32, actor: i32, now: DateTime<Utc>) -> AppResult<()> {
    let txn = crate::db::begin_write(db).await?;
    find_deal(&txn, deal_id).await?;
    let hold =
        open_hold(&txn, deal_id).await?.ok_or_else(|| AppError::conflict("not_on_hold", "the deal is not on hold"))?;
    let mut active: deal_hold::ActiveModel = hold.into();
    active.ended_at = Set(Some(now));
    active.ended_by_id = Set(Some(actor));
    active.update(&txn).await?;
    audit::record(&txn, Some(actor), "deal.resume", &format!("deal:{deal_id}"), "", now).await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 9, 0, 0).single().expect("valid date")
    }

    fn hold(start: u32, end: Option<u32>) -> deal_hold::Model {
        deal_hold::Model {
            id: 1,
            deal_id: 1,
            stage_id: 1,
            reason: "waiting".into(),
            started_at: at(start),
            started_by_id: None,
            ended_at: end.map(at),
            ended_by_id: None,
        }
    }

    #[test]
    fn holds_do_not_count_toward_the_sla() {
        let time = time_in_stage(at(1), &[hold(3, Some(13))], Some(14), at(21));
        assert_eq!((time.active_days, time.on_hold_days, time.stuck), (10, 10, false));
    }

    #[test]
    fn active_days_beyond_the_sla_make_a_deal_stuck() {
        let time = time_in_stage(at(1), &[], Some(14), at(20));
        assert_eq!((time.active_days, time.stuck, time.days_over_sla), (19, true, 5));
    }

    #[test]
    fn an_open_hold_counts_until_now_and_earlier_holds_are_clipped() {
        let time = time_in_stage(at(10), &[hold(1, Some(12)), hold(15, None)], Some(3), at(20));
        assert_eq!((time.active_days, time.on_hold_days, time.stuck), (3, 7, false));
    }

    #[test]
    fn the_final_stage_is_never_stuck() {
        assert!(!time_in_stage(at(1), &[], None, at(28)).stuck);
    }
}
