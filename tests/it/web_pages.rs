//! The server-rendered pages as a user sees them: signing in, the board,
//! the deal page with its checklist, evidence and moves, accounts and
//! contacts, settings, and that user text is shown as text, never run.

use aftercare::auth::Role;
use axum::http::StatusCode;
use entity::api_token;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};
use crate::web_client::{Browser, Form, Page, TableDump, encode};

/// Text that would run if a page did not escape it.
const PAYLOAD: &str = "<script>alert(1)</script>";

/// The default stages, in pipeline order.
const STAGES: [&str; 4] = ["closed_won", "handoff", "implementing", "live"];

async fn page(browser: &Browser<'_>, path: &str) -> Page {
    let page = browser.get(path).await;
    assert_eq!(page.status, StatusCode::OK, "GET {path}:\n{}", page.html);
    page
}

fn id_in(location: Option<&str>, prefix: &str) -> i32 {
    let location = location.expect("a Location header");
    let rest = location.strip_prefix(prefix).unwrap_or_else(|| panic!("{location} starts with {prefix}"));
    rest.split(['?', '/']).next().and_then(|id| id.parse().ok()).unwrap_or_else(|| panic!("an id in {location}"))
}

fn criteria_of(deal: &Value) -> Vec<Value> {
    deal["criteria"].as_array().cloned().expect("criteria")
}

fn id_of(value: &Value) -> i32 {
    i32::try_from(value["id"].as_i64().expect("an id")).expect("a small id")
}

#[tokio::test]
async fn web_the_login_page_shows_the_sign_in_form() {
    let app = TestApp::new().await;
    let login = page(&Browser::anonymous(&app), "/login").await;

    let form = login.form("form#login-form");
    assert_eq!(form.action, "/login");
    assert_eq!(login.one("form#login-form input[name=email]").attr("type"), Some("email"));
    assert_eq!(login.one("form#login-form input[name=password]").attr("type"), Some("password"));
    assert_eq!(form.value("next"), Some("/board"), "signing in leads to the board by default");
    assert_eq!(login.count("#logout-form"), 0, "nobody is signed in yet");
}

#[tokio::test]
async fn web_a_wrong_password_or_unknown_email_is_refused_without_a_session() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let browser = Browser::anonymous(&app);
    let attempts = [
        ("wrong password", member.email.as_str(), "not-the-password"),
        ("unknown email", "nobody@team.example", member.password.as_str()),
        ("blank password", member.email.as_str(), ""),
    ];
    for (case, email, password) in attempts {
        let refused = browser.log_in(email, password, None).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{case}:\n{}", refused.html);
        assert!(refused.text_of(".notice.notice-error").contains("do not match"), "{case}: the error says why");
        assert_eq!(refused.session_set_cookie(), None, "{case}: no session cookie");
        assert_eq!(refused.form("form#login-form").value("email"), Some(email), "{case}: the email is kept");
    }
}

#[tokio::test]
async fn web_signing_in_sets_a_safe_cookie_and_opens_the_board() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let browser = Browser::anonymous(&app);

    let signed_in = browser.log_in(&member.email, &member.password, None).await;
    signed_in.assert_redirect_to("/board");
    let cookie = signed_in.session_set_cookie().expect("a session cookie");
    let attributes: Vec<String> = cookie.split(';').map(|a| a.trim().to_lowercase()).collect();
    for expected in ["httponly", "samesite=lax", "path=/"] {
        assert!(attributes.iter().any(|a| a == expected), "the cookie has {expected}: {cookie}");
    }

    let browser = Browser::sign_in(&app, &member).await;
    let board = page(&browser, "/board").await;
    assert_eq!(board.text_of(".whoami .user-name"), "Test member");
    assert_eq!(board.count("#logout-form"), 1);
}

