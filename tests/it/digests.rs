//! Weekly digests: what they say on a fixed-clock fixture (each section
//! present when it should be, absent when empty, skipped when there is
//! nothing), when they arrive in each user's time zone (also across a DST
//! change), exactly once per period across re-runs and instances, and
//! received over real SMTP with both parts and working links.

use aftercare::auth::Role;
use aftercare::digests::{self, Trigger};
use aftercare::jobs::{self, RunReport};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use entity::{outbox_message, user};
use scraper::{Html, Selector};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use crate::helpers::{TestApp, TestUser};
use crate::smtp::{self, Received};
use crate::surveys_helpers::{Customer, date_of, day, survey_token};
use crate::web_client::Browser;

/// `date` (`YYYY-MM-DD`) at `hour`:00 UTC.
fn at_hour(date: &str, hour: u32) -> DateTime<Utc> {
    date_of(date).and_hms_opt(hour, 0, 0).expect("a time").and_utc()
}

/// Monday 2026-09-07, 08:00 UTC.
fn monday() -> DateTime<Utc> {
    at_hour("2026-09-07", 8)
}

/// Sets `user`'s digest settings straight in the table.
async fn settings(app: &TestApp, user: &TestUser, time_zone: &str, frequency: &str, all_clear: bool) {
    let found = user::Entity::find_by_id(user.id).one(&app.state.db).await.expect("query").expect("the user");
    let mut active: user::ActiveModel = found.into();
    active.time_zone = Set(time_zone.to_owned());
    active.digest_frequency = Set(frequency.to_owned());
    active.digest_all_clear = Set(all_clear);
    active.update(&app.state.db).await.expect("saving settings");
}

/// The digests in the outbox, by recipient email.
async fn digests_to(app: &TestApp, email: &str) -> Vec<outbox_message::Model> {
    outbox_message::Entity::find()
        .filter(outbox_message::Column::Kind.eq("digest"))
        .all(&app.state.db)
        .await
        .expect("reading the outbox")
        .into_iter()
        .filter(|m| m.recipient.contains(email))
        .collect()
}

async fn only_digest(app: &TestApp, email: &str) -> outbox_message::Model {
    let mut found = digests_to(app, email).await;
    assert_eq!(found.len(), 1, "one digest to {email}");
    found.remove(0)
}

/// Section headings of the text part (`== Heading (n) ==`).
fn sections(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("== ").and_then(|l| l.strip_suffix(" ==")))
        .map(|l| l.split(" (").next().unwrap_or(l).to_owned())
        .collect()
}

/// An account manager's week: a stuck deal whose customer answered a
/// survey this week (one promise not kept: a follow-up), a deal whose
/// 6-month survey goes out in 9 days with a next call in 2 days, a deal
/// with an overdue call that moved stage this week.
struct Week {
    manager: TestUser,
    lead: TestUser,
    quiet: TestUser,
    clear: TestUser,
    answered: i32,
    upcoming: i32,
    moved: i32,
}

