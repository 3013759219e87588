//! Who may do what in the web UI, and what protects the forms: every
//! state-changing form needs the session's CSRF token, pages need a session
//! (otherwise: the login page, remembering where the user was going), each
//! role gets exactly its forms, and a refused form changes nothing.

use aftercare::auth::Role;
use axum::http::StatusCode;
use entity::api_token;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::helpers::{TestApp, TestUser};
use crate::web_client::{Browser, Form, Page, TableDump, encode};

/// Deals, a criterion, a user and a token for every form to act on.
struct Fixture {
    owner: TestUser,
    /// A deal in handoff whose exit criteria are met.
    ready: i32,
    /// A deal on hold.
    held: i32,
    /// An optional criterion of handoff (no evidence yet).
    optional: i32,
    /// The account of `ready`.
    account: i32,
    /// The first criterion of `implementing` (not the last, so it can move down).
    criterion: i32,
    /// A viewer to change, with a token to revoke.
    target: TestUser,
    target_token: i32,
}

async fn fixture(app: &TestApp) -> Fixture {
    let owner = app.user(Role::Member).await;
    let ready = app.deal_in_stage(&owner, "Ready deal", "handoff").await;
    app.meet_exit_criteria(&owner, ready).await;
    let held = app.create_deal(&owner, "Held deal").await;
    let response = app.post(&format!("/api/v1/deals/{held}/hold"), &owner, json!({"reason": "Waiting on IT"})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let account =
        i32::try_from(app.deal(&owner, ready).await["account"]["id"].as_i64().expect("an account")).expect("small");
    let target = app.user(Role::Viewer).await;
    let target_token = api_token::Entity::find()
        .filter(api_token::Column::UserId.eq(target.id))
        .one(&app.state.db)
        .await
        .expect("reading tokens")
        .expect("the viewer's token")
        .id;
    Fixture {
        optional: app.optional_criteria("handoff").await[0],
        criterion: app.required_criteria("implementing").await[0],
        owner,
        ready,
        held,
        account,
        target,
        target_token,
    }
}

/// A state-changing form post, the least role that may send it, and the
/// status it gets when it succeeds.
struct FormCall {
    form: Form,
    needs: Role,
    success: StatusCode,
}

impl FormCall {
    fn new(action: String, fields: &[(&str, &str)], needs: Role) -> Self {
        Self { form: Form::new(action, fields), needs, success: StatusCode::SEE_OTHER }
    }

    fn label(&self) -> String {
        format!("POST {}", self.form.action)
    }
}

impl Fixture {
    /// Every state-changing web form with valid fields, in an order in which
    /// each succeeds for an admin (signing out last).
    fn calls(&self) -> Vec<FormCall> {
        let deal = format!("/deals/{}", self.ready);
        let (optional, criterion) = (self.optional.to_string(), self.criterion.to_string());
        let evidence = [
            ("criterion_id", optional.as_str()),
            ("note", "Customer sent their IT contact"),
            ("confirmed_by", "Dana Customer"),
            ("confirmed_on", "2026-03-01"),
        ];
        let new_user = [
            ("email", "new.user@team.example"),
            ("name", "New User"),
            ("role", "viewer"),
            ("password", "a-long-password"),
        ];
        vec![
            FormCall::new(
                "/deals".into(),
                &[("name", "Web deal"), ("closed_won_on", "2026-03-01"), ("account_name", "Globex")],
                Role::Member,
            ),
            FormCall::new(format!("{deal}/evidence"), &evidence, Role::Member),
            FormCall::new(format!("{deal}/advance"), &[], Role::Member),
            FormCall::new(format!("{deal}/move-back"), &[("reason", "UAT reopened")], Role::Member),
            FormCall::new(format!("{deal}/hold"), &[("reason", "Customer on holiday")], Role::Member),
            FormCall::new(format!("/deals/{}/resume", self.held), &[], Role::Member),
            FormCall::new(
                format!("{deal}/owners"),
                &[("account_manager", &self.owner.email), ("next_call_at", "2026-03-04T10:00")],
                Role::Member,
            ),
            FormCall::new(
                format!("/accounts/{}/contacts", self.account),
                &[("name", "Dana"), ("email", "dana@customer.example")],
                Role::Member,
            ),
            FormCall::new(
                "/settings/stages/handoff".into(),
                &[("name", "Customer met the team"), ("sla_days", "21")],
                Role::Manager,
            ),
            FormCall::new(
                "/settings/stages/handoff/criteria".into(),
                &[("text", "Customer booked training"), ("required", "true")],
                Role::Manager,
            ),
            FormCall::new(
                format!("/settings/criteria/{criterion}"),
                &[("text", "Customer finished UAT"), ("required", "true")],
                Role::Manager,
            ),
            FormCall::new(format!("/settings/criteria/{criterion}/move"), &[("direction", "down")], Role::Manager),
            FormCall::new(format!("/settings/criteria/{criterion}/retire"), &[], Role::Manager),
            FormCall::new("/settings/users".into(), &new_user, Role::Admin),
            FormCall::new(
                format!("/settings/users/{}", self.target.id),
                &[("role", "member"), ("active", "true")],
                Role::Admin,
            ),
            FormCall {
                success: StatusCode::OK,
                ..FormCall::new(
                    "/settings/tokens".into(),
                    &[("email", &self.target.email), ("name", "Zapier")],
                    Role::Admin,
                )
            },
            FormCall::new(format!("/settings/tokens/{}/revoke", self.target_token), &[], Role::Admin),
            FormCall {
                success: StatusCode::OK,
                ..FormCall::new("/settings/webhooks/sources".into(), &[("name", "hubspot")], Role::Admin)
            },
            FormCall::new("/settings/webhooks/sources/1/revoke".into(), &[], Role::Admin),
            FormCall {
                success: StatusCode::OK,
                ..FormCall::new(
                    "/settings/webhooks/endpoints".into(),
                    &[("url", "https://hooks.example.com/aftercare"), ("event:deal.live", "true")],
                    Role::Admin,
                )
            },
            FormCall::new("/settings/webhooks/endpoints/1/pause".into(), &[], Role::Admin),
            FormCall::new(
                "/profile/digest".into(),
                &[("time_zone", "Europe/Amsterdam"), ("language", "nl"), ("digest_frequency", "daily")],
                Role::Viewer,
            ),
            FormCall::new("/logout".into(), &[], Role::Viewer),
        ]
    }
}

/// Whether the session behind `browser` still opens pages.
async fn signed_in(browser: &Browser<'_>) -> bool {
    browser.get("/board").await.status == StatusCode::OK
}

#[tokio::test]
async fn web_form_posts_without_the_right_csrf_token_are_refused_and_change_nothing() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let admin = app.user(Role::Admin).await;
    let browser = Browser::sign_in(&app, &admin).await;
    let other_session = Browser::sign_in(&app, &admin).await.csrf().await;
    let own = browser.csrf().await;
    assert_ne!(own, other_session, "each session has its own token");

    for call in f.calls() {
        let tokens = [
            ("no token", None),
            ("an empty token", Some("")),
            ("a wrong token", Some("0123456789abcdef")),
            ("another session's token", Some(other_session.as_str())),
        ];
        for (case, token) in tokens {
            let form = match token {
                Some(token) => call.form.clone().set("csrf", token),
                None => call.form.clone(),
            };
            // The notice tells the user what to do.
            let refused = browser.refused(&form, StatusCode::FORBIDDEN, "reload the page").await;
            assert_eq!(refused.count("input[name=csrf]"), 1, "{} with {case}: still signed in", call.label());
        }
    }
    assert!(signed_in(&browser).await, "a sign-out without the token does not end the session");
}

