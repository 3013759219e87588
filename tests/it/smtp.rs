//! A real SMTP server on loopback for the email tests: Python's aiosmtpd,
//! storing what it receives in a maildir. It can be stopped and started
//! again on the same port (the "SMTP server down" fault).
//!
//! Also: reading delivered messages (from that maildir, or the `.eml` files
//! the file transport writes) into [`Received`].
//!
//! When aiosmtpd is not installed the SMTP tests are skipped, unless
//! `AFTERCARE_E2E=1` (set in CI), which turns that into a failure.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mailparse::ParsedMail;

/// How long the server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Whether Python's aiosmtpd can be imported.
pub fn aiosmtpd_installed() -> bool {
    Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A started server, or `None` (after saying so on stderr) when aiosmtpd is
/// missing and `AFTERCARE_E2E` is not `1`; with `AFTERCARE_E2E=1` a missing
/// aiosmtpd fails the test.
pub fn server_or_skip(test: &str) -> Option<SmtpServer> {
    if aiosmtpd_installed() {
        return Some(SmtpServer::start());
    }
    if std::env::var("AFTERCARE_E2E").is_ok_and(|v| v == "1") {
        panic!("AFTERCARE_E2E=1 but Python's aiosmtpd is not installed (python3 -m pip install aiosmtpd)");
    }
    // Straight to stderr, past the test harness's capture, so it shows.
    let _ = writeln!(
        std::io::stderr(),
        "{test}: skipped, Python's aiosmtpd is not installed (set AFTERCARE_E2E=1 to make this a failure)"
    );
    None
}

/// A loopback port nothing listens on (just now).
pub fn free_port() -> u16 {
    let probe = TcpListener::bind("127.0.0.1:0").expect("a free port");
    probe.local_addr().expect("an address").port()
}

/// aiosmtpd listening on `127.0.0.1:port`, writing to a maildir.
pub struct SmtpServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl SmtpServer {
    /// Starts a server on a free port (panics when it does not come up).
    pub fn start() -> Self {
        let port = free_port();
        let mut server = Self { port, dir: tempfile::tempdir().expect("a temporary folder"), child: None };
        server.resume();
        server
    }

    /// The URL the app sends to.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("maildir")
    }

    /// Starts the server again on the same port, with the same maildir.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the SMTP server is already running");
        let child = Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{}", self.port),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(self.maildir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("aiosmtpd.log")).expect("a log file"))
            .spawn()
            .expect("starting python3 -m aiosmtpd");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect_timeout(&self.address(), Duration::from_millis(200)).is_err() {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.child = None;
                let log = std::fs::read_to_string(self.dir.path().join("aiosmtpd.log")).unwrap_or_default();
                panic!("aiosmtpd exited ({status}): {log}");
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on port {} within {START_TIMEOUT:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server; connections to its port are refused until
    /// [`SmtpServer::resume`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect_timeout(&self.address(), Duration::from_millis(200)).is_ok() {
            assert!(Instant::now() < deadline, "port {} still accepts connections", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<Received> {
        read_messages(&self.maildir().join("new"))
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A delivered message, parsed.
#[derive(Debug, Clone)]
pub struct Received {
    /// Every header (name as sent, unfolded value), in order.
    pub headers: Vec<(String, String)>,
    /// The top-level content type, e.g. `multipart/alternative`.
    pub content_type: String,
    /// The decoded bodies of the leaf parts, by content type.
    pub parts: Vec<(String, String)>,
}

impl Received {
    /// Parses a raw message.
    pub fn parse(raw: &[u8]) -> Self {
        let parsed = mailparse::parse_mail(raw)
            .unwrap_or_else(|e| panic!("not a message ({e}): {}", String::from_utf8_lossy(raw)));
        let headers = parsed.headers.iter().map(|h| (h.get_key(), h.get_value())).collect();
        let mut parts = Vec::new();
        leaves(&parsed, &mut parts);
        Self { headers, content_type: parsed.ctype.mimetype.clone(), parts }
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The header `name`, which must be there.
    pub fn required(&self, name: &str) -> &str {
        self.header(name).unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    /// The Message-ID.
    pub fn message_id(&self) -> &str {
        self.required("Message-ID")
    }

    /// The decoded body of the one part of type `mime` (e.g. `text/html`).
    pub fn part(&self, mime: &str) -> &str {
        let found: Vec<&str> = self.parts.iter().filter(|(t, _)| t == mime).map(|(_, b)| b.as_str()).collect();
        assert_eq!(
            found.len(),
            1,
            "exactly one {mime} part, among {:?}",
            self.parts.iter().map(|p| &p.0).collect::<Vec<_>>()
        );
        found[0]
    }

    /// The plain-text part.
    pub fn text(&self) -> &str {
        self.part("text/plain")
    }

    /// The HTML part.
    pub fn html(&self) -> &str {
        self.part("text/html")
    }

    /// Whether the message went to `email`.
    pub fn is_to(&self, email: &str) -> bool {
        self.header("To").is_some_and(|to| to.contains(email))
    }
}

fn leaves(mail: &ParsedMail<'_>, out: &mut Vec<(String, String)>) {
    if mail.subparts.is_empty() {
        out.push((mail.ctype.mimetype.clone(), mail.get_body().expect("a decodable body")));
    }
    for part in &mail.subparts {
        leaves(part, out);
    }
}

/// Every message stored as a file in `dir` (a maildir's `new/`, or the
/// outbox folder of `.eml` files), in no particular order.
pub fn read_messages(dir: &Path) -> Vec<Received> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut messages = Vec::new();
    for entry in entries {
        let path = entry.expect("a folder entry").path();
        if path.is_file() && path.extension().is_none_or(|e| e != "json") {
            messages.push(Received::parse(&std::fs::read(&path).expect("a readable message")));
        }
    }
    messages
}

/// How many times each Message-ID was delivered.
pub fn deliveries(messages: &[Received]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for message in messages {
        *counts.entry(message.message_id().to_owned()).or_insert(0) += 1;
    }
    counts
}

/// Asserts that `received` holds exactly the Message-IDs of `expected`,
/// each delivered the number of times given.
pub fn assert_delivered(received: &[Received], expected: &[(String, usize)]) {
    let got: Vec<(String, usize)> = deliveries(received).into_iter().collect();
    let mut wanted = expected.to_vec();
    wanted.sort();
    assert_eq!(got, wanted, "deliveries per Message-ID");
}
