//! The outbox never loses an email: SMTP down during a wave, a sender that
//! dies between sending and marking, two senders at once, an email that
//! keeps failing until an admin resends it. Counted per Message-ID at the
//! receiving end.

use aftercare::auth::Role;
use aftercare::config::MailConfig;
use aftercare::mail::Mailer;
use aftercare::mail::outbox::{self, CLAIM, MAX_ATTEMPTS, NewEmail, SendReport};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use entity::outbox_message;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::helpers::TestApp;
use crate::smtp::{self, assert_delivered};
use crate::surveys_helpers::{Customer, day};
use crate::web_client::Browser;

fn report(sent: usize, retrying: usize, failed: usize) -> SendReport {
    SendReport { sent, retrying, failed }
}

/// Queues `count` emails as of `now`; returns their Message-IDs.
async fn queue(app: &TestApp, count: usize, now: DateTime<Utc>) -> Vec<String> {
    let base = &app.state.config.base_url;
    let mut ids = Vec::new();
    for i in 0..count {
        let email = NewEmail {
            dedupe_key: format!("test:{i}"),
            kind: "test",
            recipient: format!("\"Reader {i}\" <reader{i}@customer.example>"),
            reply_to: None,
            subject: format!("Message {i}"),
            text_body: format!("Body {i}"),
            html_body: format!("<p>Body {i}</p>"),
            list_unsubscribe: None,
        };
        assert!(outbox::enqueue(&app.state.db, email, base, now).await.expect("queueing"), "a new email");
        ids.push(outbox::message_id(&format!("test:{i}"), base));
    }
    ids
}

#[tokio::test]
async fn smtp_down_during_a_wave_then_every_email_is_delivered_exactly_once() {
    let Some(mut server) = smtp::server_or_skip("smtp_down_during_a_wave") else { return };
    let app = TestApp::with_config(|c| c.mail.smtp_url = Some(server.url())).await;
    let member = app.user(Role::Member).await;
    for name in ["Alpha", "Bravo", "Charlie", "Delta", "Echo"] {
        app.won(&member, &Customer::new(name)).await;
    }
    server.stop();
    let start = day("2026-09-01");
    assert_eq!(app.plan(start).await.surveys_sent, 5);

    // Every attempt while the server is down fails; the pauses double.
    let mut at = start;
    for attempt in 1..=4 {
        app.clock.set(at);
        assert_eq!(app.send_mail().await, report(0, 5, 0), "attempt {attempt}");
        for row in app.outbox().await {
            assert_eq!(row.status, outbox::status::PENDING);
            assert_eq!(row.attempts, attempt);
            assert_eq!(row.next_attempt_at, at + outbox::backoff(attempt), "attempt {attempt}");
            assert!(row.last_error.as_deref().is_some_and(|e| e.starts_with("SMTP")), "{:?}", row.last_error);
            assert_eq!((row.locked_by, row.locked_until), (None, None), "the claim is released");
        }
        // Not due again before the pause is over.
        app.clock.set(at + outbox::backoff(attempt) - Duration::seconds(1));
        assert_eq!(app.send_mail().await, report(0, 0, 0));
        at += outbox::backoff(attempt);
    }
    assert!((1..4).all(|n| outbox::backoff(n + 1) == outbox::backoff(n) * 2), "exponential backoff");

    // The server is back: everything goes out, once.
    server.resume();
    app.clock.set(at);
    assert_eq!(app.send_mail().await, report(5, 0, 0));
    assert_eq!(app.send_mail().await, report(0, 0, 0), "nothing is sent twice");
    let rows = app.outbox().await;
    assert!(
        rows.iter().all(|r| r.status == outbox::status::SENT && r.sent_at == Some(at) && r.attempts == 5),
        "{rows:?}"
    );
    let expected: Vec<(String, usize)> = rows.iter().map(|r| (r.message_id.clone(), 1)).collect();
    assert_delivered(&server.messages(), &expected);
}