/// Signs `user` in with `next` three ways (the rendered login form, a
/// hand-made form as an attacker would post it, and `GET /login?next=` while
/// signed in) and asserts each lands on `expected`.
async fn check_next(app: &TestApp, user: &TestUser, next: &str, expected: &str) {
    let anonymous = Browser::anonymous(app);
    let login = page(&anonymous, &format!("/login?next={}", encode(next))).await;
    assert_eq!(login.form("form#login-form").value("next"), Some(expected), "the login form's next for {next:?}");
    let form = Form::new("/login", &[("email", &user.email), ("password", &user.password), ("next", next)]);
    let posted = anonymous.submit(&form).await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "signing in with next {next:?}:\n{}", posted.html);
    assert_eq!(posted.location(), Some(expected), "signing in with next {next:?}");

    let signed_in = Browser::sign_in(app, user).await;
    let again = signed_in.get(&format!("/login?next={}", encode(next))).await;
    assert_eq!(
        again.status,
        StatusCode::SEE_OTHER,
        "the login page with next {next:?} while signed in:\n{}",
        again.html
    );
    assert_eq!(again.location(), Some(expected), "the login page with next {next:?} while signed in");
}

#[tokio::test]
async fn web_after_signing_in_only_local_pages_are_followed() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let deal = app.create_deal(&member, "Initech").await;
    let own = format!("/deals/{deal}?done=created");
    let cases = [
        (own.as_str(), own.as_str()),
        ("//evil.example", "/board"),
        ("//evil.example/board", "/board"),
        ("https://evil.example/", "/board"),
        ("/\\evil.example", "/board"),
        ("evil.example", "/board"),
    ];
    for (next, expected) in cases {
        check_next(&app, &member, next, expected).await;
    }
}

/// Browsers drop tabs and newlines from a Location before resolving it, so
/// `/<TAB>/evil.example` is `//evil.example`: another site.
#[tokio::test]
async fn web_a_next_with_control_characters_is_not_followed() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    for next in ["/\t/evil.example", "/\n/evil.example", "/board\r\nSet-Cookie: planted=1"] {
        check_next(&app, &member, next, "/board").await;
    }
}

#[tokio::test]
async fn web_the_board_shows_each_stage_and_each_deal_in_its_column() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let mut deals = Vec::new();
    for stage in STAGES {
        deals.push((stage, app.deal_in_stage(&member, &format!("Deal in {stage}"), stage).await));
    }
    let board = page(&Browser::sign_in(&app, &member).await, "/board").await;

    let columns: Vec<String> =
        board.all("section.stage-column").iter().filter_map(|c| c.attr("data-stage").map(str::to_owned)).collect();
    assert_eq!(columns, STAGES, "one column per stage, in pipeline order");
    for (stage, id) in deals {
        let card = format!("section.stage-column[data-stage={stage}] article.deal-card[data-deal-id=\"{id}\"]");
        let link = board.one(&format!("{card} a.deal-link"));
        assert_eq!(link.attr("href"), Some(format!("/deals/{id}").as_str()));
        assert_eq!(link.text, format!("Deal in {stage} Inc."), "the card names the account");
        assert_eq!(board.text_of(&format!("{card} .deal-sub")), format!("Deal in {stage}"));
        assert_eq!(board.count(&format!("article.deal-card[data-deal-id=\"{id}\"]")), 1, "deal {id} is shown once");
    }
}

#[tokio::test]
async fn web_a_full_column_counts_every_deal_and_shows_the_longest_waiting_first() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let stuck = app.create_deal(&member, "Waiting longest").await;
    let held = app.create_deal(&member, "Waiting on the customer").await;
    app.clock.advance(chrono::Duration::days(2));
    let response = app.post(&format!("/api/v1/deals/{held}/hold"), &member, json!({"reason": "Their IT"})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    app.clock.advance(chrono::Duration::days(1));
    for n in 0..61 {
        app.create_deal(&member, &format!("Deal {n}")).await;
    }
    // Eight days on: the first deal is over closed_won's 7-day SLA, the 61
    // others have 5 active days, the held one only the 2 before its hold.
    app.clock.advance(chrono::Duration::days(5));
    let browser = Browser::sign_in(&app, &member).await;
    let cards = |board: &Page| -> Vec<i32> {
        board.all("article.deal-card").iter().filter_map(|c| c.attr("data-deal-id")?.parse().ok()).collect()
    };
    let listed: Vec<i32> = app
        .get("/api/v1/deals?stage=closed_won", &member)
        .await
        .json()
        .as_array()
        .expect("deals")
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(listed.len(), 63);

    let board = page(&browser, "/board").await;
    assert_eq!(board.text_of(".page-head .summary"), "63 deals · 1 stuck · 1 on hold · 0 overdue calls");
    assert_eq!(board.text_of("section[data-stage=closed_won] header p"), "63 deals · target 7 days");
    assert_eq!(cards(&board), listed[..60], "the first 60 in the list's order: longest-waiting first");
    assert_eq!(cards(&board)[0], stuck, "the stuck deal leads");
    assert_eq!(listed[62], held, "days on hold do not count as waiting");
    assert_eq!(
        board.text_of("section[data-stage=closed_won] .more"),
        "and 3 more; filter by owner, stuck or on hold to narrow the board."
    );
    assert_eq!(board.count("section[data-stage=handoff] article.deal-card"), 0);

    let only_stuck = page(&browser, "/board?stuck=true").await;
    assert_eq!(cards(&only_stuck), [stuck]);
    assert_eq!(only_stuck.text_of(".page-head .summary"), "1 deals · 1 stuck · 0 on hold · 0 overdue calls");
    assert_eq!(only_stuck.count(".more"), 0);
    let only_held = page(&browser, "/board?on_hold=true").await;
    assert_eq!(cards(&only_held), [held], "the filter finds a deal beyond the cards shown");
}

