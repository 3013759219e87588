//! A small cookie-keeping browser for the server-rendered UI: it signs in
//! through the login form, keeps the session cookie, reads pages with CSS
//! selectors and submits forms as the page rendered them (hidden CSRF field
//! included), URL-encoded like a browser without JavaScript does.
//!
//! Also: [`TableDump`], every row of every table a form can change, to show
//! that a refused form changed nothing.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Debug;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use scraper::{ElementRef, Html, Selector};
use sea_orm::{DatabaseConnection, EntityTrait};

use crate::helpers::{TestApp, TestUser};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "aftercare_session";

/// A response to a browser request, with its HTML.
#[derive(Debug)]
pub struct Page {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: axum::http::HeaderMap,
    /// The body.
    pub html: String,
}

/// An element as found on a page: its attributes and its text.
#[derive(Debug, Clone)]
pub struct Node {
    /// The attributes.
    pub attrs: BTreeMap<String, String>,
    /// The visible text, whitespace collapsed.
    pub text: String,
}

impl Node {
    fn from(element: ElementRef<'_>) -> Self {
        let attrs = element.value().attrs().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        Self { attrs, text: collapse(&element.text().collect::<String>()) }
    }

    /// The attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|e| panic!("bad selector {css:?}: {e:?}"))
}

impl Page {
    /// Every element matching `css`, in document order.
    pub fn all(&self, css: &str) -> Vec<Node> {
        Html::parse_document(&self.html).select(&selector(css)).map(Node::from).collect()
    }

    /// How many elements match `css`.
    pub fn count(&self, css: &str) -> usize {
        Html::parse_document(&self.html).select(&selector(css)).count()
    }

    /// The one element matching `css` (panics, showing the page, otherwise).
    pub fn one(&self, css: &str) -> Node {
        let mut found = self.all(css);
        assert_eq!(found.len(), 1, "expected exactly one {css:?} on the page ({}):\n{}", self.status, self.html);
        found.remove(0)
    }

    /// The text of the one element matching `css`.
    pub fn text_of(&self, css: &str) -> String {
        self.one(css).text
    }

    /// The whole page's visible text, whitespace collapsed.
    pub fn text(&self) -> String {
        let document = Html::parse_document(&self.html);
        collapse(&document.root_element().text().collect::<String>())
    }

    /// Where a redirect points.
    pub fn location(&self) -> Option<&str> {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
    }

    /// Asserts a `303 See Other` to `target`.
    pub fn assert_redirect_to(&self, target: &str) {
        assert_eq!(self.status, StatusCode::SEE_OTHER, "expected a redirect to {target}:\n{}", self.html);
        assert_eq!(self.location(), Some(target), "redirect target");
    }

    /// The `Set-Cookie` header for the session cookie, if any.
    pub fn session_set_cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{SESSION_COOKIE}=")))
            .map(str::to_owned)
    }

    /// The one form matching `css`, with the values the page filled in.
    pub fn form(&self, css: &str) -> Form {
        let mut forms = self.forms(css);
        assert_eq!(forms.len(), 1, "expected exactly one form {css:?} on the page ({}):\n{}", self.status, self.html);
        forms.remove(0)
    }

    /// Every form matching `css`, with the values the page filled in.
    pub fn forms(&self, css: &str) -> Vec<Form> {
        let document = Html::parse_document(&self.html);
        document.select(&selector(css)).map(|form| Form::rendered(form, css)).collect()
    }
}

/// A form ready to be submitted: where it posts and its fields.
#[derive(Debug, Clone)]
pub struct Form {
    /// Where it posts.
    pub action: String,
    /// Its fields, in order.
    pub fields: Vec<(String, String)>,
}

impl Form {
    /// The form `element` as a browser would submit it untouched: inputs
    /// with their values (checkboxes only when ticked), textareas, and the
    /// selected option of each select.
    fn rendered(element: ElementRef<'_>, css: &str) -> Self {
        assert_eq!(element.value().name(), "form", "{css} is a form");
        assert_eq!(element.value().attr("method").map(str::to_lowercase).as_deref(), Some("post"), "{css} posts");
        let action = element.value().attr("action").unwrap_or_else(|| panic!("{css} has an action")).to_owned();
        let mut fields = Vec::new();
        for input in element.select(&selector("input[name], textarea[name], select[name]")) {
            let field = input.value();
            let name = field.attr("name").unwrap_or_default().to_owned();
            let value = match field.name() {
                "textarea" => input.text().collect::<String>(),
                "select" => {
                    let options: Vec<_> = input.select(&selector("option")).collect();
                    let chosen = options.iter().find(|o| o.value().attr("selected").is_some()).or(options.first());
                    chosen.and_then(|o| o.value().attr("value")).unwrap_or_default().to_owned()
                }
                _ => match field.attr("type").unwrap_or("text") {
                    "checkbox" | "radio" if field.attr("checked").is_none() => continue,
                    "submit" | "button" | "reset" => continue,
                    _ => field.attr("value").unwrap_or_default().to_owned(),
                },
            };
            fields.push((name, value));
        }
        Self { action, fields }
    }

