//! Digests: each week (or day) every user who owns deals gets an email of
//! what needs them, and nothing else.
//!
//! - [`schedule`]: when a user's digest is due, in their own time zone;
//! - [`content`]: what it says (exception-first; skipped when empty);
//! - [`email`]: the multipart email in the user's language.
//!
//! A digest goes through the transactional outbox under the dedupe key
//! `digest:{user}:{period}` (the ISO week or the day), so a period's digest
//! is sent exactly once however often the job runs and on however many
//! instances. "Send me this now" uses its own key and never uses up the
//! period's.

pub mod content;
pub mod email;
pub mod schedule;

use std::fmt;

use chrono::{DateTime, Utc};
use entity::{digest_unsubscribe_token, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::Deserialize;

use self::content::{Digest, Shared};
use self::schedule::{Frequency, Period};
use crate::auth::{Role, tokens};
use crate::mail::outbox;
use crate::validate::Fields;
use crate::{AppError, AppResult, AppState, audit};

/// The languages digests speak.
pub const LANGUAGES: [(&str, &str); 2] = [("en", "English"), ("nl", "Nederlands")];

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// Digests written to the outbox.
    pub queued: usize,
    /// Users with nothing to report (and no all-clear wanted).
    pub empty: usize,
    /// Periods already sent (another run or instance did it).
    pub already: usize,
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "queued={} empty={} already={}", self.queued, self.empty, self.already)
    }
}

/// Which periods a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// On the schedule: each user whose local hour has come (see
    /// [`schedule::due`]).
    Scheduled,
    /// By hand, as of a date: everyone's current period.
    Manual,
}

/// How often `user` gets digests: none when deactivated or opted out
/// (whether there is anything to report is decided per digest).
fn recipient(user: &user::Model) -> Option<Frequency> {
    let frequency = Frequency::parse(&user.digest_frequency)?;
    (user.active && frequency != Frequency::Off).then_some(frequency)
}

/// The dedupe key of `user`'s digest for `period`.
pub fn dedupe_key(user_id: i32, period: &Period) -> String {
    format!("digest:{user_id}:{}", period.key)
}

/// Sends the digests that are due as of `now`.
pub async fn run(state: &AppState, now: DateTime<Utc>, trigger: Trigger) -> AppResult<RunReport> {
    let db = &state.db;
    let policy = state.config.digests;
    let mut due: Vec<(user::Model, Frequency, Period)> = Vec::new();
    for candidate in user::Entity::find().order_by_asc(user::Column::Id).all(db).await? {
        let Some(frequency) = recipient(&candidate) else { continue };
        let zone = schedule::zone(&candidate.time_zone);
        let period = match trigger {
            Trigger::Scheduled => schedule::due(policy, frequency, zone, now),
            Trigger::Manual => schedule::containing(policy, frequency, zone, now),
        };
        if let Some(period) = period {
            due.push((candidate, frequency, period));
        }
    }
    let mut report = RunReport::default();
    // Leave out the periods already in the outbox before doing any work.
    let keys: Vec<String> = due.iter().map(|(u, _, p)| dedupe_key(u.id, p)).collect();
    let sent = outbox::existing_keys(db, &keys).await?;
    due.retain(|(u, _, p)| {
        let done = sent.contains(&dedupe_key(u.id, p));
        report.already += usize::from(done);
        !done
    });
    if due.is_empty() {
        return Ok(report);
    }
    let managers = due.iter().any(|(u, _, _)| is_manager(u));
    let mut shared: Vec<(i64, Shared)> = Vec::new();
    for (recipient, frequency, period) in &due {
        let window = frequency.window_days();
        if !shared.iter().any(|(w, _)| *w == window) {
            shared.push((window, Shared::load(db, &state.config, now, window, managers).await?));
        }
        let Some((_, context)) = shared.iter().find(|(w, _)| *w == window) else { continue };
        let local_date = now.with_timezone(&schedule::zone(&recipient.time_zone)).date_naive();
        let digest = content::build(db, context, recipient, local_date).await?;
        if !digest.has_news() && !recipient.digest_all_clear {
            report.empty += 1;
            continue;
        }
        if enqueue(state, &digest, dedupe_key(recipient.id, period), now).await? {
            report.queued += 1;
        } else {
            report.already += 1;
        }
    }
    Ok(report)
}

fn is_manager(user: &user::Model) -> bool {
    Role::parse(&user.role).is_some_and(|r| r >= Role::Manager)
}