#[tokio::test]
async fn web_the_board_filters_by_owner() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let (first, second) = (app.user(Role::Member).await, app.user(Role::Member).await);
    let mut deals = Vec::new();
    for (name, am) in [("Umbrella", &first), ("Hooli", &second)] {
        let body = json!({
            "name": name, "closed_won_on": "2026-03-01", "account": {"name": name},
            "owners": {"account_manager": am.email},
        });
        let response = app.post("/api/v1/deals", &admin, body).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
        deals.push(id_of(&response.json()));
    }
    let browser = Browser::sign_in(&app, &admin).await;
    let shown = |board: &Page| -> Vec<String> {
        board.all("article.deal-card").iter().filter_map(|c| c.attr("data-deal-id").map(str::to_owned)).collect()
    };

    assert_eq!(shown(&page(&browser, "/board").await).len(), 2, "without a filter every deal is shown");
    for (owner, deal) in [(&first, deals[0]), (&second, deals[1])] {
        let board = page(&browser, &format!("/board?owner={}", encode(&owner.email))).await;
        assert_eq!(shown(&board), [deal.to_string()], "only {}'s deal", owner.email);
        let selected = board.one("select#owner option[selected]");
        assert_eq!(selected.attr("value"), Some(owner.email.as_str()), "the filter shows who is chosen");
    }
}

#[tokio::test]
async fn web_the_deal_page_shows_the_checklist_forms_and_timeline() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let deal = app.create_deal(&member, "Acme rollout").await;
    let criteria = criteria_of(&app.deal(&member, deal).await);
    let html = page(&Browser::sign_in(&app, &member).await, &format!("/deals/{deal}")).await;

    assert_eq!(html.text_of("h1.deal-name"), "Acme rollout");
    assert_eq!(html.one("#deal-stage").attr("data-stage"), Some("closed_won"));
    let items = html.all("ul#checklist > li.criterion");
    assert_eq!(items.len(), criteria.len(), "one item per criterion of the stage");
    for (item, criterion) in items.iter().zip(&criteria) {
        let id = id_of(criterion).to_string();
        assert_eq!(item.attr("data-criterion-id"), Some(id.as_str()));
        assert_eq!(item.attr("data-required"), Some(criterion["required"].to_string().as_str()));
        assert_eq!(item.attr("data-met"), Some("false"));
        assert!(item.text.contains(criterion["text"].as_str().expect("text")), "the item shows the wording");
        let form = html.form(&format!("li.criterion[data-criterion-id=\"{id}\"] form.evidence-form"));
        assert_eq!(form.action, format!("/deals/{deal}/evidence"));
        assert_eq!(form.value("criterion_id"), Some(id.as_str()));
    }
    assert_eq!(html.count("form.evidence-form"), criteria.len(), "one evidence form per unmet criterion");
    assert_eq!(html.form("form#advance-form").action, format!("/deals/{deal}/advance"));
    let timeline = html.all("ol#timeline > li");
    assert_eq!(timeline.len(), 1, "the timeline starts with the win");
    assert!(timeline[0].text.contains("Won"), "{}", timeline[0].text);
}