async fn week(app: &TestApp) -> Week {
    let admin = app.user(Role::Admin).await;
    let manager = app.user(Role::Member).await;
    let lead = app.user(Role::Manager).await;
    let quiet = app.user(Role::Member).await;
    let clear = app.user(Role::Member).await;
    // Only the manager owns deals; the admin who enters them wants no digest.
    settings(app, &admin, "UTC", "off", false).await;
    for (user, all_clear) in [(&lead, false), (&quiet, false), (&clear, true)] {
        settings(app, user, "UTC", "weekly", all_clear).await;
    }
    let customer = Customer::new("Northwind")
        .promises(&["Month-end close in 5 days", "One source of truth for revenue"])
        .managed_by(&manager.email);
    let answered = app.won(&admin, &customer).await;
    app.plan(day("2026-09-03")).await;
    let survey = app.only_survey_of(answered.contact_ids[0]).await;
    let token = survey_token(&app.initial_email(survey.id).await.text_body);
    let mut form = app.answer_form(&token, "kept", &[("nps", "9"), ("comment", "Great onboarding")]).await;
    form = form.set(&format!("verdict_{}", answered.promise_ids[1]), "not_kept");
    assert_eq!(app.public_submit(&form).await.status, StatusCode::OK);

    app.clock.set(day("2026-09-04"));
    let soon = Customer::new("Brightwater").won_on("2026-03-16").managed_by(&manager.email);
    let upcoming = app.won(&admin, &soon).await.deal_id;
    let call = (monday() + Duration::days(2)).to_rfc3339();
    let response = app.patch(&format!("/api/v1/deals/{upcoming}"), &admin, json!({"next_call_at": call})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);

    let moving = Customer::new("Clearwater").won_on("2026-08-20").managed_by(&manager.email);
    let moved = app.won(&admin, &moving).await.deal_id;
    app.meet_exit_criteria(&admin, moved).await;
    assert_eq!(app.advance(&admin, moved).await.status, StatusCode::OK);
    let overdue = (monday() - Duration::days(1)).to_rfc3339();
    let response = app.patch(&format!("/api/v1/deals/{moved}"), &admin, json!({"next_call_at": overdue})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    app.clock.set(monday());
    Week { manager, lead, quiet, clear, answered: answered.deal_id, upcoming, moved }
}

#[tokio::test]
async fn a_digest_shows_each_section_when_there_is_something_in_it() {
    let app = TestApp::new().await;
    let w = week(&app).await;
    let report = digests::run(&app.state, monday(), Trigger::Manual).await.expect("the run");
    // The manager and the lead (team roll-up) get one; the quiet member is
    // skipped; the member who asked for it gets an all-clear.
    assert_eq!(report.queued, 3, "{report}");

    let digest = only_digest(&app, &w.manager.email).await;
    assert_eq!(digest.dedupe_key, format!("digest:{}:2026-W37", w.manager.id));
    assert!(digest.subject.starts_with("Your Aftercare digest (2026-09-07)"), "{}", digest.subject);
    let text = &digest.text_body;
    assert_eq!(
        sections(text),
        [
            "Stuck over their stage's target",
            "Next calls overdue",
            "Next calls in the coming 7 days",
            "Deals with no next call",
            "Open follow-ups: promises the customer said were not kept",
            "Survey answers received",
            "Surveys going out in the next 14 days: prepare the customer",
            "Stage moves",
        ],
        "{text}"
    );
    let base = &app.state.config.base_url;
    // Stuck: Northwind entered its first stage on 2026-03-02 09:00 (target 7
    // days): 188 whole days by Monday 08:00, 181 over.
    assert!(text.contains("Northwind rollout (Northwind BV): 181 days over in Customer signed"), "{text}");
    assert!(text.contains(&format!("{base}/deals/{}", w.answered)));
    // The answer, verdict by verdict, with the score and the comment.
    assert!(text.contains("* Month-end close in 5 days: kept"), "{text}");
    assert!(text.contains("* One source of truth for revenue: not kept"), "{text}");
    assert!(text.contains("recommend score 9/10") && text.contains("\"Great onboarding\""), "{text}");
    assert!(text.contains(&format!(
        "Brightwater rollout (Brightwater BV): 6 months, due 2026-09-16\n  {base}/deals/{}",
        w.upcoming
    )));
    assert!(text.contains(&format!("{base}/deals/{}", w.moved)));
    assert!(text.contains("Your promise-kept rate: 50% (2 verdicts); the team's: 50% (2 verdicts)."), "{text}");
    assert!(!text.contains("== Your team =="), "members get no roll-up");

    // The manager's lead gets the team roll-up only.
    let lead = only_digest(&app, &w.lead.email).await.text_body;
    assert_eq!(sections(&lead), ["Your team"], "{lead}");
    assert!(lead.contains("- Test member: Kept rate 50% (2 verdicts); Stuck 1; Open follow-ups 1"), "{lead}");
    assert!(lead.contains("Team kept rate by month: 2026-09 50% (2 verdicts)"), "{lead}");

    // Nothing to report: skipped, or a short all-clear when asked for.
    assert!(digests_to(&app, &w.quiet.email).await.is_empty(), "no digest with nothing to report");
    let clear = only_digest(&app, &w.clear.email).await;
    assert!(clear.subject.contains("all clear"), "{}", clear.subject);
    assert!(sections(&clear.text_body).is_empty(), "{}", clear.text_body);
    assert!(clear.text_body.contains("Nothing needs you right now"));

    // A Dutch manager reads Dutch.
    let found = user::Entity::find_by_id(w.manager.id).one(&app.state.db).await.expect("query").expect("user");
    let mut dutch: user::ActiveModel = found.into();
    dutch.language = Set("nl".to_owned());
    dutch.update(&app.state.db).await.expect("saving");
    let preview = digests::preview(&app.state, w.manager.id, monday()).await.expect("a preview");
    let html = digests::email::html(&preview, base, "https://example.test/unsubscribe").expect("rendering");
    assert!(html.contains("Open opvolgingen") && html.contains("lang=\"nl\""), "{html}");
}

/// Runs the scheduled digest job every 15 minutes through the UTC day
/// `date`; returns when each of `users` first got a digest.
async fn first_digests(app: &TestApp, date: &str, users: &[&TestUser]) -> Vec<Option<DateTime<Utc>>> {
    let mut first = vec![None; users.len()];
    let mut before = Vec::new();
    for user in users {
        before.push(digests_to(app, &user.email).await.len());
    }
    let mut at = at_hour(date, 0);
    while at < at_hour(date, 0) + Duration::days(1) {
        app.clock.set(at);
        jobs::run(&app.state, "weekly-digest", &at.timestamp().to_string(), at).await.expect("the job runs");
        for (i, user) in users.iter().enumerate() {
            if first[i].is_none() && digests_to(app, &user.email).await.len() > before[i] {
                first[i] = Some(at);
            }
        }
        at += Duration::minutes(15);
    }
    first
}

#[tokio::test]
async fn digests_arrive_at_seven_local_in_each_time_zone_also_across_a_dst_change() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    settings(&app, &admin, "UTC", "off", false).await;
    let amsterdam = app.user(Role::Member).await;
    let los_angeles = app.user(Role::Member).await;
    settings(&app, &amsterdam, "Europe/Amsterdam", "weekly", true).await;
    settings(&app, &los_angeles, "America/Los_Angeles", "weekly", true).await;
    let users = [&amsterdam, &los_angeles];

    // Summer time on both sides: UTC+2 and UTC-7.
    let summer = first_digests(&app, "2026-10-19", &users).await;
    assert_eq!(summer, [Some(at_hour("2026-10-19", 5)), Some(at_hour("2026-10-19", 14))]);
    // Europe left summer time on Sunday 2026-10-25, the US had not yet: UTC+1 and UTC-7.
    let dst_week = first_digests(&app, "2026-10-26", &users).await;
    assert_eq!(dst_week, [Some(at_hour("2026-10-26", 6)), Some(at_hour("2026-10-26", 14))]);
    // One a week each: the rest of the week sends nothing more.
    first_digests(&app, "2026-10-27", &users).await;
    for user in users {
        let keys: Vec<String> = digests_to(&app, &user.email).await.into_iter().map(|m| m.dedupe_key).collect();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(keys.iter().any(|k| k.ends_with(":2026-W43")) && keys.iter().any(|k| k.ends_with(":2026-W44")));
    }
}

