//! The board: every matching deal counted per stage, and each stage's
//! longest-waiting deals loaded in full.
//!
//! Measuring a deal's time in stage needs its holds, so [`deals::list`]
//! measures every deal one by one. The board cannot afford that at 100 000
//! deals, and does not need to: a deal with no hold overlapping its current
//! stage has waited exactly since it entered the stage, so for those the
//! database counts (stuck means "entered at least SLA + 1 days ago") and
//! orders them (by entry), and only the few deals with such a hold are
//! measured one by one, as the list does. A test holds the two to the same
//! answers on generated data.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::{deal, deal_hold, stage};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func, Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::deals::{self, Criteria, DealFilter, DealSummary, Placed};
use super::holds;
use crate::AppResult;

/// One stage of the board: its deals' count and the first of them in full.
#[derive(Debug, Clone)]
pub struct BoardColumn {
    /// The stage's id.
    pub stage_id: i32,
    /// Every matching deal in the stage.
    pub count: usize,
    /// The longest-waiting of them, at most the number asked for.
    pub deals: Vec<DealSummary>,
}

/// The board: every matching deal counted, a bounded number shown.
#[derive(Debug, Clone, Default)]
pub struct Board {
    /// One per stage that has matching deals, in pipeline order.
    pub columns: Vec<BoardColumn>,
    /// Matching deals.
    pub total: usize,
    /// Of them, over their stage's SLA.
    pub stuck: usize,
    /// Of them, on hold now.
    pub on_hold: usize,
    /// Of them, with a next call in the past.
    pub overdue: usize,
}

/// Per-stage counts.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    total: usize,
    stuck: usize,
    on_hold: usize,
    overdue: usize,
}

/// The board for `filter`: every matching deal is counted, but only the
/// first `per_stage` of each stage (longest-waiting first, as
/// [`deals::list`] orders them) are loaded.
pub async fn board(
    db: &impl ConnectionTrait,
    filter: &DealFilter,
    now: DateTime<Utc>,
    per_stage: usize,
) -> AppResult<Board> {
    let criteria = Criteria::parse(db, filter).await?;
    let stages = stage::Entity::find().order_by_asc(stage::Column::Position).all(db).await?;
    let mut counts: HashMap<i32, Counts> = HashMap::new();
    let mut candidates: HashMap<i32, Vec<Placed>> = HashMap::new();

    // Deals a hold has paused in this stage: measured one by one.
    for placed in deals::place(db, &criteria.and(deal::Column::Id.in_subquery(paused_in_stage())), now).await? {
        let count = counts.entry(placed.stage_id).or_default();
        count.total += 1;
        count.stuck += usize::from(placed.time.stuck);
        count.on_hold += usize::from(placed.on_hold);
        count.overdue += usize::from(placed.overdue);
        candidates.entry(placed.stage_id).or_default().push(placed);
    }

    // The rest (never on hold here): counted and ordered by the database.
    if criteria.on_hold != Some(true) {
        let stuck = stuck_without_holds(&stages, now);
        let mut unheld = criteria.matching.clone().add(deal::Column::Id.not_in_subquery(paused_in_stage()));
        match (criteria.stuck, &stuck) {
            (Some(true), Some(stuck)) => unheld = unheld.add(stuck.clone()),
            (Some(true), None) => unheld = unheld.add(Expr::val(false)),
            (Some(false), Some(stuck)) => unheld = unheld.add(stuck.clone().not()),
            (Some(false) | None, _) => {}
        }
        for (stage_id, found) in count_by_stage(db, unheld.clone(), stuck, now).await? {
            let count = counts.entry(stage_id).or_default();
            count.total += found.total;
            count.stuck += found.stuck;
            count.overdue += found.overdue;
        }
        for stage in &stages {
            if counts.get(&stage.id).is_none_or(|c| c.total == 0) {
                continue;
            }
            let rows: Vec<(i32, DateTime<Utc>, Option<DateTime<Utc>>)> = deal::Entity::find()
                .select_only()
                .columns([deal::Column::Id, deal::Column::StageEnteredAt, deal::Column::NextCallAt])
                .filter(unheld.clone().add(deal::Column::StageId.eq(stage.id)))
                .order_by_asc(deal::Column::StageEnteredAt)
                .order_by_asc(deal::Column::Id)
                .limit(per_stage as u64)
                .into_tuple()
                .all(db)
                .await?;
            candidates.entry(stage.id).or_default().extend(rows.into_iter().map(|(id, entered_at, next_call)| {
                Placed {
                    id,
                    stage_id: stage.id,
                    position: stage.position,
                    entered_at,
                    time: holds::time_in_stage(entered_at, &[], stage.sla_days, now),
                    on_hold: false,
                    overdue: next_call.is_some_and(|at| at < now),
                }
            }));
        }
    }

    let mut board = Board::default();
    let mut shown = Vec::new();
    for stage in &stages {
        let Some(count) = counts.get(&stage.id).filter(|c| c.total > 0) else { continue };
        let mut first = candidates.remove(&stage.id).unwrap_or_default();
        first.sort_by_key(Placed::order);
        shown.extend(first.iter().take(per_stage).map(|p| p.id));
        board.total += count.total;
        board.stuck += count.stuck;
        board.on_hold += count.on_hold;
        board.overdue += count.overdue;
        board.columns.push(BoardColumn { stage_id: stage.id, count: count.total, deals: Vec::new() });
    }
    // The summaries come back in `shown`'s order: each column's in turn.
    let mut loaded = deals::summaries(db, &shown, now).await?.into_iter();
    for column in &mut board.columns {
        column.deals = loaded.by_ref().take(column.count.min(per_stage)).collect();
    }
    Ok(board)
}