#[tokio::test]
async fn web_recording_evidence_through_the_form_meets_the_criterion() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let deal = app.create_deal(&member, "Acme rollout").await;
    let criterion = &criteria_of(&app.deal(&member, deal).await)[0];
    let id = id_of(criterion);
    let browser = Browser::sign_in(&app, &member).await;
    let before = page(&browser, &format!("/deals/{deal}")).await;
    let audit_before = TableDump::of(&app).await.rows("audit_entries");
    app.clock.advance(chrono::Duration::hours(2));

    let form = before
        .form(&format!("li.criterion[data-criterion-id=\"{id}\"] form.evidence-form"))
        .set("note", "Signed order form attached to the customer's email")
        .set("url", "https://mail.example.com/messages/7")
        .set("confirmed_by", "Dana Customer")
        .set("confirmed_on", "2026-03-01");
    let posted = browser.submit(&form).await;
    posted.assert_redirect_to(&format!("/deals/{deal}?done=evidence"));
    let after = browser.follow(&posted).await;

    assert_eq!(after.one(&format!("li.criterion[data-criterion-id=\"{id}\"]")).attr("data-met"), Some("true"));
    assert_eq!(after.count("form.evidence-form"), before.count("form.evidence-form") - 1, "its form is gone");
    assert!(after.text_of(".notice.notice-success").contains("Evidence recorded"));
    let timeline = after.all("ol#timeline > li");
    assert_eq!(timeline.len(), 2, "the evidence joins the timeline");
    let text = criterion["text"].as_str().expect("text");
    assert!(timeline[0].text.contains(text) && timeline[0].text.contains("Dana Customer"), "{}", timeline[0].text);
    assert_eq!(TableDump::of(&app).await.rows("audit_entries"), audit_before + 1, "the change is audited");
}

#[tokio::test]
async fn web_advancing_without_evidence_lists_what_is_missing_and_keeps_the_stage() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let deal = app.create_deal(&member, "Acme rollout").await;
    let criteria = criteria_of(&app.deal(&member, deal).await);
    let browser = Browser::sign_in(&app, &member).await;
    let form = page(&browser, &format!("/deals/{deal}")).await.form("form#advance-form");

    let refused = browser.refused(&form, StatusCode::UNPROCESSABLE_ENTITY, "cannot advance").await;
    let notice = refused.text_of(".notice.notice-error");
    for criterion in criteria.iter().filter(|c| c["required"] == json!(true)) {
        assert!(notice.contains(criterion["text"].as_str().expect("text")), "the notice names {criterion}: {notice}");
    }
    assert_eq!(refused.one("#deal-stage").attr("data-stage"), Some("closed_won"));
}

#[tokio::test]
async fn web_advancing_with_evidence_moves_the_deal_to_handoff() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let deal = app.create_deal(&member, "Acme rollout").await;
    app.meet_exit_criteria(&member, deal).await;
    let browser = Browser::sign_in(&app, &member).await;
    let form = page(&browser, &format!("/deals/{deal}")).await.form("form#advance-form");

    let moved = browser.submit(&form).await;
    moved.assert_redirect_to(&format!("/deals/{deal}?done=advanced"));
    let after = browser.follow(&moved).await;
    assert_eq!(after.one("#deal-stage").attr("data-stage"), Some("handoff"));
    assert!(after.text_of(".notice.notice-success").contains("next stage"));
    assert!(
        after.all("ol#timeline > li").iter().any(|i| i.text.contains("Advanced to")),
        "the move is on the timeline"
    );
    assert_eq!(app.deal(&member, deal).await["stage"], "handoff");
}

/// Enters a deal through the new-deal form; returns its id.
async fn enter_deal(browser: &Browser<'_>, name: &str, account: &str) -> i32 {
    let form =
        page(browser, "/deals/new").await.form("form#new-deal-form").set("name", name).set("account_name", account);
    let created = browser.submit(&form).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
    id_in(created.location(), "/deals/")
}

