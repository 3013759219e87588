//! The survey planner over a fixed clock: waves at 6, 9 and 12 months on
//! the right dates and never twice; late imports skipped; the cooldown per
//! contact; one survey for an account's waves that fall together; who is
//! asked (recipients, unsubscribed, churned); go-live anchoring.

use aftercare::auth::Role;
use aftercare::config::Anchor;
use aftercare::surveys::planner::PlanReport;
use aftercare::surveys::wave_status;
use chrono::Duration;
use serde_json::json;

use crate::helpers::TestApp;
use crate::surveys_helpers::{Customer, date_of, day, id_of};

fn report(waves_recorded: usize, waves_skipped: usize, surveys_sent: usize, waves_waiting: usize) -> PlanReport {
    PlanReport { waves_recorded, waves_skipped, surveys_sent, waves_waiting }
}

#[tokio::test]
async fn planner_sends_each_wave_on_its_date_and_never_twice() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let customer = Customer::new("Northwind");
    let won = app.won(&member, &customer).await;

    // (run at, what the run does, the waves surveyed so far: (months, due on))
    type Step = (&'static str, PlanReport, &'static [(i32, &'static str)]);
    let steps: [Step; 11] = [
        ("2026-08-31", report(0, 0, 0, 0), &[]),
        ("2026-09-01", report(1, 0, 1, 0), &[(6, "2026-09-01")]),
        ("2026-09-01", report(0, 0, 0, 0), &[(6, "2026-09-01")]),
        ("2026-09-02", report(0, 0, 0, 0), &[(6, "2026-09-01")]),
        ("2026-11-30", report(0, 0, 0, 0), &[(6, "2026-09-01")]),
        ("2026-12-01", report(1, 0, 1, 0), &[(6, "2026-09-01"), (9, "2026-12-01")]),
        ("2026-12-01", report(0, 0, 0, 0), &[(6, "2026-09-01"), (9, "2026-12-01")]),
        ("2027-02-28", report(0, 0, 0, 0), &[(6, "2026-09-01"), (9, "2026-12-01")]),
        ("2027-03-01", report(1, 0, 1, 0), &[(6, "2026-09-01"), (9, "2026-12-01"), (12, "2027-03-01")]),
        ("2027-03-01", report(0, 0, 0, 0), &[(6, "2026-09-01"), (9, "2026-12-01"), (12, "2027-03-01")]),
        ("2028-03-01", report(0, 0, 0, 0), &[(6, "2026-09-01"), (9, "2026-12-01"), (12, "2027-03-01")]),
    ];
    for (at, expected, surveyed) in steps {
        let done = app.plan(day(at)).await;
        assert_eq!(done, expected, "planning on {at}");
        let waves = app.waves().await;
        let seen: Vec<(i32, chrono::NaiveDate, String)> = waves.iter().map(|w| (w.1, w.2, w.3.clone())).collect();
        let wanted: Vec<(i32, chrono::NaiveDate, String)> =
            surveyed.iter().map(|(m, due)| (*m, date_of(due), wave_status::SURVEYED.to_owned())).collect();
        assert_eq!(seen, wanted, "the waves after planning on {at}");
        let surveys = app.surveys().await;
        assert_eq!(surveys.len(), surveyed.len(), "one survey per wave after {at}");
        assert_eq!(app.outbox().await.len(), surveyed.len(), "one email per survey after {at}");
        // Each survey is sent on its wave's due date, covering the deal's promise.
        for (survey, (_, due)) in surveys.iter().zip(surveyed) {
            assert_eq!(survey.due_on, date_of(due));
            assert_eq!(survey.sent_at, Some(day(due)));
            assert_eq!(app.asked(survey.id).await, won.promise_ids);
            assert!(
                waves.iter().any(|w| w.4 == Some(survey.id) && w.2 == date_of(due)),
                "the wave points at its survey"
            );
        }
    }
    let keys: std::collections::BTreeSet<String> = app.outbox().await.into_iter().map(|m| m.dedupe_key).collect();
    assert_eq!(keys.len(), 3, "three distinct emails: {keys:?}");
}

#[tokio::test]
async fn a_wave_more_than_30_days_overdue_when_first_planned_is_skipped_without_email() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    // Imported on 2026-03-02 (the test clock): (won on, the waves' fate).
    let cases: [(&str, &[(i32, &str)]); 4] = [
        // The 12-month wave fell due 31 days ago: everything is stale.
        ("2025-01-30", &[(6, wave_status::SKIPPED), (9, wave_status::SKIPPED), (12, wave_status::SKIPPED)]),
        // 30 days overdue is not late yet.
        ("2025-01-31", &[(6, wave_status::SKIPPED), (9, wave_status::SKIPPED), (12, wave_status::SURVEYED)]),
        // The 9-month wave fell due yesterday; the 12-month one is in the future.
        ("2025-06-01", &[(6, wave_status::SKIPPED), (9, wave_status::SURVEYED)]),
        ("2026-03-01", &[]),
    ];
    let mut entered = Vec::new();
    for (i, (won_on, _)) in cases.iter().enumerate() {
        let customer = Customer::new(&format!("Imported{i}")).won_on(won_on);
        entered.push((app.won(&member, &customer).await, customer));
    }
    let done = app.plan(day("2026-03-02")).await;
    assert_eq!(done, report(8, 6, 2, 0));
    let outbox = app.outbox().await;
    for ((won_on, fate), (won, customer)) in cases.iter().zip(&entered) {
        let statuses = app.wave_statuses(won.deal_id).await;
        let wanted: Vec<(i32, String)> = fate.iter().map(|(m, s)| (*m, (*s).to_owned())).collect();
        assert_eq!(statuses, wanted, "won on {won_on}");
        let asked = fate.iter().any(|(_, s)| *s == wave_status::SURVEYED);
        assert_eq!(app.surveys_of(won.contact_ids[0]).await.len(), usize::from(asked), "won on {won_on}");
        assert_eq!(
            outbox.iter().filter(|m| m.recipient.contains(customer.email())).count(),
            usize::from(asked),
            "won on {won_on}"
        );
    }
    let waves = aftercare::surveys::queries::waves(&app.state.db, &app.state.config.surveys, date_of("2026-03-02"), 60)
        .await
        .expect("the surveys page's waves");
    let skipped: Vec<_> = waves.iter().filter(|w| w.status == wave_status::SKIPPED).collect();
    assert_eq!(skipped.len(), 6);
    assert!(skipped.iter().all(|w| w.note.as_deref().is_some_and(|n| n.contains("imported late"))), "{skipped:?}");
    // Skipped stays skipped.
    assert_eq!(app.plan(day("2026-03-03")).await, report(0, 0, 0, 0));
}

#[tokio::test]
async fn a_contact_waits_out_the_cooldown_before_the_next_survey() {
    // (cooldown days, the days the second survey may not go out, the day it does)
    let cases = [(60, "2026-10-30", "2026-10-31"), (10, "2026-10-14", "2026-10-15")];
    for (cooldown, not_yet, goes_out) in cases {
        let app = TestApp::with_config(|c| c.surveys.cooldown_days = cooldown).await;
        let member = app.user(Role::Member).await;
        let first = Customer::new("Contoso");
        let second = first.another_deal("Contoso expansion", "2026-04-15", "Expansion: invoices approved within a day");
        let a = app.won(&member, &first).await;
        app.clock.set(day("2026-04-15"));
        let b = app.won(&member, &second).await;
        assert_eq!(a.contact_ids, b.contact_ids, "one account, one contact");

        let mut sent_on = Vec::new();
        let mut at = day("2026-09-01");
        while at <= day("2026-11-05") {
            let done = app.plan(at).await;
            if done.surveys_sent > 0 {
                sent_on.push((at.date_naive(), done.surveys_sent));
            }
            let date = at.date_naive();
            if date >= date_of("2026-10-15") && date <= date_of(not_yet) {
                assert_eq!(done.waves_waiting, 1, "cooldown {cooldown}: the wave waits on {date}");
                assert_eq!(app.wave_statuses(b.deal_id).await, vec![(6, wave_status::WAITING.to_owned())]);
            }
            at += Duration::days(1);
        }
        assert_eq!(sent_on, vec![(date_of("2026-09-01"), 1), (date_of(goes_out), 1)], "cooldown {cooldown}");
        let surveys = app.surveys_of(a.contact_ids[0]).await;
        assert_eq!(app.asked(surveys[0].id).await, a.promise_ids, "the first survey asks about the first deal");
        assert_eq!(app.asked(surveys[1].id).await, b.promise_ids, "the second about the second");
        assert_eq!(surveys[1].due_on, date_of("2026-10-15"), "it remembers when the wave fell due");
        assert_eq!(app.wave_statuses(b.deal_id).await, vec![(6, wave_status::SURVEYED.to_owned())]);
    }
}

#[tokio::test]
async fn waves_of_one_account_that_fall_together_make_one_survey() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let customer = Customer::new("Fabrikam").promises(&["Fewer manual bookings", "Audit trail for every invoice"]);
    let second = customer.another_deal("Fabrikam payroll", "2026-03-01", "Payroll runs in one hour");
    let other = Customer::new("Tailspin");
    let a = app.won(&member, &customer).await;
    let b = app.won(&member, &second).await;
    let c = app.won(&member, &other).await;

    assert_eq!(app.plan(day("2026-09-01")).await, report(3, 0, 2, 0));
    let merged = app.only_survey_of(a.contact_ids[0]).await;
    let mut both: Vec<i32> = a.promise_ids.iter().chain(&b.promise_ids).copied().collect();
    both.sort_unstable();
    assert_eq!(app.asked(merged.id).await, both, "one survey covers both deals' promises");
    let waves = app.waves().await;
    for deal in [a.deal_id, b.deal_id] {
        assert!(
            waves.iter().any(|w| w.0 == deal && w.4 == Some(merged.id)),
            "deal {deal}'s wave is covered by the one survey"
        );
    }
    let detail = app.api_survey(&member, merged.id).await;
    assert_eq!(detail["deal_ids"], json!([a.deal_id, b.deal_id]));
    assert_eq!(detail["waves"], json!([6]));
    assert_eq!(detail["promises"].as_array().map(Vec::len), Some(3));

    let email = app.initial_email(merged.id).await;
    assert_eq!(app.outbox().await.iter().filter(|m| m.recipient.contains(customer.email())).count(), 1, "one email");
    for text in customer.promises.iter().chain(&second.promises) {
        assert!(email.text_body.contains(text.as_str()), "the email lists {text:?}:\n{}", email.text_body);
    }
    let separate = app.only_survey_of(c.contact_ids[0]).await;
    assert_eq!(app.asked(separate.id).await, c.promise_ids, "another account gets its own survey");
}

