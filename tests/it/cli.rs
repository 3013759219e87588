//! The `aftercare` binary itself: migrate, user add, token create/revoke,
//! demo, and serve on a fresh database.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use aftercare::auth::tokens;
use sea_orm::{EntityTrait, PaginatorTrait};

use crate::helpers::TestDatabase;

fn aftercare(database: &TestDatabase, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aftercare"));
    command.args(args).env("AFTERCARE_DATABASE_URL", &database.url).env("AFTERCARE_LOG", "warn");
    command
}

fn run(database: &TestDatabase, args: &[&str]) -> (bool, String, String) {
    let output = aftercare(database, args).output().expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn user_add_generates_a_password_and_token_create_prints_only_the_token() {
    let database = TestDatabase::new().await;
    let (ok, out, err) = run(&database, &["migrate"]);
    assert!(ok, "migrate failed: {err}");

    let (ok, out_add, err) =
        run(&database, &["user", "add", "--email", "Kim@Example.com", "--name", "Kim", "--role", "manager"]);
    assert!(ok, "user add failed: {err}");
    let password = out_add.lines().find_map(|l| l.strip_prefix("password: ")).expect("a generated password");
    assert!(password.len() >= 16, "{out_add}");
    assert!(out.contains("migrations applied"));

    let (ok, out, err) = run(&database, &["token", "create", "--email", "kim@example.com", "--name", "CRM"]);
    assert!(ok, "token create failed: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "stdout must carry the token alone: {out:?}");
    assert!(lines[0].starts_with(tokens::TOKEN_PREFIX));

    let db = aftercare::db::connect(&database.url).await.expect("connect");
    let user = tokens::authenticate(&db, lines[0], chrono::Utc::now()).await.expect("the printed token works");
    assert_eq!((user.email.as_str(), user.role.as_str()), ("kim@example.com", "manager"));
    assert!(aftercare::auth::users::authenticate(&db, "kim@example.com", password).await.expect("query").is_some());

    let (ok, _, _) = run(&database, &["token", "revoke", "1"]);
    assert!(ok);
    assert!(
        tokens::authenticate(&db, lines[0], chrono::Utc::now()).await.is_err(),
        "a revoked token must stop working"
    );
}

#[tokio::test]
async fn user_add_reads_a_password_from_stdin_and_refuses_bad_input() {
    let database = TestDatabase::new().await;
    let mut child =
        aftercare(&database, &["user", "add", "--email", "a@example.com", "--name", "A", "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
    child.stdin.take().expect("stdin").write_all(b"correct horse battery\n").expect("write");
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success());
    assert!(!String::from_utf8_lossy(&output.stdout).contains("password:"), "no password is printed when one is given");
    let db = aftercare::db::connect(&database.url).await.expect("connect");
    assert!(
        aftercare::auth::users::authenticate(&db, "a@example.com", "correct horse battery")
            .await
            .expect("query")
            .is_some()
    );

    let (ok, _, err) = run(&database, &["user", "add", "--email", "not-an-email", "--name", "B", "--role", "wizard"]);
    assert!(!ok);
    assert!(err.contains("email") && err.contains("role"), "the error names both fields: {err}");
    let (ok, _, err) = run(&database, &["token", "create", "--email", "nobody@example.com"]);
    assert!(!ok && err.contains("nobody@example.com"), "{err}");
}

#[tokio::test]
async fn demo_loads_a_realistic_team_and_pipeline() {
    let database = TestDatabase::new().await;
    let (ok, out, err) = run(&database, &["demo"]);
    assert!(ok, "demo failed: {err}");
    assert!(out.contains(aftercare::demo::DEMO_ADMIN_EMAIL));
    let db = aftercare::db::connect(&database.url).await.expect("connect");
    let deals = entity::deal::Entity::find().count(&db).await.expect("count");
    assert!((35..=50).contains(&deals), "about forty deals, got {deals}");
    let stages = aftercare::pipeline::deals::list(&db, &Default::default(), chrono::Utc::now()).await.expect("list");
    for key in ["closed_won", "handoff", "implementing", "live"] {
        assert!(stages.iter().any(|d| d.stage == key), "no demo deal in {key}");
    }
    assert!(stages.iter().any(|d| d.stuck), "some demo deals are stuck");
    assert!(stages.iter().any(|d| d.on_hold), "some demo deals are on hold");
    assert!(stages.iter().any(|d| d.next_call.as_ref().is_some_and(|c| c.overdue)), "some calls are overdue");
    assert!(entity::stage_transition::Entity::find().count(&db).await.expect("count") > deals);
}

#[tokio::test]
async fn serve_loads_the_demo_on_an_empty_database_and_prints_the_url_and_login() {
    let database = TestDatabase::new().await;
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().expect("address").port()
    };
    let listen = format!("127.0.0.1:{port}");
    let mut child =
        aftercare(&database, &["serve", "--listen", &listen]).stdout(Stdio::piped()).spawn().expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    while let Some(Ok(line)) = lines.next() {
        seen.push(line.clone());
        if line.starts_with("Demo login:") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let all = seen.join("\n");
    assert!(all.contains(&format!("http://{listen}/")), "prints the URL: {all}");
    assert!(all.contains(aftercare::demo::DEMO_ADMIN_EMAIL) && all.contains(aftercare::demo::DEMO_PASSWORD), "{all}");
}

#[test]
fn help_names_every_subcommand_and_the_environment_variables() {
    let output = Command::new(env!("CARGO_BIN_EXE_aftercare")).arg("--help").output().expect("runs");
    let help = String::from_utf8_lossy(&output.stdout);
    for word in ["serve", "migrate", "demo", "user", "token", "AFTERCARE_DATABASE_URL"] {
        assert!(help.contains(word), "--help lacks {word}: {help}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_aftercare")).args(["serve", "--help"]).output().expect("runs");
    let help = String::from_utf8_lossy(&output.stdout);
    for word in ["AFTERCARE_LISTEN", "AFTERCARE_BASE_URL", "--no-demo"] {
        assert!(help.contains(word), "serve --help lacks {word}: {help}");
    }
}
