//! Reminders go to non-respondents only, on the configured days after the
//! first send (3, 7 and 14 by default), at most three, never after an answer,
//! an unsubscribe or the survey's expiry; each carries its own working link.

use std::collections::{BTreeMap, BTreeSet};

use aftercare::auth::Role;
use axum::http::StatusCode;
use chrono::Duration;

use crate::helpers::TestApp;
use crate::surveys_helpers::{Customer, day, survey_token};
use crate::web_client::Form;

/// What each customer does, on which day after the first send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Does {
    Nothing,
    Answers(i64),
    AnswersFromAReminder(i64),
    Unsubscribes(i64),
}

#[tokio::test]
async fn reminders_go_to_non_respondents_on_their_days_and_stop_at_three() {
    let customers = [
        ("Silent", Does::Nothing),
        ("Prompt", Does::Answers(1)),
        ("Late", Does::AnswersFromAReminder(5)),
        ("Quitter", Does::Unsubscribes(2)),
    ];
    // (reminder days, each customer's reminders: the days they come on)
    let policies: [(&[i64], [&[i64]; 4]); 3] = [
        (&[3, 7, 14], [&[3, 7, 14], &[], &[3], &[]]),
        // A reminder day past the expiry (30 days) never comes.
        (&[3, 7, 40], [&[3, 7], &[], &[3], &[]]),
        // Never more than three.
        (&[1, 2, 3, 4], [&[1, 2, 3], &[], &[1, 2, 3], &[1]]),
    ];
    for (days, expected) in policies {
        let app = TestApp::with_config(|c| c.surveys.reminder_days = days.to_vec()).await;
        let member = app.user(Role::Member).await;
        let mut contacts = Vec::new();
        for (name, _) in customers {
            contacts.push(app.won(&member, &Customer::new(name)).await.contact_ids[0]);
        }
        let sent = day("2026-09-01");
        app.plan(sent).await;
        let mut surveys = Vec::new();
        let mut links = BTreeMap::new();
        for contact in &contacts {
            let survey = app.only_survey_of(*contact).await;
            links.insert(survey.id, vec![survey_token(&app.initial_email(survey.id).await.text_body)]);
            surveys.push(survey.id);
        }

        let mut reminded: Vec<Vec<i64>> = vec![Vec::new(); customers.len()];
        for day_after in 0..=45 {
            let at = sent + Duration::days(day_after);
            app.clock.set(at);
            for (i, (_, does)) in customers.iter().enumerate() {
                let latest = links[&surveys[i]].last().cloned().expect("a link");
                match *does {
                    Does::Answers(on) if on == day_after => {
                        app.answer(&links[&surveys[i]][0], "kept").await;
                    }
                    Does::AnswersFromAReminder(on) if on == day_after => {
                        assert!(links[&surveys[i]].len() > 1, "a reminder came first");
                        app.answer(&latest, "kept").await;
                    }
                    Does::Unsubscribes(on) if on == day_after => {
                        let page = app.public_submit(&Form::new(format!("/u/{latest}"), &[])).await;
                        assert_eq!(page.status, StatusCode::OK);
                    }
                    _ => {}
                }
            }
            app.expire(at).await;
            let before = app.outbox().await.len();
            let done = app.remind(at).await;
            assert_eq!(app.remind(at).await.reminded, 0, "{days:?}: a second run the same day reminds nobody");
            let new = app.outbox().await.split_off(before);
            assert_eq!(new.len(), done.reminded, "{days:?}: one email per reminder");
            for email in new {
                let i = surveys
                    .iter()
                    .position(|id| email.dedupe_key.starts_with(&format!("survey:{id}:")))
                    .expect("a survey email");
                reminded[i].push(day_after);
                let number = reminded[i].len();
                assert_eq!(email.dedupe_key, format!("survey:{}:reminder-{number}", surveys[i]));
                assert!(email.subject.starts_with("Reminder: "), "{}", email.subject);
                // Its own link, which opens the survey.
                let token = survey_token(&email.text_body);
                assert_eq!(email.list_unsubscribe, Some(format!("{}/u/{token}", app.state.config.base_url)));
                let page = app.public_page(&format!("/s/{token}")).await;
                assert_eq!(page.status, StatusCode::OK, "{days:?}: reminder {number}'s link works");
                assert_eq!(page.count("form#survey-form"), 1);
                links.get_mut(&surveys[i]).expect("links").push(token);
            }
        }
        for (((name, _), want), got) in customers.iter().zip(expected).zip(&reminded) {
            assert_eq!(got.as_slice(), want, "{days:?}: the days {name} was reminded on");
        }
        let all: Vec<&String> = links.values().flatten().collect();
        assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), all.len(), "every email has its own token");
        for (survey, got) in app.surveys().await.iter().zip(&reminded) {
            assert_eq!(usize::try_from(survey.reminders_sent).ok(), Some(got.len()));
        }
    }
}