#[tokio::test]
async fn web_user_text_with_script_tags_is_shown_as_text() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let browser = Browser::sign_in(&app, &admin).await;
    let deal = enter_deal(&browser, PAYLOAD, PAYLOAD).await;
    let deal_path = format!("/deals/{deal}");
    let deal_page = page(&browser, &deal_path).await;
    let evidence = deal_page
        .form("ul#checklist > li.criterion:first-child form.evidence-form")
        .set("note", PAYLOAD)
        .set("confirmed_by", PAYLOAD);
    assert_eq!(browser.submit(&evidence).await.status, StatusCode::SEE_OTHER);
    let hold = page(&browser, &deal_path).await.form("form#hold-form").set("reason", PAYLOAD);
    assert_eq!(browser.submit(&hold).await.status, StatusCode::SEE_OTHER);
    let account =
        id_in(page(&browser, &deal_path).await.one(".crumbs a[href^='/accounts/']").attr("href"), "/accounts/");
    let account_path = format!("/accounts/{account}");
    let contact = page(&browser, &account_path)
        .await
        .form("form#contact-form")
        .set("name", PAYLOAD)
        .set("email", "dana@customer.example");
    assert_eq!(browser.submit(&contact).await.status, StatusCode::SEE_OTHER);
    let user = page(&browser, "/settings/users")
        .await
        .form("form#add-user-form")
        .set("email", "script@team.example")
        .set("name", PAYLOAD)
        .set("password", "a-long-password");
    assert_eq!(browser.submit(&user).await.status, StatusCode::SEE_OTHER);
    let criterion = page(&browser, "/settings/pipeline")
        .await
        .form("section.stage-settings[data-stage=handoff] form.add-criterion")
        .set("text", PAYLOAD);
    assert_eq!(browser.submit(&criterion).await.status, StatusCode::SEE_OTHER);

    // Where each piece of user text shows, as text.
    let places = [
        ("/board", "article.deal-card a.deal-link"),
        ("/board", "article.deal-card .deal-sub"),
        (deal_path.as_str(), "h1.deal-name"),
        (deal_path.as_str(), "li.criterion .evidence .note"),
        (deal_path.as_str(), ".stage-time .badge-on-hold"),
        ("/accounts", "table.data tbody th a"),
        (account_path.as_str(), "h1"),
        (account_path.as_str(), "table.data tbody td:first-child"),
        ("/board", "select#owner option"),
        ("/settings/users", "table.data tbody th"),
        ("/settings/audit", "table.data tbody td"),
    ];
    for (path, css) in places {
        let html = page(&browser, path).await;
        assert_eq!(html.count("script"), 0, "{path}: user text became a <script> element");
        assert!(html.all(css).iter().any(|n| n.text.contains(PAYLOAD)), "{path}: {css} shows the text as typed");
    }
    let board = page(&browser, "/board").await;
    assert_eq!(board.one("article.deal-card .badge-on-hold").attr("title"), Some(PAYLOAD), "the hold reason");
    let settings = page(&browser, "/settings/pipeline").await;
    assert_eq!(settings.count("script"), 0, "the pipeline settings: a criterion became a <script> element");
    let wordings = settings.all("section.stage-settings[data-stage=handoff] ol.criteria-settings input[name=text]");
    assert_eq!(wordings.last().and_then(|n| n.attr("value")), Some(PAYLOAD), "the criterion's wording as typed");
    let timeline = page(&browser, &deal_path).await.text_of("ol#timeline");
    assert_eq!(timeline.matches(PAYLOAD).count(), 3, "the note, who confirmed it and the hold reason: {timeline}");
}