#[tokio::test]
async fn a_period_is_sent_once_across_reruns_and_two_instances() {
    let app = TestApp::new().await;
    let w = week(&app).await;
    let other = app.other_instance("instance-b").await;
    let at = at_hour("2026-09-07", 7);
    // Two instances tick the same slot, and each also a slot of its own.
    let (a, b) = tokio::join!(
        jobs::run(&app.state, "weekly-digest", "slot-1", at),
        jobs::run(&other, "weekly-digest", "slot-1", at)
    );
    let ran = [a.expect("instance a"), b.expect("instance b")];
    assert_eq!(ran.iter().filter(|r| matches!(r, RunReport::Ran(_))).count(), 1, "{ran:?}");
    let (a, b) = tokio::join!(
        jobs::run(&app.state, "weekly-digest", "slot-2", at + Duration::minutes(15)),
        jobs::run(&other, "weekly-digest", "slot-3", at + Duration::minutes(15))
    );
    for report in [a.expect("instance a"), b.expect("instance b")] {
        assert!(!report.to_string().contains("queued=1") && !report.to_string().contains("queued=2"), "{report}");
    }
    let again = digests::run(&app.state, at + Duration::hours(1), Trigger::Manual).await.expect("a run by hand");
    assert_eq!(again.queued, 0, "{again}");
    for user in [&w.manager, &w.lead, &w.clear] {
        assert_eq!(digests_to(&app, &user.email).await.len(), 1, "one digest for {}", user.email);
    }
    // "Send me this now" is extra: it does not use up the week's digest.
    digests::send_now(&app.state, w.manager.id, at).await.expect("sending now");
    assert_eq!(digests_to(&app, &w.manager.email).await.len(), 2);
}

