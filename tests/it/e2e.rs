//! End to end in a real browser: Chromium, driven through chromedriver,
//! signs in, opens a deal from the board, is refused an advance while
//! evidence is missing, records the evidence through the deal page's forms
//! and advances the deal to `handoff`.
//!
//! The test starts its own chromedriver on a free port. When chromedriver is
//! not installed it is skipped, unless `AFTERCARE_E2E=1` (set in CI), which
//! turns a missing chromedriver into a failure.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aftercare::auth::Role;
use axum::body::Bytes;
use axum::http::StatusCode;
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::Empty;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// How long to wait for a page to show what the test expects.
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long chromedriver may take to start answering.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);
/// The evidence date; the test clock stands at 2026-03-02.
const CONFIRMED_ON: &str = "2026-03-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_records_evidence_and_advances_a_deal_in_the_browser() {
    let Some(chromedriver) = find_chromedriver() else {
        if std::env::var("AFTERCARE_E2E").is_ok_and(|v| v == "1") {
            panic!("AFTERCARE_E2E=1 but chromedriver is not installed (apt-get install chromium chromium-driver)");
        }
        // Straight to stderr, past the test harness's capture, so it shows.
        let _ = writeln!(
            std::io::stderr(),
            "e2e: skipped, chromedriver is not installed (set AFTERCARE_E2E=1 to make this a failure)"
        );
        return;
    };

    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let deal_name = "Northwind Traders rollout";
    let deal_id = app.create_deal(&member, deal_name).await;
    let required = required_criteria_of_first_stage(&app, &member).await;
    assert!(!required.is_empty(), "the first stage has required criteria");
    let base = app.serve().await;

    let driver = Chromedriver::start(&chromedriver).await;
    let browser = driver.open_browser().await;

    // Sign in; the login form sends us to the board.
    browser.goto(&format!("{base}/login")).await.expect("opening /login");
    let form = find(&browser, "form#login-form").await;
    type_into(&form, "input[name=email]", &member.email).await;
    type_into(&form, "input[name=password]", &member.password).await;
    click(&form, "button[type=submit]").await;
    wait_for_path(&browser, "/board").await;

    // The board has a column per stage; the new deal is in the first one.
    for stage in ["closed_won", "handoff", "implementing", "live"] {
        find(&browser, &format!(r#"section.stage-column[data-stage="{stage}"]"#)).await;
    }
    let link = find(
        &browser,
        &format!(
            r#"section.stage-column[data-stage="closed_won"] article.deal-card[data-deal-id="{deal_id}"] a.deal-link"#
        ),
    )
    .await;
    link.click().await.expect("clicking the deal's card");
    wait_for_path(&browser, &format!("/deals/{deal_id}")).await;
    let title = find(&browser, "h1.deal-name").await.text().await.expect("the deal's name");
    assert!(title.contains(deal_name), "the deal page is titled {title:?}");
    assert_stage(&browser, "closed_won").await;

    // The checklist shows the first stage's criteria, required ones unmet.
    let mut shown_required = Vec::new();
    for item in browser.find_all(Locator::Css("ul#checklist > li.criterion")).await.expect("the checklist") {
        let id = item.attr("data-criterion-id").await.expect("a criterion id").expect("data-criterion-id");
        if item.attr("data-required").await.expect("data-required").as_deref() == Some("true") {
            let met = item.attr("data-met").await.expect("data-met");
            assert_eq!(met.as_deref(), Some("false"), "criterion {id} is not met before any evidence");
            shown_required.push(id.parse::<i64>().expect("a numeric criterion id"));
        }
    }
    assert_eq!(shown_required, required, "the checklist's required criteria are the first stage's");

    // Advancing with the evidence missing is refused with an error notice.
    click(&browser.find(Locator::Css("form#advance-form")).await.expect("the advance form"), "button[type=submit]")
        .await;
    let notice = find(&browser, ".notice.notice-error").await.text().await.expect("the notice's text");
    assert!(!notice.trim().is_empty(), "the error notice says what is missing");
    assert_stage(&browser, "closed_won").await;
    assert_eq!(api_stage(&app, &member, deal_id).await, "closed_won", "a refused advance changes nothing");

    // Record evidence for each required criterion through its form.
    for id in &required {
        let item = format!(r#"ul#checklist > li.criterion[data-criterion-id="{id}"]"#);
        let form = find(&browser, &format!("{item} form.evidence-form")).await;
        type_into(&form, "textarea[name=note]", &format!("Confirmed by the customer (criterion {id}).")).await;
        type_into(&form, "input[name=url]", &format!("https://mail.example.com/threads/{id}")).await;
        type_into(&form, "input[name=confirmed_by]", "Dana Whitfield, CFO").await;
        let date = form.find(Locator::Css("input[name=confirmed_on]")).await.expect("the date field");
        browser
            .execute(
                "arguments[0].value = arguments[1];",
                vec![serde_json::to_value(&date).expect("an element reference"), json!(CONFIRMED_ON)],
            )
            .await
            .expect("setting the date");
        click(&form, "button[type=submit]").await;
        // The reloaded page shows the criterion as met (the old page cannot).
        find(&browser, &format!(r#"{item}[data-met="true"]"#)).await;
        find(&browser, ".notice.notice-success").await;
    }

    // Now the deal may leave the stage.
    click(&browser.find(Locator::Css("form#advance-form")).await.expect("the advance form"), "button[type=submit]")
        .await;
    find(&browser, r#"#deal-stage[data-stage="handoff"]"#).await;
    find(&browser, ".notice.notice-success").await;
    let timeline = browser.find_all(Locator::Css("ol#timeline > li")).await.expect("the timeline");
    assert!(
        timeline.len() > required.len(),
        "the timeline shows the evidence and the move ({} entries)",
        timeline.len()
    );

    // The API agrees: moved, with the evidence on record.
    let deal = app.get(&format!("/api/v1/deals/{deal_id}"), &member).await.json();
    assert_eq!(deal["stage"], "handoff");
    let last_move = deal["transitions"].as_array().and_then(|t| t.last()).cloned().unwrap_or_default();
    assert_eq!(last_move["from"], "closed_won", "{last_move}");
    assert_eq!(last_move["to"], "handoff", "{last_move}");
    let evidence = deal["evidence_history"].as_array().map(Vec::len).unwrap_or_default();
    assert_eq!(evidence, required.len(), "one piece of evidence per required criterion");

    browser.close().await.expect("closing the browser");
}

/// The ids of the first stage's required criteria, from the API.
async fn required_criteria_of_first_stage(app: &TestApp, user: &crate::helpers::TestUser) -> Vec<i64> {
    let response = app.get("/api/v1/stages", user).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let stages = response.json();
    let first = &stages[0];
    assert_eq!(first["key"], "closed_won");
    first["criteria"]
        .as_array()
        .expect("criteria")
        .iter()
        .filter(|c| c["required"] == Value::Bool(true))
        .map(|c| c["id"].as_i64().expect("a criterion id"))
        .collect()
}

/// The deal's stage key, from the API.
async fn api_stage(app: &TestApp, user: &crate::helpers::TestUser, deal_id: i32) -> String {
    let deal = app.get(&format!("/api/v1/deals/{deal_id}"), user).await.json();
    deal["stage"].as_str().unwrap_or_default().to_owned()
}

/// Asserts the deal page shows the deal in `stage`.
async fn assert_stage(browser: &Client, stage: &str) {
    let shown = find(browser, "#deal-stage").await.attr("data-stage").await.expect("data-stage");
    assert_eq!(shown.as_deref(), Some(stage), "the deal page's stage");
}

/// Something elements can be looked up in: the page or an element.
trait Scope {
    async fn lookup(&self, selector: &str) -> Result<Element, CmdError>;
}

impl Scope for Client {
    async fn lookup(&self, selector: &str) -> Result<Element, CmdError> {
        self.find(Locator::Css(selector)).await
    }
}

impl Scope for Element {
    async fn lookup(&self, selector: &str) -> Result<Element, CmdError> {
        self.find(Locator::Css(selector)).await
    }
}

/// Waits until the page has an element matching `selector`; on timeout
/// fails with the page's URL and source, which is what one needs to see.
async fn find(browser: &Client, selector: &str) -> Element {
    match browser
        .wait()
        .at_most(PAGE_TIMEOUT)
        .every(Duration::from_millis(100))
        .for_element(Locator::Css(selector))
        .await
    {
        Ok(element) => element,
        Err(error) => {
            let url = browser.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            let source = page_source(browser).await;
            panic!("no element matches {selector:?} on {url} ({error}); the page is:\n{source}");
        }
    }
}

/// The current page's HTML, cut short: enough to see what is there.
async fn page_source(browser: &Client) -> String {
    const LIMIT: usize = 6000;
    let source = browser.source().await.unwrap_or_else(|e| format!("(no page source: {e})"));
    match source.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}\n... ({} more bytes)", &source[..cut], source.len() - cut),
        None => source,
    }
}

/// Types `text` into the field matching `selector` inside `scope`.
async fn type_into(scope: &impl Scope, selector: &str, text: &str) {
    let field = scope.lookup(selector).await.unwrap_or_else(|e| panic!("no field {selector:?}: {e}"));
    field.clear().await.unwrap_or_else(|e| panic!("clearing {selector:?}: {e}"));
    field.send_keys(text).await.unwrap_or_else(|e| panic!("typing into {selector:?}: {e}"));
}

/// Clicks the element matching `selector` inside `scope`.
async fn click(scope: &impl Scope, selector: &str) {
    let element = scope.lookup(selector).await.unwrap_or_else(|e| panic!("nothing to click at {selector:?}: {e}"));
    element.click().await.unwrap_or_else(|e| panic!("clicking {selector:?}: {e}"));
}

/// Waits until the browser is at `path` on the app.
async fn wait_for_path(browser: &Client, path: &str) {
    let deadline = Instant::now() + PAGE_TIMEOUT;
    loop {
        let url = browser.current_url().await.expect("the current URL");
        if url.path() == path {
            return;
        }
        if Instant::now() > deadline {
            let source = page_source(browser).await;
            panic!("expected to be at {path}, but the browser is at {url}; the page is:\n{source}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// chromedriver on `PATH` (or at Debian's `/usr/bin/chromedriver`).
fn find_chromedriver() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|dir| dir.join("chromedriver")).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path.into_iter().chain([PathBuf::from("/usr/bin/chromedriver")]).find(|p| p.is_file())
}

/// A chromedriver of our own on a free port, with a fresh browser profile.
/// Dropping it (also when the test panics) kills chromedriver and every
/// browser process it started.
struct Chromedriver {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Chromedriver {
    async fn start(binary: &Path) -> Self {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("a local address").port()
        };
        let dir = tempfile::tempdir().expect("a temporary folder");
        let log = std::fs::File::create(dir.path().join("chromedriver.log")).expect("a log file");
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            // Its own process group, so that Drop can end the browser too.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let driver = Self { child, url: format!("http://127.0.0.1:{port}"), dir };
        driver.wait_until_ready().await;
        driver
    }

    async fn wait_until_ready(&self) {
        let http: HttpClient<HttpConnector, Empty<Bytes>> = HttpClient::builder(TokioExecutor::new()).build_http();
        let status = format!("{}/status", self.url).parse::<axum::http::Uri>().expect("a status URL");
        let deadline = Instant::now() + DRIVER_START_TIMEOUT;
        loop {
            if let Ok(response) = http.get(status.clone()).await
                && response.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer at {} within {DRIVER_START_TIMEOUT:?}",
                self.url
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn open_browser(&self) -> Client {
        let profile = self.dir.path().join("profile");
        let mut options = json!({
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--window-size=1280,1024",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        if Path::new("/usr/bin/chromium").is_file() {
            options["binary"] = json!("/usr/bin/chromium");
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".to_owned(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("opening a browser session at {}: {e}\n{}", self.url, self.log()))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default()
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the browser it started.
        let group = format!("kill -KILL -{}", self.child.id());
        let _ = Command::new("sh").args(["-c", &group]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("chromedriver's log:\n{}", self.log());
        }
    }
}
