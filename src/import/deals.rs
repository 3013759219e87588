//! Closed-won deals from a CRM export.
//!
//! - **Only closed-won rows** are taken ([`values::WonStages`]); the others
//!   are skipped, not errors, and not checked further.
//! - **A row's checks** are those of [`crate::pipeline::deals::create`]
//!   (the API and the new-deal form): the same [`Fields`] rules for the
//!   name, the account ([`AccountInput::check`]) and the currency, a close
//!   date that is not in the future, an amount below 10^13; read in the
//!   export formats of [`values`]. Beyond them: the CRM id is required (it
//!   is what makes importing again safe), and a named owner must be a user.
//! - **A CRM id on more than one closed-won row** is an error on each of
//!   them: which one is right is not for the import to guess.
//! - **Idempotent by the CRM id** (`deals.external_id`): a known id updates
//!   the deal's CRM fields only (name, amount and currency, close date, the
//!   account manager), and only those the file has a column for: a column
//!   that is there is the CRM's word, a blank value included. A deal's
//!   stage, evidence, promises, other owners and account are never touched.
//! - **New deals are written in bulk**, row for row as `deals::create`
//!   writes one: the account found by its exact name or created (with the
//!   segment of the first row naming it), the deal in the first stage
//!   entered now, a `created` transition and a `deal.create` audit entry.
//!   Entering 100 000 deals one `create` at a time takes minutes (each is
//!   its own transaction); in batches it takes seconds (docs/IMPORT.md).

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use entity::{account, audit_entry, deal, stage_transition};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::columns::Columns;
use super::report::Ledger;
use super::table::{Record, Table};
use super::values::{self, People, WonStages};
use super::{Context, Kind, Outcome, Report, Step, write_error};
use crate::accounts::AccountInput;
use crate::db::IN_LIST;
use crate::pipeline::{gate, stages};
use crate::validate::{Fields, MAX_LINE};
use crate::{AppError, AppResult};

/// Rows per INSERT statement: far fewer round trips than one by one, and
/// well inside both databases' limits on bound parameters.
const BATCH: usize = 1_000;

/// The largest amount `deals::create` accepts, in cents (10^13 units).
const AMOUNT_LIMIT_CENTS: i64 = 1_000_000_000_000_000;

/// `deals::create`'s words for a bad currency.
const CURRENCY_RULE: &str = "must be a three-letter ISO 4217 code such as EUR";

/// A closed-won row that passed its checks.
#[derive(Debug, Clone)]
struct Incoming {
    /// Its entry in the ledger.
    index: usize,
    external_id: String,
    name: String,
    account: String,
    segment: Option<String>,
    amount_cents: Option<i64>,
    /// The currency, when the file says anything about it (a currency
    /// column, or a symbol on the amount).
    currency: Option<Option<String>>,
    closed_won_on: NaiveDate,
    owner: Option<i32>,
}

