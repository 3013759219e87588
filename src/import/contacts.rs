//! Contacts at customer accounts.
//!
//! - **Checks**: [`ContactInput::check`], the account page's add-contact
//!   form's own: a name, an email, an optional role, a language code
//!   (default `en`) and a yes/no survey-recipient flag (`Yes`/`TRUE` read
//!   as `yes`/`true`).
//! - **The account must exist** ([`values::Accounts`]): contacts belong to
//!   customers, which deals bring in, so import deals first.
//! - **A contact is known by its email within its account**: a new email
//!   adds the contact (through [`accounts::upsert_contact`], with a
//!   `contact.add` audit entry as the form writes); a known one has its name,
//!   role, language and survey-recipient flag set where the file has a value
//!   that differs (`contact.update`). Blank values leave a contact as it is,
//!   and an unsubscribe is never undone.
//! - **An email twice for one account** is an error on both rows.

use std::collections::HashMap;

use entity::contact;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::columns::Columns;
use super::report::Ledger;
use super::table::{Record, Table};
use super::values::Accounts;
use super::{Context, Kind, Outcome, Report, Step};
use crate::accounts::{self, ContactInput, ValidContact};
use crate::db::IN_LIST;
use crate::validate::{Fields, MAX_LINE};
use crate::{AppError, AppResult, audit};

/// A row that passed its checks.
#[derive(Debug, Clone)]
struct Incoming {
    index: usize,
    account_id: i32,
    email: String,
    name: String,
    role: Option<String>,
    language: Option<String>,
    survey_recipient: Option<bool>,
    valid: ValidContact,
}

