//! The jobs run once across instances: two schedulers on one database (the
//! suite runs on SQLite and on PostgreSQL), the lease, planners racing, the
//! cron scheduler itself, the admin page, and `aftercare jobs` on the real
//! binary.

use std::process::Command;
use std::time::{Duration as StdDuration, Instant};

use aftercare::auth::Role;
use aftercare::jobs::{self, JOBS, LEASE, Lease, RunReport};
use aftercare::surveys::planner;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use entity::{job_lease, job_run};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::helpers::TestApp;
use crate::smtp;
use crate::surveys_helpers::{Customer, day};
use crate::web_client::Browser;

/// Enters customers whose 6-month waves fall due on 2026-09-01: five
/// accounts, one of them with two deals (so four plus one merged survey).
async fn five_customers(app: &TestApp) -> usize {
    let member = app.user(Role::Member).await;
    let names = ["Alpha", "Bravo", "Charlie", "Delta", "Echo"];
    for name in names {
        app.won(&member, &Customer::new(name)).await;
    }
    app.won(
        &member,
        &Customer::new("Alpha").another_deal("Alpha expansion", "2026-03-01", "Expansion pays back in a year"),
    )
    .await;
    names.len()
}

/// The runs recorded for `job` in `slot`.
async fn runs_of(app: &TestApp, job: &str, slot: &str) -> Vec<job_run::Model> {
    job_run::Entity::find()
        .filter(job_run::Column::Job.eq(job))
        .filter(job_run::Column::Slot.eq(slot))
        .all(&app.state.db)
        .await
        .expect("reading job runs")
}