/// The deals a hold paused in their current stage: open, or ended after the
/// deal entered the stage. (One uncorrelated subquery: the database builds
/// the set once.)
fn paused_in_stage() -> SelectStatement {
    let ended = Expr::col((deal_hold::Entity, deal_hold::Column::EndedAt));
    Query::select()
        .column((deal_hold::Entity, deal_hold::Column::DealId))
        .from(deal_hold::Entity)
        .inner_join(
            deal::Entity,
            Expr::col((deal::Entity, deal::Column::Id)).equals((deal_hold::Entity, deal_hold::Column::DealId)),
        )
        .and_where(ended.clone().is_null().or(ended.gt(Expr::col((deal::Entity, deal::Column::StageEnteredAt)))))
        .to_owned()
}

/// Stuck, for a deal no hold paused in its stage: it entered the stage at
/// least SLA + 1 whole days ago. `None` when no stage has an SLA.
fn stuck_without_holds(stages: &[stage::Model], now: DateTime<Utc>) -> Option<Condition> {
    let mut any = Condition::any();
    let mut some = false;
    for stage in stages {
        if let Some(sla) = stage.sla_days {
            some = true;
            any = any.add(
                Condition::all()
                    .add(deal::Column::StageId.eq(stage.id))
                    .add(deal::Column::StageEnteredAt.lte(now - Duration::days(i64::from(sla) + 1))),
            );
        }
    }
    some.then_some(any)
}

/// Counts per stage in one pass: all, stuck (by `stuck`) and overdue calls.
async fn count_by_stage(
    db: &impl ConnectionTrait,
    matching: Condition,
    stuck: Option<Condition>,
    now: DateTime<Utc>,
) -> AppResult<Vec<(i32, Counts)>> {
    let one_if = |condition: Condition| Expr::from(Func::sum(Expr::case(condition, 1).finally(0)));
    let rows: Vec<(i32, i64, i64, i64)> = deal::Entity::find()
        .select_only()
        .column(deal::Column::StageId)
        .column_as(deal::Column::Id.count(), "total")
        .column_as(one_if(stuck.unwrap_or_else(|| Condition::all().add(Expr::val(false)))), "stuck")
        .column_as(one_if(Condition::all().add(deal::Column::NextCallAt.lt(now))), "overdue")
        .filter(matching)
        .group_by(deal::Column::StageId)
        .into_tuple()
        .all(db)
        .await?;
    let size = |n: i64| usize::try_from(n).unwrap_or(0);
    Ok(rows
        .into_iter()
        .map(|(stage, total, stuck, overdue)| {
            (stage, Counts { total: size(total), stuck: size(stuck), on_hold: 0, overdue: size(overdue) })
        })
        .collect())
}