/// The pages that need a session, with the least role that may open them.
fn pages(f: &Fixture) -> Vec<(String, Role)> {
    vec![
        ("/board".into(), Role::Viewer),
        (format!("/board?owner={}&stuck=true", encode(&f.owner.email)), Role::Viewer),
        (format!("/deals/{}", f.ready), Role::Viewer),
        ("/deals/new".into(), Role::Member),
        ("/accounts".into(), Role::Viewer),
        (format!("/accounts/{}", f.account), Role::Viewer),
        ("/settings/pipeline".into(), Role::Manager),
        ("/settings/audit".into(), Role::Manager),
        ("/settings/users".into(), Role::Admin),
    ]
}

/// A session cookie no session has.
const STALE_COOKIE: &str = "00000000000000000000000000000000000000000000000000000000000000ff";

#[tokio::test]
async fn web_pages_without_a_session_send_the_user_to_sign_in_and_back() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let admin = app.user(Role::Admin).await;

    for (path, _) in pages(&f) {
        let login = format!("/login?next={}", encode(&path));
        for browser in [Browser::anonymous(&app), Browser::with_cookie(&app, STALE_COOKIE)] {
            let page = browser.get(&path).await;
            page.assert_redirect_to(&login);
            let form = browser.follow(&page).await.form("form#login-form");
            assert_eq!(form.value("next"), Some(path.as_str()), "the login page remembers {path}");
        }
        let anonymous = Browser::anonymous(&app);
        anonymous.log_in(&admin.email, &admin.password, Some(&path)).await.assert_redirect_to(&path);
    }
}