    /// A form for `action` with `fields` (no CSRF token).
    pub fn new(action: impl Into<String>, fields: &[(&str, &str)]) -> Self {
        Self { action: action.into(), fields: fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect() }
    }

    /// Sets `name` to `value` (as a user typing into the field).
    pub fn set(mut self, name: &str, value: &str) -> Self {
        match self.fields.iter_mut().find(|(k, _)| k == name) {
            Some(field) => field.1 = value.to_owned(),
            None => self.fields.push((name.to_owned(), value.to_owned())),
        }
        self
    }

    /// Removes `name` (e.g. an unticked checkbox or a dropped token).
    pub fn without(mut self, name: &str) -> Self {
        self.fields.retain(|(k, _)| k != name);
        self
    }

    /// The value of `name`, if the form has it.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn encoded(&self) -> String {
        form_urlencoded::Serializer::new(String::new()).extend_pairs(&self.fields).finish()
    }
}

/// A browser: the app, and the session cookie once signed in.
pub struct Browser<'a> {
    app: &'a TestApp,
    cookie: Option<String>,
}

impl<'a> Browser<'a> {
    /// A browser that has not signed in.
    pub fn anonymous(app: &'a TestApp) -> Self {
        Self { app, cookie: None }
    }

    /// A browser with this cookie value (e.g. a stale session's).
    pub fn with_cookie(app: &'a TestApp, cookie: &str) -> Self {
        Self { app, cookie: Some(cookie.to_owned()) }
    }

    /// Signs `user` in through the login form; panics unless it works.
    pub async fn sign_in(app: &'a TestApp, user: &TestUser) -> Self {
        let mut browser = Self::anonymous(app);
        let page = browser.log_in(&user.email, &user.password, None).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "signing in {}:\n{}", user.email, page.html);
        let set_cookie = page.session_set_cookie().expect("signing in sets the session cookie");
        let pair = set_cookie.split(';').next().unwrap_or_default();
        browser.cookie = Some(pair.trim_start_matches(&format!("{SESSION_COOKIE}=")).to_owned());
        browser
    }

    /// The session cookie's value, if signed in.
    pub fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }

    /// Posts the login form as rendered by `GET /login`.
    pub async fn log_in(&self, email: &str, password: &str, next: Option<&str>) -> Page {
        let path = next.map_or_else(|| "/login".to_owned(), |n| format!("/login?next={}", encode(n)));
        let login = self.get(&path).await;
        assert_eq!(login.status, StatusCode::OK, "the login page:\n{}", login.html);
        let form = login.form("form#login-form").set("email", email).set("password", password);
        self.submit(&form).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Page {
        self.send(Method::GET, path, None).await
    }

    /// Follows a redirect.
    pub async fn follow(&self, page: &Page) -> Page {
        assert!(page.status.is_redirection(), "not a redirect ({}):\n{}", page.status, page.html);
        let target = page.location().expect("a Location header").to_owned();
        self.get(&target).await
    }

    /// Posts `form` URL-encoded, exactly as given.
    pub async fn submit(&self, form: &Form) -> Page {
        self.send(Method::POST, &form.action, Some(form.encoded())).await
    }

    /// The CSRF token the pages of this session carry (from the board).
    pub async fn csrf(&self) -> String {
        let board = self.get("/board").await;
        assert_eq!(board.status, StatusCode::OK, "the board:\n{}", board.html);
        let tokens: Vec<String> =
            board.all("input[name=csrf]").into_iter().filter_map(|n| n.attr("value").map(str::to_owned)).collect();
        let token = tokens.first().cloned().expect("the board carries a csrf field (the sign-out form)");
        assert!(!token.is_empty(), "the csrf token is not empty");
        assert!(tokens.iter().all(|t| *t == token), "one csrf token per page");
        token
    }

    /// Posts `form` with this session's CSRF token added.
    pub async fn submit_with_csrf(&self, form: &Form) -> Page {
        let form = form.clone().set("csrf", &self.csrf().await);
        self.submit(&form).await
    }

    /// Submits `form` and asserts that it is refused: `status`, an error
    /// notice that says `says`, and not a row changed. Returns the page.
    pub async fn refused(&self, form: &Form, status: StatusCode, says: &str) -> Page {
        let before = TableDump::of(self.app).await;
        let page = self.submit(form).await;
        let what = format!("POST {} {:?}", form.action, form.clone().without("csrf").fields);
        assert_eq!(page.status, status, "{what}:\n{}", page.html);
        let notice = page.text_of(".notice.notice-error");
        assert!(notice.contains(says), "{what}: the notice says {says:?}: {notice}");
        assert_unchanged(self.app, &before, &what).await;
        page
    }

    /// Submits `form` and asserts that it is sent to the login page (no
    /// live session) and that not a row changed.
    pub async fn sent_to_sign_in(&self, form: &Form) {
        let before = TableDump::of(self.app).await;
        let page = self.submit(form).await;
        let what = format!("POST {} without a live session", form.action);
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{what}:\n{}", page.html);
        assert!(page.location().is_some_and(|l| l.starts_with("/login")), "{what}: sent to {:?}", page.location());
        assert_unchanged(self.app, &before, &what).await;
    }

    async fn send(&self, method: Method, path: &str, body: Option<String>) -> Page {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(cookie) = &self.cookie {
            builder = builder.header(header::COOKIE, format!("{SESSION_COOKIE}={cookie}"));
        }
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let request = builder.body(Body::from(body.unwrap_or_default())).expect("a valid request");
        let response = self.app.send(request).await;
        Page { status: response.status, headers: response.headers, html: response.text }
    }
}

