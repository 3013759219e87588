//! Digest web pages: profile settings, preview, send-now and unsubscribe.

use aftercare::auth::Role;
use aftercare::digests::schedule::{self, Frequency};
use aftercare::digests::{self, Trigger};
use axum::http::{Method, StatusCode, header};
use entity::{audit_entry, outbox_message, user};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

use crate::helpers::{TestApp, TestUser};
use crate::web_client::{Browser, Form, TableDump};

/// `user`'s row.
async fn user_row(app: &TestApp, user: &TestUser) -> user::Model {
    user::Entity::find_by_id(user.id).one(&app.state.db).await.expect("reading users").expect("the user")
}

/// The audit entries with `action`.
async fn audit_entries(app: &TestApp, action: &str) -> Vec<audit_entry::Model> {
    audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq(action))
        .all(&app.state.db)
        .await
        .expect("reading the audit log")
}

/// Every digest in the outbox, oldest first.
async fn digests_queued(app: &TestApp) -> Vec<outbox_message::Model> {
    outbox_message::Entity::find()
        .filter(outbox_message::Column::Kind.eq("digest"))
        .order_by_asc(outbox_message::Column::Id)
        .all(&app.state.db)
        .await
        .expect("reading the outbox")
}

/// A deal `owner` is account manager of; in flight and with no next call,
/// so it is news in their digest.
async fn owned_deal(app: &TestApp, owner: &TestUser, name: &str) -> i32 {
    let id = app.create_deal(owner, name).await;
    let response = app.patch(&format!("/api/v1/deals/{id}"), owner, json!({"account_manager": owner.email})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    id
}

/// The path of a digest's unsubscribe link (its `List-Unsubscribe` URL
/// without the base URL).
fn unsubscribe_path(app: &TestApp, message: &outbox_message::Model) -> String {
    let url = message.list_unsubscribe.as_deref().expect("a digest has a List-Unsubscribe URL");
    let path = url.strip_prefix(app.state.config.base_url.as_str()).expect("the link is on the app's base URL");
    assert!(path.starts_with("/digests/unsubscribe/"), "the unsubscribe link: {url}");
    path.to_owned()
}

#[tokio::test]
async fn profile_shows_the_user_and_saving_digest_settings_persists_them_with_one_audit_entry() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let browser = Browser::sign_in(&app, &member).await;

    let page = browser.get("/profile").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let facts = page.text_of("#profile-facts");
    assert!(facts.contains(&member.email) && facts.contains("member"), "who the user is: {facts}");
    assert_eq!(page.one(".whoami a.profile-link[href=\"/profile\"]").attr("aria-current"), Some("page"), "nav link");
    assert!(page.text_of("select#digest_frequency").contains("Weekly: Monday 07:00 your time"), "when weekly arrives");
    assert!(page.count("datalist#time-zones option[value=\"Europe/Amsterdam\"]") == 1, "zones are suggested");
    let form = page.form("#digest-settings-form");
    assert_eq!(form.value("time_zone"), Some("UTC"), "the saved defaults are shown");
    assert_eq!(form.value("digest_frequency"), Some("weekly"));
    assert_eq!(form.value("digest_all_clear"), None, "all-clear is off by default");

    let form = form
        .set("time_zone", "Europe/Amsterdam")
        .set("language", "nl")
        .set("digest_frequency", "daily")
        .set("digest_all_clear", "true");
    let saved = browser.submit(&form).await;
    saved.assert_redirect_to("/profile?done=saved");

    let row = user_row(&app, &member).await;
    assert_eq!(
        (row.time_zone.as_str(), row.language.as_str(), row.digest_frequency.as_str(), row.digest_all_clear),
        ("Europe/Amsterdam", "nl", "daily", true)
    );
    let entries = audit_entries(&app, "user.digest_settings").await;
    assert_eq!(entries.len(), 1, "one audit entry: {entries:?}");
    assert_eq!(entries[0].actor_id, Some(member.id));
    assert_eq!(entries[0].subject, format!("user:{}", member.id));

    let after = browser.follow(&saved).await;
    assert_eq!(after.text_of(".notice.notice-success"), "Your digest settings are saved.");
    let form = after.form("#digest-settings-form");
    assert_eq!(form.value("time_zone"), Some("Europe/Amsterdam"));
    assert_eq!(form.value("language"), Some("nl"));
    assert_eq!(form.value("digest_frequency"), Some("daily"));
    assert_eq!(form.value("digest_all_clear"), Some("true"));

    // Unticking the box turns the all-clear off again.
    browser.submit(&form.without("digest_all_clear")).await.assert_redirect_to("/profile?done=saved");
    assert!(!user_row(&app, &member).await.digest_all_clear);
}