/// What checking a row found.
enum Checked {
    /// Not closed-won: the stage it is in.
    NotWon(String),
    /// Problems, by field.
    Invalid(Vec<(&'static str, String)>),
    /// A row to import.
    Valid(Box<Incoming>),
}

/// What the checks of one file read.
struct Rules<'a> {
    columns: &'a Columns,
    won: WonStages,
    people: People,
    day_first: bool,
    today: NaiveDate,
}

/// The CRM fields of an existing deal that the file changes; `None`: as is.
#[derive(Debug, Default)]
struct Changes {
    name: Option<String>,
    amount_cents: Option<Option<i64>>,
    currency: Option<Option<String>>,
    closed_won_on: Option<NaiveDate>,
    account_manager_id: Option<Option<i32>>,
}

/// An existing deal to update.
#[derive(Debug)]
struct Update {
    deal_id: i32,
    changes: Changes,
    detail: String,
}

/// Checks every row of `table` as deals; writes them unless `writable` is
/// off, this is a dry run, or bad rows stop the import.
pub(crate) async fn import(
    db: &impl ConnectionTrait,
    table: &Table<'_>,
    columns: &Columns,
    context: &Context<'_>,
    writable: bool,
) -> AppResult<Report> {
    let rules = Rules {
        columns,
        won: WonStages::new(&context.options.won_stages),
        people: People::load(db).await?,
        day_first: context.options.day_first,
        today: context.now.date_naive(),
    };
    let (mut ledger, rows) = check_rows(table, &rules, context);
    let rows = ledger.reject_repeats(
        rows,
        |row| row.index,
        |row| row.external_id.clone(),
        columns.header("external_id"),
        |row| format!("the id {}", row.external_id),
    );
    let (creates, updates) = classify(db, rows, &rules, &mut ledger).await?;
    let mut report = ledger.report(Kind::Deals, columns.format);
    if context.may_write(&report, writable) {
        write(db, &creates, &updates, context).await?;
        report.applied = true;
    }
    Ok(report)
}

fn check_rows(table: &Table<'_>, rules: &Rules<'_>, context: &Context<'_>) -> (Ledger, Vec<Incoming>) {
    let mut ledger = Ledger::default();
    let mut rows = Vec::with_capacity(table.lines());
    for record in table.rows(context.progress) {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                ledger.unreadable(error);
                continue;
            }
        };
        let key = rules.columns.value(&record, "external_id").unwrap_or_default();
        let index = ledger.row(record.line, key, rules.columns.value(&record, "name").unwrap_or_default());
        match check(&record, index, rules) {
            Checked::NotWon(stage) => ledger.set(index, Outcome::Skipped, format!("not closed-won (stage {stage:?})")),
            Checked::Invalid(mut problems) => {
                problems.sort_by_key(|(field, _)| rules.columns.position(field));
                for (field, reason) in problems {
                    ledger.fail(index, Some(rules.columns.header(field).unwrap_or(field)), reason);
                }
            }
            Checked::Valid(row) => rows.push(*row),
        }
    }
    (ledger, rows)
}

/// Checks one row the way `deals::create` checks a new deal.
fn check(record: &Record, index: usize, rules: &Rules<'_>) -> Checked {
    let value = |field: &str| rules.columns.value(record, field);
    if rules.columns.has("stage") {
        let stage = value("stage").unwrap_or_default();
        if !rules.won.matches(stage) {
            return Checked::NotWon(stage.to_owned());
        }
    }
    let mut fields = Fields::new();
    let mut problems = Vec::new();
    let external_id = fields.required("external_id", value("external_id"), MAX_LINE);
    let name = fields.required("name", value("name"), MAX_LINE);
    let account = AccountInput {
        name: value("account").map(str::to_owned),
        domain: None,
        segment: value("segment").map(str::to_owned),
    };
    account.check(&mut fields, "account.");
    let currency = fields.optional("currency", value("currency"), 3).map(|c| c.to_uppercase());
    if currency.as_deref().is_some_and(|c| c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_alphabetic())) {
        fields.error("currency", CURRENCY_RULE);
    }
    let closed_won_on = close_date(value("closed_won_on"), rules, &mut problems);
    let money = amount(value("amount"), currency.as_deref(), &mut problems);
    let owner =
        value("owner").and_then(|owner| rules.people.resolve(owner).map_err(|e| problems.push(("owner", e))).ok());
    if let Err(AppError::Validation(errors)) = fields.finish() {
        problems.extend(errors.into_iter().map(|(key, reason)| (field_of(&key), reason)));
    }
    let Some(closed_won_on) = closed_won_on.filter(|_| problems.is_empty()) else {
        return Checked::Invalid(problems);
    };
    let said_currency = currency.or_else(|| money.and_then(|m| m.currency_code()));
    let currency_known = rules.columns.has("currency") || said_currency.is_some();
    Checked::Valid(Box::new(Incoming {
        index,
        external_id,
        name,
        account: value("account").unwrap_or_default().to_owned(),
        segment: value("segment").map(str::to_owned),
        amount_cents: money.map(|m| m.cents),
        currency: currency_known.then_some(said_currency),
        closed_won_on,
        owner,
    }))
}