#[tokio::test]
async fn web_form_posts_without_a_session_go_to_the_login_page_and_change_nothing() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let anonymous = Browser::anonymous(&app);

    for call in f.calls() {
        anonymous.sent_to_sign_in(&call.form.clone().set("csrf", "0123456789abcdef")).await;
    }
}

/// Sends every form and opens every page as a user with `role`: what the
/// role allows succeeds and is audited, the rest is refused with 403 and
/// changes nothing.
async fn check_role(role: Role) {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let user = app.user(role).await;
    let browser = Browser::sign_in(&app, &user).await;
    let csrf = browser.csrf().await;

    for (path, needs) in pages(&f) {
        let expected = if role >= needs { StatusCode::OK } else { StatusCode::FORBIDDEN };
        let page = browser.get(&path).await;
        assert_eq!(page.status, expected, "{role} GET {path}:\n{}", page.html);
    }
    let deal = browser.get(&format!("/deals/{}", f.ready)).await;
    let controls =
        ["form#advance-form", "form#hold-form", "form#move-back-form", "form#owners-form", "form.evidence-form"];
    for control in controls {
        assert_eq!(deal.count(control) > 0, role >= Role::Member, "{role} sees {control} on the deal page");
    }

    for call in f.calls() {
        let form = call.form.clone().set("csrf", &csrf);
        if role < call.needs {
            // The notice says why.
            browser.refused(&form, StatusCode::FORBIDDEN, "role").await;
            continue;
        }
        let before = TableDump::of(&app).await;
        let page = browser.submit(&form).await;
        assert_eq!(page.status, call.success, "{role} {}:\n{}", call.label(), page.html);
        if call.form.action == "/logout" {
            page.assert_redirect_to("/login");
            assert!(!signed_in(&browser).await, "{role}: signing out ends the session");
        } else {
            let after = TableDump::of(&app).await;
            let audited = after.rows("audit_entries");
            assert_eq!(audited, before.rows("audit_entries") + 1, "{role} {}: one audit entry", call.label());
        }
    }
}

#[tokio::test]
async fn web_a_viewer_reads_but_every_form_is_refused() {
    check_role(Role::Viewer).await;
}

#[tokio::test]
async fn web_a_member_moves_deals_but_not_settings_users_or_tokens() {
    check_role(Role::Member).await;
}

#[tokio::test]
async fn web_a_manager_changes_the_pipeline_but_not_users_or_tokens() {
    check_role(Role::Manager).await;
}

#[tokio::test]
async fn web_an_admin_may_send_every_form() {
    check_role(Role::Admin).await;
}

/// The settings page's forms of the stage `key`.
fn stage_section(key: &str) -> String {
    format!("section.stage-settings[data-stage={key}]")
}

/// The criteria wordings of the stage `key`, as the settings page lists them.
fn wordings(page: &Page, key: &str) -> Vec<String> {
    page.all(&format!("{} ol.criteria-settings input[name=text]", stage_section(key)))
        .iter()
        .filter_map(|n| n.attr("value").map(str::to_owned))
        .collect()
}

