//! The scale generator (`aftercare demo --deals N`): its data must obey the
//! same rules as data made through the product, or benchmarks on it measure
//! something no customer has.

use std::collections::HashMap;

use aftercare::auth::Role;
use aftercare::demo::scale;
use aftercare::pipeline::board;
use aftercare::pipeline::deals::{self, DealFilter};
use axum::http::StatusCode;
use entity::{deal, deal_hold, followup, promise, stage, stage_transition, survey, survey_answer};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::json;

use crate::helpers::{NowForTests, TestApp};
use crate::web_client::Browser;

#[tokio::test]
async fn generated_deals_follow_the_products_rules_and_the_app_works_on_them() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    app.user(Role::Member).await;
    let db = &app.state.db;
    let now = app.clock.now_for_tests();
    let summary = scale::generate(db, 600, now).await.expect("generating");
    assert_eq!((summary.deals, summary.promises), (600, 3000), "{summary}");

    let deals: HashMap<i32, deal::Model> =
        deal::Entity::find().all(db).await.expect("deals").into_iter().map(|d| (d.id, d)).collect();
    assert_eq!(deals.len(), 600);
    // Each deal is where its history says, having entered when it says.
    let mut last_move: HashMap<i32, stage_transition::Model> = HashMap::new();
    for row in stage_transition::Entity::find().order_by_asc(stage_transition::Column::At).all(db).await.expect("moves")
    {
        assert!(row.at <= now, "no move in the future: {row:?}");
        last_move.insert(row.deal_id, row);
    }
    for deal in deals.values() {
        let last = &last_move[&deal.id];
        assert_eq!((last.to_stage_id, last.at), (deal.stage_id, deal.stage_entered_at), "deal {}", deal.id);
        assert!(deal.closed_won_on <= now.date_naive());
    }
    // Holds fall inside the stage they are for: the current one (at most
    // one open per deal), or an earlier one they ended before the deal left.
    let holds = deal_hold::Entity::find().all(db).await.expect("holds");
    assert_eq!(holds.len(), summary.holds);
    let mut open = HashMap::new();
    for hold in &holds {
        let deal = &deals[&hold.deal_id];
        let ended = hold.ended_at.unwrap_or(now);
        assert!(ended >= hold.started_at && ended <= now, "{hold:?}");
        if hold.stage_id == deal.stage_id {
            assert!(hold.started_at >= deal.stage_entered_at, "{hold:?}");
        } else {
            assert!(hold.ended_at.is_some_and(|end| end <= deal.stage_entered_at), "{hold:?}");
        }
        if hold.ended_at.is_none() {
            *open.entry(hold.deal_id).or_insert(0) += 1;
        }
    }
    assert!(open.values().all(|n| *n == 1), "one open hold per deal at most");
    assert!(holds.iter().any(|h| h.stage_id != deals[&h.deal_id].stage_id), "some holds are from earlier stages");
    assert!(holds.iter().any(|h| h.ended_at == Some(deals[&h.deal_id].stage_entered_at)), "some ended at the move");
    // Verdicts are on the surveyed account's own promises, after the survey went out.
    let promises: HashMap<i32, promise::Model> =
        promise::Entity::find().all(db).await.expect("promises").into_iter().map(|p| (p.id, p)).collect();
    let surveys: HashMap<i32, survey::Model> =
        survey::Entity::find().all(db).await.expect("surveys").into_iter().map(|s| (s.id, s)).collect();
    let answers = survey_answer::Entity::find().all(db).await.expect("answers");
    assert_eq!(answers.len(), summary.verdicts);
    for answer in &answers {
        let survey = &surveys[&answer.survey_id];
        assert_eq!(deals[&promises[&answer.promise_id].deal_id].account_id, survey.account_id, "{answer:?}");
        assert!(survey.answered_at.is_some_and(|at| survey.sent_at.is_some_and(|sent| sent <= at) && at <= now));
    }
    // Each "not kept" opens one follow-up on that promise's deal.
    let not_kept = answers.iter().filter(|a| a.verdict == "not_kept").count();
    let followups = followup::Entity::find().all(db).await.expect("follow-ups");
    assert_eq!((followups.len(), summary.followups), (not_kept, not_kept));
    for row in &followups {
        assert_eq!(promises[&row.promise_id].deal_id, row.deal_id);
        assert_eq!(
            row.status == "resolved",
            row.resolved_at.is_some_and(|at| at >= row.opened_at && at <= now),
            "{row:?}"
        );
    }

    // The product reads it: a kept rate near the real world's, a board with
    // stuck, held and overdue deals, and new deals get fresh ids.
    let kept = app.get("/api/v1/metrics/promise-kept", &admin).await.json();
    let rate = kept["overall"]["rate"].as_f64().expect("a rate");
    assert!((0.7..0.9).contains(&rate), "{kept}");
    let board = Browser::sign_in(&app, &admin).await.get("/board").await;
    assert_eq!(board.status, StatusCode::OK);
    let summary_line = board.text_of(".page-head .summary");
    let figures: Vec<u64> = summary_line.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
    assert!(figures.len() == 4 && figures[0] == 600 && figures[1..].iter().all(|n| *n > 0), "{summary_line}");
    let created = app
        .post(
            "/api/v1/deals",
            &admin,
            json!({"name": "After the generator", "closed_won_on": "2026-03-01", "account": {"name": "Newco"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let again = scale::generate(db, 10, now).await.expect_err("a database with deals");
    assert!(again.to_string().contains("without deals"), "{again}");
}

/// The board counts most deals in SQL and measures only those a hold paused
/// in their stage; the list measures every deal. On generated data (holds
/// open, ended, from earlier stages, ended exactly at the move) both must
/// give the same counts and the board the list's first deals of each stage.
#[tokio::test]
async fn the_board_counts_and_orders_deals_exactly_as_the_list_does() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let db = &app.state.db;
    let now = app.clock.now_for_tests();
    scale::generate(db, 2000, now).await.expect("generating");
    let stage_ids: HashMap<String, i32> =
        stage::Entity::find().all(db).await.expect("stages").into_iter().map(|s| (s.key, s.id)).collect();
    let flag = |v: &str| Some(v.to_owned());
    let filters = [
        DealFilter::default(),
        DealFilter { stuck: flag("true"), ..Default::default() },
        DealFilter { stuck: flag("false"), ..Default::default() },
        DealFilter { on_hold: flag("true"), ..Default::default() },
        DealFilter { on_hold: flag("false"), ..Default::default() },
        DealFilter { stuck: flag("true"), on_hold: flag("true"), ..Default::default() },
        DealFilter { owner: Some(member.email.clone()), ..Default::default() },
        DealFilter { stage: flag("implementing"), stuck: flag("false"), ..Default::default() },
    ];
    // Generated deals enter stages at 08:00 or 10:00, so 10:00 is the very
    // moment some reach a whole number of days; later, open holds have grown
    // and more deals are past their SLA.
    let hours = [0, 1, 2, 9 * 24, 9 * 24 + 1];
    for (moment, later) in hours.map(|h| (now + chrono::Duration::hours(h), h)) {
        for filter in &filters {
            let listed = deals::list(db, filter, moment).await.expect("listing");
            let shown = board::board(db, filter, moment, 7).await.expect("the board");
            let what = format!("{filter:?} {later} hours later");
            assert_eq!(shown.total, listed.len(), "{what}");
            assert_eq!(shown.stuck, listed.iter().filter(|d| d.stuck).count(), "{what}");
            assert_eq!(shown.on_hold, listed.iter().filter(|d| d.on_hold).count(), "{what}");
            assert_eq!(
                shown.overdue,
                listed.iter().filter(|d| d.next_call.as_ref().is_some_and(|c| c.overdue)).count(),
                "{what}"
            );
            let mut expected: Vec<(i32, usize, Vec<i32>)> = Vec::new();
            for deal in &listed {
                let stage = stage_ids[&deal.stage];
                match expected.last_mut() {
                    Some((id, count, first)) if *id == stage => {
                        *count += 1;
                        if first.len() < 7 {
                            first.push(deal.id);
                        }
                    }
                    _ => expected.push((stage, 1, vec![deal.id])),
                }
            }
            let columns: Vec<(i32, usize, Vec<i32>)> =
                shown.columns.iter().map(|c| (c.stage_id, c.count, c.deals.iter().map(|d| d.id).collect())).collect();
            assert_eq!(columns, expected, "{what}");
        }
    }
    let stuck_and_held = board::board(db, &filters[5], now, 7).await.expect("the board").total;
    assert!(stuck_and_held > 0, "the data has deals both stuck and on hold");
}