/// The field a `Fields` error key names (`account.name` is the account).
fn field_of(key: &str) -> &'static str {
    match key {
        "external_id" => "external_id",
        "name" => "name",
        "account.name" => "account",
        "account.segment" => "segment",
        "currency" => "currency",
        _ => "account",
    }
}

fn close_date(raw: Option<&str>, rules: &Rules<'_>, problems: &mut Vec<(&'static str, String)>) -> Option<NaiveDate> {
    let Some(raw) = raw else {
        problems.push(("closed_won_on", "is required".to_owned()));
        return None;
    };
    match values::date(raw, rules.day_first) {
        Ok(date) if date > rules.today => {
            problems.push(("closed_won_on", "cannot be in the future".to_owned()));
            None
        }
        Ok(date) => Some(date),
        Err(reason) => {
            problems.push(("closed_won_on", reason));
            None
        }
    }
}

fn amount(
    raw: Option<&str>,
    currency: Option<&str>,
    problems: &mut Vec<(&'static str, String)>,
) -> Option<values::Money> {
    let money = match values::amount(raw?) {
        Ok(money) => money,
        Err(reason) => {
            problems.push(("amount", reason));
            return None;
        }
    };
    if money.cents >= AMOUNT_LIMIT_CENTS {
        problems.push(("amount", "must be a positive number below 10 000 000 000 000".to_owned()));
        return None;
    }
    if let (Some(said), Some(column)) = (money.currency_code(), currency)
        && said != column
    {
        problems.push(("amount", format!("is in {said} but the currency column says {column}")));
        return None;
    }
    Some(money)
}

/// The deals that already carry these rows' CRM ids, by id.
async fn existing_deals(db: &impl ConnectionTrait, rows: &[Incoming]) -> AppResult<HashMap<String, deal::Model>> {
    let ids = rows.iter().map(|row| row.external_id.clone());
    let found = deal::Entity::find().filter(deal::Column::ExternalId.is_in(ids)).all(db).await?;
    Ok(found.into_iter().filter_map(|deal| Some((deal.external_id.clone()?, deal))).collect())
}

/// Sorts rows into new deals and changed ones, and records each outcome.
/// Existing deals are looked up a batch of rows at a time, so memory does
/// not grow with the number of deals already imported.
async fn classify(
    db: &impl ConnectionTrait,
    mut rows: Vec<Incoming>,
    rules: &Rules<'_>,
    ledger: &mut Ledger,
) -> AppResult<(Vec<Incoming>, Vec<Update>)> {
    let mut new = Vec::with_capacity(rows.len());
    let mut updates = Vec::new();
    for chunk in rows.chunks(IN_LIST) {
        let existing = existing_deals(db, chunk).await?;
        for row in chunk {
            let Some(deal) = existing.get(&row.external_id) else {
                ledger.set(row.index, Outcome::Created, "");
                new.push(true);
                continue;
            };
            new.push(false);
            let changes = changes(deal, row, rules.columns);
            let changed = describe(&changes, &rules.people);
            if changed.is_empty() {
                ledger.set(row.index, Outcome::Unchanged, format!("deal {}", deal.id));
            } else {
                let names: Vec<&str> = changed.iter().map(|c| c.split('=').next().unwrap_or_default()).collect();
                ledger.set(row.index, Outcome::Updated, format!("deal {}: {}", deal.id, names.join(", ")));
                updates.push(Update { deal_id: deal.id, changes, detail: changed.join(", ") });
            }
        }
    }
    let mut new = new.into_iter();
    rows.retain(|_| new.next().unwrap_or(false));
    Ok((rows, updates))
}

/// What the row changes in the deal's CRM fields.
fn changes(deal: &deal::Model, row: &Incoming, columns: &Columns) -> Changes {
    let differs = |now: bool| now.then_some(());
    Changes {
        name: differs(deal.name != row.name).map(|()| row.name.clone()),
        amount_cents: differs(columns.has("amount") && deal.amount_cents != row.amount_cents)
            .map(|()| row.amount_cents),
        currency: row.currency.clone().filter(|currency| *currency != deal.currency),
        closed_won_on: differs(deal.closed_won_on != row.closed_won_on).map(|()| row.closed_won_on),
        account_manager_id: differs(columns.has("owner") && deal.account_manager_id != row.owner).map(|()| row.owner),
    }
}

/// `field=value` for each change, as `deals::update` writes its audit detail.
fn describe(changes: &Changes, people: &People) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(name) = &changes.name {
        out.push(format!("name={name}"));
    }
    if let Some(cents) = changes.amount_cents {
        out.push(format!("amount={}", cents.map_or("none".to_owned(), |c| format!("{}.{:02}", c / 100, c % 100))));
    }
    if let Some(currency) = &changes.currency {
        out.push(format!("currency={}", currency.as_deref().unwrap_or("none")));
    }
    if let Some(date) = changes.closed_won_on {
        out.push(format!("closed_won_on={date}"));
    }
    if let Some(owner) = changes.account_manager_id {
        out.push(format!("account_manager={}", people.email(owner)));
    }
    out
}

