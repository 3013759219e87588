//! Promises of value on deals.
//!
//! - **Checks**: those of the deal page's promise form
//!   ([`crate::surveys::promises`]): the text is required (at most
//!   [`MAX_PROMISE`] characters), the category and target are optional
//!   single lines.
//! - **The deal** is named by its CRM id (`deal_external_id`) or its
//!   Aftercare id (`deal_id`); it must exist.
//! - **A promise the deal already has** (the same text, not retired) is
//!   unchanged, so importing again adds nothing; the same promise twice for
//!   one deal in a file is an error on both rows. Existing promises are
//!   never reworded by an import: once a survey asked about one, only the
//!   deal page may retire and replace it.
//! - **A new promise** is recorded as `promises::add` records one: by the
//!   importing user, with a `promise.add` audit entry.

use std::collections::{HashMap, HashSet};

use entity::{deal, promise};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::columns::Columns;
use super::report::Ledger;
use super::table::{Record, Table};
use super::{Context, Kind, Outcome, Report, Step};
use crate::db::IN_LIST;
use crate::surveys::promises::MAX_PROMISE;
use crate::validate::{Fields, MAX_LINE};
use crate::{AppError, AppResult, audit};

/// How a row names its deal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum DealRef {
    External(String),
    Id(i32),
}

/// A row that passed its own checks (its deal is looked up afterwards).
#[derive(Debug, Clone)]
struct Incoming {
    index: usize,
    deal: DealRef,
    deal_id: i32,
    text: String,
    category: Option<String>,
    target: Option<String>,
}

/// Checks every row of `table` as promises; writes them unless `writable`
/// is off, this is a dry run, or bad rows stop the import.
pub(crate) async fn import(
    db: &impl ConnectionTrait,
    table: &Table<'_>,
    columns: &Columns,
    context: &Context<'_>,
    writable: bool,
) -> AppResult<Report> {
    let mut ledger = Ledger::default();
    let mut rows = Vec::new();
    for record in table.rows(context.progress) {
        match record {
            Ok(record) => rows.extend(check(&record, columns, &mut ledger)),
            Err(error) => ledger.unreadable(error),
        }
    }
    let rows = find_deals(db, rows, columns, &mut ledger).await?;
    let rows = ledger.reject_repeats(
        rows,
        |row| row.index,
        |row| (row.deal_id, row.text.clone()),
        columns.header("text"),
        |_| "this promise for this deal".to_owned(),
    );
    let new = new_promises(db, rows, &mut ledger).await?;
    let mut report = ledger.report(Kind::Promises, columns.format);
    if context.may_write(&report, writable) {
        write(db, new, context).await?;
        report.applied = true;
    }
    Ok(report)
}

/// The rows whose promise the deal does not have yet; the others are
/// unchanged.
async fn new_promises(db: &impl ConnectionTrait, rows: Vec<Incoming>, ledger: &mut Ledger) -> AppResult<Vec<Incoming>> {
    let known = current_texts(db, &rows).await?;
    let mut new = Vec::new();
    for row in rows {
        if known.contains(&(row.deal_id, row.text.clone())) {
            ledger.set(row.index, Outcome::Unchanged, format!("deal {}", row.deal_id));
        } else {
            ledger.set(row.index, Outcome::Created, format!("deal {}", row.deal_id));
            new.push(row);
        }
    }
    Ok(new)
}

/// Checks one row with the promise form's rules.
fn check(record: &Record, columns: &Columns, ledger: &mut Ledger) -> Option<Incoming> {
    let value = |field: &str| columns.value(record, field);
    let key = value("deal_external_id").or(value("deal_id")).unwrap_or_default();
    let index = ledger.row(record.line, key, value("text").unwrap_or_default());
    let mut fields = Fields::new();
    let text = fields.required("text", value("text"), MAX_PROMISE);
    let category = fields.optional("category", value("category"), MAX_LINE);
    let target = fields.optional("target", value("target"), MAX_LINE);
    let deal = match (value("deal_external_id"), value("deal_id")) {
        (Some(external), _) => Some(DealRef::External(external.to_owned())),
        (None, Some(id)) => match id.parse::<i32>() {
            Ok(id) => Some(DealRef::Id(id)),
            Err(_) => {
                fields.error("deal_id", "must be a deal's id (a whole number)");
                None
            }
        },
        (None, None) => {
            let field = if columns.has("deal_external_id") { "deal_external_id" } else { "deal_id" };
            fields.error(field, "is required");
            None
        }
    };
    if let Err(AppError::Validation(errors)) = fields.finish() {
        for (field, reason) in errors {
            ledger.fail(index, Some(columns.header(&field).unwrap_or(&field)), reason);
        }
        return None;
    }
    Some(Incoming { index, deal: deal?, deal_id: 0, text, category, target })
}