#[tokio::test]
async fn profile_refuses_bad_settings_naming_the_fields_keeping_what_was_entered_and_changing_nothing() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let browser = Browser::sign_in(&app, &member).await;
    let form = browser.get("/profile").await.form("#digest-settings-form");

    let bad_zone = form.clone().set("time_zone", "Mars/Olympus").set("language", "nl");
    let page = browser.refused(&bad_zone, StatusCode::UNPROCESSABLE_ENTITY, "Time zone").await;
    let shown = page.form("#digest-settings-form");
    assert_eq!(shown.value("time_zone"), Some("Mars/Olympus"), "the entered zone is kept");
    assert_eq!(shown.value("language"), Some("nl"), "the other fields are kept");
    assert_eq!(page.one("input#time_zone").attr("aria-invalid"), Some("true"), "the field is marked");
    assert_eq!(page.count("select#language[aria-invalid]"), 0, "only the bad field is marked");

    let bad_frequency = form.clone().set("digest_frequency", "hourly");
    browser.refused(&bad_frequency, StatusCode::UNPROCESSABLE_ENTITY, "Digest frequency").await;
    let bad_language = form.set("language", "fr");
    browser.refused(&bad_language, StatusCode::UNPROCESSABLE_ENTITY, "Language").await;
    assert!(audit_entries(&app, "user.digest_settings").await.is_empty(), "nothing audited");
}

#[tokio::test]
async fn profile_forms_without_the_csrf_token_or_a_session_are_refused() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    owned_deal(&app, &member, "Quiet rollout").await;
    let browser = Browser::sign_in(&app, &member).await;
    let page = browser.get("/profile").await;
    let settings = page.form("#digest-settings-form").set("time_zone", "Asia/Tokyo");
    let send = page.form("#send-now-form");

    browser.refused(&settings.clone().without("csrf"), StatusCode::FORBIDDEN, "reload the page").await;
    browser.refused(&settings.clone().set("csrf", "forged"), StatusCode::FORBIDDEN, "reload the page").await;
    browser.refused(&send.clone().without("csrf"), StatusCode::FORBIDDEN, "reload the page").await;
    let anonymous = Browser::anonymous(&app);
    anonymous.sent_to_sign_in(&settings).await;
    anonymous.sent_to_sign_in(&send).await;

    assert_eq!(user_row(&app, &member).await.time_zone, "UTC");
    assert!(digests_queued(&app).await.is_empty(), "no digest was queued");
    let profile = anonymous.get("/profile").await;
    assert_eq!(profile.location(), Some("/login?next=%2Fprofile"), "the profile needs a session");
}

#[tokio::test]
async fn send_now_queues_one_digest_with_its_own_key_and_an_unsubscribe_link() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    owned_deal(&app, &member, "Harbour rollout").await;
    let browser = Browser::sign_in(&app, &member).await;

    let form = browser.get("/profile").await.form("#send-now-form");
    let sent = browser.submit(&form).await;
    sent.assert_redirect_to("/profile?done=sent");
    let after = browser.follow(&sent).await;
    assert_eq!(after.text_of(".notice.notice-success"), "Your digest is queued; it arrives within a minute.");

    let queued = digests_queued(&app).await;
    assert_eq!(queued.len(), 1, "exactly one digest: {queued:?}");
    let message = &queued[0];
    assert!(message.recipient.contains(&member.email), "to the user: {}", message.recipient);
    assert!(message.html_body.contains("Harbour rollout"), "about their deal");
    unsubscribe_path(&app, message);

    // Its own key: the week's digest is still to come.
    let now = app.state.now();
    let period = schedule::containing(app.state.config.digests, Frequency::Weekly, schedule::zone("UTC"), now)
        .expect("a weekly period");
    let period_key = digests::dedupe_key(member.id, &period);
    assert_ne!(message.dedupe_key, period_key, "send-now does not use the period's key");
    assert!(message.dedupe_key.starts_with(&format!("digest:{}:now:", member.id)), "{}", message.dedupe_key);
    let report = digests::run(&app.state, now, Trigger::Manual).await.expect("a digest run");
    assert_eq!(report.queued, 1, "the period's digest still goes out: {report}");
    let keys: Vec<String> = digests_queued(&app).await.into_iter().map(|m| m.dedupe_key).collect();
    assert!(keys.contains(&period_key), "{keys:?}");
}