/// Writes the new deals and the changes, in batches.
async fn write(
    db: &impl ConnectionTrait,
    creates: &[Incoming],
    updates: &[Update],
    context: &Context<'_>,
) -> AppResult<()> {
    let total = (creates.len() + updates.len()) as u64;
    let report = |done: usize| (context.progress)(Step { phase: "writing", done: done as u64, total });
    let first = stages::first(db).await?;
    let accounts = account_ids(db, creates, context).await?;
    for (n, chunk) in creates.chunks(BATCH).enumerate() {
        insert_deals(db, chunk, &accounts, first.id, context).await?;
        report(n * BATCH + chunk.len());
    }
    for (n, chunk) in updates.chunks(BATCH).enumerate() {
        update_deals(db, chunk, context).await?;
        report(creates.len() + n * BATCH + chunk.len());
    }
    Ok(())
}

/// The id of every account the new deals name, creating those that do not
/// exist yet (as `accounts::find_or_create` does: by exact name).
async fn account_ids(
    db: &impl ConnectionTrait,
    creates: &[Incoming],
    context: &Context<'_>,
) -> AppResult<HashMap<String, i32>> {
    let mut seen = HashSet::new();
    let wanted: Vec<&Incoming> = creates.iter().filter(|row| seen.insert(row.account.as_str())).collect();
    let names: Vec<String> = wanted.iter().map(|row| row.account.clone()).collect();
    let mut ids = accounts_named(db, &names).await?;
    let missing: Vec<&&Incoming> = wanted.iter().filter(|row| !ids.contains_key(&row.account)).collect();
    for chunk in missing.chunks(BATCH) {
        let rows = chunk.iter().map(|row| account::ActiveModel {
            name: Set(row.account.clone()),
            domain: Set(None),
            segment: Set(row.segment.clone()),
            created_at: Set(context.now),
            ..Default::default()
        });
        account::Entity::insert_many(rows).exec_without_returning(db).await.map_err(write_error)?;
        let names: Vec<String> = chunk.iter().map(|row| row.account.clone()).collect();
        ids.extend(accounts_named(db, &names).await?);
    }
    Ok(ids)
}