/// Looks up each row's deal; fails the rows whose deal does not exist.
async fn find_deals(
    db: &impl ConnectionTrait,
    rows: Vec<Incoming>,
    columns: &Columns,
    ledger: &mut Ledger,
) -> AppResult<Vec<Incoming>> {
    let mut external = Vec::new();
    let mut ids = Vec::new();
    for row in &rows {
        match &row.deal {
            DealRef::External(id) => external.push(id.clone()),
            DealRef::Id(id) => ids.push(*id),
        }
    }
    let mut found: HashMap<DealRef, i32> = HashMap::new();
    for chunk in external.chunks(IN_LIST) {
        let deals = deal::Entity::find().filter(deal::Column::ExternalId.is_in(chunk.iter().cloned())).all(db).await?;
        found.extend(deals.into_iter().filter_map(|d| Some((DealRef::External(d.external_id?), d.id))));
    }
    for chunk in ids.chunks(IN_LIST) {
        let deals = deal::Entity::find().filter(deal::Column::Id.is_in(chunk.iter().copied())).all(db).await?;
        found.extend(deals.into_iter().map(|d| (DealRef::Id(d.id), d.id)));
    }
    Ok(rows
        .into_iter()
        .filter_map(|mut row| match found.get(&row.deal) {
            Some(id) => {
                row.deal_id = *id;
                Some(row)
            }
            None => {
                let (field, reason) = match &row.deal {
                    DealRef::External(id) => ("deal_external_id", format!("no deal has the CRM id {id}")),
                    DealRef::Id(id) => ("deal_id", format!("there is no deal {id}")),
                };
                ledger.fail(row.index, Some(columns.header(field).unwrap_or(field)), reason);
                None
            }
        })
        .collect())
}

/// The current (not retired) promises of the rows' deals, as (deal, text).
async fn current_texts(db: &impl ConnectionTrait, rows: &[Incoming]) -> AppResult<HashSet<(i32, String)>> {
    let mut deal_ids: Vec<i32> = rows.iter().map(|row| row.deal_id).collect();
    deal_ids.sort_unstable();
    deal_ids.dedup();
    let mut known = HashSet::new();
    for chunk in deal_ids.chunks(IN_LIST) {
        let promises = promise::Entity::find()
            .filter(promise::Column::DealId.is_in(chunk.iter().copied()))
            .filter(promise::Column::RetiredAt.is_null())
            .all(db)
            .await?;
        known.extend(promises.into_iter().map(|p| (p.deal_id, p.text)));
    }
    Ok(known)
}

async fn write(db: &impl ConnectionTrait, rows: Vec<Incoming>, context: &Context<'_>) -> AppResult<()> {
    let total = rows.len() as u64;
    for (n, row) in rows.into_iter().enumerate() {
        promise::ActiveModel {
            deal_id: Set(row.deal_id),
            text: Set(row.text.clone()),
            category: Set(row.category),
            target: Set(row.target),
            recorded_by_id: Set(context.actor),
            created_at: Set(context.now),
            replaces_id: Set(None),
            ..Default::default()
        }
        .insert(db)
        .await?;
        let subject = format!("deal:{}", row.deal_id);
        audit::record(db, context.actor, "promise.add", &subject, row.text, context.now).await?;
        if n.is_multiple_of(500) {
            (context.progress)(Step { phase: "writing", done: n as u64, total });
        }
    }
    Ok(())
}