/// Submits a form of the pipeline settings page; expects to be sent back
/// to it with a success notice, and returns that page.
async fn save_setting(browser: &Browser<'_>, form: &Form) -> Page {
    let saved = browser.submit(form).await;
    saved.assert_redirect_to("/settings/pipeline?done=saved");
    let page = browser.follow(&saved).await;
    assert!(page.text_of(".notice.notice-success").contains("saved"), "{}", form.action);
    page
}

#[tokio::test]
async fn web_a_manager_renames_stages_and_edits_criteria_without_losing_evidence() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let manager = app.user(Role::Manager).await;
    let deal = app.create_deal(&member, "Acme rollout").await;
    let retired = app.required_criteria("closed_won").await[0];
    app.record_evidence_for(&member, deal, &[retired]).await;
    let view = app.deal(&member, deal).await;
    let criteria = view["criteria"].as_array().expect("criteria");
    let retired_text = criteria.iter().find(|c| c["id"] == json!(retired)).expect("the criterion")["text"].clone();
    let retired_text = retired_text.as_str().expect("text").to_owned();
    let browser = Browser::sign_in(&app, &manager).await;
    let settings = browser.get("/settings/pipeline").await;
    let section = stage_section("handoff");

    // Rename the stage and change its time target.
    let stage = settings
        .form(&format!("{section} form[action=\"/settings/stages/handoff\"]"))
        .set("name", "Customer met the whole team")
        .set("sla_days", "21");
    save_setting(&browser, &stage).await;
    let board = browser.get("/board").await;
    assert_eq!(board.text_of("section.stage-column[data-stage=handoff] h2"), "Customer met the whole team");
    let stages = app.get("/api/v1/stages", &manager).await.json();
    assert_eq!(stages[1]["sla_days"], json!(21));

    // A bad time target is refused, naming the field, and changes nothing.
    browser.refused(&stage.clone().set("sla_days", "soon"), StatusCode::UNPROCESSABLE_ENTITY, "Sla days").await;

    // Add a criterion, reword it, move it up, all through the page's forms.
    let original = wordings(&settings, "handoff");
    let add = settings.form(&format!("{section} form.add-criterion")).set("text", "Customer booked admin training");
    let page = save_setting(&browser, &add).await;
    let mut expected = original.clone();
    expected.push("Customer booked admin training".into());
    assert_eq!(wordings(&page, "handoff"), expected, "added at the end");

    let added = *app.required_criteria("handoff").await.iter().max().expect("criteria");
    let reword = page
        .form(&format!("form[action=\"/settings/criteria/{added}\"]"))
        .set("text", "Customer's admins booked training");
    let page = save_setting(&browser, &reword).await;
    *expected.last_mut().expect("the new one") = "Customer's admins booked training".into();
    assert_eq!(wordings(&page, "handoff"), expected, "reworded in place");

    let moves = page.forms(&format!("form[action=\"/settings/criteria/{added}/move\"]"));
    let move_up = moves.iter().find(|f| f.value("direction") == Some("up")).expect("a move-up form");
    let page = save_setting(&browser, move_up).await;
    let last = expected.len() - 1;
    expected.swap(last - 1, last);
    assert_eq!(wordings(&page, "handoff"), expected, "moved up one place");

    // Retire a criterion that has evidence: the evidence stays.
    let evidence_before = TableDump::of(&app).await.rows("evidence");
    let retire = page.form(&format!("form[action=\"/settings/criteria/{retired}/retire\"]"));
    let page = save_setting(&browser, &retire).await;
    assert!(!wordings(&page, "closed_won").contains(&retired_text), "no longer a criterion");
    assert!(
        page.text_of(&format!("{} details", stage_section("closed_won"))).contains(&retired_text),
        "listed as retired"
    );
    assert_eq!(TableDump::of(&app).await.rows("evidence"), evidence_before, "retiring deletes no evidence");
    let view = app.deal(&member, deal).await;
    assert!(view["evidence_history"].as_array().expect("history").iter().any(|e| e["criterion_id"] == json!(retired)));
    let deal_page = browser.get(&format!("/deals/{deal}")).await;
    assert_eq!(deal_page.count(&format!("li.criterion[data-criterion-id=\"{retired}\"]")), 0, "off the checklist");
    assert!(deal_page.text_of("ol#timeline").contains(&retired_text), "the evidence stays on the timeline");
}