async fn accounts_named(db: &impl ConnectionTrait, names: &[String]) -> AppResult<HashMap<String, i32>> {
    let mut ids = HashMap::new();
    for chunk in names.chunks(IN_LIST) {
        let found: Vec<(i32, String)> = account::Entity::find()
            .select_only()
            .column(account::Column::Id)
            .column(account::Column::Name)
            .filter(account::Column::Name.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        ids.extend(found.into_iter().map(|(id, name)| (name, id)));
    }
    Ok(ids)
}

/// Inserts one batch of new deals with their `created` transitions and
/// audit entries.
async fn insert_deals(
    db: &impl ConnectionTrait,
    chunk: &[Incoming],
    accounts: &HashMap<String, i32>,
    first_stage: i32,
    context: &Context<'_>,
) -> AppResult<()> {
    let deals = chunk.iter().map(|row| new_deal(row, accounts, first_stage, context)).collect::<AppResult<Vec<_>>>()?;
    deal::Entity::insert_many(deals).exec_without_returning(db).await.map_err(write_error)?;
    record_creations(db, chunk, first_stage, context).await
}

/// The deal `deals::create` would write for `row`.
fn new_deal(
    row: &Incoming,
    accounts: &HashMap<String, i32>,
    first_stage: i32,
    context: &Context<'_>,
) -> AppResult<deal::ActiveModel> {
    let account_id = accounts.get(&row.account).copied().ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("account {:?} was neither found nor created", row.account))
    })?;
    Ok(deal::ActiveModel {
        account_id: Set(account_id),
        name: Set(row.name.clone()),
        external_id: Set(Some(row.external_id.clone())),
        amount_cents: Set(row.amount_cents),
        currency: Set(row.currency.clone().flatten()),
        closed_won_on: Set(row.closed_won_on),
        stage_id: Set(first_stage),
        stage_entered_at: Set(context.now),
        account_manager_id: Set(row.owner),
        implementation_lead_id: Set(None),
        csm_id: Set(None),
        created_at: Set(context.now),
        updated_at: Set(context.now),
        ..Default::default()
    })
}

/// The `created` transitions and `deal.create` audit entries of a batch of
/// new deals, whose ids are read back by their CRM ids.
async fn record_creations(
    db: &impl ConnectionTrait,
    chunk: &[Incoming],
    first_stage: i32,
    context: &Context<'_>,
) -> AppResult<()> {
    let ids: Vec<(i32, String)> = deal::Entity::find()
        .select_only()
        .column(deal::Column::Id)
        .column(deal::Column::Name)
        .filter(deal::Column::ExternalId.is_in(chunk.iter().map(|row| row.external_id.clone())))
        .into_tuple()
        .all(db)
        .await?;
    let transitions = ids.iter().map(|(id, _)| stage_transition::ActiveModel {
        deal_id: Set(*id),
        from_stage_id: Set(None),
        to_stage_id: Set(first_stage),
        kind: Set(gate::kind::CREATED.to_owned()),
        reason: Set(None),
        actor_id: Set(context.actor),
        at: Set(context.now),
        ..Default::default()
    });
    stage_transition::Entity::insert_many(transitions).exec_without_returning(db).await?;
    let audit = ids.iter().map(|(id, name)| audit_row(context, "deal.create", *id, name.clone()));
    audit_entry::Entity::insert_many(audit).exec_without_returning(db).await?;
    Ok(())
}

/// Applies one batch of changes to existing deals, each with a
/// `deal.update` audit entry.
async fn update_deals(db: &impl ConnectionTrait, chunk: &[Update], context: &Context<'_>) -> AppResult<()> {
    for update in chunk {
        let changes = &update.changes;
        let mut active = deal::ActiveModel { updated_at: Set(context.now), ..Default::default() };
        if let Some(name) = &changes.name {
            active.name = Set(name.clone());
        }
        if let Some(cents) = changes.amount_cents {
            active.amount_cents = Set(cents);
        }
        if let Some(currency) = &changes.currency {
            active.currency = Set(currency.clone());
        }
        if let Some(date) = changes.closed_won_on {
            active.closed_won_on = Set(date);
        }
        if let Some(owner) = changes.account_manager_id {
            active.account_manager_id = Set(owner);
        }
        deal::Entity::update_many().set(active).filter(deal::Column::Id.eq(update.deal_id)).exec(db).await?;
    }
    let audit = chunk.iter().map(|u| audit_row(context, "deal.update", u.deal_id, u.detail.clone()));
    audit_entry::Entity::insert_many(audit).exec_without_returning(db).await?;
    Ok(())
}

/// An audit entry as `audit::record` writes it, for batch inserts.
fn audit_row(context: &Context<'_>, action: &str, deal_id: i32, detail: String) -> audit_entry::ActiveModel {
    audit_entry::ActiveModel {
        actor_id: Set(context.actor),
        action: Set(action.to_owned()),
        subject: Set(format!("deal:{deal_id}")),
        detail: Set(detail),
        at: Set(context.now),
        ..Default::default()
    }
}