#[tokio::test]
async fn a_sender_that_dies_mid_batch_loses_nothing_and_duplicates_at_most_once() {
    let app = TestApp::new().await;
    let start = day("2026-09-01");
    let ids = queue(&app, 6, start).await;
    let rows = app.outbox().await;

    // A sender claims the whole batch, hands two emails to the transport and
    // dies before it can mark anything.
    outbox_message::Entity::update_many()
        .col_expr(outbox_message::Column::LockedBy, Expr::value("dead-instance"))
        .col_expr(outbox_message::Column::LockedUntil, Expr::value(start + CLAIM))
        .filter(outbox_message::Column::Id.is_in(rows.iter().map(|r| r.id)))
        .exec(&app.state.db)
        .await
        .expect("claiming as the dead instance would");
    for row in &rows[..2] {
        app.state.mailer.send(row).await.expect("delivered before the crash");
    }

    // The restarted instance leaves rows alone while the dead one's claim lasts...
    let survivor = app.other_instance("restarted").await;
    let send = |at: DateTime<Utc>| outbox::send_due(&survivor.db, &survivor.mailer, &survivor.instance, 100, at);
    assert_eq!(send(start + CLAIM - Duration::seconds(1)).await.expect("sending"), report(0, 0, 0));
    // ...and delivers every row once the claim has run out.
    assert_eq!(send(start + CLAIM + Duration::seconds(1)).await.expect("sending"), report(6, 0, 0));
    assert_eq!(send(start + CLAIM + Duration::hours(1)).await.expect("sending"), report(0, 0, 0));
    assert!(app.outbox().await.iter().all(|r| r.status == outbox::status::SENT && r.locked_by.is_none()));
    let expected: Vec<(String, usize)> =
        ids.iter().enumerate().map(|(i, id)| (id.clone(), if i < 2 { 2 } else { 1 })).collect();
    assert_delivered(&smtp::read_messages(app.outbox_dir.path()), &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_senders_at_once_deliver_each_email_once() {
    let app = TestApp::new().await;
    let now = day("2026-09-01");
    let ids = queue(&app, 40, now).await;
    let a = app.other_instance("sender-a").await;
    let b = app.other_instance("sender-b").await;
    let (ra, rb) = tokio::join!(
        outbox::send_due(&a.db, &a.mailer, &a.instance, 100, now),
        outbox::send_due(&b.db, &b.mailer, &b.instance, 100, now),
    );
    let (ra, rb) = (ra.expect("sender a"), rb.expect("sender b"));
    assert_eq!(ra.sent + rb.sent, 40, "{ra:?} {rb:?}");
    assert_eq!(ra.retrying + rb.retrying + ra.failed + rb.failed, 0);
    let expected: Vec<(String, usize)> = ids.into_iter().map(|id| (id, 1)).collect();
    assert_delivered(&smtp::read_messages(app.outbox_dir.path()), &expected);
}

#[tokio::test]
async fn an_email_that_keeps_failing_is_marked_failed_and_an_admin_resends_it() {
    let closed = smtp::free_port();
    let app = TestApp::with_config(|c| c.mail.smtp_url = Some(format!("smtp://127.0.0.1:{closed}"))).await;
    let admin = app.user(Role::Admin).await;
    let start = day("2026-09-01");
    let ids = queue(&app, 1, start).await;

    let mut at = start;
    for attempt in 1..=MAX_ATTEMPTS {
        app.clock.set(at);
        let last = attempt == MAX_ATTEMPTS;
        assert_eq!(app.send_mail().await, if last { report(0, 0, 1) } else { report(0, 1, 0) }, "attempt {attempt}");
        at = app.outbox().await[0].next_attempt_at;
    }
    let failed = app.outbox().await.remove(0);
    assert_eq!((failed.status.as_str(), failed.attempts), (outbox::status::FAILED, MAX_ATTEMPTS));
    assert_eq!(outbox::backoff(MAX_ATTEMPTS + 10), Duration::hours(6), "the pauses stop growing at 6 hours");
    app.clock.set(start + Duration::days(30));
    assert_eq!(app.send_mail().await, report(0, 0, 0), "a failed email waits for an admin");

    // Admins see it with its error and a resend button; others may not look.
    let member = app.user(Role::Member).await;
    let page = Browser::sign_in(&app, &member).await.get("/settings/outbox").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let browser = Browser::sign_in(&app, &admin).await;
    let page = browser.get("/settings/outbox?status=failed").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let row = format!("tr[data-outbox-id=\"{}\"]", failed.id);
    assert!(page.text_of(&row).contains("SMTP"), "the error is shown: {}", page.text_of(&row));
    let resend = page.form(&format!("{row} form"));
    assert_eq!(resend.action, format!("/settings/outbox/{}/resend", failed.id));
    browser.submit(&resend).await.assert_redirect_to("/settings/outbox?done=resent");
    let queued = app.outbox().await.remove(0);
    assert_eq!((queued.status.as_str(), queued.attempts), (outbox::status::PENDING, 0));
    let again = outbox::resend(&app.state.db, failed.id, admin.id, start).await;
    assert!(matches!(again, Err(aftercare::AppError::Conflict { code: "not_failed", .. })), "{again:?}");

    // With the mail server fixed, it goes out once, with the same Message-ID.
    let dir = tempfile::tempdir().expect("a folder");
    let fixed = Mailer::from_config(&MailConfig { outbox_dir: dir.path().to_owned(), ..MailConfig::default() })
        .expect("a mailer");
    let now = start + Duration::days(30);
    assert_eq!(outbox::send_due(&app.state.db, &fixed, "fixed", 10, now).await.expect("sending"), report(1, 0, 0));
    assert_delivered(&smtp::read_messages(dir.path()), &[(ids[0].clone(), 1)]);
}

#[tokio::test]
async fn an_email_is_queued_once_per_dedupe_key_with_a_stable_message_id() {
    let app = TestApp::new().await;
    let now = day("2026-09-01");
    let ids = queue(&app, 2, now).await;
    let base = &app.state.config.base_url;
    let duplicate = NewEmail {
        dedupe_key: "test:1".to_owned(),
        kind: "test",
        recipient: "someone@else.example".to_owned(),
        reply_to: None,
        subject: "Different".to_owned(),
        text_body: String::new(),
        html_body: String::new(),
        list_unsubscribe: None,
    };
    assert!(!outbox::enqueue(&app.state.db, duplicate, base, now).await.expect("queueing"), "the key is taken");
    let rows = app.outbox().await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows.iter().map(|r| r.message_id.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(rows[1].subject, "Message 1", "the first email stands");
    assert_ne!(ids[0], ids[1]);
    assert!(ids.iter().all(|id| id.starts_with('<') && id.ends_with("@127.0.0.1>")), "{ids:?}");
    assert_eq!(outbox::message_id("test:1", base), ids[1], "the same key always gets the same Message-ID");
}