/// The form of the users page that changes the user `id`.
fn user_form(page: &Page, id: i32) -> Form {
    page.form(&format!("form[action=\"/settings/users/{id}\"]"))
}

#[tokio::test]
async fn web_an_admin_cannot_deactivate_or_demote_themselves() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let browser = Browser::sign_in(&app, &admin).await;
    let users = browser.get("/settings/users").await;
    let own = user_form(&users, admin.id);
    assert_eq!(own.value("active"), Some("true"), "the admin is active");

    for (case, form) in
        [("deactivating", own.clone().without("active")), ("demoting", own.clone().set("role", "viewer"))]
    {
        browser.refused(&form, StatusCode::CONFLICT, "your own").await;
        assert!(signed_in(&browser).await, "{case}: the admin is still signed in");
    }
}

#[tokio::test]
async fn web_a_deactivated_users_session_stops_working() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let member = app.user(Role::Member).await;
    let deal = app.create_deal(&member, "Acme rollout").await;
    let member_browser = Browser::sign_in(&app, &member).await;
    let hold = member_browser.get(&format!("/deals/{deal}")).await.form("form#hold-form").set("reason", "Waiting");

    let admin_browser = Browser::sign_in(&app, &admin).await;
    let users = admin_browser.get("/settings/users").await;
    let deactivated = admin_browser.submit(&user_form(&users, member.id).without("active")).await;
    deactivated.assert_redirect_to("/settings/users?done=saved");

    member_browser.get("/board").await.assert_redirect_to("/login?next=%2Fboard");
    member_browser.sent_to_sign_in(&hold).await;
    let again = Browser::anonymous(&app).log_in(&member.email, &member.password, None).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "a deactivated user cannot sign in again");
}

#[tokio::test]
async fn web_signing_out_ends_only_that_session() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let deal = app.create_deal(&member, "Acme rollout").await;
    let browser = Browser::sign_in(&app, &member).await;
    let other = Browser::sign_in(&app, &member).await;
    let deal_page = browser.get(&format!("/deals/{deal}")).await;
    let hold = deal_page.form("form#hold-form").set("reason", "Waiting");

    let out = browser.submit(&deal_page.form("form#logout-form")).await;
    out.assert_redirect_to("/login");
    let cleared = out.session_set_cookie().expect("the cookie is cleared");
    assert!(cleared.to_lowercase().contains("max-age=0"), "{cleared}");

    browser.get("/board").await.assert_redirect_to("/login?next=%2Fboard");
    browser.sent_to_sign_in(&hold).await;
    assert!(signed_in(&other).await, "the user's other session goes on");
}

#[tokio::test]
async fn web_unknown_ids_are_not_found_and_change_nothing() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let browser = Browser::sign_in(&app, &admin).await;
    let csrf = browser.csrf().await;
    for path in ["/deals/999999", "/deals/abc", "/accounts/999999", "/accounts/abc", "/no-such-page"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "GET {path}:\n{}", page.html);
        assert_eq!(page.text_of("main h1"), "Not found", "{path}");
    }
    let posts = [
        "/deals/999999/advance",
        "/deals/abc/resume",
        "/accounts/999999/contacts",
        "/settings/stages/no_such_stage",
        "/settings/criteria/999999/retire",
        "/settings/users/999999",
        "/settings/tokens/999999/revoke",
    ];
    let fields = [("name", "Dana"), ("email", "dana@customer.example"), ("sla_days", "3"), ("role", "viewer")];
    for path in posts {
        // Only the fields each route knows; unknown fields are refused first.
        let known: Vec<(&str, &str)> = match path {
            p if p.ends_with("/contacts") => fields[..2].to_vec(),
            p if p.starts_with("/settings/stages") => vec![fields[0], fields[2]],
            p if p.starts_with("/settings/users") => vec![fields[3]],
            _ => Vec::new(),
        };
        let page =
            browser.refused(&Form::new(path, &known).set("csrf", &csrf), StatusCode::NOT_FOUND, "not found").await;
        assert_eq!(page.text_of("main h1"), "Not found", "POST {path}");
    }
}