#[tokio::test]
async fn web_accounts_list_account_page_and_adding_a_contact() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let deal = app.create_deal(&member, "Globex").await;
    let account = app.deal(&member, deal).await["account"]["id"].as_i64().expect("an account id");
    let browser = Browser::sign_in(&app, &member).await;

    let list = page(&browser, "/accounts").await;
    assert_eq!(list.one(&format!("table.data th a[href=\"/accounts/{account}\"]")).text, "Globex Inc.");
    let path = format!("/accounts/{account}");
    let shown = page(&browser, &path).await;
    assert_eq!(shown.text_of("main h1"), "Globex Inc.");
    assert_eq!(shown.one(&format!("a[href=\"/deals/{deal}\"]")).text, "Globex");

    // A contact without an email is refused and the form keeps what was typed.
    let form = shown.form("form#contact-form").set("name", "Dana Scully").set("role", "CFO").set("language", "en");
    let contacts = TableDump::of(&app).await.rows("contacts");
    let refused = browser.refused(&form, StatusCode::UNPROCESSABLE_ENTITY, "Email").await;
    assert_eq!(refused.form("form#contact-form").value("name"), Some("Dana Scully"));

    let added = browser.submit(&form.set("email", "dana@globex.example")).await;
    added.assert_redirect_to(&format!("{path}?done=contact"));
    let after = browser.follow(&added).await;
    assert!(after.text_of(".notice.notice-success").contains("Contact added"));
    let row =
        after.all("table.data tbody tr").into_iter().find(|r| r.text.contains("Dana Scully")).expect("the contact");
    assert!(row.text.contains("dana@globex.example") && row.text.contains("CFO"), "{}", row.text);
    assert_eq!(TableDump::of(&app).await.rows("contacts"), contacts + 1);
    assert!(page(&browser, "/accounts").await.text().contains("Dana Scully"), "the list shows the contact");
}

#[tokio::test]
async fn web_settings_pages_render_for_managers_and_admins() {
    let app = TestApp::new().await;
    let manager = app.user(Role::Manager).await;
    let admin = app.user(Role::Admin).await;
    let stages = app.get("/api/v1/stages", &manager).await.json();

    let manager_browser = Browser::sign_in(&app, &manager).await;
    manager_browser.get("/settings").await.assert_redirect_to("/settings/pipeline");
    let pipeline = page(&manager_browser, "/settings/pipeline").await;
    for stage in stages.as_array().expect("stages") {
        let key = stage["key"].as_str().expect("a key");
        let section = format!("section.stage-settings[data-stage={key}]");
        let form = pipeline.form(&format!("{section} > form[action=\"/settings/stages/{key}\"]"));
        assert_eq!(form.value("name"), stage["name"].as_str(), "the stage's name is filled in");
        let criteria = stage["criteria"].as_array().expect("criteria");
        let wordings: Vec<String> = pipeline
            .all(&format!("{section} ol.criteria-settings input[name=text]"))
            .iter()
            .filter_map(|n| n.attr("value").map(str::to_owned))
            .collect();
        let expected: Vec<&str> = criteria.iter().filter_map(|c| c["text"].as_str()).collect();
        assert_eq!(wordings, expected, "{key}: the criteria, in order");
        pipeline.form(&format!("{section} form.add-criterion"));
    }
    assert_eq!(pipeline.count("nav a[href=\"/settings/users\"]"), 0, "users are for admins");

    let admin_browser = Browser::sign_in(&app, &admin).await;
    let users = page(&admin_browser, "/settings/users").await;
    for user in [&manager, &admin] {
        assert!(users.all("table.data tbody td").iter().any(|td| td.text == user.email), "{} is listed", user.email);
    }
    users.form("form#add-user-form");
    users.form("form#token-form");
    let tokens = TableDump::of(&app).await.rows("api_tokens");
    assert_eq!(
        users.count("form[action^=\"/settings/tokens/\"][action$=\"/revoke\"]"),
        tokens,
        "a revoke button per token"
    );
    assert_eq!(page(&admin_browser, "/settings/audit").await.text_of("main h1"), "Audit log");
}

#[tokio::test]
async fn web_an_admin_adding_a_user_without_a_password_sees_it_once() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let browser = Browser::sign_in(&app, &admin).await;
    let form = page(&browser, "/settings/users")
        .await
        .form("form#add-user-form")
        .set("email", "new.lead@team.example")
        .set("name", "New Lead")
        .set("role", "member")
        .set("password", "");

    let shown = browser.submit(&form).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.html);
    assert!(shown.text_of(".secret").contains("new.lead@team.example"), "the secret says whose it is");
    let password = shown.text_of("#secret-value");
    assert!(password.len() >= 10, "a generated password: {password:?}");

    let again = page(&browser, "/settings/users").await;
    assert_eq!(again.count("#secret-value"), 0, "shown only once");
    assert!(!again.html.contains(&password), "the password is not on the page any more");
    let new_user = TestUser { id: 0, email: "new.lead@team.example".into(), password, token: String::new() };
    let signed_in = Browser::sign_in(&app, &new_user).await;
    assert_eq!(page(&signed_in, "/board").await.text_of(".whoami .user-name"), "New Lead");
}

