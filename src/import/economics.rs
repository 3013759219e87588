//! Account economics: ARR, gross margin and CAC.
//!
//! - **Checks**: those of the account page's economics form
//!   ([`crate::metrics::profitability::update_economics`]): ARR and CAC from
//!   0 to 10^12, gross margin from 0 to 100 %; read in the export formats
//!   of [`values`] (`$120,000`, `72.5 %`).
//! - **The account must exist** ([`values::Accounts`]).
//! - **A blank value leaves the figure as it is** (clearing one is done on
//!   the account page); a figure already as the file has it is unchanged.
//!   An account on two rows is an error on both.
//! - **A change** is written as `update_economics` writes it, with an
//!   `account.economics` audit entry naming the figures set.

use std::collections::HashMap;

use entity::account;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::columns::Columns;
use super::report::Ledger;
use super::table::{Record, Table};
use super::values::{self, Accounts};
use super::{Context, Kind, Outcome, Report};
use crate::db::IN_LIST;
use crate::{AppResult, audit};

/// The largest ARR or CAC the account form accepts, in cents (10^12 units).
const AMOUNT_LIMIT_CENTS: i64 = 100_000_000_000_000;

/// A row that passed its checks: the figures it sets.
#[derive(Debug, Clone)]
struct Incoming {
    index: usize,
    account_id: i32,
    arr_cents: Option<i64>,
    gross_margin_pct: Option<f64>,
    cac_cents: Option<i64>,
}

/// Checks every row of `table` as account economics; writes them unless
/// `writable` is off, this is a dry run, or bad rows stop the import.
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
        |row| row.account_id,
        columns.header("account"),
        |_| "this account".to_owned(),
    );
    let changes = changes(db, rows, &mut ledger).await?;
    let mut report = ledger.report(Kind::Economics, columns.format);
    if context.may_write(&report, writable) {
        for (account, set) in changes {
            write(db, account, &set, context).await?;
        }
        report.applied = true;
    }
    Ok(report)
}

/// The accounts whose figures the rows change, with the figures; the other
/// rows are unchanged.
async fn changes(
    db: &impl ConnectionTrait,
    rows: Vec<Incoming>,
    ledger: &mut Ledger,
) -> AppResult<Vec<(account::Model, Vec<(&'static str, Figure)>)>> {
    let current = current_accounts(db, &rows).await?;
    let mut changes = Vec::new();
    for row in rows {
        let Some(account) = current.get(&row.account_id) else { continue };
        let set = changed_figures(account, &row);
        if set.is_empty() {
            ledger.set(row.index, Outcome::Unchanged, "");
        } else {
            ledger.set(row.index, Outcome::Updated, set.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", "));
            changes.push((account.clone(), set));
        }
    }
    Ok(changes)
}

/// Checks one row with the economics form's rules.
fn check(record: &Record, columns: &Columns, accounts: &Accounts, ledger: &mut Ledger) -> Option<Incoming> {
    let account = columns.value(record, "account").unwrap_or_default();
    let index = ledger.row(record.line, account, "");
    let header = |field: &'static str| columns.header(field).unwrap_or(field);
    let account_id = match accounts.resolve(account) {
        _ if account.is_empty() => {
            ledger.fail(index, Some(header("account")), "is required");
            None
        }
        Ok(id) => Some(id),
        Err(reason) => {
            ledger.fail(index, Some(header("account")), reason);
            None
        }
    };
    let mut money = |field: &'static str| {
        let parsed = values::amount(columns.value(record, field)?).and_then(|m| {
            if m.cents > AMOUNT_LIMIT_CENTS {
                Err("must be a number from 0 to 1000000000000".to_owned())
            } else {
                Ok(m)
            }
        });
        parsed.map_err(|reason| ledger.fail(index, Some(header(field)), reason)).ok().map(|m| m.cents)
    };
    let arr_cents = money("arr");
    let cac_cents = money("cac");
    let gross_margin_pct = columns.value(record, "gross_margin_pct").and_then(|raw| {
        let parsed = values::percent(raw).and_then(|pct| {
            if (0.0..=100.0).contains(&pct) { Ok(pct) } else { Err("must be a percentage from 0 to 100".to_owned()) }
        });
        parsed.map_err(|reason| ledger.fail(index, Some(header("gross_margin_pct")), reason)).ok()
    });
    let account_id = account_id.filter(|_| !ledger.failed(index))?;
    Some(Incoming { index, account_id, arr_cents, gross_margin_pct, cac_cents })
}

async fn current_accounts(db: &impl ConnectionTrait, rows: &[Incoming]) -> AppResult<HashMap<i32, account::Model>> {
    let mut found = HashMap::new();
    for chunk in rows.chunks(IN_LIST) {
        let ids = chunk.iter().map(|row| row.account_id);
        found.extend(
            account::Entity::find()
                .filter(account::Column::Id.is_in(ids))
                .all(db)
                .await?
                .into_iter()
                .map(|a| (a.id, a)),
        );
    }
    Ok(found)
}

/// A figure's new value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Figure {
    /// An amount (ARR, CAC) in cents.
    Cents(i64),
    /// A percentage (gross margin).
    Percent(f64),
}

/// The figures the row sets to something else, by name.
fn changed_figures(account: &account::Model, row: &Incoming) -> Vec<(&'static str, Figure)> {
    let mut set = Vec::new();
    if let Some(arr) = row.arr_cents.filter(|arr| account.arr_cents != Some(*arr)) {
        set.push(("arr", Figure::Cents(arr)));
    }
    if let Some(pct) = row.gross_margin_pct.filter(|pct| account.gross_margin_pct != Some(*pct)) {
        set.push(("gross_margin_pct", Figure::Percent(pct)));
    }
    if let Some(cac) = row.cac_cents.filter(|cac| account.cac_cents != Some(*cac)) {
        set.push(("cac", Figure::Cents(cac)));
    }
    set
}

async fn write(
    db: &impl ConnectionTrait,
    account: account::Model,
    set: &[(&'static str, Figure)],
    context: &Context<'_>,
) -> AppResult<()> {
    let id = account.id;
    let mut active: account::ActiveModel = account.into();
    let mut detail = Vec::new();
    for (name, figure) in set {
        match (*name, *figure) {
            ("arr", Figure::Cents(cents)) => active.arr_cents = Set(Some(cents)),
            ("cac", Figure::Cents(cents)) => active.cac_cents = Set(Some(cents)),
            (_, Figure::Percent(pct)) => active.gross_margin_pct = Set(Some(pct)),
            _ => continue,
        }
        // As `update_economics` words it: the figure in units.
        let shown = match figure {
            Figure::Cents(cents) => format!("{}", *cents as f64 / 100.0),
            Figure::Percent(pct) => format!("{pct}"),
        };
        detail.push(format!("{name}={shown}"));
    }
    active.update(db).await?;
    audit::record(db, context.actor, "account.economics", &format!("account:{id}"), detail.join(", "), context.now)
        .await
}
