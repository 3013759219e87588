//! The survey email end to end: delivered to a real SMTP server on
//! loopback with its headers, both parts and the link; the link opens the
//! survey page, which takes one submission. Also: hostile promise text is
//! escaped in the email and on the page, and a Dutch contact gets Dutch.

use aftercare::auth::Role;
use aftercare::jobs::{self, RunReport};
use axum::http::StatusCode;
use scraper::{Html, Selector};
use serde_json::json;

use crate::helpers::TestApp;
use crate::smtp::{self, Received};
use crate::surveys_helpers::{Customer, VERDICTS, day, survey_token, tokens_after};

/// What the payloads below would create if they were not escaped.
const INJECTED: [&str; 6] = ["script", "img", "iframe", "[onclick]", "[onerror]", "[onmouseover]"];

/// Elements matching `css` in an HTML fragment or document.
fn select_texts(html: &str, css: &str) -> Vec<String> {
    let selector = Selector::parse(css).unwrap_or_else(|e| panic!("bad selector {css}: {e:?}"));
    Html::parse_document(html).select(&selector).map(|e| e.text().collect::<String>().trim().to_owned()).collect()
}

#[tokio::test]
async fn the_survey_email_arrives_over_smtp_and_its_link_takes_exactly_one_answer() {
    let Some(server) = smtp::server_or_skip("the_survey_email_arrives_over_smtp") else { return };
    let app = TestApp::with_config(|c| c.mail.smtp_url = Some(server.url())).await;
    let member = app.user(Role::Member).await;
    let manager = app.user(Role::Member).await;
    let customer = Customer::new("Northwind")
        .promises(&["Month-end close in 5 days instead of 10", "One source of truth for revenue"])
        .managed_by(&manager.email);
    let won = app.won(&member, &customer).await;

    app.plan(day("2026-09-01")).await;
    let sent = jobs::run_manually(&app.state, "outbox-sender", day("2026-09-01")).await.expect("the sender runs");
    assert_eq!(sent, RunReport::Ran("sent=1 retrying=0 failed=0".to_owned()));

    let messages = server.messages();
    assert_eq!(messages.len(), 1, "one message arrived");
    let message: &Received = &messages[0];
    let survey = app.only_survey_of(won.contact_ids[0]).await;
    let row = app.initial_email(survey.id).await;
    let base = &app.state.config.base_url;

    // Headers: a stable Message-ID, one-click unsubscribe, the AM for replies.
    assert_eq!(message.message_id(), row.message_id);
    assert!(message.is_to(customer.email()), "{:?}", message.header("To"));
    assert!(message.required("Reply-To").contains(&manager.email));
    assert!(message.required("Subject").contains("Northwind BV"), "{}", message.required("Subject"));
    let token = survey_token(message.text());
    assert_eq!(message.required("List-Unsubscribe"), format!("<{base}/u/{token}>"));
    assert_eq!(message.required("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
    // Both parts, each complete with the promises and the link.
    assert_eq!(message.content_type, "multipart/alternative");
    let link = format!("{base}/s/{token}");
    for (part, body) in [("text", message.text()), ("html", message.html())] {
        assert!(body.contains(&link), "the {part} part has the link {link}:\n{body}");
        for promise in &customer.promises {
            assert!(body.contains(promise.as_str()), "the {part} part names {promise:?}");
        }
    }
    let hrefs: Vec<String> = {
        let selector = Selector::parse("a[href]").expect("a selector");
        Html::parse_document(message.html())
            .select(&selector)
            .filter_map(|a| a.value().attr("href").map(str::to_owned))
            .collect()
    };
    assert!(hrefs.contains(&link), "the HTML part links to the survey: {hrefs:?}");
    assert!(hrefs.contains(&format!("{base}/u/{token}")), "and to the unsubscribe page: {hrefs:?}");

    // The link opens the survey: one fieldset per promise, four verdicts each.
    let path = format!("/s/{token}");
    let page = app.public_page(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let form = page.form("form#survey-form");
    assert_eq!(form.action, path);
    let fieldsets = page.all("fieldset.promise[data-promise-id]");
    let shown: Vec<i32> =
        fieldsets.iter().map(|f| f.attr("data-promise-id").and_then(|v| v.parse().ok()).expect("an id")).collect();
    assert_eq!(shown, won.promise_ids);
    for (id, text) in won.promise_ids.iter().zip(&customer.promises) {
        assert_eq!(page.text_of(&format!("fieldset.promise[data-promise-id=\"{id}\"] legend")), *text);
        let values: Vec<String> = page
            .all(&format!("fieldset.promise input[type=radio][name=verdict_{id}]"))
            .iter()
            .filter_map(|r| r.attr("value").map(str::to_owned))
            .collect();
        assert_eq!(values, VERDICTS, "the verdicts of promise {id}");
        assert_eq!(page.count(&format!("textarea[name=comment_{id}]")), 1);
    }
    assert_eq!(page.count("input[type=radio][name=nps]"), 11);
    for flag in ["reference", "review"] {
        assert_eq!(page.one(&format!("input[type=checkbox][name={flag}]")).attr("value"), Some("yes"));
    }

    // The answer is stored.
    let (first, second) = (won.promise_ids[0], won.promise_ids[1]);
    let answered_at = day("2026-09-03");
    app.clock.set(answered_at);
    let answers = form
        .clone()
        .set(&format!("verdict_{first}"), "kept")
        .set(&format!("verdict_{second}"), "partly")
        .set(&format!("comment_{second}"), "Mostly, the board pack is still manual")
        .set("nps", "9")
        .set("reference", "yes")
        .set("comment", "Great team");
    let thanks = app.public_submit(&answers).await;
    assert_eq!(thanks.status, StatusCode::OK, "{}", thanks.html);
    assert!(thanks.text().contains("Thank you"), "{}", thanks.html);
    let stored = json!({
        "status": "answered",
        "answers": [
            {"promise_id": first, "verdict": "kept", "comment": null},
            {"promise_id": second, "verdict": "partly", "comment": "Mostly, the board pack is still manual"},
        ],
        "response": {"nps": 9, "reference": true, "review": false, "comment": "Great team"},
    });
    let shown = |detail: &serde_json::Value| {
        json!({
            "status": detail["status"],
            "answers": detail["answers"].as_array().expect("answers").iter()
                .map(|a| json!({"promise_id": a["promise_id"], "verdict": a["verdict"], "comment": a["comment"]}))
                .collect::<Vec<_>>(),
            "response": {"nps": detail["response"]["nps"], "reference": detail["response"]["reference"],
                "review": detail["response"]["review"], "comment": detail["response"]["comment"]},
        })
    };
    let detail = app.api_survey(&member, survey.id).await;
    assert_eq!(shown(&detail), stored);
    assert_eq!(detail["answered_at"], json!(answered_at));

    // A second submission is refused: the thank-you again, nothing overwritten.
    app.clock.set(day("2026-09-04"));
    let again =
        form.set(&format!("verdict_{first}"), "not_kept").set(&format!("verdict_{second}"), "not_kept").set("nps", "0");
    let refused = app.public_submit(&again).await;
    assert_eq!(refused.status, StatusCode::OK, "{}", refused.html);
    assert_eq!(refused.count("form#survey-form"), 0, "no form to fill in again");
    let detail = app.api_survey(&member, survey.id).await;
    assert_eq!(shown(&detail), stored, "the first answers stand");
    assert_eq!(detail["answered_at"], json!(answered_at));
    let followups = app.get("/api/v1/followups?status=open", &member).await;
    assert_eq!(followups.json(), json!([]), "the refused not_kept opened nothing");
    let reopened = app.public_page(&path).await;
    assert_eq!(reopened.status, StatusCode::OK);
    assert_eq!(reopened.count("form#survey-form"), 0, "the link now shows a thank-you:\n{}", reopened.html);
    assert!(reopened.text().contains("Thank you"));
}

#[tokio::test]
async fn promise_text_is_escaped_in_the_email_and_on_the_survey_page() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let payloads = [
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(2)>",
        "' onmouseover='alert(3)' x='",
        "Tom & Jerry </li></ul><iframe src=//evil.example>",
    ];
    let customer = Customer::new("Evil").promises(&payloads);
    let customer = Customer { account: "Evil <b onclick=alert(4)>Corp</b>".to_owned(), ..customer };
    let won = app.won(&member, &customer).await;
    app.plan(day("2026-09-01")).await;
    let report = jobs::run_manually(&app.state, "outbox-sender", day("2026-09-01")).await.expect("the sender runs");
    assert_eq!(report, RunReport::Ran("sent=1 retrying=0 failed=0".to_owned()));
    let messages = smtp::read_messages(app.outbox_dir.path());
    assert_eq!(messages.len(), 1, "one .eml file");
    let html = messages[0].html();
    let text = messages[0].text();

    for css in INJECTED {
        assert!(select_texts(html, css).is_empty(), "nothing matching {css} made it into the HTML part:\n{html}");
    }
    assert!(!html.contains("<script"), "no raw script tag:\n{html}");
    let items = select_texts(html, "li");
    for payload in payloads {
        assert!(items.iter().any(|li| li == payload), "the HTML part shows {payload:?} as text: {items:?}");
        assert!(text.contains(payload), "the plain-text part has it verbatim");
    }

    let token = survey_token(text);
    let page = app.public_page(&format!("/s/{token}")).await;
    assert_eq!(page.status, StatusCode::OK);
    for css in INJECTED {
        assert_eq!(page.count(css), 0, "nothing matching {css} on the page:\n{}", page.html);
    }
    let legends: Vec<String> = page.all("fieldset.promise legend").into_iter().map(|n| n.text).collect();
    let expected: Vec<String> = payloads.iter().map(|p| p.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(legends, expected, "each promise shown as text");
    assert!(page.text().contains("Evil <b onclick=alert(4)>Corp</b>"), "the company is shown as text");
    assert_eq!(won.promise_ids.len(), payloads.len());
}

#[tokio::test]
async fn contacts_get_the_email_and_the_page_in_their_language() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    // (contact's language, the survey's, words in the subject, greeting, page title)
    let cases = [
        ("nl", "nl", "beloftes", "Hallo", "Hebben we onze beloftes waargemaakt?"),
        ("nl-BE", "nl", "beloftes", "Hallo", "Hebben we onze beloftes waargemaakt?"),
        ("en", "en", "promises", "Hello", "Did we keep our promises?"),
        ("de", "en", "promises", "Hello", "Did we keep our promises?"),
    ];
    let mut contacts = Vec::new();
    for (i, (language, ..)) in cases.iter().enumerate() {
        let name = format!("Lang{i}");
        let email = format!("contact{i}@lang.example");
        let customer = Customer::new(&name).contacts(&[("Sanne de Vries", &email, language)]);
        contacts.push((app.won(&member, &customer).await, email));
    }
    app.plan(day("2026-09-01")).await;
    jobs::run_manually(&app.state, "outbox-sender", day("2026-09-01")).await.expect("the sender runs");
    let messages = smtp::read_messages(app.outbox_dir.path());
    assert_eq!(messages.len(), cases.len());
    for ((language, survey_language, subject, greeting, title), (won, email)) in cases.iter().zip(&contacts) {
        let survey = app.only_survey_of(won.contact_ids[0]).await;
        assert_eq!(survey.language, *survey_language, "{language}");
        let message = messages.iter().find(|m| m.is_to(email)).unwrap_or_else(|| panic!("no email to {email}"));
        assert!(message.required("Subject").contains(subject), "{language}: {}", message.required("Subject"));
        for body in [message.text(), message.html()] {
            assert!(body.contains(&format!("{greeting} Sanne")), "{language}: greets in {survey_language}:\n{body}");
        }
        let page = app.public_page(&format!("/s/{}", survey_token(message.text()))).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.one("html").attr("lang"), Some(*survey_language), "{language}");
        let email_html = Html::parse_document(message.html());
        let root = email_html.root_element();
        assert_eq!(root.value().attr("lang"), Some(*survey_language), "{language}: the HTML part's language");
        assert_eq!(page.text_of("h1"), *title, "{language}");
    }
    let all_tokens: Vec<String> = messages.iter().flat_map(|m| tokens_after(m.text(), "/s/")).collect();
    let distinct: std::collections::BTreeSet<&String> = all_tokens.iter().collect();
    assert_eq!(distinct.len(), cases.len(), "every survey has its own token");
}