#[tokio::test]
async fn preview_shows_the_users_own_digest_in_a_sandboxed_frame() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    owned_deal(&app, &member, "Lighthouse <rollout> \"north\"").await;
    let browser = Browser::sign_in(&app, &member).await;

    let profile = browser.get("/profile").await;
    assert_eq!(profile.one("a#preview-link").attr("href"), Some("/digests/preview"));
    let page = browser.get("/digests/preview").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.text_of("h1"), "Your digest");
    assert!(page.text_of("#preview-facts").contains(&member.email), "whose digest");
    assert!(page.text_of("#preview-facts").contains("2026-03-02 09:00 UTC"), "as of the clock's now");
    assert_eq!(page.text_of("#preview-outcome"), "This digest has news: it would be sent.");
    assert_eq!(page.count("select#preview-user"), 0, "members pick no user");

    let frame = page.one("iframe.digest-frame");
    let email = frame.attr("srcdoc").expect("the email is in srcdoc");
    assert!(email.contains("Lighthouse") && !email.contains("<rollout>"), "the deal, escaped by the email: {email}");
    assert!(email.starts_with("<!doctype html>") && email.contains("<base target=\"_top\">"), "{email}");
    assert_eq!(frame.attr("sandbox"), Some("allow-top-navigation-by-user-activation"), "no scripts, own origin");
    assert_eq!(page.count("main table"), 0, "the email's markup stays inside the attribute");
    let policy = page.headers.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()).unwrap_or_default();
    for directive in
        ["style-src-attr 'unsafe-inline'", "script-src 'none'", "frame-ancestors 'none'", "style-src 'self'"]
    {
        assert!(policy.contains(directive), "the preview's policy has {directive}: {policy}");
    }
    let board = browser.get("/board").await;
    let policy = board.headers.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(!policy.contains("unsafe-inline"), "other pages keep the strict policy: {policy}");

    // Someone with nothing to report: skipped, unless they asked for an all-clear.
    let idle = app.user(Role::Member).await;
    let idle_browser = Browser::sign_in(&app, &idle).await;
    let page = idle_browser.get("/digests/preview").await;
    assert_eq!(page.text_of("#preview-outcome"), "Nothing to report: this digest would be skipped.");
    let form = idle_browser.get("/profile").await.form("#digest-settings-form").set("digest_all_clear", "true");
    idle_browser.submit(&form).await.assert_redirect_to("/profile?done=saved");
    let page = idle_browser.get("/digests/preview").await;
    assert!(page.text_of("#preview-outcome").starts_with("Nothing to report: a short all-clear would be sent"));
}

#[tokio::test]
async fn preview_of_someone_elses_digest_is_for_admins_and_bad_input_is_named() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let manager = app.user(Role::Manager).await;
    let admin = app.user(Role::Admin).await;
    owned_deal(&app, &member, "Orchard rollout").await;

    for user in [&manager, &member] {
        let other = if user.id == member.id { &manager } else { &member };
        let browser = Browser::sign_in(&app, user).await;
        let page = browser.get(&format!("/digests/preview?user={}", other.id)).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.html);
        assert!(page.text_of(".notice.notice-error").contains("Your role does not allow this"), "{}", page.html);
        assert!(!page.html.contains("Orchard rollout"), "nothing of the digest leaks");
        let own = browser.get(&format!("/digests/preview?user={}", user.id)).await;
        assert_eq!(own.status, StatusCode::OK, "naming oneself is fine:\n{}", own.html);
    }

    let browser = Browser::sign_in(&app, &admin).await;
    let page = browser.get(&format!("/digests/preview?user={}&as_of=2026-02-20", member.id)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.text_of("h1"), "Test member's digest");
    assert!(page.text_of("#preview-facts").contains("2026-02-20 12:00 UTC"), "as of noon UTC that day");
    assert!(page.one("iframe.digest-frame").attr("srcdoc").unwrap_or_default().contains("Orchard rollout"));
    let chosen = page.one("select#preview-user option[selected]");
    assert_eq!(chosen.attr("value"), Some(member.id.to_string().as_str()), "the picker shows whose digest");
    assert_eq!(page.count("select#preview-user option"), 3, "every user can be picked");
    assert_eq!(page.one("input#preview-as-of").attr("value"), Some("2026-02-20"));

    let unknown = browser.get("/digests/preview?user=999999").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.html);
    for (query, field) in [("as_of=notadate", "as_of"), ("as_of=2026-02-30", "as_of"), ("user=abc", "user")] {
        let page = browser.get(&format!("/digests/preview?{query}")).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}:\n{}", page.html);
        assert!(page.text_of(".field-errors").contains(field), "{query} names {field}: {}", page.html);
    }
    let member_browser = Browser::sign_in(&app, &member).await;
    let page = member_browser.get("/digests/preview?as_of=notadate").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.html);
}