/// `value` percent-encoded for a query string.
pub fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Every row of every table a web form can change (sessions aside), each
/// table's rows as sorted debug strings.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDump(Vec<(&'static str, Vec<String>)>);

impl TableDump {
    /// Reads every table.
    pub async fn of(app: &TestApp) -> Self {
        let db = &app.state.db;
        Self(vec![
            ("users", rows::<entity::user::Entity>(db).await),
            ("api_tokens", rows::<entity::api_token::Entity>(db).await),
            ("stages", rows::<entity::stage::Entity>(db).await),
            ("criteria", rows::<entity::criterion::Entity>(db).await),
            ("accounts", rows::<entity::account::Entity>(db).await),
            ("contacts", rows::<entity::contact::Entity>(db).await),
            ("deals", rows::<entity::deal::Entity>(db).await),
            ("evidence", rows::<entity::evidence::Entity>(db).await),
            ("stage_transitions", rows::<entity::stage_transition::Entity>(db).await),
            ("deal_holds", rows::<entity::deal_hold::Entity>(db).await),
            ("audit_entries", rows::<entity::audit_entry::Entity>(db).await),
            ("promises", rows::<entity::promise::Entity>(db).await),
            ("surveys", rows::<entity::survey::Entity>(db).await),
            ("survey_answers", rows::<entity::survey_answer::Entity>(db).await),
            ("followups", rows::<entity::followup::Entity>(db).await),
            ("outbox", rows::<entity::outbox_message::Entity>(db).await),
            ("advocacy_asks", rows::<entity::advocacy_ask::Entity>(db).await),
            ("digest_unsubscribe_tokens", rows::<entity::digest_unsubscribe_token::Entity>(db).await),
            ("imports", rows::<entity::import::Entity>(db).await),
            ("webhook_sources", rows::<entity::webhook_source::Entity>(db).await),
            ("webhook_endpoints", rows::<entity::webhook_endpoint::Entity>(db).await),
            ("inbound_events", rows::<entity::inbound_event::Entity>(db).await),
        ])
    }

    /// The tables whose rows differ from `earlier`'s.
    pub fn changed_since(&self, earlier: &TableDump) -> Vec<&'static str> {
        self.0.iter().zip(&earlier.0).filter(|(now, then)| now.1 != then.1).map(|(now, _)| now.0).collect()
    }

    /// How many rows `table` holds.
    pub fn rows(&self, table: &str) -> usize {
        self.0.iter().find(|(name, _)| *name == table).map_or_else(|| panic!("no table {table}"), |(_, r)| r.len())
    }
}

async fn rows<E: EntityTrait>(db: &DatabaseConnection) -> Vec<String>
where
    E::Model: Debug,
{
    let mut rows: Vec<String> =
        E::find().all(db).await.expect("reading a table").into_iter().map(|row| format!("{row:?}")).collect();
    rows.sort();
    rows
}

/// Asserts that nothing changed since `before`; `what` names the request.
pub async fn assert_unchanged(app: &TestApp, before: &TableDump, what: &str) {
    let after = TableDump::of(app).await;
    let changed = after.changed_since(before);
    assert!(changed.is_empty(), "{what} changed {changed:?}");
}