/// Writes `digest` to the outbox with a fresh unsubscribe link, in one
/// transaction. `false` when the key was already used.
async fn enqueue(state: &AppState, digest: &Digest, key: String, now: DateTime<Utc>) -> AppResult<bool> {
    let txn = crate::db::begin_write(&state.db).await?;
    let token = tokens::random_secret()?;
    digest_unsubscribe_token::ActiveModel {
        token_hash: Set(tokens::digest(&token)),
        user_id: Set(digest.user_id),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let base = &state.config.base_url;
    let email = email::compose(digest, key, base, &unsubscribe_url(base, &token))?;
    let queued = outbox::enqueue(&txn, email, base, now).await?;
    if queued {
        txn.commit().await?;
    } else {
        txn.rollback().await?;
    }
    Ok(queued)
}

/// The one-click unsubscribe link for `token`.
pub fn unsubscribe_url(base_url: &str, token: &str) -> String {
    format!("{base_url}/digests/unsubscribe/{token}")
}

/// `user_id`'s digest as of `now` (their own period window), for the
/// preview page: built whether or not there is news.
pub async fn preview(state: &AppState, user_id: i32, now: DateTime<Utc>) -> AppResult<Digest> {
    let db = &state.db;
    let found = user::Entity::find_by_id(user_id).one(db).await?.ok_or(AppError::NotFound("user"))?;
    let frequency = Frequency::parse(&found.digest_frequency).unwrap_or(Frequency::Weekly);
    let shared = Shared::load(db, &state.config, now, frequency.window_days(), is_manager(&found)).await?;
    let local_date = now.with_timezone(&schedule::zone(&found.time_zone)).date_naive();
    content::build(db, &shared, &found, local_date).await
}

/// Queues `user_id`'s digest as of `now` at once ("send me this now"),
/// news or not; it does not use up the period's digest.
pub async fn send_now(state: &AppState, user_id: i32, now: DateTime<Utc>) -> AppResult<()> {
    let digest = preview(state, user_id, now).await?;
    let key = format!("digest:{user_id}:now:{}", Utc::now().format("%Y%m%dT%H%M%S%.6f"));
    enqueue(state, &digest, key, now).await?;
    Ok(())
}

/// Digest settings, as submitted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    /// An IANA time zone, e.g. `Europe/Amsterdam`.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// `en` or `nl`.
    #[serde(default)]
    pub language: Option<String>,
    /// `weekly`, `daily` or `off`.
    #[serde(default)]
    pub digest_frequency: Option<String>,
    /// Send an all-clear when there is nothing to report.
    #[serde(default)]
    pub digest_all_clear: Option<String>,
}

/// Saves `user_id`'s digest settings; every field is checked before
/// anything is written.
pub async fn update_settings(
    db: &DatabaseConnection,
    user_id: i32,
    input: &SettingsInput,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<user::Model> {
    let mut fields = Fields::new();
    let time_zone = input.time_zone.as_deref().map(str::trim).unwrap_or_default();
    if time_zone.parse::<chrono_tz::Tz>().is_err() {
        fields.error("time_zone", "must be an IANA time zone name, e.g. Europe/Amsterdam or America/Los_Angeles");
    }
    let language = input.language.as_deref().map(str::trim).unwrap_or_default();
    if !LANGUAGES.iter().any(|(code, _)| *code == language) {
        fields.error("language", "must be en or nl");
    }
    let frequency = input.digest_frequency.as_deref().map(str::trim).unwrap_or_default();
    if Frequency::parse(frequency).is_none() {
        fields.error("digest_frequency", "must be weekly, daily or off");
    }
    let all_clear = fields.optional_flag("digest_all_clear", input.digest_all_clear.as_deref()).unwrap_or(false);
    fields.finish()?;
    let txn = crate::db::begin_write(db).await?;
    let found = user::Entity::find_by_id(user_id).one(&txn).await?.ok_or(AppError::NotFound("user"))?;
    let mut active: user::ActiveModel = found.into();
    active.time_zone = Set(time_zone.to_owned());
    active.language = Set(language.to_owned());
    active.digest_frequency = Set(frequency.to_owned());
    active.digest_all_clear = Set(all_clear);
    let saved = active.update(&txn).await?;
    let detail = format!("time zone {time_zone}, language {language}, digest {frequency}, all-clear {all_clear}");
    audit::record(&txn, Some(actor), "user.digest_settings", &format!("user:{user_id}"), detail, now).await?;
    txn.commit().await?;
    Ok(saved)
}

/// The user an unsubscribe link belongs to, if it is one.
pub async fn unsubscribe_target(db: &impl ConnectionTrait, token: &str) -> AppResult<Option<user::Model>> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let Some(link) = digest_unsubscribe_token::Entity::find()
        .filter(digest_unsubscribe_token::Column::TokenHash.eq(tokens::digest(token)))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(user::Entity::find_by_id(link.user_id).one(db).await?)
}

/// Turns digests off for the link's user; `false` for an unknown link.
pub async fn unsubscribe(db: &DatabaseConnection, token: &str, now: DateTime<Utc>) -> AppResult<bool> {
    let txn = crate::db::begin_write(db).await?;
    let Some(found) = unsubscribe_target(&txn, token).await? else { return Ok(false) };
    let id = found.id;
    if found.digest_frequency != Frequency::Off.as_str() {
        let mut active: user::ActiveModel = found.into();
        active.digest_frequency = Set(Frequency::Off.as_str().to_owned());
        active.update(&txn).await?;
        audit::record(&txn, Some(id), "user.digest_unsubscribe", &format!("user:{id}"), "from a digest link", now)
            .await?;
    }
    txn.commit().await?;
    Ok(true)
}
