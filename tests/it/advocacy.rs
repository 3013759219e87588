//! Advocacy: who is a candidate (each rule on and off), the ranking and its
//! reasons, the asks ledger over the API (the shared ask budget, bad input,
//! roles, outcomes), the survey planner holding back after an ask, and the
//! advocacy page with its forms.

use aftercare::advocacy::candidates::{self, Candidate, Rules};
use aftercare::auth::Role;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use entity::{
    account, advocacy_ask, audit_entry, contact, deal, promise, stage, stage_transition, survey, survey_answer,
    survey_response, survey_wave,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};
use crate::surveys_helpers::{Customer, date_of, day, id_of};
use crate::web_client::{Browser, Page};

/// The instant most tests judge candidates at.
const NOW: &str = "2027-03-02";

/// A contact who answered a survey about one deal, entered row by row.
#[derive(Debug, Clone)]
pub struct Answered {
    /// Names the account (`{name} BV`), contact and deal.
    pub name: String,
    /// The account's segment.
    pub segment: Option<String>,
    /// One promise per verdict.
    pub verdicts: Vec<&'static str>,
    /// The recommend score.
    pub nps: Option<i32>,
    /// Open to being a reference.
    pub reference: bool,
    /// Open to writing a review.
    pub review: bool,
    /// The deal's stage key.
    pub stage: &'static str,
    /// When the deal went live (`YYYY-MM-DD`).
    pub live_on: &'static str,
    /// When the deal churned.
    pub churned_on: Option<&'static str>,
    /// Whether the contact unsubscribed.
    pub unsubscribed: bool,
    /// The survey's wave.
    pub wave: i32,
    /// When the survey was sent (it is answered two days later).
    pub sent: DateTime<Utc>,
    /// ARR, gross margin % and CAC.
    pub economics: Option<(i64, f64, i64)>,
}

impl Answered {
    /// Three promises kept at 9 months, NPS 10, open to references, live
    /// since 2026-07-20, surveyed on 2026-12-01 (91 days before [`NOW`]).
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            segment: Some("SMB".to_owned()),
            verdicts: vec!["kept"; 3],
            nps: Some(10),
            reference: true,
            review: false,
            stage: "live",
            live_on: "2026-07-20",
            churned_on: None,
            unsubscribed: false,
            wave: 9,
            sent: day("2026-12-01"),
            economics: None,
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        self
    }
}

/// What [`enter`] made.
#[derive(Debug, Clone)]
pub struct Entered {
    /// The account.
    pub account_id: i32,
    /// The contact.
    pub contact_id: i32,
    /// Their email.
    pub email: String,
    /// The deal.
    pub deal_id: i32,
    /// The answered survey.
    pub survey_id: i32,
}

async fn stage_id(app: &TestApp, key: &str) -> i32 {
    stage::Entity::find()
        .filter(stage::Column::Key.eq(key))
        .one(&app.state.db)
        .await
        .expect("reading stages")
        .unwrap_or_else(|| panic!("no stage {key}"))
        .id
}

