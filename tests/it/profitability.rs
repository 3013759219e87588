//! Profitability on hand-computed fixtures: ARPA, LTV, LTV:CAC and CAC
//! payback by account and segment; the churn rate from the data or the
//! configured one; empty data; editing the economics through the API and
//! the account page.

use aftercare::auth::Role;
use aftercare::metrics::profitability::{self, ChurnSource, DEFAULT_MONTHLY_CHURN};
use axum::http::StatusCode;
use entity::{account, audit_entry, deal, stage};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::surveys_helpers::{date_of, day};
use crate::web_client::{Browser, TableDump, assert_unchanged};

/// Enters an account with `economics` (ARR, margin %, CAC) and one deal per
/// `(won on, churned on)`; returns the account's id.
async fn customer(
    app: &TestApp,
    name: &str,
    segment: Option<&str>,
    economics: Option<(i64, f64, i64)>,
    deals: &[(&str, Option<&str>)],
) -> i32 {
    let db = &app.state.db;
    let first = stage::Entity::find()
        .filter(stage::Column::Key.eq("closed_won"))
        .one(db)
        .await
        .expect("stages")
        .expect("closed_won");
    let made = account::ActiveModel {
        name: Set(name.to_owned()),
        segment: Set(segment.map(str::to_owned)),
        created_at: Set(day("2026-01-01")),
        arr_cents: Set(economics.map(|e| e.0 * 100)),
        gross_margin_pct: Set(economics.map(|e| e.1)),
        cac_cents: Set(economics.map(|e| e.2 * 100)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("an account");
    for (i, (won_on, churned_on)) in deals.iter().enumerate() {
        deal::ActiveModel {
            account_id: Set(made.id),
            name: Set(format!("{name} deal {i}")),
            closed_won_on: Set(date_of(won_on)),
            stage_id: Set(first.id),
            stage_entered_at: Set(day(won_on)),
            created_at: Set(day(won_on)),
            updated_at: Set(day(won_on)),
            churned_on: Set(churned_on.map(date_of)),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("a deal");
    }
    made.id
}

fn by_key<'a>(list: &'a Value, key: &str, value: &Value) -> &'a Value {
    list.as_array()
        .expect("a list")
        .iter()
        .find(|row| row[key] == *value)
        .unwrap_or_else(|| panic!("no {key}={value} in {list}"))
}

/// The figures of an account or segment row that the formulas produce.
fn figures(row: &Value) -> [Value; 5] {
    [
        row["arpa_monthly"].clone(),
        row["ltv"].clone(),
        row["ltv_cac"].clone(),
        row["payback_months"].clone(),
        row["meets_target"].clone(),
    ]
}

#[tokio::test]
async fn ltv_ltv_cac_and_payback_by_account_and_segment_at_the_configured_churn() {
    let app = TestApp::new().await;
    app.clock.set(day("2027-03-02"));
    let viewer = app.user(Role::Viewer).await;
    let won = [("2026-01-15", None)];
    let a = customer(&app, "Alpha", Some("SMB"), Some((12_000, 90.0, 20_000)), &won).await;
    let b = customer(&app, "Bravo", Some("SMB"), Some((24_000, 60.0, 10_000)), &won).await;
    let c = customer(&app, "Charlie", Some("SMB"), None, &won).await;
    let d = customer(&app, "Delta", Some("Enterprise"), Some((12_000, 87.0, 20_000)), &won).await;
    let e = customer(&app, "Echo", None, Some((6_000, 50.0, 0)), &won).await;

    let response = app.get("/api/v1/profitability", &viewer).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let report = response.json();
    // Five accounts observed: too few for a measured rate.
    assert_eq!(report["churn"]["source"], json!("configured"));
    assert_eq!(report["churn"]["monthly_pct"], json!(1.5));
    assert_eq!(report["churn"]["accounts_observed"], json!(5));
    assert_eq!(
        report["churn"]["explanation"],
        json!("configured rate: only 5 accounts observed in the last 12 months (at least 10 needed)")
    );
    assert_eq!(report["target_ltv_cac"], json!(3.0));

    let accounts = &report["accounts"];
    // Alpha: ARPA 1 000, gross profit 900 a month, LTV 900 / 0.015 = 60 000,
    // 3.0 x CAC, payback 20 000 / 900 = 22.2 months.
    assert_eq!(
        figures(by_key(accounts, "account_id", &json!(a))),
        [json!(1000.0), json!(60000.0), json!(3.0), json!(22.2), json!(true)]
    );
    // Bravo: ARPA 2 000, profit 1 200, LTV 80 000, 8:1, payback 8.3.
    assert_eq!(
        figures(by_key(accounts, "account_id", &json!(b))),
        [json!(2000.0), json!(80000.0), json!(8.0), json!(8.3), json!(true)]
    );
    // Charlie: nothing known.
    assert_eq!(
        figures(by_key(accounts, "account_id", &json!(c))),
        [Value::Null, Value::Null, Value::Null, Value::Null, Value::Null]
    );
    // Delta: profit 870, LTV 58 000, 2.9:1, below the line; payback 23.0.
    assert_eq!(
        figures(by_key(accounts, "account_id", &json!(d))),
        [json!(1000.0), json!(58000.0), json!(2.9), json!(23.0), json!(false)]
    );
    // Echo: no acquisition cost: no ratio, paid back at once.
    assert_eq!(
        figures(by_key(accounts, "account_id", &json!(e))),
        [json!(500.0), json!(16666.67), Value::Null, json!(0.0), Value::Null]
    );

    let segments = &report["segments"];
    let names: Vec<&str> =
        segments.as_array().expect("a list").iter().map(|s| s["segment"].as_str().unwrap_or_default()).collect();
    assert_eq!(names, ["Enterprise", "No segment", "SMB"]);
    // SMB: Alpha and Bravo (Charlie has no figures). ARR 36 000, ARPA
    // 36 000 / 12 / 2 = 1 500; profit 900 + 1 200 = 2 100 a month, margin
    // 2 100 x 12 / 36 000 = 70 %; LTV 2 100 / 0.015 = 140 000 in all,
    // 70 000 each; 140 000 / 30 000 CAC = 4.6667; payback 30 000 / 2 100 = 14.3.
    let smb = by_key(segments, "segment", &json!("SMB"));
    assert_eq!((smb["accounts"].clone(), smb["with_economics"].clone()), (json!(3), json!(2)));
    assert_eq!(
        (smb["arr_total"].clone(), smb["gross_margin_pct"].clone(), smb["cac_average"].clone()),
        (json!(36000.0), json!(70.0), json!(15000.0))
    );
    assert_eq!(figures(smb), [json!(1500.0), json!(70000.0), json!(4.6667), json!(14.3), json!(true)]);
    let enterprise = by_key(segments, "segment", &json!("Enterprise"));
    assert_eq!(figures(enterprise), [json!(1000.0), json!(58000.0), json!(2.9), json!(23.0), json!(false)]);
    // All five: ARR 54 000 over four with figures; profit 900 + 1 200 + 870
    // + 250 = 3 220; CAC 50 000; LTV 3 220 / 0.015 = 214 666.67 in all.
    let overall = &report["overall"];
    assert_eq!((overall["accounts"].clone(), overall["with_economics"].clone()), (json!(5), json!(4)));
    assert_eq!(overall["arpa_monthly"], json!(1125.0));
    assert_eq!(overall["gross_margin_pct"], json!(71.56));
    assert_eq!(overall["ltv"], json!(53666.67));
    assert_eq!(overall["ltv_cac"], json!(4.2933));
    assert_eq!(overall["payback_months"], json!(15.5));
}

#[tokio::test]
async fn churn_comes_from_the_data_with_ten_accounts_observed_and_one_churn() {
    let app = TestApp::new().await;
    let today = day("2027-03-02");
    app.clock.set(today);
    // Ten accounts customers since before the window (2026-03-02 to
    // 2027-03-02, 365 days); one churned on 2026-09-02, 184 days in; one
    // lost one of its two deals, which is not an account churning.
    let won = ("2026-01-15", None);
    let measured = customer(&app, "Measured", Some("SMB"), Some((12_000, 80.0, 20_000)), &[won]).await;
    customer(&app, "Lost", Some("SMB"), None, &[("2026-01-15", Some("2026-09-02"))]).await;
    customer(&app, "Partly", Some("SMB"), None, &[won, ("2026-02-01", Some("2026-06-01"))]).await;
    for i in 0..7 {
        customer(&app, &format!("Steady {i}"), Some("SMB"), None, &[won]).await;
    }
    // 9 x 365 + 184 = 3 469 days = 113.9713 account-months (of 30.4375
    // days); 1 churn: 0.8774 % a month.
    let churn = profitability::churn_rate(&app.state.db, DEFAULT_MONTHLY_CHURN, today).await.expect("a rate");
    assert_eq!(churn.source, ChurnSource::Data);
    assert_eq!(
        (churn.accounts_observed, churn.churned, churn.account_months, churn.monthly_pct),
        (10, 1, 113.9713, 0.88)
    );
    assert!((churn.monthly - 1.0 / 113.971_252_566_735_1).abs() < 1e-12, "{}", churn.monthly);
    // LTV 800 a month x 113.9713 = 91 177.00; against CAC 20 000: 4.5589.
    let report = profitability::report(&app.state.db, DEFAULT_MONTHLY_CHURN, today).await.expect("a report");
    let row = report.accounts.iter().find(|a| a.account_id == measured).expect("the account");
    assert_eq!((row.ltv, row.ltv_cac, row.meets_target), (Some(91_177.0), Some(4.5589), Some(true)));

    // Half a year on, the churn falls out of the window: the configured rate.
    let later = day("2027-09-03");
    let churn = profitability::churn_rate(&app.state.db, DEFAULT_MONTHLY_CHURN, later).await.expect("a rate");
    assert_eq!(
        (churn.source, churn.accounts_observed, churn.churned, churn.monthly),
        (ChurnSource::Configured, 9, 0, 0.015)
    );
    // A different configured rate is used as given: 800 / 0.02 = 40 000.
    let report = profitability::report(&app.state.db, 0.02, later).await.expect("a report");
    let row = report.accounts.iter().find(|a| a.account_id == measured).expect("the account");
    assert_eq!((row.ltv, row.ltv_cac, row.meets_target), (Some(40_000.0), Some(2.0), Some(false)));
}

#[tokio::test]
async fn ten_accounts_without_a_churn_use_the_configured_rate() {
    let app = TestApp::new().await;
    let today = day("2027-03-02");
    for i in 0..10 {
        customer(&app, &format!("Steady {i}"), None, None, &[("2026-01-15", None)]).await;
    }
    // A customer won after today is not observed yet.
    customer(&app, "Future", None, None, &[("2027-04-01", None)]).await;
    let churn = profitability::churn_rate(&app.state.db, DEFAULT_MONTHLY_CHURN, today).await.expect("a rate");
    assert_eq!(
        (churn.source, churn.accounts_observed, churn.churned, churn.monthly),
        (ChurnSource::Configured, 10, 0, 0.015)
    );
    assert_eq!(churn.explanation, "configured rate: no account churned in the last 12 months");
}

#[tokio::test]
async fn profitability_of_no_data_is_empty_not_an_error() {
    let app = TestApp::new().await;
    let viewer = app.user(Role::Viewer).await;
    let response = app.get("/api/v1/profitability", &viewer).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let report = response.json();
    assert_eq!(report["accounts"], json!([]));
    assert_eq!(report["segments"], json!([]));
    assert_eq!(
        (report["overall"]["accounts"].clone(), report["overall"]["with_economics"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(figures(&report["overall"]), [Value::Null, Value::Null, Value::Null, Value::Null, Value::Null]);
    assert_eq!(
        (report["churn"]["source"].clone(), report["churn"]["accounts_observed"].clone()),
        (json!("configured"), json!(0))
    );
}

async fn account_of_new_deal(app: &TestApp, user: &crate::helpers::TestUser) -> i32 {
    let deal = app.create_deal(user, "Acme rollout").await;
    let view = app.deal(user, deal).await;
    i32::try_from(view["account"]["id"].as_i64().expect("an account id")).expect("a small id")
}

#[tokio::test]
async fn patching_an_account_sets_its_economics_and_null_clears_them() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = account_of_new_deal(&app, &member).await;
    let path = format!("/api/v1/accounts/{id}");

    let response = app.patch(&path, &member, json!({"arr": 120_000, "gross_margin_pct": 75, "cac": 45_000})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let body = response.json();
    // ARPA 10 000; profit 7 500; LTV 7 500 / 0.015 = 500 000; 11.1111:1; payback 6 months.
    assert_eq!(
        (body["arr"].clone(), body["gross_margin_pct"].clone(), body["cac"].clone()),
        (json!(120000.0), json!(75.0), json!(45000.0))
    );
    assert_eq!(figures(&body), [json!(10000.0), json!(500000.0), json!(11.1111), json!(6.0), json!(true)]);
    let stored = account::Entity::find_by_id(id).one(&app.state.db).await.expect("read").expect("the account");
    assert_eq!(
        (stored.arr_cents, stored.gross_margin_pct, stored.cac_cents),
        (Some(12_000_000), Some(75.0), Some(4_500_000))
    );
    let audited = audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq("account.economics"))
        .one(&app.state.db)
        .await
        .expect("read")
        .expect("an audit entry");
    assert_eq!(audited.detail, "arr=120000, gross_margin_pct=75, cac=45000");

    // Absent fields stay; null clears; numbers may come as text.
    let response = app.patch(&path, &member, json!({"cac": null, "arr": "1250.50"})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let body = response.json();
    assert_eq!(
        (body["arr"].clone(), body["gross_margin_pct"].clone(), body["cac"].clone()),
        (json!(1250.5), json!(75.0), Value::Null)
    );
    assert_eq!((body["ltv_cac"].clone(), body["payback_months"].clone()), (Value::Null, Value::Null));
}

#[tokio::test]
async fn bad_economics_name_the_field_and_change_nothing() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = account_of_new_deal(&app, &member).await;
    let path = format!("/api/v1/accounts/{id}");
    let before = account::Entity::find_by_id(id).one(&app.state.db).await.expect("read");
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"arr": -1}), "arr", "must be a number from 0 to 1000000000000"),
        (json!({"arr": 1e13}), "arr", "must be a number from 0 to 1000000000000"),
        (json!({"arr": "a lot"}), "arr", "must be a number such as 120000 or 80.5"),
        (json!({"arr": true}), "arr", "expected a number or null"),
        (json!({"gross_margin_pct": 101}), "gross_margin_pct", "must be a percentage from 0 to 100"),
        (json!({"gross_margin_pct": -5, "cac": 10}), "gross_margin_pct", "must be a percentage from 0 to 100"),
        (json!({"cac": "NaN"}), "cac", "must be a number from 0 to 1000000000000"),
        (json!({"mrr": 10}), "mrr", "is not a known field"),
    ];
    for (body, field, problem) in cases {
        let response = app.patch(&path, &member, body.clone()).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", response.text);
        let reported =
            response.field_error(field).unwrap_or_else(|| panic!("{body}: {field} named in {}", response.text));
        assert!(reported.contains(problem), "{body}: {reported:?}");
    }
    let after = account::Entity::find_by_id(id).one(&app.state.db).await.expect("read");
    assert_eq!(before, after, "nothing changed");
    assert_eq!(
        audit_entry::Entity::find()
            .filter(audit_entry::Column::Action.eq("account.economics"))
            .count(&app.state.db)
            .await
            .expect("count"),
        0
    );
    assert_eq!(app.patch("/api/v1/accounts/999999", &member, json!({"arr": 1})).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.patch("/api/v1/accounts/abc", &member, json!({"arr": 1})).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn web_the_account_page_shows_and_edits_the_economics() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = account_of_new_deal(&app, &member).await;
    let browser = Browser::sign_in(&app, &member).await;
    let page = browser.get(&format!("/accounts/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.text_of("#economics dd.ltv"), "—");

    // A bad margin: refused on the page, naming the field, nothing saved.
    let form = page.form("form#economics-form").set("arr", "120000").set("gross_margin_pct", "180").set("cac", "45000");
    let refused = browser
        .refused(&form, StatusCode::UNPROCESSABLE_ENTITY, "Gross margin pct: must be a percentage from 0 to 100")
        .await;
    assert_eq!(refused.one("#economics-margin").attr("value"), Some("180"), "what was typed is kept");

    let saved = browser.submit(&form.set("gross_margin_pct", "75")).await;
    saved.assert_redirect_to(&format!("/accounts/{id}?done=economics"));
    let page = browser.follow(&saved).await;
    assert_eq!(page.text_of(".notice.notice-success"), "Economics saved.");
    assert_eq!(page.text_of("#economics dd.arr"), "120,000");
    assert_eq!(page.text_of("#economics dd.ltv"), "500,000");
    assert_eq!(page.text_of("#economics dd.ltv-cac"), "11.1:1 at or above 3:1");
    assert_eq!(page.text_of("#economics dd.payback"), "6 months");
    assert_eq!(page.one("#economics-arr").attr("value"), Some("120000"));

    // Blank clears.
    let before = TableDump::of(&app).await;
    let cleared = browser.submit(&page.form("form#economics-form").set("cac", "")).await;
    cleared.assert_redirect_to(&format!("/accounts/{id}?done=economics"));
    let stored = account::Entity::find_by_id(id).one(&app.state.db).await.expect("read").expect("the account");
    assert_eq!((stored.arr_cents, stored.cac_cents), (Some(12_000_000), None));
    assert_ne!(TableDump::of(&app).await, before);

    // Viewers see the figures but no form, and cannot post.
    let viewer = app.user(Role::Viewer).await;
    let browser = Browser::sign_in(&app, &viewer).await;
    let page = browser.get(&format!("/accounts/{id}")).await;
    assert_eq!(page.count("form#economics-form"), 0);
    let form = crate::web_client::Form::new(format!("/accounts/{id}/economics"), &[("arr", "1")])
        .set("csrf", &browser.csrf().await);
    let before = TableDump::of(&app).await;
    assert_eq!(browser.submit(&form).await.status, StatusCode::FORBIDDEN);
    assert_unchanged(&app, &before, "a viewer's economics form").await;
}