/// Asserts that every email in the outbox was sent and arrived exactly once.
async fn assert_each_email_delivered_once(app: &TestApp) {
    let rows = app.outbox().await;
    assert!(rows.iter().all(|r| r.status == aftercare::mail::outbox::status::SENT), "{rows:?}");
    let expected: Vec<(String, usize)> = rows.iter().map(|r| (r.message_id.clone(), 1)).collect();
    smtp::assert_delivered(&smtp::read_messages(app.outbox_dir.path()), &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_on_one_database_run_each_slot_once() {
    let app = TestApp::new().await;
    let accounts = five_customers(&app).await;
    let a = app.other_instance("scheduler-a").await;
    let b = app.other_instance("scheduler-b").await;
    // The ticks both instances see: (job, slot, business time).
    let ticks = [
        ("survey-planner", "1788242400", "2026-09-01"),
        ("outbox-sender", "1788242420", "2026-09-01"),
        ("survey-planner", "1788328800", "2026-09-02"),
        ("outbox-sender", "1788328820", "2026-09-02"),
        ("survey-reminders", "1788502500", "2026-09-04"),
        ("outbox-sender", "1788502520", "2026-09-04"),
        ("survey-expiry", "1791094200", "2026-10-04"),
    ];
    for (job, slot, date) in ticks {
        let at = day(date);
        let (ra, rb) = tokio::join!(jobs::run(&a, job, slot, at), jobs::run(&b, job, slot, at));
        let outcomes = [ra.expect("instance a"), rb.expect("instance b")];
        let ran = outcomes.iter().filter(|r| matches!(r, RunReport::Ran(_))).count();
        let skipped = outcomes.iter().filter(|r| matches!(r, RunReport::Skipped(_))).count();
        assert_eq!((ran, skipped), (1, 1), "{job} at slot {slot}: {outcomes:?}");
        let runs = runs_of(&app, job, slot).await;
        assert_eq!(runs.len(), 1, "one recorded run of {job} in slot {slot}");
        assert_eq!(runs[0].outcome, "ok");
        assert_eq!(runs[0].as_of, at.date_naive());
        assert!(runs[0].finished_at.is_some());
    }
    let surveys = app.surveys().await;
    assert_eq!(surveys.len(), accounts, "one survey per account, made once");
    assert!(surveys.iter().all(|s| s.status == aftercare::surveys::status::EXPIRED && s.reminders_sent == 1));
    assert_eq!(app.outbox().await.len(), 2 * accounts, "an initial email and one reminder each");
    assert_each_email_delivered_once(&app).await;
}

#[tokio::test]
async fn a_live_lease_makes_other_instances_skip_and_a_dead_holders_lease_is_taken_over() {
    let app = TestApp::new().await;
    five_customers(&app).await;
    let at = day("2026-09-01");
    let lease = job_lease::ActiveModel {
        name: Set("survey-planner".to_owned()),
        holder: Set("still-running".to_owned()),
        leased_until: Set(Utc::now() + LEASE),
    }
    .insert(&app.state.db)
    .await
    .expect("a lease");

    let first = jobs::run(&app.state, "survey-planner", "slot-1", at).await.expect("running");
    assert_eq!(first, RunReport::Skipped("another instance holds the lease".to_owned()));
    assert_eq!(runs_of(&app, "survey-planner", "slot-1").await[0].outcome, "skipped");
    assert!(app.surveys().await.is_empty(), "nothing ran");

    // The holder crashed: its lease ran out.
    let mut expired: job_lease::ActiveModel = lease.into();
    expired.leased_until = Set(Utc::now() - chrono::Duration::seconds(1));
    expired.update(&app.state.db).await.expect("expiring the lease");
    let dead_run = job_run::ActiveModel {
        job: Set("survey-planner".to_owned()),
        slot: Set("slot-0".to_owned()),
        instance: Set("still-running".to_owned()),
        as_of: Set(at.date_naive()),
        started_at: Set(Utc::now() - LEASE),
        outcome: Set("running".to_owned()),
        detail: Set(String::new()),
        ..Default::default()
    }
    .insert(&app.state.db)
    .await
    .expect("the dead instance's run");
    let second = jobs::run(&app.state, "survey-planner", "slot-2", at).await.expect("running");
    assert!(matches!(&second, RunReport::Ran(detail) if detail.contains("surveys_sent=5")), "{second:?}");
    let dead_run = job_run::Entity::find_by_id(dead_run.id).one(&app.state.db).await.expect("a run").expect("kept");
    assert_eq!(dead_run.outcome, "abandoned", "the dead instance's run no longer shows as running");
    assert!(dead_run.finished_at.is_some() && dead_run.detail.contains("stopped renewing"), "{dead_run:?}");
    assert!(job_lease::Entity::find().all(&app.state.db).await.expect("leases").is_empty(), "the lease is released");
    let again = jobs::run(&app.state, "survey-planner", "slot-2", at).await.expect("running");
    assert!(matches!(again, RunReport::Skipped(_)), "a slot runs once: {again:?}");
    let unknown = jobs::run(&app.state, "survey-planer", "slot-3", at).await;
    let message = unknown.expect_err("an unknown job").to_string();
    assert!(JOBS.iter().all(|job| message.contains(job)), "the error names the jobs: {message}");
}

#[tokio::test]
async fn a_held_lease_is_renewed_past_its_length_and_others_wait_until_it_is_released() {
    let app = TestApp::new().await;
    let db = &app.state.db;
    let length = chrono::Duration::seconds(2);
    let held = Lease::take(db, "outbox-sender", "instance-a", length).await.expect("taking").expect("free");
    // Three lease lengths later the holder is still alive and still holds it.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let until = job_lease::Entity::find_by_id("outbox-sender").one(db).await.expect("a lease").expect("held");
    assert_eq!(until.holder, "instance-a");
    assert!(until.leased_until > Utc::now(), "renewed: {until:?}");
    assert!(Lease::take(db, "outbox-sender", "instance-b", length).await.expect("taking").is_none(), "still held");

    held.release().await.expect("releasing");
    let taken = Lease::take(db, "outbox-sender", "instance-b", length).await.expect("taking");
    assert!(taken.is_some(), "free once released");
    // A holder that dies stops renewing: its lease runs out after one length.
    drop(taken);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let after = Lease::take(db, "outbox-sender", "instance-c", length).await.expect("taking");
    assert!(after.is_some(), "a lease nobody renews is taken over");
    after.expect("taken").release().await.expect("releasing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn planners_racing_without_a_lease_still_make_each_survey_once() {
    let app = TestApp::new().await;
    let accounts = five_customers(&app).await;
    let b = app.other_instance("planner-b").await;
    let config = &app.state.config;
    for (round, date) in ["2026-09-01", "2026-12-01", "2027-03-01"].into_iter().enumerate() {
        let at = day(date);
        let (ra, rb) = tokio::join!(
            planner::plan(&app.state.db, &config.surveys, &config.base_url, at),
            planner::plan(&b.db, &config.surveys, &config.base_url, at),
        );
        let (ra, rb) = (ra.expect("planner a"), rb.expect("planner b"));
        assert_eq!(ra.surveys_sent + rb.surveys_sent, accounts, "{date}: {ra:?} {rb:?}");
        assert_eq!(app.surveys().await.len(), accounts * (round + 1), "{date}");
        assert_eq!(app.outbox().await.len(), accounts * (round + 1), "{date}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cron_schedulers_of_two_instances_send_each_email_once() {
    let app =
        TestApp::with_config(|c| c.schedules = vec![("outbox-sender".to_owned(), "*/10 * * * * *".to_owned())]).await;
    let accounts = five_customers(&app).await;
    app.plan(day("2026-09-01")).await;
    let a = app.other_instance("serve-a").await;
    let b = app.other_instance("serve-b").await;
    let schedulers = [
        jobs::scheduler::start(&a).await.expect("scheduler a"),
        jobs::scheduler::start(&b).await.expect("scheduler b"),
    ];
    let deadline = Instant::now() + StdDuration::from_secs(40);
    while app.outbox().await.iter().any(|r| r.status != aftercare::mail::outbox::status::SENT) {
        assert!(Instant::now() < deadline, "the scheduled sender did not run within 40 s");
        tokio::time::sleep(StdDuration::from_millis(200)).await;
    }
    for scheduler in schedulers {
        jobs::scheduler::stop(scheduler).await;
    }
    assert_eq!(app.outbox().await.len(), accounts);
    assert_each_email_delivered_once(&app).await;
    let runs = job_run::Entity::find().all(&app.state.db).await.expect("runs");
    let slots: std::collections::BTreeSet<&str> = runs.iter().map(|r| r.slot.as_str()).collect();
    assert_eq!(slots.len(), runs.len(), "one run per slot: {runs:?}");
    assert!(
        runs.iter().all(|r| r.job == "outbox-sender" && r.slot.parse::<i64>().is_ok_and(|s| s % 10 == 0)),
        "{runs:?}"
    );

    let mut broken = (*app.state.config).clone();
    broken.schedules = vec![("survey-expiry".to_owned(), "every tuesday".to_owned())];
    let state = aftercare::AppState { config: std::sync::Arc::new(broken), ..app.state.clone() };
    let error = jobs::scheduler::start(&state).await.err().expect("a bad schedule is refused").to_string();
    assert!(error.contains("survey-expiry") && error.contains("every tuesday"), "{error}");
}

#[tokio::test]
async fn admins_see_each_run_and_may_run_a_job_now() {
    let app = TestApp::new().await;
    five_customers(&app).await;
    app.clock.set(day("2026-09-01"));
    let admin = app.user(Role::Admin).await;
    let browser = Browser::sign_in(&app, &admin).await;
    let page = browser.get("/settings/jobs").await;
    assert_eq!(page.status, StatusCode::OK);
    for job in JOBS {
        assert!(page.text().contains(job), "the page lists {job}");
    }
    let form = page.form("form[action=\"/settings/jobs/survey-planner/run\"]");
    browser.submit(&form).await.assert_redirect_to("/settings/jobs?done=survey-planner");
    assert_eq!(app.surveys().await.len(), 5, "the planner ran as of the app's clock");
    let page = browser.get("/settings/jobs").await;
    let rows = page.all("table tr");
    let row = rows
        .iter()
        .find(|r| r.text.starts_with("survey-planner") && r.text.contains("waves_recorded="))
        .unwrap_or_else(|| panic!("the run is listed: {rows:?}"));
    for shown in ["2026-09-01", "ok", "surveys_sent=5"] {
        assert!(row.text.contains(shown), "the run shows {shown}: {}", row.text);
    }
    let member = app.user(Role::Member).await;
    assert_eq!(Browser::sign_in(&app, &member).await.get("/settings/jobs").await.status, StatusCode::FORBIDDEN);
}

/// Runs the real binary on `app`'s database, writing email to `outbox`.
fn aftercare(app: &TestApp, outbox: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_aftercare"))
        .args(args)
        .env("AFTERCARE_DATABASE_URL", &app.database.url)
        .env("AFTERCARE_OUTBOX_DIR", outbox)
        .env("AFTERCARE_LOG", "warn")
        .env_remove("AFTERCARE_SMTP_URL")
        .output()
        .expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn jobs_run_as_of_a_date_back_fills_and_jobs_list_names_the_four_jobs() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let customer = Customer::new("Cli");
    let won = app.won(&member, &customer).await;
    let outbox = tempfile::tempdir().expect("a folder");
    let dir = outbox.path();
    let run = |args: &[&str]| aftercare(&app, dir, args);

    // (arguments, what it prints)
    let steps: [(&[&str], &str); 4] = [
        (
            &["jobs", "run", "survey-planner", "--as-of", "2026-08-31"],
            "survey-planner: done (waves_recorded=0 waves_skipped=0 surveys_sent=0 waves_waiting=0)",
        ),
        (
            &["jobs", "run", "survey-planner", "--as-of", "2026-09-02"],
            "survey-planner: done (waves_recorded=1 waves_skipped=0 surveys_sent=1 waves_waiting=0)",
        ),
        (
            &["jobs", "run", "survey-planner", "--as-of", "2026-09-02"],
            "survey-planner: done (waves_recorded=0 waves_skipped=0 surveys_sent=0 waves_waiting=0)",
        ),
        (
            &["jobs", "run", "outbox-sender", "--as-of", "2026-09-02"],
            "outbox-sender: done (sent=1 retrying=0 failed=0)",
        ),
    ];
    for (args, prints) in steps {
        let (ok, out, err) = run(args);
        assert!(ok, "{args:?} failed: {err}");
        assert_eq!(out.trim(), prints, "{args:?}");
    }
    let survey = app.only_survey_of(won.contact_ids[0]).await;
    assert_eq!(
        survey.sent_at.map(|t: DateTime<Utc>| t.date_naive()),
        Some(crate::surveys_helpers::date_of("2026-09-02"))
    );
    let row = app.initial_email(survey.id).await;
    let files = smtp::read_messages(dir);
    assert_eq!(files.len(), 1, "one .eml file");
    assert_eq!(files[0].message_id(), row.message_id);
    assert!(files[0].is_to(customer.email()));

    let (ok, out, err) = run(&["jobs", "list"]);
    assert!(ok, "jobs list failed: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), JOBS.len(), "{out}");
    for (line, job) in lines.iter().zip(JOBS) {
        assert!(line.starts_with(job), "{line}");
    }
    assert!(lines[0].contains("last run") && lines[0].contains("ok"), "the planner ran: {}", lines[0]);
    assert!(lines[2].contains("never run"), "the reminders did not: {}", lines[2]);

    let (ok, _, err) = run(&["jobs", "run", "survey-plan"]);
    assert!(!ok, "an unknown job fails");
    assert!(JOBS.iter().all(|job| err.contains(job)), "the error names the jobs: {err}");
}
