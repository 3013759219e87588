//! The board: every matching deal counted per stage, and each stage's
//! longest-waiting deals loaded in full.
//!
//! Measuring a deal's time in stage needs its holds, so [`deals::list`]
//! measures every deal one by one. The board cannot afford that at 100 000
//! deals, and does not need to: a deal no hold paused in its current stage
//! has waited exactly since it entered the stage. So the database counts
//! every deal as if none were paused (stuck means "entered at least SLA + 1
//! whole days ago") and orders them by entry; the few deals a hold did pause
//! are measured one by one, as the list does, and swapped in for the
//! database's view of them. A test holds board and list to the same answers
//! on generated data.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use entity::{deal, deal_hold, stage};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func, Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::deals::{self, Criteria, DealFilter, DealRow, DealSummary, Placed};
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

/// Per-stage counts, signed while paused deals are corrected.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    total: i64,
    stuck: i64,
    on_hold: i64,
    overdue: i64,
}

impl Counts {
    fn add(&mut self, other: Counts, sign: i64) {
        self.total += sign * other.total;
        self.stuck += sign * other.stuck;
        self.on_hold += sign * other.on_hold;
        self.overdue += sign * other.overdue;
    }
}

/// A count that corrections left non-negative, as a size.
fn size(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

impl Placed {
    /// What one deal adds to the counts.
    fn counts(&self) -> Counts {
        Counts {
            total: 1,
            stuck: i64::from(self.time.stuck),
            on_hold: i64::from(self.on_hold),
            overdue: i64::from(self.overdue),
        }
    }
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
    let stuck_if_unpaused = stuck_without_holds(&stages, now);
    let sla: HashMap<i32, Option<i32>> = stages.iter().map(|s| (s.id, s.sla_days)).collect();

    // The deals a hold paused in their stage, measured one by one.
    let paused = deals::place(
        db,
        &Criteria {
            matching: criteria.matching.clone().add(deal::Column::Id.in_subquery(paused_in_stage())),
            stuck: None,
            on_hold: None,
        },
        now,
    )
    .await?;

    // Every matching deal counted and ordered by the database as if no hold
    // had paused it (only paused deals can be on hold)...
    let sql_counts = criteria.on_hold != Some(true);
    let mut as_if_unpaused = criteria.matching.clone();
    match (criteria.stuck, &stuck_if_unpaused) {
        (Some(true), Some(stuck)) => as_if_unpaused = as_if_unpaused.add(stuck.clone()),
        (Some(true), None) => as_if_unpaused = as_if_unpaused.add(Expr::val(false)),
        (Some(false), Some(stuck)) => as_if_unpaused = as_if_unpaused.add(stuck.clone().not()),
        (Some(false) | None, _) => {}
    }
    if sql_counts {
        for (stage_id, found) in count_by_stage(db, as_if_unpaused.clone(), stuck_if_unpaused, now).await? {
            counts.entry(stage_id).or_default().add(found, 1);
        }
    }
    // ...then corrected for the paused ones: out as the database saw them,
    // in as they are.
    let mut paused_ids = HashSet::new();
    let mut seen_by_sql: HashMap<i32, usize> = HashMap::new();
    for placed in paused {
        paused_ids.insert(placed.id);
        let unpaused = Placed {
            time: holds::time_in_stage(placed.entered_at, &[], sla.get(&placed.stage_id).copied().flatten(), now),
            on_hold: false,
            ..placed
        };
        if sql_counts && criteria.matches(&unpaused) {
            counts.entry(placed.stage_id).or_default().add(unpaused.counts(), -1);
            *seen_by_sql.entry(placed.stage_id).or_default() += 1;
        }
        if criteria.matches(&placed) {
            counts.entry(placed.stage_id).or_default().add(placed.counts(), 1);
            candidates.entry(placed.stage_id).or_default().push(placed);
        }
    }

    // Each stage's first deals: the database's first, paused ones replaced.
    if sql_counts {
        for stage in &stages {
            let skip = seen_by_sql.get(&stage.id).copied().unwrap_or(0);
            if counts.get(&stage.id).is_none_or(|c| c.total <= 0) && skip == 0 {
                continue;
            }
            let rows: Vec<DealRow> = deal::Entity::find()
                .select_only()
                .columns([
                    deal::Column::Id,
                    deal::Column::StageId,
                    deal::Column::StageEnteredAt,
                    deal::Column::NextCallAt,
                ])
                .filter(as_if_unpaused.clone().add(deal::Column::StageId.eq(stage.id)))
                .order_by_asc(deal::Column::StageEnteredAt)
                .order_by_asc(deal::Column::Id)
                .limit((per_stage + skip) as u64)
                .into_tuple()
                .all(db)
                .await?;
            let first = rows
                .into_iter()
                .filter(|(id, ..)| !paused_ids.contains(id))
                .map(|row| Placed::measure(row, Some(stage), &[], now));
            candidates.entry(stage.id).or_default().extend(first);
        }
    }

    let mut board = Board::default();
    let mut total = Counts::default();
    let mut shown = Vec::new();
    for stage in &stages {
        let Some(count) = counts.get(&stage.id).copied().filter(|c| c.total > 0) else { continue };
        let mut first = candidates.remove(&stage.id).unwrap_or_default();
        first.sort_by_key(Placed::order);
        shown.extend(first.iter().take(per_stage).map(|p| p.id));
        total.add(count, 1);
        board.columns.push(BoardColumn { stage_id: stage.id, count: size(count.total), deals: Vec::new() });
    }
    (board.total, board.stuck, board.on_hold, board.overdue) =
        (size(total.total), size(total.stuck), size(total.on_hold), size(total.overdue));
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
    Ok(rows
        .into_iter()
        .map(|(stage, total, stuck, overdue)| (stage, Counts { total, stuck, on_hold: 0, overdue }))
        .collect())
}