#[tokio::test]
async fn recipients_are_the_marked_contacts_or_else_the_first_and_nobody_unsubscribed_or_churned() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    // (name, contacts, marked (indices), unsubscribed (indices), churned on,
    //  who is asked (indices), the 6-month wave's status)
    type Case =
        (&'static str, usize, &'static [usize], &'static [usize], Option<&'static str>, &'static [usize], &'static str);
    let cases: [Case; 6] = [
        ("Unmarked", 3, &[], &[], None, &[0], wave_status::SURVEYED),
        ("Marked", 3, &[1, 2], &[], None, &[1, 2], wave_status::SURVEYED),
        ("Unsubscribed", 1, &[], &[0], None, &[], wave_status::SKIPPED),
        ("MarkedUnsubscribed", 3, &[0, 2], &[2], None, &[0], wave_status::SURVEYED),
        ("Nobody", 0, &[], &[], None, &[], wave_status::SKIPPED),
        ("Churned", 1, &[], &[], Some("2026-08-01"), &[], wave_status::SKIPPED),
    ];
    let mut entered = Vec::new();
    for (name, contacts, marked, unsubscribed, ..) in &cases {
        let won = app.won(&member, &Customer::new(name).staff(*contacts).recipients(marked)).await;
        for i in *unsubscribed {
            app.unsubscribe_contact(won.contact_ids[*i], day("2026-05-01")).await;
        }
        entered.push(won);
    }
    for ((_, _, _, _, churned, ..), won) in cases.iter().zip(&entered) {
        if let Some(date) = churned {
            app.churn(&member, won.deal_id, date).await;
        }
    }
    app.plan(day("2026-09-01")).await;
    for ((name, _, _, _, _, asked, status), won) in cases.iter().zip(&entered) {
        for (i, contact) in won.contact_ids.iter().enumerate() {
            let got = app.surveys_of(*contact).await.len();
            assert_eq!(got, usize::from(asked.contains(&i)), "{name}: surveys to contact #{i}");
        }
        assert_eq!(app.wave_statuses(won.deal_id).await, vec![(6, (*status).to_owned())], "{name}");
    }
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), cases.iter().map(|c| c.5.len()).sum::<usize>(), "one email per survey");

    // Churning after a wave was surveyed stops the later waves.
    let unmarked = &entered[0];
    app.churn(&member, unmarked.deal_id, "2026-10-01").await;
    app.plan(day("2026-12-01")).await;
    assert_eq!(
        app.wave_statuses(unmarked.deal_id).await,
        vec![(6, wave_status::SURVEYED.to_owned()), (9, wave_status::SKIPPED.to_owned())]
    );
    assert_eq!(app.surveys_of(unmarked.contact_ids[0]).await.len(), 1, "no survey after churning");
    let marked = &entered[1];
    assert_eq!(app.surveys_of(marked.contact_ids[1]).await.len(), 2, "the others carry on with their 9-month wave");
}