/// Enters an account with one deal (won 2026-03-01), one contact and
/// their answered survey.
pub async fn enter(app: &TestApp, a: &Answered) -> Entered {
    let db = &app.state.db;
    let at = day("2026-03-01");
    let slug: String = a.name.to_lowercase().chars().filter(char::is_ascii_alphanumeric).collect();
    let made = account::ActiveModel {
        name: Set(format!("{} BV", a.name)),
        segment: Set(a.segment.clone()),
        created_at: Set(at),
        arr_cents: Set(a.economics.map(|e| e.0 * 100)),
        gross_margin_pct: Set(a.economics.map(|e| e.1)),
        cac_cents: Set(a.economics.map(|e| e.2 * 100)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("an account");
    let email = format!("dana@{slug}.example");
    let person = contact::ActiveModel {
        account_id: Set(made.id),
        name: Set(format!("Dana {}", a.name)),
        email: Set(email.clone()),
        language: Set("en".to_owned()),
        created_at: Set(at),
        survey_recipient: Set(true),
        unsubscribed_at: Set(a.unsubscribed.then(|| day("2027-01-05"))),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("a contact");
    let live_at = day(a.live_on);
    let first = stage_id(app, "closed_won").await;
    let current = stage_id(app, a.stage).await;
    let won = deal::ActiveModel {
        account_id: Set(made.id),
        name: Set(format!("{} rollout", a.name)),
        closed_won_on: Set(date_of("2026-03-01")),
        stage_id: Set(current),
        stage_entered_at: Set(if a.stage == "live" { live_at } else { at }),
        created_at: Set(at),
        updated_at: Set(at),
        churned_on: Set(a.churned_on.map(date_of)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("a deal");
    let mut moves = vec![(None, first, "created", at)];
    if a.stage == "live" {
        moves.push((Some(first), current, "advance", live_at));
    }
    for (from, to, kind, when) in moves {
        stage_transition::ActiveModel {
            deal_id: Set(won.id),
            from_stage_id: Set(from),
            to_stage_id: Set(to),
            kind: Set(kind.to_owned()),
            at: Set(when),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("a transition");
    }
    let asked = survey::ActiveModel {
        account_id: Set(made.id),
        contact_id: Set(person.id),
        language: Set("en".to_owned()),
        status: Set("answered".to_owned()),
        due_on: Set(a.sent.date_naive()),
        created_at: Set(a.sent),
        sent_at: Set(Some(a.sent)),
        answered_at: Set(Some(a.sent + Duration::days(2))),
        expires_at: Set(a.sent + Duration::days(30)),
        reminders_sent: Set(0),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("a survey");
    survey_wave::ActiveModel {
        deal_id: Set(won.id),
        wave_months: Set(a.wave),
        due_on: Set(a.sent.date_naive()),
        status: Set("surveyed".to_owned()),
        survey_id: Set(Some(asked.id)),
        created_at: Set(a.sent),
        updated_at: Set(a.sent),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("a wave");
    for (i, verdict) in a.verdicts.iter().enumerate() {
        let promised = promise::ActiveModel {
            deal_id: Set(won.id),
            text: Set(format!("Promise {i}")),
            created_at: Set(at),
            locked_at: Set(Some(a.sent)),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("a promise");
        survey_answer::ActiveModel {
            survey_id: Set(asked.id),
            promise_id: Set(promised.id),
            verdict: Set((*verdict).to_owned()),
            created_at: Set(a.sent + Duration::days(2)),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("an answer");
    }
    survey_response::ActiveModel {
        survey_id: Set(asked.id),
        nps: Set(a.nps),
        reference: Set(a.reference),
        review: Set(a.review),
        submitted_at: Set(a.sent + Duration::days(2)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("a response");
    Entered { account_id: made.id, contact_id: person.id, email, deal_id: won.id, survey_id: asked.id }
}

/// Records an ask of `contact_id` at `at` straight into the ledger.
pub async fn insert_ask(app: &TestApp, contact_id: i32, kind: &str, at: DateTime<Utc>) -> i32 {
    advocacy_ask::ActiveModel {
        kind: Set(kind.to_owned()),
        contact_id: Set(contact_id),
        asked_at: Set(at),
        outcome: Set("pending".to_owned()),
        ..Default::default()
    }
    .insert(&app.state.db)
    .await
    .expect("an ask")
    .id
}

async fn assess(app: &TestApp) -> Vec<Candidate> {
    candidates::assess(&app.state.db, &Rules::default(), aftercare::Clock::now(&app.clock)).await.expect("assessing")
}

/// The rules `contact_id` misses (empty: a candidate).
fn missed(all: &[Candidate], contact_id: i32) -> Vec<&'static str> {
    let found =
        all.iter().find(|c| c.contact_id == contact_id).unwrap_or_else(|| panic!("contact {contact_id} assessed"));
    found.excluded_because.iter().map(|e| e.code).collect()
}

async fn ask_count(app: &TestApp) -> u64 {
    advocacy_ask::Entity::find().count(&app.state.db).await.expect("counting asks")
}

#[tokio::test]
async fn candidates_meet_every_rule_and_each_rule_can_rule_one_out() {
    let app = TestApp::new().await;
    app.clock.set(day(NOW));
    // (case, the contact, the rules missed)
    let cases: Vec<(&str, Answered, Vec<&str>)> = vec![
        ("baseline: live, 3/3 kept, NPS 10", Answered::new("Base"), vec![]),
        ("not live yet", Answered::new("Implementing").with(|a| a.stage = "implementing"), vec!["not_live"]),
        (
            "a not-kept verdict, even at an 80 % kept rate",
            Answered::new("Broken").with(|a| a.verdicts = vec!["kept", "kept", "kept", "kept", "not_kept"]),
            vec!["not_kept"],
        ),
        (
            "kept rate 15/19 = 78.9 %",
            Answered::new("Seventynine").with(|a| a.verdicts = [vec!["kept"; 15], vec!["partly"; 4]].concat()),
            vec!["kept_rate"],
        ),
        (
            "kept rate 4/5 = 80 %",
            Answered::new("Eighty").with(|a| a.verdicts = vec!["kept", "kept", "kept", "kept", "partly"]),
            vec![],
        ),
        (
            "every promise too early to tell",
            Answered::new("Early").with(|a| a.verdicts = vec!["too_early"; 2]),
            vec!["no_verdicts"],
        ),
        ("NPS 8", Answered::new("Passive").with(|a| a.nps = Some(8)), vec!["nps"]),
        ("NPS 9", Answered::new("Promoter").with(|a| a.nps = Some(9)), vec![]),
        ("no recommend score", Answered::new("Silent").with(|a| a.nps = None), vec!["no_nps"]),
        ("churned", Answered::new("Gone").with(|a| a.churned_on = Some("2027-02-01")), vec!["churned"]),
        ("unsubscribed", Answered::new("Quiet").with(|a| a.unsubscribed = true), vec!["unsubscribed"]),
        (
            "surveyed and asked for a review 30 days ago: quiet period, and the quarter's two asks are spent",
            Answered::new("Fresh").with(|a| {
                a.wave = 12;
                a.sent = day(NOW) - Duration::days(30);
            }),
            vec!["asked_recently", "quarter_used"],
        ),
        (
            "several misses at once",
            Answered::new("Many").with(|a| {
                a.nps = Some(6);
                a.stage = "handoff";
            }),
            vec!["not_live", "nps"],
        ),
    ];
    let mut entered = Vec::new();
    for (_, answered, _) in &cases {
        entered.push(enter(&app, answered).await);
    }
    insert_ask(&app, entered[11].contact_id, "review", day(NOW) - Duration::days(30)).await;
    let all = assess(&app).await;
    assert_eq!(all.len(), cases.len(), "every contact with an answered survey is assessed");
    for ((case, _, expected), made) in cases.iter().zip(&entered) {
        assert_eq!(missed(&all, made.contact_id), *expected, "{case}");
    }
    // The reasons say why in words.
    let seventynine = all.iter().find(|c| c.contact_id == entered[3].contact_id).expect("assessed");
    assert_eq!(seventynine.excluded_because[0].reason, "15/19 promises kept (78.9 %), below 80 %");
    let fresh = all.iter().find(|c| c.contact_id == entered[11].contact_id).expect("assessed");
    assert_eq!(fresh.excluded_because[0].reason, "asked 30 days ago (a review on 2027-01-31); one ask per 90 days");
    let waiting = all.iter().find(|c| c.contact_id == entered[1].contact_id).expect("assessed");
    let implementing = stage_name(&app, "implementing").await;
    assert_eq!(
        waiting.excluded_because[0].reason,
        format!("not live yet: Implementing rollout is at \u{201c}{implementing}\u{201d}")
    );

    // Candidates come first, ranked; the rest follow unranked.
    let eligible: Vec<&str> = all.iter().filter(|c| c.eligible).map(|c| c.contact_name.as_str()).collect();
    assert_eq!(eligible.len(), 3, "{eligible:?}");
    assert!(all.iter().take(3).all(|c| c.eligible && c.rank.is_some()));
    assert!(all.iter().skip(3).all(|c| !c.eligible && c.rank.is_none()));
    // The list narrows in SQL first; it must find exactly the same people.
    let now = aftercare::Clock::now(&app.clock);
    let listed = candidates::list(&app.state.db, &Rules::default(), now).await.expect("listing");
    let names: Vec<&str> = listed.iter().map(|c| c.contact_name.as_str()).collect();
    assert_eq!(names, eligible, "the list and the full assessment agree, in rank order");

    // Rules are adjustable: with NPS 8 allowed and no live deal required,
    // the passive and the implementing customers join.
    let lenient = Rules { min_nps: 8, require_live: false, ..Rules::default() };
    let listed = candidates::list(&app.state.db, &lenient, now).await.expect("listing");
    let ids: Vec<i32> = listed.iter().map(|c| c.contact_id).collect();
    assert!(ids.contains(&entered[1].contact_id) && ids.contains(&entered[6].contact_id), "{ids:?}");
    assert_eq!(listed.len(), 5);
}

async fn stage_name(app: &TestApp, key: &str) -> String {
    stage::Entity::find()
        .filter(stage::Column::Key.eq(key))
        .one(&app.state.db)
        .await
        .expect("reading stages")
        .expect("the stage")
        .name
}

#[tokio::test]
async fn asks_within_90_days_or_twice_a_quarter_rule_a_contact_out() {
    let app = TestApp::new().await;
    app.clock.set(day(NOW));
    let recent = enter(&app, &Answered::new("Recent")).await;
    let older = enter(&app, &Answered::new("Older")).await;
    insert_ask(&app, recent.contact_id, "review", day(NOW) - Duration::days(89)).await;
    insert_ask(&app, older.contact_id, "review", day(NOW) - Duration::days(91)).await;
    let all = assess(&app).await;
    assert_eq!(missed(&all, recent.contact_id), ["asked_recently"], "asked 89 days ago");
    assert_eq!(missed(&all, older.contact_id), Vec::<&str>::new(), "asked 91 days ago");

    // Two asks this quarter, both more than 90 days ago: only a 92-day
    // quarter allows that (1 October and 31 December).
    let app = TestApp::new().await;
    let end_of_q4 = day("2026-12-31");
    app.clock.set(end_of_q4);
    let earlier = |a: &mut Answered| {
        a.wave = 6;
        a.sent = day("2026-09-01");
    };
    let twice = enter(&app, &Answered::new("Twice").with(earlier)).await;
    let once = enter(&app, &Answered::new("Once").with(earlier)).await;
    let first_of_q4 = day("2026-10-01") - Duration::hours(1);
    insert_ask(&app, twice.contact_id, "review", first_of_q4).await;
    insert_ask(&app, twice.contact_id, "testimonial", first_of_q4).await;
    insert_ask(&app, once.contact_id, "review", first_of_q4).await;
    let all = assess(&app).await;
    assert_eq!(missed(&all, twice.contact_id), ["quarter_used"]);
    assert_eq!(missed(&all, once.contact_id), Vec::<&str>::new());
    let left = |id: i32| all.iter().find(|c| c.contact_id == id).map(|c| c.asks_left_this_quarter);
    assert_eq!((left(twice.contact_id), left(once.contact_id)), (Some(0), Some(1)));

    // The ledger refuses the same: the quarter is used up until 1 January.
    let member = app.user(Role::Member).await;
    let refused =
        app.post("/api/v1/advocacy/asks", &member, json!({"kind": "review", "contact_email": twice.email})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert_eq!(refused.error_code(), "ask_budget_exhausted");
    let message = refused.json()["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("already asked 2 times this quarter (at most 2)"), "{message}");
    assert!(message.contains("the next ask is possible from 2027-01-01"), "{message}");
}

#[tokio::test]
async fn ltv_cac_below_3_rules_a_candidate_out_where_known() {
    let app = TestApp::new().await;
    app.clock.set(day(NOW));
    // ARR 12 000 is 1 000 a month; at the configured 1.5 % monthly churn
    // a 90 % margin gives LTV 60 000 (3.0 x CAC 20 000), 87 % gives 58 000 (2.9).
    let three = enter(&app, &Answered::new("Three").with(|a| a.economics = Some((12_000, 90.0, 20_000)))).await;
    let below = enter(&app, &Answered::new("Below").with(|a| a.economics = Some((12_000, 87.0, 20_000)))).await;
    let unknown = enter(&app, &Answered::new("Unknown")).await;
    let all = assess(&app).await;
    assert_eq!(missed(&all, three.contact_id), Vec::<&str>::new(), "LTV:CAC 3.0");
    assert_eq!(missed(&all, below.contact_id), ["ltv_cac"], "LTV:CAC 2.9");
    assert_eq!(missed(&all, unknown.contact_id), Vec::<&str>::new(), "unknown economics are not held against anyone");
    let reason = &all.iter().find(|c| c.contact_id == below.contact_id).expect("assessed").excluded_because[0].reason;
    assert_eq!(reason, "LTV:CAC 2.9, below 3:1");
    // Without the profitability rule the 2.9 customer is a candidate too.
    let rules = Rules { min_ltv_cac: None, ..Rules::default() };
    let listed = candidates::list(&app.state.db, &rules, day(NOW)).await.expect("listing");
    assert_eq!(listed.len(), 3);
}

#[tokio::test]
async fn candidates_are_ranked_by_score_each_with_reasons_and_budget() {
    let app = TestApp::new().await;
    app.clock.set(day(NOW));
    let viewer = app.user(Role::Viewer).await;
    // 2/2 kept (+1 too early) at 6 months, NPS 9, live since 2027-01-15:
    // 40 + 10 + 0 + 4 + 1 month = 55.
    let third = enter(
        &app,
        &Answered::new("Third").with(|a| {
            a.verdicts = vec!["kept", "kept", "too_early"];
            a.nps = Some(9);
            a.reference = false;
            a.wave = 6;
            a.live_on = "2027-01-15";
        }),
    )
    .await;
    // 3/3 kept at 9 months, NPS 10, references, live 7 months:
    // 40 + 20 + 15 + 6 + 7 = 88.
    let first = enter(&app, &Answered::new("First")).await;
    // 4/5 kept (1 partly) at 12 months, NPS 9, reviews, live 10 months,
    // LTV:CAC 3.0: 32 + 10 + 10 + 8 + 10 + 5 = 75.
    let second = enter(
        &app,
        &Answered::new("Second").with(|a| {
            a.verdicts = vec!["kept", "kept", "kept", "kept", "partly"];
            a.nps = Some(9);
            a.reference = false;
            a.review = true;
            a.wave = 12;
            a.live_on = "2026-04-30";
            a.economics = Some((12_000, 90.0, 20_000));
        }),
    )
    .await;
    // Not a candidate: NPS 7.
    let passive = enter(&app, &Answered::new("Passive").with(|a| a.nps = Some(7))).await;

    let response = app.get("/api/v1/advocacy/candidates", &viewer).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let list = response.json();
    let rows = list.as_array().expect("a list");
    let seen: Vec<(i32, i64, f64, &str)> = rows
        .iter()
        .map(|c| {
            (
                id_of(&c["contact_id"]),
                c["rank"].as_i64().unwrap_or_default(),
                c["score"].as_f64().unwrap_or_default(),
                c["summary"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (first.contact_id, 1, 88.0, "3/3 promises kept at 9 months, NPS 10, open to references, live 7 months"),
            (
                second.contact_id,
                2,
                75.0,
                "4/5 promises kept (1 partly) at 12 months, NPS 9, open to reviews, live 10 months, LTV:CAC 3.0"
            ),
            (third.contact_id, 3, 55.0, "2/2 promises kept (1 too early to tell) at 6 months, NPS 9, live 1 month"),
        ]
    );
    let top = &rows[0];
    assert_eq!(top["contact_email"], json!(first.email));
    assert_eq!(top["deal_id"], json!(first.deal_id));
    assert_eq!(top["survey_id"], json!(first.survey_id));
    assert_eq!(top["account"], json!("First BV"));
    assert_eq!(top["asks_left_this_quarter"], json!(2), "the 9-month survey was last quarter");
    assert_eq!(top["kept_rate"], json!(1.0));
    assert_eq!(top["live_since"], json!("2026-07-20"));
    assert_eq!(
        top["reasons"],
        json!(["3/3 promises kept at 9 months", "NPS 10", "open to references", "live 7 months"])
    );

    // `all=true` adds the contacts who miss a rule, with the rule.
    let everyone = app.get("/api/v1/advocacy/candidates?all=true", &viewer).await.json();
    let everyone = everyone.as_array().cloned().expect("a list");
    assert_eq!(everyone.len(), 4);
    assert_eq!(id_of(&everyone[3]["contact_id"]), passive.contact_id);
    assert_eq!(everyone[3]["eligible"], json!(false));
    assert_eq!(everyone[3]["rank"], Value::Null);
    assert_eq!(everyone[3]["excluded_because"], json!([{"code": "nps", "reason": "NPS 7, below 9"}]));
    let bad = app.get("/api/v1/advocacy/candidates?all=maybe", &viewer).await;
    assert_eq!(
        (bad.status, bad.field_error("all").as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("must be true or false"))
    );
    let anonymous = app.request(axum::http::Method::GET, "/api/v1/advocacy/candidates", None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_ask_is_recorded_and_spends_the_contacts_budget() {
    let app = TestApp::new().await;
    app.clock.set(day(NOW));
    let member = app.user(Role::Member).await;
    let made = enter(&app, &Answered::new("Northwind")).await;
    let body = json!({"kind": "reference_call", "contact_email": made.email.to_uppercase(), "deal_id": made.deal_id, "note": "Call with Globex's CFO"});
    let created = app.post("/api/v1/advocacy/asks", &member, body.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let ask = created.json();
    assert_eq!(ask["kind"], json!("reference_call"));
    assert_eq!(ask["kind_label"], json!("Reference call"));
    assert_eq!(ask["contact_id"], json!(made.contact_id));
    assert_eq!(ask["deal_id"], json!(made.deal_id));
    assert_eq!(ask["deal_name"], json!("Northwind rollout"));
    assert_eq!(ask["account"], json!("Northwind BV"));
    assert_eq!(ask["asked_by"], json!("Test member"));
    assert_eq!(ask["asked_at"], json!("2027-03-02T09:00:00Z"));
    assert_eq!(ask["outcome"], json!("pending"));
    assert_eq!(ask["note"], json!("Call with Globex's CFO"));
    let audit = audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq("advocacy.ask"))
        .count(&app.state.db)
        .await
        .expect("audit");
    assert_eq!(audit, 1, "the ask is in the audit log");

    // No longer a candidate, and a second ask is refused, naming the date.
    let listed = app.get("/api/v1/advocacy/candidates", &member).await.json();
    assert_eq!(listed, json!([]));
    let again =
        app.post("/api/v1/advocacy/asks", &member, json!({"kind": "review", "contact_email": made.email})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert_eq!(again.error_code(), "ask_budget_exhausted");
    let message = again.json()["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        message,
        "Dana Northwind (dana@northwind.example) cannot be asked now: asked 0 days ago (a reference call on 2027-03-02); \
         one ask per 90 days. Surveys and advocacy asks share one ask budget per contact; the next ask is possible from 2027-05-31"
    );
    assert_eq!(ask_count(&app).await, 1, "nothing was written");

    // 89 days on: still refused; 90 days on: allowed again (a new quarter).
    app.clock.set(day(NOW) + Duration::days(89));
    let early =
        app.post("/api/v1/advocacy/asks", &member, json!({"kind": "review", "contact_email": made.email})).await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.text);
    app.clock.set(day(NOW) + Duration::days(90));
    let later =
        app.post("/api/v1/advocacy/asks", &member, json!({"kind": "review", "contact_email": made.email})).await;
    assert_eq!(later.status, StatusCode::CREATED, "{}", later.text);
    assert_eq!(ask_count(&app).await, 2);

    // The ledger lists both, newest first.
    let ledger = app.get("/api/v1/advocacy/asks", &member).await.json();
    let kinds: Vec<&str> =
        ledger.as_array().expect("a list").iter().map(|a| a["kind"].as_str().unwrap_or_default()).collect();
    assert_eq!(kinds, ["review", "reference_call"]);
}

#[tokio::test]
async fn a_survey_spends_the_same_quarterly_budget_as_an_ask() {
    let app = TestApp::new().await;
    app.clock.set(day(NOW));
    let member = app.user(Role::Member).await;
    let surveyed = enter(&app, &Answered::new("Surveyed").with(|a| a.sent = day(NOW) - Duration::days(30))).await;
    // A survey alone does not start the 90-day quiet period...
    let first = app
        .post("/api/v1/advocacy/asks", &member, json!({"kind": "testimonial", "contact_email": surveyed.email}))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    // ...but it counts toward the two asks a quarter: with the testimonial
    // this quarter's budget is spent.
    app.clock.set(day(NOW) + Duration::days(1));
    let refused =
        app.post("/api/v1/advocacy/asks", &member, json!({"kind": "review", "contact_email": surveyed.email})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    let message = refused.json()["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("already asked 2 times this quarter (at most 2)"), "{message}");
    assert_eq!(ask_count(&app).await, 1);
}

#[tokio::test]
async fn the_planner_holds_a_survey_back_within_the_cooldown_after_an_ask() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let customer = Customer::new("Contoso");
    let won = app.won(&member, &customer).await;
    // The 6-month wave falls due on 2026-09-01; an ask 30 days before it.
    insert_ask(&app, won.contact_ids[0], "reference_call", day("2026-08-02")).await;
    let report = app.plan(day("2026-09-01")).await;
    assert_eq!((report.surveys_sent, report.waves_waiting), (0, 1), "within the 60-day cooldown of the ask");
    let report = app.plan(day("2026-09-30")).await;
    assert_eq!((report.surveys_sent, report.waves_waiting), (0, 1), "59 days after the ask");
    let report = app.plan(day("2026-10-01")).await;
    assert_eq!((report.surveys_sent, report.waves_waiting), (1, 0), "60 days after the ask");
    assert_eq!(app.surveys_of(won.contact_ids[0]).await.len(), 1);
}

#[tokio::test]
async fn bad_asks_are_refused_with_the_field_named_and_nothing_saved() {
    let app = TestApp::new().await;
    app.clock.set(day(NOW));
    let member = app.user(Role::Member).await;
    let made = enter(&app, &Answered::new("Acme")).await;
    let other = enter(&app, &Answered::new("Globex")).await;
    let email = made.email.as_str();
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"kind": "podcast", "contact_email": email}),
            "kind",
            "must be one of review, reference_call, case_study, referral, testimonial",
        ),
        (json!({"contact_email": email}), "kind", "is required"),
        (json!({"kind": "review"}), "contact_email", "is required"),
        (
            json!({"kind": "review", "contact_email": "not-an-email"}),
            "contact_email",
            "must be an email address such as name@example.com",
        ),
        (
            json!({"kind": "review", "contact_email": "nobody@nowhere.example"}),
            "contact_email",
            "no contact has the email nobody@nowhere.example",
        ),
        (json!({"kind": "review", "contact_email": email, "deal_id": 999_999}), "deal_id", "no deal has the id 999999"),
        (json!({"kind": "review", "contact_email": email, "deal_id": "seven"}), "deal_id", ""),
        (json!({"kind": "review", "contact_email": email, "deal_id": other.deal_id}), "contact_email", ""),
        (
            json!({"kind": "review", "contact_email": email, "note": "x".repeat(10_001)}),
            "note",
            "is too long (at most 10000 characters)",
        ),
        (json!({"kind": "review", "contact_email": email, "channel": "phone"}), "channel", "is not a known field"),
    ];
    for (body, field, problem) in cases {
        let response = app.post("/api/v1/advocacy/asks", &member, body.clone()).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", response.text);
        let reported =
            response.field_error(field).unwrap_or_else(|| panic!("{body}: {field} named in {}", response.text));
        assert!(reported.contains(problem), "{body}: {reported:?}");
    }
    assert_eq!(ask_count(&app).await, 0, "nothing was written");
}

#[tokio::test]
async fn viewers_read_the_ledger_but_only_members_record_asks() {
    let app = TestApp::new().await;
    app.clock.set(day(NOW));
    let viewer = app.user(Role::Viewer).await;
    let made = enter(&app, &Answered::new("Acme")).await;
    let body = json!({"kind": "review", "contact_email": made.email});
    let refused = app.post("/api/v1/advocacy/asks", &viewer, body.clone()).await;
    assert_eq!((refused.status, refused.error_code().as_str()), (StatusCode::FORBIDDEN, "forbidden"));
    let ask = insert_ask(&app, made.contact_id, "review", day("2026-01-05")).await;
    let refused = app.patch(&format!("/api/v1/advocacy/asks/{ask}"), &viewer, json!({"outcome": "declined"})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = app.patch(&format!("/api/v1/accounts/{}", made.account_id), &viewer, json!({"arr": 1000})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(ask_count(&app).await, 1);
    for path in
        ["/api/v1/advocacy/asks", "/api/v1/advocacy/candidates", "/api/v1/advocacy/outcomes", "/api/v1/profitability"]
    {
        assert_eq!(app.get(path, &viewer).await.status, StatusCode::OK, "{path}");
    }
    for role in [Role::Member, Role::Manager, Role::Admin] {
        let user = app.user(role).await;
        let other = enter(&app, &Answered::new(&format!("Customer {role}"))).await;
        let response =
            app.post("/api/v1/advocacy/asks", &user, json!({"kind": "review", "contact_email": other.email})).await;
        assert_eq!(response.status, StatusCode::CREATED, "{role}: {}", response.text);
    }
}

#[tokio::test]
async fn outcomes_are_recorded_once_with_their_link_or_new_deal() {
    let app = TestApp::new().await;
    app.clock.set(day(NOW));
    let member = app.user(Role::Member).await;
    let made = enter(&app, &Answered::new("Acme")).await;
    let referred = enter(&app, &Answered::new("Referred")).await;
    let review = insert_ask(&app, made.contact_id, "review", day("2026-06-01")).await;
    let referral = insert_ask(&app, made.contact_id, "referral", day("2026-06-02")).await;
    let call = insert_ask(&app, made.contact_id, "reference_call", day("2026-06-03")).await;
    let path = |id: i32| format!("/api/v1/advocacy/asks/{id}");

    // Bad outcomes name the field and change nothing.
    let cases: Vec<(i32, Value, &str, &str)> = vec![
        (review, json!({}), "outcome", "is required"),
        (review, json!({"outcome": "maybe"}), "outcome", "must be done or declined"),
        (review, json!({"outcome": "pending"}), "outcome", "must be done or declined"),
        (review, json!({"outcome": "done"}), "link", "is required for a done review"),
        (
            review,
            json!({"outcome": "done", "link": "javascript:alert(1)"}),
            "link",
            "must be an http, https or mailto link",
        ),
        (
            review,
            json!({"outcome": "declined", "link": "https://g2.example/r/1"}),
            "link",
            "only a done ask has a link",
        ),
        (
            review,
            json!({"outcome": "done", "link": "https://g2.example/r/1", "referred_deal_id": referred.deal_id}),
            "referred_deal_id",
            "only a referral",
        ),
        (
            referral,
            json!({"outcome": "done", "referred_deal_id": 999_999}),
            "referred_deal_id",
            "no deal has the id 999999",
        ),
        (
            referral,
            json!({"outcome": "declined", "referred_deal_id": referred.deal_id}),
            "referred_deal_id",
            "only a done referral",
        ),
    ];
    for (id, body, field, problem) in cases {
        let response = app.patch(&path(id), &member, body.clone()).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", response.text);
        let reported =
            response.field_error(field).unwrap_or_else(|| panic!("{body}: {field} named in {}", response.text));
        assert!(reported.contains(problem), "{body}: {reported:?}");
    }
    let pending = advocacy_ask::Entity::find()
        .filter(advocacy_ask::Column::Outcome.eq("pending"))
        .count(&app.state.db)
        .await
        .expect("count");
    assert_eq!(pending, 3, "nothing changed");
    assert_eq!(app.patch(&path(999_999), &member, json!({"outcome": "declined"})).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.patch("/api/v1/advocacy/asks/abc", &member, json!({"outcome": "declined"})).await.status,
        StatusCode::NOT_FOUND
    );

    app.clock.set(day("2027-03-05"));
    let done = app.patch(&path(review), &member, json!({"outcome": "done", "link": "https://g2.example/r/1"})).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let done = done.json();
    assert_eq!((done["outcome"].clone(), done["link"].clone()), (json!("done"), json!("https://g2.example/r/1")));
    assert_eq!(done["outcome_at"], json!("2027-03-05T09:00:00Z"));
    let brought =
        app.patch(&path(referral), &member, json!({"outcome": "done", "referred_deal_id": referred.deal_id})).await;
    assert_eq!(brought.status, StatusCode::OK, "{}", brought.text);
    assert_eq!(brought.json()["referred_deal_name"], json!("Referred rollout"));
    let declined = app.patch(&path(call), &member, json!({"outcome": "declined"})).await;
    assert_eq!(declined.status, StatusCode::OK, "{}", declined.text);

    // A recorded outcome is history.
    let again = app.patch(&path(review), &member, json!({"outcome": "declined"})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert_eq!(again.error_code(), "outcome_already_recorded");
    let stored = advocacy_ask::Entity::find_by_id(review).one(&app.state.db).await.expect("read").expect("the ask");
    assert_eq!(stored.outcome, "done");

    // The outcomes so far, by kind.
    let outcomes = app.get("/api/v1/advocacy/outcomes", &member).await.json();
    let row = |kind: &str| {
        let found =
            outcomes.as_array().expect("a list").iter().find(|o| o["kind"] == json!(kind)).cloned().expect("a row");
        (found["pending"].as_u64(), found["done"].as_u64(), found["declined"].as_u64(), found["total"].as_u64())
    };
    assert_eq!(row("review"), (Some(0), Some(1), Some(0), Some(1)));
    assert_eq!(row("reference_call"), (Some(0), Some(0), Some(1), Some(1)));
    assert_eq!(row("case_study"), (Some(0), Some(0), Some(0), Some(0)));
    assert_eq!(row("all"), (Some(0), Some(2), Some(1), Some(3)));
}

async fn page(browser: &Browser<'_>, path: &str) -> Page {
    let page = browser.get(path).await;
    assert_eq!(page.status, StatusCode::OK, "GET {path}:\n{}", page.html);
    page
}

#[tokio::test]
async fn web_the_advocacy_page_lists_candidates_and_records_asks_and_outcomes() {
    let app = TestApp::new().await;
    app.clock.set(day(NOW));
    let member: TestUser = app.user(Role::Member).await;
    let first = enter(&app, &Answered::new("First")).await;
    let passive = enter(&app, &Answered::new("Passive").with(|a| a.nps = Some(7))).await;
    let broken = enter(&app, &Answered::new("Broken").with(|a| a.verdicts = vec!["kept", "not_kept"])).await;
    let browser = Browser::sign_in(&app, &member).await;

    let advocacy = page(&browser, "/advocacy").await;
    assert_eq!(advocacy.one("a[href='/advocacy']").attr("aria-current"), Some("page"), "the nav marks the page");
    let row = format!("tr.candidate[data-contact-id='{}']", first.contact_id);
    assert_eq!(
        advocacy.text_of(&format!("{row} td.reasons")),
        "3/3 promises kept at 9 months, NPS 10, open to references, live 7 months"
    );
    assert_eq!(advocacy.count("tr.candidate"), 1);
    // Promoters who miss another rule are listed with why; passives are not.
    let miss = advocacy.text_of(&format!("li.excluded[data-contact-id='{}']", broken.contact_id));
    assert!(miss.contains("not kept"), "{miss}");
    assert_eq!(advocacy.count(&format!("li.excluded[data-contact-id='{}']", passive.contact_id)), 0);

    // Ask from the candidate's row.
    let form = advocacy
        .form(&format!("{row} form.ask-form"))
        .set("kind", "case_study")
        .set("note", "For the fintech vertical");
    assert_eq!(form.value("contact_email"), Some(first.email.as_str()));
    // Without the page's token nothing is recorded.
    let forged = browser.submit(&form.clone().without("csrf")).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(ask_count(&app).await, 0);
    let done = browser.submit(&form).await;
    done.assert_redirect_to("/advocacy?done=ask");
    let after = browser.follow(&done).await;
    assert_eq!(after.text_of(".notice.notice-success"), "Ask recorded.");
    assert_eq!(after.count("tr.candidate"), 0, "asked: no longer a candidate");
    let ask = advocacy_ask::Entity::find().one(&app.state.db).await.expect("read").expect("the ask");
    assert_eq!(
        (ask.kind.as_str(), ask.deal_id, ask.note.as_deref()),
        ("case_study", Some(first.deal_id), Some("For the fintech vertical"))
    );
    let ledger_row = format!("tr.ask[data-ask-id='{}']", ask.id);
    assert_eq!(after.one(&ledger_row).attr("data-outcome"), Some("pending"));

    // The same form again (a stale page): refused with the reason shown.
    let refused = browser.submit(&form).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.html);
    assert!(refused.text_of(".notice.notice-error").contains("cannot be asked now"), "{}", refused.html);
    assert_eq!(ask_count(&app).await, 1);

    // A bad outcome is refused on the page; a good one is recorded.
    let outcome = after.form(&format!("{ledger_row} form.outcome-form"));
    let refused = browser.submit(&outcome.clone().set("outcome", "done").set("link", "")).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.html);
    assert!(
        refused.text_of(".notice.notice-error").contains("Link: is required for a done case study"),
        "{}",
        refused.html
    );
    let recorded = browser.submit(&outcome.set("outcome", "done").set("link", "https://example.com/case/first")).await;
    recorded.assert_redirect_to("/advocacy?done=outcome");
    let after = browser.follow(&recorded).await;
    assert_eq!(after.one(&ledger_row).attr("data-outcome"), Some("done"));
    assert_eq!(after.count(&format!("{ledger_row} form")), 0, "a recorded outcome has no form");
    assert_eq!(after.text_of("#outcomes tr[data-kind='case_study'] td.done"), "1");
    assert_eq!(after.text_of("#outcomes tr[data-kind='all'] td.total"), "1");

    // The general form names an unknown contact.
    let general = after.form("form#ask-form").set("contact_email", "nobody@nowhere.example");
    let refused = browser.submit(&general).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text_of(".notice.notice-error").contains("no contact has the email nobody@nowhere.example"));
    assert_eq!(refused.one("#ask-email").attr("value"), Some("nobody@nowhere.example"), "what was typed is kept");
}

#[tokio::test]
async fn web_viewers_read_the_advocacy_page_without_forms_and_cannot_post() {
    let app = TestApp::new().await;
    app.clock.set(day(NOW));
    let viewer = app.user(Role::Viewer).await;
    let made = enter(&app, &Answered::new("First")).await;
    let browser = Browser::sign_in(&app, &viewer).await;
    let advocacy = page(&browser, "/advocacy").await;
    assert_eq!(advocacy.count("tr.candidate"), 1);
    assert_eq!(
        advocacy.count("form.ask-form") + advocacy.count("form#ask-form") + advocacy.count("form.outcome-form"),
        0
    );
    let csrf = browser.csrf().await;
    let form = crate::web_client::Form::new(
        "/advocacy/asks",
        &[("csrf", &csrf), ("kind", "review"), ("contact_email", &made.email)],
    );
    let refused = browser.submit(&form).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(ask_count(&app).await, 0);
    // Signed out: to the login page.
    Browser::anonymous(&app).sent_to_sign_in(&form).await;
    let anonymous = Browser::anonymous(&app).get("/advocacy").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn configured_rules_decide_the_api_list_and_the_page_says_which_they_are() {
    let app = TestApp::with_config(|c| {
        c.advocacy.min_nps = 7;
        c.advocacy.min_kept_pct = 90;
    })
    .await;
    app.clock.set(day(NOW));
    let viewer = app.user(Role::Viewer).await;
    let passive = enter(&app, &Answered::new("Passive").with(|a| a.nps = Some(7))).await;
    let mostly = enter(
        &app,
        &Answered::new("Mostly").with(|a| a.verdicts = vec!["kept"; 8].into_iter().chain(["partly"]).collect()),
    )
    .await;

    let listed = app.get("/api/v1/advocacy/candidates", &viewer).await.json();
    let ids: Vec<i64> = listed.as_array().expect("a list").iter().filter_map(|c| c["contact_id"].as_i64()).collect();
    assert_eq!(ids, [i64::from(passive.contact_id)], "NPS 7 now passes; 8/9 kept is below 90 %");
    let everyone = app.get("/api/v1/advocacy/candidates?all=true", &viewer).await.json();
    let below =
        everyone.as_array().expect("a list").iter().find(|c| c["contact_id"] == json!(mostly.contact_id)).cloned();
    assert_eq!(
        below.expect("assessed")["excluded_because"][0]["reason"],
        json!("8/9 promises kept (88.8 %), below 90 %")
    );

    let page = Browser::sign_in(&app, &viewer).await.get("/advocacy").await;
    let rules = page.text_of("#candidate-rules");
    assert!(
        rules.contains("at least 90 % of promises kept") && rules.contains("recommend score 7 or higher"),
        "{rules}"
    );
}
