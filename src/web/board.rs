//! The board: a column per stage, a card per deal.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::{Chrome, PageError, WebSession, render};
use crate::AppState;
use crate::auth::users::{self, UserInfo};
use crate::pipeline::board::{self, BoardColumn};
use crate::pipeline::deals::{DealFilter, DealSummary};
use crate::pipeline::stages::{self, StageView};
use crate::surveys::followups;

pub fn router() -> Router<AppState> {
    Router::new().route("/board", get(show_board))
}

/// Cards shown per column; the rest are counted and a filter narrows them.
const CARDS_PER_COLUMN: usize = 60;

/// A stage column with its cards.
struct Column {
    stage: StageView,
    deals: Vec<DealSummary>,
    /// Deals in the stage beyond the cards shown.
    more: usize,
}

#[derive(Template)]
#[template(path = "pages/board.html")]
struct BoardPage {
    chrome: Chrome,
    columns: Vec<Column>,
    users: Vec<UserInfo>,
    filter: DealFilter,
    total: usize,
    stuck: usize,
    on_hold: usize,
    overdue: usize,
    open_followups: HashMap<i32, usize>,
}

impl BoardPage {
    fn selected_owner(&self, email: &str) -> bool {
        self.filter.owner.as_deref() == Some(email)
    }

    fn followups(&self, deal_id: &i32) -> usize {
        self.open_followups.get(deal_id).copied().unwrap_or(0)
    }

    fn flag(&self, value: &Option<String>) -> bool {
        value.as_deref() == Some("true")
    }

    /// How close a deal is to its stage's SLA, as a CSS class.
    fn sla_class(&self, deal: &DealSummary) -> &'static str {
        match deal.sla_days {
            _ if deal.stuck => "sla-over",
            Some(sla) if deal.active_days_in_stage * 4 >= i64::from(sla) * 3 => "sla-near",
            Some(_) => "sla-ok",
            None => "sla-none",
        }
    }
}

async fn show_board(
    State(state): State<AppState>,
    session: WebSession,
    Query(mut filter): Query<DealFilter>,
) -> Result<Response, PageError> {
    let chrome = session.chrome("board");
    let fail = |e| PageError::new(e, chrome.clone());
    filter.stage = None;
    let board = board::board(&state.db, &filter, state.now(), CARDS_PER_COLUMN).await.map_err(fail)?;
    let pipeline = stages::list(&state.db).await.map_err(fail)?;
    let users = users::list(&state.db).await.map_err(fail)?;
    let shown: Vec<i32> = board.columns.iter().flat_map(|c| c.deals.iter().map(|d| d.id)).collect();
    let open_followups = followups::open_counts_for(&state.db, &shown).await.map_err(fail)?;
    let mut found: HashMap<i32, BoardColumn> = board.columns.into_iter().map(|c| (c.stage_id, c)).collect();
    let page = BoardPage {
        total: board.total,
        stuck: board.stuck,
        on_hold: board.on_hold,
        overdue: board.overdue,
        columns: pipeline
            .into_iter()
            .map(|stage| {
                let column = found.remove(&stage.id);
                let count = column.as_ref().map_or(0, |c| c.count);
                let deals = column.map(|c| c.deals).unwrap_or_default();
                Column { more: count - deals.len(), deals, stage }
            })
            .collect(),
        chrome,
        users,
        filter,
        open_followups,
    };
    Ok(render(StatusCode::OK, &page))
}