/// The `href`s of an HTML document.
fn links(html: &str) -> Vec<String> {
    let selector = Selector::parse("a[href]").expect("a selector");
    Html::parse_document(html).select(&selector).filter_map(|a| a.value().attr("href").map(str::to_owned)).collect()
}

#[tokio::test]
async fn the_digest_arrives_over_smtp_with_both_parts_and_links_that_open() {
    let Some(server) = smtp::server_or_skip("the_digest_arrives_over_smtp") else { return };
    let app = TestApp::with_config(|c| c.mail.smtp_url = Some(server.url())).await;
    let w = week(&app).await;
    // Only the manager's digest, to read one message.
    for user in [&w.lead, &w.clear] {
        settings(&app, user, "UTC", "off", false).await;
    }
    let survey_email_count = server.messages().len();
    let out = jobs::run_manually(&app.state, "weekly-digest", monday()).await.expect("the job");
    assert!(out.to_string().contains("queued=1"), "{out}");
    jobs::run_manually(&app.state, "outbox-sender", monday()).await.expect("sending");
    let messages = server.messages();
    let digest: Vec<&Received> =
        messages.iter().filter(|m| m.required("Subject").starts_with("Your Aftercare digest")).collect();
    assert_eq!(digest.len(), 1, "{} messages, {survey_email_count} before", messages.len());
    let message = digest[0];
    assert!(message.is_to(&w.manager.email));
    assert_eq!(message.content_type, "multipart/alternative");
    let base = app.state.config.base_url.clone();
    let unsubscribe = message.required("List-Unsubscribe").trim_matches(['<', '>']).to_owned();
    assert!(unsubscribe.starts_with(&format!("{base}/digests/unsubscribe/")), "{unsubscribe}");
    assert_eq!(message.required("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
    // The text part is complete on its own: every deal and link is in both.
    for (part, body) in [("text", message.text()), ("html", message.html())] {
        for needle in ["Northwind", "Brightwater", "Clearwater", "One source of truth for revenue", &unsubscribe] {
            assert!(body.contains(needle), "the {part} part has {needle:?}:\n{body}");
        }
    }
    // Every link opens an existing page for the signed-in manager.
    let manager = Browser::sign_in(&app, &w.manager).await;
    let hrefs = links(message.html());
    assert!(hrefs.len() >= 8, "{hrefs:?}");
    for href in hrefs {
        let path = href.strip_prefix(&base).unwrap_or_else(|| panic!("an absolute link into the app: {href}"));
        let path = path.split('#').next().unwrap_or(path);
        let page = if path.starts_with("/digests/unsubscribe/") {
            Browser::anonymous(&app).get(path).await
        } else {
            manager.get(path).await
        };
        assert_eq!(page.status, StatusCode::OK, "{href}:\n{}", page.html);
    }
}