#[tokio::test]
async fn churn_between_recording_a_wave_and_sending_it_skips_it() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let first = Customer::new("Litware");
    let second = first.another_deal("Litware add-on", "2026-04-15", "Add-on live within a week");
    let a = app.won(&member, &first).await;
    app.clock.set(day("2026-04-15"));
    let b = app.won(&member, &second).await;
    app.plan(day("2026-09-01")).await;
    // The add-on's wave falls due inside the cooldown and waits...
    app.plan(day("2026-10-15")).await;
    assert_eq!(app.wave_statuses(b.deal_id).await, vec![(6, wave_status::WAITING.to_owned())]);
    // ...and the customer churns before it could go out.
    app.churn(&member, b.deal_id, "2026-10-20").await;
    assert_eq!(app.plan(day("2026-11-01")).await, report(0, 1, 0, 0));
    assert_eq!(app.wave_statuses(b.deal_id).await, vec![(6, wave_status::SKIPPED.to_owned())]);
    assert_eq!(app.surveys_of(a.contact_ids[0]).await.len(), 1);
}

#[tokio::test]
async fn go_live_anchoring_counts_waves_from_the_move_into_live() {
    // (anchor, run at, deals surveyed by then: (live deal, implementing deal))
    type Step = (&'static str, usize, usize);
    let cases: [(Anchor, &[Step]); 2] = [
        (Anchor::ClosedWon, &[("2026-09-01", 1, 1), ("2026-12-01", 2, 2), ("2027-03-01", 3, 3)]),
        (
            Anchor::GoLive,
            &[
                ("2026-09-01", 0, 0),
                ("2026-10-14", 0, 0),
                ("2026-10-15", 1, 0),
                ("2027-01-14", 1, 0),
                ("2027-01-15", 2, 0),
                ("2027-04-15", 3, 0),
                ("2028-04-15", 3, 0),
            ],
        ),
    ];
    for (anchor, steps) in cases {
        let app = TestApp::with_config(|c| c.surveys.anchor = anchor).await;
        let member = app.user(Role::Member).await;
        // Both won on 2026-03-01; one goes live on 2026-04-15.
        app.clock.set(day("2026-04-15"));
        let live = app.deal_in_stage(&member, "Adatum", "live").await;
        let implementing = app.deal_in_stage(&member, "Wingtip", "implementing").await;
        let mut contacts = Vec::new();
        for deal in [live, implementing] {
            let view = app.deal(&member, deal).await;
            let account = id_of(&view["account"]["id"]);
            let input = aftercare::accounts::ContactInput {
                name: Some(format!("Contact {deal}")),
                email: Some(format!("contact{deal}@customer.example")),
                ..Default::default()
            };
            let added = aftercare::accounts::add_contact(&app.state.db, account, input, member.id, day("2026-04-15"))
                .await
                .expect("adding a contact");
            contacts.push(added.id);
            app.add_promise(&member, deal, &format!("Deal {deal} pays for itself in a year")).await;
        }
        for (at, live_surveys, implementing_surveys) in steps {
            app.plan(day(at)).await;
            let got = (app.surveys_of(contacts[0]).await.len(), app.surveys_of(contacts[1]).await.len());
            assert_eq!(got, (*live_surveys, *implementing_surveys), "{anchor:?} on {at}");
        }
        if anchor == Anchor::GoLive {
            let due: Vec<_> = app.waves().await.into_iter().map(|w| (w.0, w.1, w.2)).collect();
            assert_eq!(
                due,
                vec![
                    (live, 6, date_of("2026-10-15")),
                    (live, 9, date_of("2027-01-15")),
                    (live, 12, date_of("2027-04-15"))
                ],
                "waves count from the go-live date; a deal that is not live has none"
            );
        }
    }
}