#[tokio::test]
async fn the_unsubscribe_link_in_a_digest_turns_digests_off_without_signing_in() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    owned_deal(&app, &member, "Meadow rollout").await;
    digests::send_now(&app.state, member.id, app.state.now()).await.expect("queueing a digest");
    let path = unsubscribe_path(&app, &digests_queued(&app).await[0]);

    let anonymous = Browser::anonymous(&app);
    let before = TableDump::of(&app).await;
    let page = anonymous.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.text_of("h1"), "Stop your Aftercare digests?");
    assert_eq!(TableDump::of(&app).await.changed_since(&before), Vec::<&str>::new(), "a GET changes nothing");
    let form = page.form("#digest-unsubscribe-form");
    assert_eq!(form.action, path);
    assert_eq!(form.value("csrf"), None, "the link is the capability; no session, no token");

    let done = anonymous.submit(&form).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.html);
    assert!(done.text().contains("Your digests are off. You can turn them back on in your profile."));
    assert_eq!(done.one("a[href=\"/profile\"]").text, "Open your profile");
    assert_eq!(user_row(&app, &member).await.digest_frequency, "off");
    let entries = audit_entries(&app, "user.digest_unsubscribe").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].actor_id, Some(member.id));

    // Opening the link again says so, with nothing to press.
    let again = anonymous.get(&path).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.html);
    assert_eq!(again.text_of("h1"), "Unsubscribed");
    assert!(again.text().contains("Your digests are off."));
    assert_eq!(again.count("form"), 0);
}

#[tokio::test]
async fn one_click_unsubscribe_works_as_a_bare_post_in_the_users_language() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    owned_deal(&app, &member, "River rollout").await;
    let browser = Browser::sign_in(&app, &member).await;
    let form = browser.get("/profile").await.form("#digest-settings-form").set("language", "nl");
    browser.submit(&form).await.assert_redirect_to("/profile?done=saved");
    digests::send_now(&app.state, member.id, app.state.now()).await.expect("queueing a digest");
    let path = unsubscribe_path(&app, &digests_queued(&app).await[0]);

    let dutch = Browser::anonymous(&app).get(&path).await;
    assert_eq!(dutch.text_of("h1"), "Je Aftercare-overzichten stoppen?");
    assert_eq!(dutch.one("html").attr("lang"), Some("nl"));

    // RFC 8058: the mail provider posts this body, no cookie, no token.
    let response = app
        .request_raw(
            Method::POST,
            &path,
            None,
            Some("List-Unsubscribe=One-Click"),
            Some("application/x-www-form-urlencoded"),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(user_row(&app, &member).await.digest_frequency, "off");
    let report = digests::run(&app.state, app.state.now(), Trigger::Manual).await.expect("a digest run");
    assert_eq!(report.queued, 0, "no more digests: {report}");
}

#[tokio::test]
async fn unknown_unsubscribe_links_are_not_found_and_change_nothing() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let anonymous = Browser::anonymous(&app);
    let before = TableDump::of(&app).await;

    for token in ["0".repeat(64), "abc".to_owned(), "g".repeat(64)] {
        let path = format!("/digests/unsubscribe/{token}");
        let page = anonymous.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "GET {path}:\n{}", page.html);
        assert_eq!(page.text_of("h1"), "This link does not work");
        assert_eq!(page.count("form"), 0);
        let posted = anonymous.submit(&Form::new(path.clone(), &[])).await;
        assert_eq!(posted.status, StatusCode::NOT_FOUND, "POST {path}:\n{}", posted.html);
        assert_eq!(posted.text_of("h1"), "This link does not work");
    }
    assert_eq!(TableDump::of(&app).await.changed_since(&before), Vec::<&str>::new());
    assert_eq!(user_row(&app, &member).await.digest_frequency, "weekly");
}