/// What the import writes.
enum Write {
    Add(Incoming),
    Update { contact: contact::Model, row: Incoming, changed: Vec<&'static str> },
}

/// Checks every row of `table` as contacts; writes them unless `writable`
/// is off, this is a dry run, or bad rows stop the import.
pub(crate) async fn import(
    db: &impl ConnectionTrait,
    table: &Table<'_>,
    columns: &Columns,
    context: &Context<'_>,
    writable: bool,
) -> AppResult<Report> {
    let accounts = Accounts::load(db).await?;
    let mut ledger = Ledger::default();
    let mut rows = Vec::new();
    for record in table.rows(context.progress) {
        match record {
            Ok(record) => rows.extend(check(&record, columns, &accounts, &mut ledger)),
            Err(error) => ledger.unreadable(error),
        }
    }
    let rows = ledger.reject_repeats(
        rows,
        |row| row.index,
        |row| (row.account_id, row.email.clone()),
        columns.header("email"),
        |row| format!("the email {} for this account", row.email),
    );
    let existing = existing_contacts(db, &rows).await?;
    let writes = classify(rows, &existing, &mut ledger);
    let mut report = ledger.report(Kind::Contacts, columns.format);
    if context.may_write(&report, writable) {
        write(db, writes, context).await?;
        report.applied = true;
    }
    Ok(report)
}

/// Checks one row with the add-contact form's rules.
fn check(record: &Record, columns: &Columns, accounts: &Accounts, ledger: &mut Ledger) -> Option<Incoming> {
    let value = |field: &str| columns.value(record, field).map(str::to_owned);
    let email_value = value("email").unwrap_or_default();
    let index = ledger.row(record.line, &email_value, &value("name").unwrap_or_default());
    let input = ContactInput {
        name: value("name"),
        email: value("email"),
        role: value("role"),
        language: value("language"),
        survey_recipient: value("survey_recipient").map(|flag| flag.to_lowercase()),
    };
    let mut fields = Fields::new();
    let valid = input.check(&mut fields, "");
    // The same parsers again, for the values to compare with a known contact.
    let email = fields.optional_email("email", input.email.as_deref()).unwrap_or_default();
    let name = fields.optional("name", input.name.as_deref(), MAX_LINE).unwrap_or_default();
    let role = fields.optional("role", input.role.as_deref(), MAX_LINE);
    let language = fields.optional("language", input.language.as_deref(), 35).map(|l| l.to_lowercase());
    let survey_recipient = fields.optional_flag("survey_recipient", input.survey_recipient.as_deref());
    let account = columns.value(record, "account").unwrap_or_default();
    let account_id = match accounts.resolve(account) {
        Ok(id) => Some(id),
        Err(reason) if !account.is_empty() => {
            ledger.fail(index, columns.header("account"), reason);
            None
        }
        Err(_) => None,
    };
    if let Err(AppError::Validation(errors)) = fields.finish() {
        for (field, reason) in errors {
            let field = if field == "account.name" { "account" } else { field.as_str() };
            ledger.fail(index, Some(columns.header(field).unwrap_or(field)), reason);
        }
    }
    if account.is_empty() {
        ledger.fail(index, columns.header("account"), "is required");
    }
    let account_id = account_id.filter(|_| !ledger.failed(index))?;
    Some(Incoming { index, account_id, email, name, role, language, survey_recipient, valid })
}

/// The accounts' contacts, by account and email.
async fn existing_contacts(
    db: &impl ConnectionTrait,
    rows: &[Incoming],
) -> AppResult<HashMap<(i32, String), contact::Model>> {
    let mut account_ids: Vec<i32> = rows.iter().map(|row| row.account_id).collect();
    account_ids.sort_unstable();
    account_ids.dedup();
    let mut found = HashMap::new();
    for chunk in account_ids.chunks(IN_LIST) {
        let contacts =
            contact::Entity::find().filter(contact::Column::AccountId.is_in(chunk.iter().copied())).all(db).await?;
        found.extend(contacts.into_iter().map(|c| ((c.account_id, c.email.to_lowercase()), c)));
    }
    Ok(found)
}

fn classify(rows: Vec<Incoming>, existing: &HashMap<(i32, String), contact::Model>, ledger: &mut Ledger) -> Vec<Write> {
    let mut writes = Vec::new();
    for row in rows {
        let Some(contact) = existing.get(&(row.account_id, row.email.clone())) else {
            ledger.set(row.index, Outcome::Created, "");
            writes.push(Write::Add(row));
            continue;
        };
        let changed = changes(contact, &row);
        if changed.is_empty() {
            ledger.set(row.index, Outcome::Unchanged, "");
        } else {
            ledger.set(row.index, Outcome::Updated, changed.join(", "));
            writes.push(Write::Update { contact: contact.clone(), row, changed });
        }
    }
    writes
}

/// The fields of `contact` the row sets to something else.
fn changes(contact: &contact::Model, row: &Incoming) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if contact.name != row.name {
        changed.push("name");
    }
    if row.role.is_some() && contact.role != row.role {
        changed.push("role");
    }
    if row.language.as_ref().is_some_and(|language| *language != contact.language) {
        changed.push("language");
    }
    if row.survey_recipient.is_some_and(|flag| flag != contact.survey_recipient) {
        changed.push("survey_recipient");
    }
    changed
}

async fn write(db: &impl ConnectionTrait, writes: Vec<Write>, context: &Context<'_>) -> AppResult<()> {
    let total = writes.len() as u64;
    for (n, write) in writes.into_iter().enumerate() {
        match write {
            Write::Add(row) => {
                accounts::upsert_contact(db, row.account_id, row.valid, context.now).await?;
                let subject = format!("account:{}", row.account_id);
                audit::record(db, context.actor, "contact.add", &subject, row.email, context.now).await?;
            }
            Write::Update { contact, row, changed } => update(db, contact, row, &changed, context).await?,
        }
        if n.is_multiple_of(500) {
            (context.progress)(Step { phase: "writing", done: n as u64, total });
        }
    }
    Ok(())
}

async fn update(
    db: &impl ConnectionTrait,
    contact: contact::Model,
    row: Incoming,
    changed: &[&str],
    context: &Context<'_>,
) -> AppResult<()> {
    let subject = format!("account:{}", contact.account_id);
    let detail = format!("{}: {}", contact.email, changed.join(", "));
    let mut active: contact::ActiveModel = contact.into();
    active.name = Set(row.name);
    if let Some(role) = row.role {
        active.role = Set(Some(role));
    }
    if let Some(language) = row.language {
        active.language = Set(language);
    }
    if let Some(flag) = row.survey_recipient {
        active.survey_recipient = Set(flag);
    }
    sea_orm::ActiveModelTrait::update(active, db).await?;
    audit::record(db, context.actor, "contact.update", &subject, detail, context.now).await
}
