//! The `aftercare` command line. Every flag can also be set through an
//! environment variable (shown in `--help`).

use std::io::Read;
use std::net::SocketAddr;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::auth::{tokens, users};
use crate::config::{Config, DEFAULT_DATABASE_URL};
use crate::{AppState, db, demo};

/// Aftercare: carries every won deal from closed-won to live, gated by the
/// customer's evidence.
#[derive(Debug, Parser)]
#[command(name = "aftercare", version, about, long_about = None)]
pub struct Cli {
    /// The database: a SQLite file (`sqlite://data/aftercare.db`, created if
    /// missing) or PostgreSQL (`postgres://user:pass@host/db`).
    #[arg(long, env = "AFTERCARE_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web UI and the JSON API (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Load the demo team and deals into the database.
    Demo,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// Options of `serve`.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "AFTERCARE_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: Option<SocketAddr>,
    /// The public URL of this instance, for absolute links (default: from --listen).
    #[arg(long, env = "AFTERCARE_BASE_URL")]
    pub base_url: Option<String>,
    /// Do not load demo data into an empty database.
    #[arg(long, env = "AFTERCARE_NO_DEMO")]
    pub no_demo: bool,
    /// Mark session cookies `Secure` (set this when served over HTTPS).
    #[arg(long, env = "AFTERCARE_SECURE_COOKIES")]
    pub secure_cookies: bool,
}

/// `aftercare user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; prints a generated password unless --password-stdin is given.
    Add {
        /// Their email, which is also their login.
        #[arg(long)]
        email: String,
        /// Their display name.
        #[arg(long)]
        name: String,
        /// admin, manager, member or viewer.
        #[arg(long, default_value = "member")]
        role: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
}

/// `aftercare token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user; prints it alone on one line.
    Create {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// A label, e.g. "HubSpot workflow".
        #[arg(long)]
        name: Option<String>,
    },
    /// List API tokens (never their secrets).
    List,
    /// Revoke an API token by id.
    Revoke {
        /// The token's id, from `token list`.
        id: i32,
    },
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    init_tracing();
    let command = cli.command.unwrap_or_else(|| Command::Serve(ServeArgs::default()));
    match command {
        Command::Serve(args) => serve(&cli.database_url, args).await,
        Command::Migrate => {
            let db = db::connect(&cli.database_url).await?;
            db::migrate(&db).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Demo => {
            let state = open(&cli.database_url).await?;
            let summary = demo::load(&state.db, state.now()).await?;
            println!("{summary}");
            Ok(())
        }
        Command::User(command) => user(&cli.database_url, command).await,
        Command::Token(command) => token(&cli.database_url, command).await,
    }
}

async fn open(database_url: &str) -> anyhow::Result<AppState> {
    AppState::with_system_clock(Config::for_database(database_url)).await
}

async fn serve(database_url: &str, args: ServeArgs) -> anyhow::Result<()> {
    let listen = args.listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000)));
    let base_url = args.base_url.unwrap_or_else(|| format!("http://{listen}")).trim_end_matches('/').to_owned();
    let config = Config {
        database_url: database_url.to_owned(),
        listen,
        base_url: base_url.clone(),
        secure_cookies: args.secure_cookies,
    };
    let state = AppState::with_system_clock(config).await?;
    if !args.no_demo && demo::is_empty(&state.db).await? {
        let summary = demo::load(&state.db, state.now()).await?;
        println!("{summary}");
    }
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
    println!("Aftercare is running at {base_url}/");
    if demo::demo_admin_exists(&state.db).await? {
        println!("Demo login: {} / {}", demo::DEMO_ADMIN_EMAIL, demo::DEMO_PASSWORD);
    }
    crate::app::serve(state, listener).await
}

async fn user(database_url: &str, command: UserCommand) -> anyhow::Result<()> {
    let state = open(database_url).await?;
    match command {
        UserCommand::Add { email, name, role, password_stdin } => {
            let password = if password_stdin {
                let mut buffer = String::new();
                std::io::stdin().read_to_string(&mut buffer).context("reading the password from stdin")?;
                Some(buffer.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let input = users::NewUser { email, name, role, password };
            let (created, generated) = users::add(&state.db, input, None, state.now()).await?;
            println!("added {} <{}> as {}", created.name, created.email, created.role);
            if let Some(generated) = generated {
                println!("password: {generated}");
            }
        }
        UserCommand::List => {
            for user in users::list(&state.db).await? {
                let status = if user.active { "" } else { " (deactivated)" };
                println!("{:>5}  {:<8} {} <{}>{status}", user.id, user.role, user.name, user.email);
            }
        }
    }
    Ok(())
}

async fn token(database_url: &str, command: TokenCommand) -> anyhow::Result<()> {
    let state = open(database_url).await?;
    match command {
        TokenCommand::Create { email, name } => {
            let secret = tokens::create(&state.db, &email, name.as_deref(), None, state.now()).await?;
            println!("{secret}");
        }
        TokenCommand::List => {
            for token in tokens::list(&state.db).await? {
                let status = if token.revoked_at.is_some() { "revoked" } else { "active" };
                println!("{:>5}  {status:<8} {} ({})", token.id, token.name, token.user_email);
            }
        }
        TokenCommand::Revoke { id } => {
            tokens::revoke(&state.db, id, None, state.now()).await?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AFTERCARE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    // Logs go to stderr so that stdout carries only results (e.g. a token).
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
