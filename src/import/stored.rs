//! The `imports` table: every import that changed something is kept with
//! its file and its report.
//!
//! - The web page uploads a file as a **preview**: a dry run whose report is
//!   stored with the file (status `previewed`), so the user reads what would
//!   happen and then applies it without uploading it again, or discards it.
//! - **Applying** runs the import again on the stored file against the
//!   database as it is then (it may have changed since the preview); the
//!   row becomes `applied` and gets an `import.apply` audit entry when the
//!   import changed anything.
//! - A command-line import that changed something is recorded as `applied`
//!   the same way, with its report but without a copy of the file
//!   ([`record_run`]); dry runs and refused runs leave no trace.

use chrono::{DateTime, Utc};
use entity::{import, user};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use super::{Kind, Options, Report};
use crate::{AppError, AppResult, audit};

/// An import's status.
pub mod status {
    /// Uploaded and dry-run; waiting to be applied or discarded.
    pub const PREVIEWED: &str = "previewed";
    /// Written to the database.
    pub const APPLIED: &str = "applied";
    /// Thrown away unapplied.
    pub const DISCARDED: &str = "discarded";
}

/// The longest file name kept.
const MAX_FILENAME: usize = 200;

/// What the `report` column holds: the options the file is applied with,
/// and the latest run's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    options: Options,
    report: Report,
}

/// A file uploaded for import.
#[derive(Debug, Clone)]
pub struct Upload {
    /// What it holds.
    pub kind: Kind,
    /// Its name as uploaded.
    pub filename: String,
    /// Its text (decoded, see [`super::text::decode`]).
    pub text: String,
    /// How to read and apply it (`dry_run` is ignored).
    pub options: Options,
}

/// What a preview came to.
#[derive(Debug)]
pub enum Previewed {
    /// Stored for applying, under this id.
    Stored(i32),
    /// The file cannot be read as a whole; nothing was stored.
    Refused(Report),
}

/// A stored import as the page shows it.
#[derive(Debug, Clone)]
pub struct ImportView {
    /// Its id.
    pub id: i32,
    /// What the file holds.
    pub kind: Kind,
    /// The file's name.
    pub filename: String,
    /// `hubspot`, `salesforce`, `mapped` or `aftercare`.
    pub format: String,
    /// `previewed`, `applied` or `discarded`.
    pub status: String,
    /// Who uploaded it (their email), if known.
    pub created_by: Option<String>,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// When it was applied.
    pub applied_at: Option<DateTime<Utc>>,
    /// The options it is applied with.
    pub options: Options,
    /// The latest report (the preview's, or the run's).
    pub report: Report,
}