#[tokio::test]
async fn web_an_api_token_created_in_the_ui_works_until_it_is_revoked() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let member = app.user(Role::Member).await;
    let browser = Browser::sign_in(&app, &admin).await;
    let form = page(&browser, "/settings/users")
        .await
        .form("form#token-form")
        .set("email", &member.email)
        .set("name", "CRM sync");

    let shown = browser.submit(&form).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.html);
    let secret = shown.text_of("#secret-value");
    let stages = |token: String| {
        let app = &app;
        async move { app.request(axum::http::Method::GET, "/api/v1/stages", Some(&token), None).await.status }
    };
    assert_eq!(stages(secret.clone()).await, StatusCode::OK, "the new token works");

    let listed = page(&browser, "/settings/users").await;
    assert!(!listed.html.contains(&secret), "the token is shown only once");
    let row = api_token::Entity::find()
        .filter(api_token::Column::Name.eq("CRM sync"))
        .one(&app.state.db)
        .await
        .expect("reading tokens")
        .expect("the token's row");
    assert_eq!(row.user_id, member.id, "the token is the member's");
    let revoke = listed.form(&format!("form[action=\"/settings/tokens/{}/revoke\"]", row.id));
    let revoked = browser.submit(&revoke).await;
    revoked.assert_redirect_to("/settings/users?done=revoked");
    let after = browser.follow(&revoked).await;
    assert!(after.text_of(".notice.notice-success").contains("revoked"));
    assert_eq!(after.count(&format!("form[action=\"/settings/tokens/{}/revoke\"]", row.id)), 0);
    assert_eq!(stages(secret).await, StatusCode::UNAUTHORIZED, "a revoked token no longer works");
}

#[tokio::test]
async fn web_bad_evidence_is_refused_with_the_field_named_and_nothing_saved() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let deal = app.create_deal(&member, "Acme rollout").await;
    let browser = Browser::sign_in(&app, &member).await;
    let form = page(&browser, &format!("/deals/{deal}"))
        .await
        .form("ul#checklist > li.criterion:first-child form.evidence-form")
        .set("note", "Customer confirmed")
        .set("confirmed_by", "Dana Customer")
        .set("confirmed_on", "2026-03-01");
    let cases = [
        ("neither a note nor a link", form.clone().set("note", "").set("url", ""), "Note"),
        ("nobody confirmed it", form.clone().set("confirmed_by", " "), "Confirmed by"),
        ("a date in the future", form.clone().set("confirmed_on", "2026-03-03"), "Confirmed on"),
        ("a date in another format", form.clone().set("confirmed_on", "01/03/2026"), "Confirmed on"),
        ("a script link", form.clone().set("url", "javascript:alert(1)"), "Url"),
    ];
    for (case, bad, field) in cases {
        let refused = browser.refused(&bad, StatusCode::UNPROCESSABLE_ENTITY, field).await;
        assert_eq!(refused.one("#deal-stage").attr("data-stage"), Some("closed_won"), "{case}: the deal page again");
    }
}

#[tokio::test]
async fn web_entering_a_deal_through_the_form() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let browser = Browser::sign_in(&app, &member).await;
    let form = page(&browser, "/deals/new").await.form("form#new-deal-form");
    assert_eq!(form.value("closed_won_on"), Some("2026-03-02"), "today is filled in");

    let incomplete = form.clone().set("name", "Wayne Enterprises rollout").set("amount", "lots");
    let refused = browser.refused(&incomplete, StatusCode::UNPROCESSABLE_ENTITY, "Amount").await;
    assert_eq!(
        refused.form("form#new-deal-form").value("name"),
        Some("Wayne Enterprises rollout"),
        "what was typed stays"
    );

    let complete = incomplete
        .set("amount", "24,000")
        .set("account_name", "Wayne Enterprises")
        .set("account_manager", &member.email)
        .set("contact_name", "Lucius Fox")
        .set("contact_email", "lucius@wayne.example");
    let created = browser.submit(&complete).await;
    let id = id_in(created.location(), "/deals/");
    created.assert_redirect_to(&format!("/deals/{id}?done=created"));
    let shown = browser.follow(&created).await;
    assert_eq!(shown.text_of("h1.deal-name"), "Wayne Enterprises rollout");
    assert!(shown.text_of(".notice.notice-success").contains("pipeline"));
    assert!(shown.text_of("#contacts-heading + ul").contains("Lucius Fox"), "the contact is on the deal");
    let board = page(&browser, &format!("/board?owner={}", encode(&member.email))).await;
    assert_eq!(
        board.count(&format!("section.stage-column[data-stage=closed_won] article.deal-card[data-deal-id=\"{id}\"]")),
        1
    );
}

