//! The promise-kept rate, NPS, survey health, the dashboard and the reports,
//! on hand-computed fixtures.

use aftercare::auth::Role;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use entity::{promise, survey, survey_answer, survey_response, survey_wave};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, start_of_test};
use crate::web_client::Browser;

/// One answered survey on fixtures built straight into the tables, so each
/// number below can be computed by hand.
struct Answer<'a> {
    deals: &'a [i32],
    wave: i32,
    verdicts: &'a [&'a str],
    nps: Option<i32>,
    answered_at: DateTime<Utc>,
    category: Option<&'a str>,
}

async fn record(app: &TestApp, answer: Answer<'_>) -> i32 {
    let db = &app.state.db;
    let first = entity::deal::Entity::find_by_id(answer.deals[0]).one(db).await.expect("query").expect("a deal");
    let contact = entity::contact::ActiveModel {
        account_id: Set(first.account_id),
        name: Set("Ann Smit".into()),
        email: Set(format!("ann{}@customer.example", answer.answered_at.timestamp_micros())),
        language: Set("en".into()),
        created_at: Set(answer.answered_at),
        survey_recipient: Set(false),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("a contact");
    let made = survey::ActiveModel {
        account_id: Set(first.account_id),
        contact_id: Set(contact.id),
        language: Set("en".into()),
        status: Set("answered".into()),
        due_on: Set(answer.answered_at.date_naive()),
        created_at: Set(answer.answered_at - Duration::days(3)),
        sent_at: Set(Some(answer.answered_at - Duration::days(3))),
        answered_at: Set(Some(answer.answered_at)),
        expires_at: Set(answer.answered_at + Duration::days(27)),
        reminders_sent: Set(0),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("a survey");
    for deal in answer.deals {
        survey_wave::ActiveModel {
            deal_id: Set(*deal),
            wave_months: Set(answer.wave),
            due_on: Set(answer.answered_at.date_naive()),
            status: Set("surveyed".into()),
            survey_id: Set(Some(made.id)),
            created_at: Set(answer.answered_at),
            updated_at: Set(answer.answered_at),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("a wave");
    }
    for (i, verdict) in answer.verdicts.iter().enumerate() {
        let deal = answer.deals[i % answer.deals.len()];
        let kept = promise::ActiveModel {
            deal_id: Set(deal),
            text: Set(format!("Promise {i}")),
            category: Set(answer.category.map(str::to_owned)),
            created_at: Set(answer.answered_at - Duration::days(200)),
            locked_at: Set(Some(answer.answered_at)),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("a promise");
        survey_answer::ActiveModel {
            survey_id: Set(made.id),
            promise_id: Set(kept.id),
            verdict: Set((*verdict).to_owned()),
            created_at: Set(answer.answered_at),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("an answer");
    }
    survey_response::ActiveModel {
        survey_id: Set(made.id),
        nps: Set(answer.nps),
        reference: Set(false),
        review: Set(false),
        submitted_at: Set(answer.answered_at),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("a response");
    made.id
}

fn at(days: i64) -> DateTime<Utc> {
    start_of_test() + Duration::days(days)
}

fn verdicts(kept: usize, partly: usize, not_kept: usize, too_early: usize) -> Vec<&'static str> {
    [("kept", kept), ("partly", partly), ("not_kept", not_kept), ("too_early", too_early)]
        .iter()
        .flat_map(|(v, n)| std::iter::repeat_n(*v, *n))
        .collect()
}

async fn kept(app: &TestApp, user: &TestUser, query: &str) -> Value {
    let response = app.get(&format!("/api/v1/metrics/promise-kept{query}"), user).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    response.json()
}

async fn team(app: &TestApp) -> (TestUser, i32, i32) {
    let user = app.user(Role::Member).await;
    let first = app.create_deal(&user, "Northwind").await;
    let second = app.create_deal(&user, "Brightwater").await;
    (user, first, second)
}

#[tokio::test]
async fn empty_data_gives_no_rate_and_no_errors() {
    let app = TestApp::new().await;
    let user = app.user(Role::Viewer).await;
    let body = kept(&app, &user, "?group_by=wave").await;
    assert_eq!(body["overall"]["n"], 0);
    assert_eq!(body["overall"]["rate"], Value::Null);
    assert_eq!(body["groups"], json!([]));
    let nps = app.get("/api/v1/metrics/nps", &user).await.json();
    assert_eq!(nps["overall"]["nps"], Value::Null);
    let health = app.get("/api/v1/metrics/survey-health", &user).await.json();
    assert_eq!(health["overall"]["sent"], 0);
}

#[tokio::test]
async fn one_verdict_and_all_too_early() {
    let app = TestApp::new().await;
    let (user, first, second) = team(&app).await;
    record(
        &app,
        Answer { deals: &[first], wave: 6, verdicts: &["kept"], nps: Some(10), answered_at: at(1), category: None },
    )
    .await;
    let body = kept(&app, &user, "").await;
    assert_eq!((body["overall"]["n"].clone(), body["overall"]["rate"].clone()), (json!(1), json!(1.0)));
    // The Wilson interval of 1 of 1: 20.65 % to 100 %.
    assert_eq!((body["overall"]["ci_low"].clone(), body["overall"]["ci_high"].clone()), (json!(0.2065), json!(1.0)));
    assert_eq!(body["overall"]["small_sample"], true);

    let lonely = TestApp::new().await;
    let (user, deal, _) = team(&lonely).await;
    let _ = second;
    record(
        &lonely,
        Answer {
            deals: &[deal],
            wave: 6,
            verdicts: &verdicts(0, 0, 0, 3),
            nps: None,
            answered_at: at(1),
            category: None,
        },
    )
    .await;
    let body = kept(&lonely, &user, "").await;
    assert_eq!(body["overall"]["too_early"], 3);
    assert_eq!((body["overall"]["n"].clone(), body["overall"]["rate"].clone()), (json!(0), Value::Null));
}

#[tokio::test]
async fn the_rate_leaves_too_early_out_and_groups_by_wave_cohort_and_month() {
    let app = TestApp::new().await;
    let (user, first, second) = team(&app).await;
    // Wave 6: 8 kept, 1 partly, 1 not kept, 2 too early -> 8/10.
    record(
        &app,
        Answer {
            deals: &[first],
            wave: 6,
            verdicts: &verdicts(8, 1, 1, 2),
            nps: Some(9),
            answered_at: at(1),
            category: Some("Finance"),
        },
    )
    .await;
    // Wave 9: 1 kept, 1 not kept -> 1/2, a month later.
    record(
        &app,
        Answer {
            deals: &[second],
            wave: 9,
            verdicts: &verdicts(1, 0, 1, 0),
            nps: Some(3),
            answered_at: at(31),
            category: None,
        },
    )
    .await;

    let body = kept(&app, &user, "?group_by=wave").await;
    let overall = &body["overall"];
    assert_eq!(
        (overall["kept"].clone(), overall["partly"].clone(), overall["not_kept"].clone(), overall["too_early"].clone()),
        (json!(9), json!(1), json!(2), json!(2))
    );
    assert_eq!((overall["n"].clone(), overall["rate"].clone()), (json!(12), json!(0.75)));
    let groups = body["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 2);
    assert_eq!(
        (groups[0]["key"].clone(), groups[0]["rate"].clone(), groups[0]["n"].clone()),
        (json!("6"), json!(0.8), json!(10))
    );
    assert_eq!((groups[0]["ci_low"].clone(), groups[0]["ci_high"].clone()), (json!(0.4902), json!(0.9433)));
    assert_eq!((groups[1]["key"].clone(), groups[1]["rate"].clone()), (json!("9"), json!(0.5)));

    let cohorts = kept(&app, &user, "?group_by=cohort").await;
    assert_eq!(cohorts["groups"][0]["key"], "2026-Q1", "both deals closed on 2026-03-01");
    let months = kept(&app, &user, "?group_by=month").await;
    let keys: Vec<&str> =
        months["groups"].as_array().expect("months").iter().filter_map(|g| g["key"].as_str()).collect();
    assert_eq!(keys, ["2026-03", "2026-04"]);
    let trend = app.get("/api/v1/metrics/promise-kept/trend", &user).await.json();
    assert_eq!(trend["months"].as_array().expect("months").len(), 2);
    assert_eq!(trend["target"], 0.8);

    // Filters.
    assert_eq!(kept(&app, &user, "?wave=9").await["overall"]["n"], 2);
    assert_eq!(kept(&app, &user, "?from=2026-03-15").await["overall"]["n"], 2);
    assert_eq!(kept(&app, &user, "?to=2026-03-03").await["overall"]["n"], 10);
    assert_eq!(kept(&app, &user, "?category=Finance").await["overall"]["n"], 10);
    assert_eq!(kept(&app, &user, "?cohort=2025-Q4").await["overall"]["n"], 0);
    assert_eq!(kept(&app, &user, "?segment=SMB").await["overall"]["n"], 12);
}

#[tokio::test]
async fn a_survey_covering_two_deals_or_two_waves_counts_each_verdict_once() {
    let app = TestApp::new().await;
    let (user, first, second) = team(&app).await;
    // One survey, two deals, one promise each: two verdicts, not four.
    let survey = record(
        &app,
        Answer {
            deals: &[first, second],
            wave: 6,
            verdicts: &["kept", "not_kept"],
            nps: Some(8),
            answered_at: at(2),
            category: None,
        },
    )
    .await;
    // The same survey also covered the 9-month wave of the first deal.
    survey_wave::ActiveModel {
        deal_id: Set(first),
        wave_months: Set(9),
        due_on: Set(at(2).date_naive()),
        status: Set("surveyed".into()),
        survey_id: Set(Some(survey)),
        created_at: Set(at(2)),
        updated_at: Set(at(2)),
        ..Default::default()
    }
    .insert(&app.state.db)
    .await
    .expect("a second wave");
    let body = kept(&app, &user, "?group_by=wave").await;
    assert_eq!((body["overall"]["n"].clone(), body["overall"]["rate"].clone()), (json!(2), json!(0.5)));
    let groups = body["groups"].as_array().expect("groups");
    assert_eq!(
        groups.iter().map(|g| g["n"].as_u64().unwrap_or(0)).sum::<u64>(),
        2,
        "each verdict under one wave: {groups:?}"
    );
    let nps = app.get("/api/v1/metrics/nps?group_by=wave", &user).await.json();
    assert_eq!(nps["overall"]["n"], 1, "one answered survey, one score");
}

#[tokio::test]
async fn nps_is_promoters_minus_detractors_by_group() {
    let app = TestApp::new().await;
    let (user, first, second) = team(&app).await;
    for (days, score, deal, wave) in
        [(1, 10, first, 6), (2, 9, first, 9), (3, 8, second, 6), (4, 6, second, 9), (5, 0, second, 12)]
    {
        record(
            &app,
            Answer {
                deals: &[deal],
                wave,
                verdicts: &["kept"],
                nps: Some(score),
                answered_at: at(days),
                category: None,
            },
        )
        .await;
    }
    let body = app.get("/api/v1/metrics/nps?group_by=wave", &user).await.json();
    let overall = &body["overall"];
    assert_eq!(
        (overall["promoters"].clone(), overall["passives"].clone(), overall["detractors"].clone()),
        (json!(2), json!(1), json!(2))
    );
    assert_eq!(overall["nps"], 0.0);
    // Wave 6: a 10 and an 8 -> 50 points; wave 12: a 0 -> -100.
    assert_eq!(
        (body["groups"][0]["label"].clone(), body["groups"][0]["nps"].clone()),
        (json!("6 months"), json!(50.0))
    );
    assert_eq!(
        (body["groups"][2]["label"].clone(), body["groups"][2]["nps"].clone()),
        (json!("12 months"), json!(-100.0))
    );
    let by_manager = app.get("/api/v1/metrics/nps?group_by=account_manager", &user).await.json();
    assert_eq!(by_manager["groups"][0]["label"], "(none)", "the fixture deals have no account manager");
}

#[tokio::test]
async fn bad_metric_queries_name_the_parameter() {
    let app = TestApp::new().await;
    let user = app.user(Role::Viewer).await;
    for (query, field) in [
        ("?group_by=colour", "group_by"),
        ("?cohort=2026Q1", "cohort"),
        ("?from=2026-02-30", "from"),
        ("?from=2026-03-02&to=2026-03-01", "to"),
        ("?wave=six", "wave"),
        ("?account_manager=nobody@team.example", "account_manager"),
        ("?colour=red", "colour"),
    ] {
        let response = app.get(&format!("/api/v1/metrics/promise-kept{query}"), &user).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {}", response.text);
        assert!(response.field_error(field).is_some(), "{query} names {field}: {}", response.text);
    }
    let response = app.get("/api/v1/metrics/nps?group_by=moon", &user).await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.field_error("group_by").is_some());
    let anonymous = app.request(axum::http::Method::GET, "/api/v1/metrics/promise-kept", None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_dashboard_and_reports_show_the_same_numbers_and_download_as_csv() {
    let app = TestApp::new().await;
    let (user, first, _) = team(&app).await;
    record(
        &app,
        Answer {
            deals: &[first],
            wave: 6,
            verdicts: &verdicts(8, 1, 1, 2),
            nps: Some(10),
            answered_at: at(1),
            category: None,
        },
    )
    .await;
    let browser = Browser::sign_in(&app, &user).await;
    let page = browser.get("/dashboard").await;
    assert!(page.text_of("#tile-kept .tile-value").contains("80%"), "{}", page.text_of("#tile-kept"));
    assert!(page.text_of("#tile-kept").contains("10 verdicts"));
    assert_eq!(page.count("figure.chart svg[role=img] title"), 6, "six charts with accessible titles");

    let reports = browser.get("/reports").await;
    let row = reports.all("#promise-kept-by-wave tbody tr")[0].text.clone();
    assert!(row.contains("6 months") && row.contains("80.0"), "{row}");
    for table in [
        "pipeline-stages",
        "pipeline-conversion",
        "pipeline-forecast",
        "profitability-by-segment",
        "profitability-by-account",
        "advocacy-candidates",
        "advocacy-outcomes",
        "nps-by-wave",
        "survey-health-by-month",
    ] {
        assert_eq!(
            reports.count(&format!("section#{table} a[href=\"/reports/{table}.csv\"]")),
            1,
            "{table} is on the reports page"
        );
    }
    let stages = browser.get("/reports/pipeline-stages.csv").await;
    assert!(stages.html.starts_with("Stage,Target days,Now in it"), "{}", stages.html);
    assert!(stages.html.contains("Customer signed,7,2,"), "both fixture deals are in the first stage: {}", stages.html);
    assert_eq!(browser.get("/reports/no-such-table.csv").await.status, StatusCode::NOT_FOUND);
    let csv = browser.get("/reports/promise-kept-by-wave.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers["content-type"].to_str().unwrap_or_default().starts_with("text/csv"));
    let mut lines = csv.html.lines();
    assert_eq!(lines.next(), Some("Group,Kept,Partly,Not kept,Too early,Verdicts,Rate %,CI low %,CI high %,Under 30"));
    assert_eq!(lines.next(), Some("6 months,8,1,1,2,10,80.0,49.0,94.3,yes"));
}

#[tokio::test]
async fn the_dashboard_shows_its_stored_snapshot_until_it_is_refreshed() {
    let app = TestApp::new().await;
    let (user, first, second) = team(&app).await;
    record(
        &app,
        Answer {
            deals: &[first],
            wave: 6,
            verdicts: &verdicts(4, 0, 0, 0),
            nps: Some(9),
            answered_at: at(1),
            category: None,
        },
    )
    .await;
    let browser = Browser::sign_in(&app, &user).await;
    let page = browser.get("/dashboard").await;
    assert!(page.text_of("#tile-kept").contains("4 verdicts"), "{}", page.text_of("#tile-kept"));
    assert!(
        page.text_of(".snapshot-bar").contains("Figures as of 2026-03-02 09:00 UTC"),
        "{}",
        page.text_of(".snapshot-bar")
    );
    let stored = entity::dashboard_snapshot::Entity::find().all(&app.state.db).await.expect("snapshots");
    assert_eq!(stored.len(), 1, "the first view stored a snapshot");

    // New answers do not show until the snapshot is refreshed ...
    record(
        &app,
        Answer {
            deals: &[second],
            wave: 6,
            verdicts: &verdicts(0, 0, 4, 0),
            nps: Some(9),
            answered_at: at(2),
            category: None,
        },
    )
    .await;
    let page = browser.get("/dashboard").await;
    assert!(
        page.text_of("#tile-kept").contains("4 verdicts"),
        "served from the snapshot: {}",
        page.text_of("#tile-kept")
    );

    // ... by the job, which keeps only the newest ...
    let report =
        aftercare::jobs::run_manually(&app.state, "dashboard-snapshot", app.state.now()).await.expect("the job");
    assert!(report.to_string().contains("took_ms="), "{report}");
    let page = browser.get("/dashboard").await;
    assert!(page.text_of("#tile-kept").contains("8 verdicts"), "{}", page.text_of("#tile-kept"));
    assert!(page.text_of("#tile-kept .tile-value").contains("50%"), "{}", page.text_of("#tile-kept"));
    let stored = entity::dashboard_snapshot::Entity::find().all(&app.state.db).await.expect("snapshots");
    assert_eq!(stored.len(), 1, "older snapshots are dropped");

    // ... or by the button, for members and up.
    record(
        &app,
        Answer {
            deals: &[first],
            wave: 9,
            verdicts: &verdicts(2, 0, 0, 0),
            nps: Some(9),
            answered_at: at(3),
            category: None,
        },
    )
    .await;
    let refresh = page.form("form[action=\"/dashboard/refresh\"]");
    browser.submit_with_csrf(&refresh).await.assert_redirect_to("/dashboard");
    assert!(browser.get("/dashboard").await.text_of("#tile-kept").contains("10 verdicts"));

    let viewer = app.user(Role::Viewer).await;
    let watching = Browser::sign_in(&app, &viewer).await;
    let page = watching.get("/dashboard").await;
    assert_eq!(page.count("form[action=\"/dashboard/refresh\"]"), 0, "viewers see no refresh button");
    let as_viewer = refresh.clone().set("csrf", &watching.csrf().await);
    watching.refused(&as_viewer, StatusCode::FORBIDDEN, "role").await;
    browser.refused(&refresh.clone().set("csrf", "0123456789abcdef"), StatusCode::FORBIDDEN, "reload the page").await;
}

#[tokio::test]
async fn every_kept_rate_figure_links_to_the_deals_behind_it() {
    let app = TestApp::new().await;
    let (user, first, second) = team(&app).await;
    record(
        &app,
        Answer {
            deals: &[first],
            wave: 6,
            verdicts: &verdicts(3, 0, 1, 0),
            nps: Some(9),
            answered_at: at(1),
            category: None,
        },
    )
    .await;
    record(
        &app,
        Answer {
            deals: &[second],
            wave: 9,
            verdicts: &verdicts(2, 1, 0, 1),
            nps: Some(7),
            answered_at: at(40),
            category: None,
        },
    )
    .await;
    let browser = Browser::sign_in(&app, &user).await;
    let dashboard = browser.get("/dashboard").await;
    let link = |css: &str| dashboard.one(css).attr("href").map(str::to_owned).unwrap_or_default();
    let deals_behind = async |href: String| {
        let page = browser.get(&href).await;
        assert_eq!(page.status, StatusCode::OK, "{href}:\n{}", page.html);
        let ids: Vec<String> = page
            .all("#verdict-deals tbody tr[data-deal-id]")
            .iter()
            .map(|r| r.attr("data-deal-id").unwrap_or_default().to_owned())
            .collect();
        // Customer, kept, partly, not kept, too early, rate.
        let cells: Vec<String> =
            page.all("#verdict-deals tbody tr[data-deal-id] td").iter().map(|c| c.text.clone()).collect();
        let rows: Vec<(String, String)> = ids.into_iter().zip(cells.chunks(6).map(|c| c[1..].join(" "))).collect();
        (page.text_of("#verdicts-filter"), rows)
    };

    // The tile: every deal, most promises not kept first.
    let (what, rows) = deals_behind(link("#tile-kept")).await;
    assert!(what.starts_with("all verdicts: 71% kept over 7 verdicts"), "{what}");
    assert_eq!(rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(), [first.to_string(), second.to_string()]);
    assert!(rows[0].1.ends_with("3 0 1 0 75%"), "{:?}", rows[0]);
    // A wave row: that wave's deals only.
    let (what, rows) = deals_behind(link("#chart-waves tbody tr:nth-child(2) a")).await;
    assert!(what.starts_with("wave 9 months: 67% kept over 3 verdicts"), "{what}");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].1.ends_with("2 1 0 1 67%"), "{:?}", rows[0]);
    // A month of the trend.
    let month = at(40).format("%Y-%m").to_string();
    let href = dashboard
        .all("#chart-trend tbody a")
        .iter()
        .find(|a| a.text.contains(&month))
        .and_then(|a| a.attr("href").map(str::to_owned))
        .expect("the month's link");
    let (what, rows) = deals_behind(href).await;
    assert!(what.contains("answered from"), "{what}");
    assert_eq!(rows.len(), 1, "only the answer of {month}");
    // A cohort row, and a bad filter named.
    let (_, rows) = deals_behind(link("#chart-cohorts tbody tr:first-child a")).await;
    assert_eq!(rows.len(), 2, "both deals closed in the same quarter");
    let bad = browser.get("/reports/verdicts?wave=six").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text_of(".notice").contains("wave"), "{}", bad.text_of(".notice"));
}