/// Dry-runs `upload` and stores it with its report for applying later.
pub async fn preview(db: &DatabaseConnection, upload: Upload, actor: i32, now: DateTime<Utc>) -> AppResult<Previewed> {
    let options = Options { dry_run: false, ..upload.options };
    let dry_run = Options { dry_run: true, ..options.clone() };
    let report = super::run(db, upload.kind, &upload.text, &dry_run, Some(actor), now, &|_| {}).await?;
    if report.file_refused {
        return Ok(Previewed::Refused(report));
    }
    let created = import::ActiveModel {
        kind: Set(upload.kind.as_str().to_owned()),
        filename: Set(clean_filename(&upload.filename)),
        format: Set(report.format.clone()),
        status: Set(status::PREVIEWED.to_owned()),
        content: Set(upload.text),
        report: Set(to_json(&Stored { options, report })?),
        created_by_id: Set(Some(actor)),
        created_at: Set(now),
        applied_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(Previewed::Stored(created.id))
}

/// Applies a previewed import; `skip_invalid` imports the good rows of a
/// file with bad ones. The returned view's report says whether it applied.
pub async fn apply(
    db: &DatabaseConnection,
    id: i32,
    skip_invalid: bool,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<ImportView> {
    let found = pending(db, id).await?;
    let kind = kind_of(&found)?;
    let mut stored: Stored = from_json(&found.report)?;
    stored.options.dry_run = false;
    stored.options.skip_invalid = skip_invalid;
    let report = super::run(db, kind, &found.content, &stored.options, Some(actor), now, &|_| {}).await?;
    let txn = crate::db::begin_write(db).await?;
    let applied = report.applied;
    if applied && report.changes() > 0 {
        let detail = format!("{kind} from {}: {}", found.filename, report.counts());
        audit::record(&txn, Some(actor), "import.apply", &format!("import:{id}"), detail, now).await?;
    }
    let mut active: import::ActiveModel = found.into();
    if applied {
        active.status = Set(status::APPLIED.to_owned());
        active.applied_at = Set(Some(now));
    }
    active.report = Set(to_json(&Stored { options: stored.options, report })?);
    active.update(&txn).await?;
    txn.commit().await?;
    get(db, id).await
}

/// Throws a previewed import away.
pub async fn discard(db: &DatabaseConnection, id: i32) -> AppResult<()> {
    let mut active: import::ActiveModel = pending(db, id).await?.into();
    active.status = Set(status::DISCARDED.to_owned());
    active.update(db).await?;
    Ok(())
}

/// Records a command-line import that changed something, as applied, with
/// its `import.apply` audit entry; returns its id. The file itself stays
/// where it is: `content` is left empty, since writing a copy of a large
/// file into the database would take several times its size in memory.
pub async fn record_run(
    db: &DatabaseConnection,
    kind: Kind,
    filename: &str,
    options: &Options,
    report: &Report,
    actor: Option<i32>,
    now: DateTime<Utc>,
) -> AppResult<Option<i32>> {
    if !report.applied || report.changes() == 0 {
        return Ok(None);
    }
    let filename = clean_filename(filename);
    let txn = crate::db::begin_write(db).await?;
    let created = import::ActiveModel {
        kind: Set(kind.as_str().to_owned()),
        filename: Set(filename.clone()),
        format: Set(report.format.clone()),
        status: Set(status::APPLIED.to_owned()),
        content: Set(String::new()),
        report: Set(to_json(&Stored { options: options.clone(), report: report.clone() })?),
        created_by_id: Set(actor),
        created_at: Set(now),
        applied_at: Set(Some(now)),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let detail = format!("{kind} from {filename}: {}", report.counts());
    audit::record(&txn, actor, "import.apply", &format!("import:{}", created.id), detail, now).await?;
    txn.commit().await?;
    Ok(Some(created.id))
}

/// One stored import.
pub async fn get(db: &impl ConnectionTrait, id: i32) -> AppResult<ImportView> {
    let found = import::Entity::find_by_id(id).one(db).await?.ok_or(AppError::NotFound("import"))?;
    let by = match found.created_by_id {
        Some(user_id) => user::Entity::find_by_id(user_id).one(db).await?.map(|u| u.email),
        None => None,
    };
    view(found, by)
}

/// The latest `limit` imports, newest first.
pub async fn recent(db: &impl ConnectionTrait, limit: u64) -> AppResult<Vec<ImportView>> {
    let rows = import::Entity::find().order_by_desc(import::Column::Id).limit(limit).all(db).await?;
    let emails = crate::auth::users::emails_by_id(db).await?;
    rows.into_iter()
        .map(|row| {
            let by = row.created_by_id.and_then(|id| emails.get(&id).cloned());
            view(row, by)
        })
        .collect()
}

async fn pending(db: &impl ConnectionTrait, id: i32) -> AppResult<import::Model> {
    let found = import::Entity::find_by_id(id).one(db).await?.ok_or(AppError::NotFound("import"))?;
    if found.status != status::PREVIEWED {
        return Err(AppError::conflict("import_not_pending", format!("this import was {} already", found.status)));
    }
    Ok(found)
}

fn view(row: import::Model, created_by: Option<String>) -> AppResult<ImportView> {
    let stored: Stored = from_json(&row.report)?;
    Ok(ImportView {
        id: row.id,
        kind: kind_of(&row)?,
        filename: row.filename,
        format: row.format,
        status: row.status,
        created_by,
        created_at: row.created_at,
        applied_at: row.applied_at,
        options: stored.options,
        report: stored.report,
    })
}

fn kind_of(row: &import::Model) -> AppResult<Kind> {
    Kind::parse(&row.kind)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("import {} has kind {:?}", row.id, row.kind)))
}

fn to_json(stored: &Stored) -> AppResult<String> {
    serde_json::to_string(stored).map_err(|e| AppError::Internal(e.into()))
}

fn from_json(text: &str) -> AppResult<Stored> {
    serde_json::from_str(text).map_err(|e| AppError::Internal(e.into()))
}

/// The file's own name (no folders), one line, at most 200 characters.
fn clean_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let name: String = base.chars().filter(|c| !c.is_control()).take(MAX_FILENAME).collect();
    if name.trim().is_empty() { "upload.csv".to_owned() } else { name.trim().to_owned() }
}