#[tokio::test]
async fn web_holding_resuming_and_moving_back_through_the_deal_page() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let deal = app.deal_in_stage(&member, "Acme rollout", "handoff").await;
    let path = format!("/deals/{deal}");
    let browser = Browser::sign_in(&app, &member).await;

    let held = browser
        .submit(&page(&browser, &path).await.form("form#hold-form").set("reason", "Waiting on customer's IT"))
        .await;
    held.assert_redirect_to(&format!("{path}?done=held"));
    let on_hold = browser.follow(&held).await;
    assert!(on_hold.text_of(".stage-time .badge-on-hold").contains("Waiting on customer's IT"));
    assert_eq!(on_hold.count("form#hold-form"), 0, "no second hold");
    let board = page(&browser, "/board").await;
    assert_eq!(
        board.count(&format!("article.deal-card[data-deal-id=\"{deal}\"] .badge-on-hold")),
        1,
        "the card says so"
    );

    let resumed = browser.submit(&on_hold.form("form#resume-form")).await;
    resumed.assert_redirect_to(&format!("{path}?done=resumed"));
    let active = browser.follow(&resumed).await;
    assert_eq!(active.count(".badge-on-hold"), 0);
    // A second resume from the stale page is refused with a reason.
    browser.refused(&on_hold.form("form#resume-form"), StatusCode::CONFLICT, "not on hold").await;

    // A move back needs a reason.
    let back = active.form("form#move-back-form");
    browser.refused(&back, StatusCode::UNPROCESSABLE_ENTITY, "Reason").await;
    let moved = browser.submit(&back.set("reason", "Kickoff was cancelled by the customer")).await;
    moved.assert_redirect_to(&format!("{path}?done=moved_back"));
    let after = browser.follow(&moved).await;
    assert_eq!(after.one("#deal-stage").attr("data-stage"), Some("closed_won"));
    assert_eq!(after.count("form#move-back-form"), 0, "the first stage has nowhere to go back to");
    let newest =
        after.all("ol#timeline > li").into_iter().find(|i| i.text.contains("Moved back")).expect("the move back");
    assert!(newest.text.contains("Kickoff was cancelled by the customer"), "{}", newest.text);
}

#[tokio::test]
async fn web_changing_owners_and_the_next_call_through_the_form() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let lead = app.user(Role::Manager).await;
    let deal = app.create_deal(&member, "Acme rollout").await;
    let path = format!("/deals/{deal}");
    let browser = Browser::sign_in(&app, &member).await;
    let form = page(&browser, &path)
        .await
        .form("form#owners-form")
        .set("account_manager", &member.email)
        .set("implementation_lead", &lead.email)
        .set("next_call_at", "2026-03-01T10:30")
        .set("next_call_lead", &lead.email);

    let saved = browser.submit(&form).await;
    saved.assert_redirect_to(&format!("{path}?done=updated"));
    let shown = browser.follow(&saved).await;
    let facts = shown.text_of("dl.facts");
    assert!(facts.contains("Test member") && facts.contains("Test manager"), "{facts}");
    assert_eq!(shown.count("dl.facts .badge-overdue"), 1, "a call in the past is overdue");
    let again = shown.form("form#owners-form");
    assert_eq!(again.value("next_call_at"), Some("2026-03-01T10:30"), "the form shows the saved call");
    assert_eq!(again.value("implementation_lead"), Some(lead.email.as_str()));
    let board = page(&browser, "/board").await;
    assert_eq!(board.count(&format!("article.deal-card[data-deal-id=\"{deal}\"] .badge-overdue")), 1);

    browser.refused(&again.set("next_call_at", "next tuesday"), StatusCode::UNPROCESSABLE_ENTITY, "Next call at").await;
}
