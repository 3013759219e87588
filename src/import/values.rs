//! What a value in an export may look like, and what it means.
//!
//! **Dates** (the time of day, if any, is ignored; the date is taken as
//! written, in the exporting user's time zone):
//! - ISO `2026-03-01`, also with a time as HubSpot writes it
//!   (`2026-03-01 14:30`, `2026-03-01T14:30:00Z`);
//! - with slashes, US order by default: `3/1/2026` is 1 March (Salesforce
//!   in a US locale); with the day-first option (`--day-first`) it is 3
//!   January. A date that cannot be US (`25/12/2026`) is refused with a hint
//!   rather than silently read day-first: one file never mixes orders;
//! - with dots, always day first: `01.03.2026`;
//! - four-digit years only, between 1900 and 9999.
//!
//! **Amounts** (in the currency's units; at most two decimals):
//! - `1234.56`, `1,234.56` (US), `1.234,56` and `1 234,56` (European): when
//!   both `.` and `,` occur, the last one is the decimal separator; a lone
//!   `,` followed by one or two digits is a decimal comma (`1234,5`), by
//!   three a thousands separator (`1,234` is 1234);
//! - a lone `.` followed by exactly three digits after one to three digits
//!   (`1.234`) is refused as ambiguous: write `1234`, `1,234.00` or `1.23`;
//! - a currency symbol (`$` USD, `€` EUR, `£` GBP) or ISO code (`EUR`)
//!   before or after the number sets the currency, which must then agree
//!   with the currency column, if any; negative amounts are refused.
//!
//! **Percentages**: `72.5`, `72,5` or `72.5 %`.
//!
//! **Closed-won stages**: compared ignoring case, spaces, `_` and `-`, so
//! the default `Closed Won` also matches HubSpot's internal `closedwon`.
//!
//! **Owners**: a user's email, or their name (ignoring case); `Kim Jansen
//! <kim@example.com>` counts as the email.
//!
//! **Accounts** (contacts, economics): the exact name, or else the one
//! account whose name matches ignoring case.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use entity::{account, user};
use sea_orm::{ConnectionTrait, EntityTrait, QuerySelect};

use crate::AppResult;
use crate::validate::YEARS;

/// The example every date error gives.
const DATE_HINT: &str = "must be a date such as 2026-03-01, 3/1/2026 (month first) or 01.03.2026";

/// Parses a date as exports write it; `day_first` reads `a/b/yyyy` as day/month.
pub fn date(raw: &str, day_first: bool) -> Result<NaiveDate, String> {
    let raw = raw.trim();
    let day_part = raw.split([' ', 'T']).next().unwrap_or(raw);
    let parts: Vec<&str> = day_part.split(['-', '/', '.']).collect();
    let [a, b, c] = parts[..] else { return Err(DATE_HINT.to_owned()) };
    let number = |s: &str| s.parse::<u32>().ok().filter(|_| !s.is_empty() && s.len() <= 4);
    let (Some(a_n), Some(b_n), Some(c_n)) = (number(a), number(b), number(c)) else {
        return Err(DATE_HINT.to_owned());
    };
    let separator = day_part.chars().find(|ch| matches!(ch, '-' | '/' | '.')).unwrap_or('-');
    let (year, month, day) = match separator {
        _ if a.len() == 4 => (a_n, b_n, c_n),
        '.' if c.len() == 4 => (c_n, b_n, a_n),
        '/' if c.len() == 4 && day_first => (c_n, b_n, a_n),
        '/' if c.len() == 4 => {
            if a_n > 12 && b_n <= 12 {
                return Err(format!(
                    "{day_part} is not a US date (month/day/year); for day-first dates use the day-first option"
                ));
            }
            (c_n, a_n, b_n)
        }
        _ if c.len() == 2 => return Err(format!("{DATE_HINT}, with a four-digit year")),
        _ => return Err(DATE_HINT.to_owned()),
    };
    let year = i32::try_from(year).unwrap_or_default();
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) if YEARS.contains(&date.year()) => Ok(date),
        Some(_) => Err(format!("must be a date between the years {} and {}", YEARS.start(), YEARS.end())),
        None => Err(format!("{day_part} is not a day of the calendar")),
    }
}

/// An amount of money as read from an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    /// The amount in cents.
    pub cents: i64,
    /// The currency the value named, if it named one.
    pub currency: Option<[u8; 3]>,
}

impl Money {
    /// The currency code as text.
    pub fn currency_code(&self) -> Option<String> {
        self.currency.map(|code| String::from_utf8_lossy(&code).into_owned())
    }
}

/// The error every unreadable amount gives.
const AMOUNT_HINT: &str = "must be an amount such as 1234.56, 1,234.56, 1.234,56 or $1,234.56";

/// Parses an amount as exports write it (see the module's rules).
pub fn amount(raw: &str) -> Result<Money, String> {
    let (number, currency) = split_currency(raw.trim());
    let digits: String = number.chars().filter(|c| !c.is_whitespace() && *c != '\u{202F}').collect();
    if digits.starts_with(['-', '(', '\u{2212}']) {
        return Err("must not be negative".to_owned());
    }
    let (whole, fraction) = split_decimal(&digits)?;
    if fraction.len() > 2 {
        return Err(format!("{raw} has more than two decimals"));
    }
    let whole: String = whole.chars().filter(|c| !matches!(c, ',' | '.')).collect();
    if whole.is_empty() || !whole.chars().chain(fraction.chars()).all(|c| c.is_ascii_digit()) || whole.len() > 15 {
        return Err(AMOUNT_HINT.to_owned());
    }
    let units: i64 = whole.parse().map_err(|_| AMOUNT_HINT.to_owned())?;
    let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| AMOUNT_HINT.to_owned())?;
    Ok(Money { cents: units.saturating_mul(100).saturating_add(cents), currency })
}

/// Splits a currency symbol or code off either end of `raw`.
fn split_currency(raw: &str) -> (&str, Option<[u8; 3]>) {
    for (symbol, code) in [("US$", *b"USD"), ("$", *b"USD"), ("€", *b"EUR"), ("£", *b"GBP")] {
        if let Some(rest) = raw.strip_prefix(symbol).or_else(|| raw.strip_suffix(symbol)) {
            return (rest.trim(), Some(code));
        }
    }
    let letters = |s: &str| s.len() == 3 && s.chars().all(|c| c.is_ascii_alphabetic());
    let upper = |s: &str| {
        let bytes = s.to_ascii_uppercase().into_bytes();
        [bytes[0], bytes[1], bytes[2]]
    };
    if let Some((code, rest)) = raw.split_once(char::is_whitespace).filter(|(code, _)| letters(code)) {
        return (rest.trim(), Some(upper(code)));
    }
    if let Some((rest, code)) = raw.rsplit_once(char::is_whitespace).filter(|(_, code)| letters(code)) {
        return (rest.trim(), Some(upper(code)));
    }
    (raw, None)
}

/// Splits `digits` into the whole part (with any thousands separators) and
/// the decimals, deciding which of `.` and `,` is the decimal separator.
fn split_decimal(digits: &str) -> Result<(&str, &str), String> {
    let (dots, commas) = (digits.matches('.').count(), digits.matches(',').count());
    let last = |separator: char| digits.rfind(separator).map(|i| (&digits[..i], &digits[i + 1..]));
    let (whole, fraction) = match (dots, commas) {
        (0, 0) => (digits, ""),
        (_, 0) if dots > 1 => (digits, ""),
        (1, 0) => {
            let (whole, fraction) = last('.').unwrap_or((digits, ""));
            if fraction.len() == 3 && (1..=3).contains(&whole.len()) {
                return Err(format!(
                    "{digits} is ambiguous (a thousand and more, or just over one?): write 1234 or 1.23"
                ));
            }
            (whole, fraction)
        }
        (0, 1) if digits.rsplit(',').next().is_some_and(|tail| (1..=2).contains(&tail.len())) => {
            last(',').unwrap_or((digits, ""))
        }
        (0, _) => (digits, ""),
        _ => {
            let decimal = if digits.rfind('.') > digits.rfind(',') { '.' } else { ',' };
            last(decimal).unwrap_or((digits, ""))
        }
    };
    grouped_correctly(whole).then_some((whole, fraction)).ok_or_else(|| AMOUNT_HINT.to_owned())
}

/// Whether thousands separators in `whole` sit every three digits.
fn grouped_correctly(whole: &str) -> bool {
    let groups: Vec<&str> = whole.split(['.', ',']).collect();
    groups.len() == 1 || (!groups[0].is_empty() && groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3))
}

/// Parses a percentage: `72.5`, `72,5` or `72.5 %`.
pub fn percent(raw: &str) -> Result<f64, String> {
    let text = raw.trim().trim_end_matches('%').trim();
    let text = if text.contains('.') { text.to_owned() } else { text.replacen(',', ".", 1) };
    text.parse::<f64>().ok().filter(|n| n.is_finite()).ok_or_else(|| "must be a percentage such as 72.5".to_owned())
}

/// Which stage values mean closed-won.
#[derive(Debug, Clone)]
pub struct WonStages(Vec<String>);

impl WonStages {
    /// The stages `values` names; none means the default, "Closed Won".
    pub fn new(values: &[String]) -> Self {
        let mut stages: Vec<String> = values.iter().map(|v| squash(v)).filter(|v| !v.is_empty()).collect();
        if stages.is_empty() {
            stages.push(squash("Closed Won"));
        }
        Self(stages)
    }

    /// Whether `stage` is one of them.
    pub fn matches(&self, stage: &str) -> bool {
        let stage = squash(stage);
        self.0.contains(&stage)
    }
}

/// Lower case without spaces, `_` and `-`.
fn squash(value: &str) -> String {
    value.chars().filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-')).flat_map(char::to_lowercase).collect()
}

/// The users deals may name as their owner, by email and by name.
#[derive(Debug, Clone, Default)]
pub struct People {
    by_email: HashMap<String, i32>,
    by_name: HashMap<String, Vec<i32>>,
    emails: HashMap<i32, String>,
}

impl People {
    /// Every user, loaded once.
    pub async fn load(db: &impl ConnectionTrait) -> AppResult<Self> {
        let mut people = Self::default();
        for found in user::Entity::find().all(db).await? {
            people.by_email.insert(found.email.to_lowercase(), found.id);
            people.by_name.entry(loose_name(&found.name)).or_default().push(found.id);
            people.emails.insert(found.id, found.email);
        }
        Ok(people)
    }

    /// The user `owner` names: an email, a name, or `Name <email>`.
    pub fn resolve(&self, owner: &str) -> Result<i32, String> {
        let inner = owner.rsplit_once(['<', '(']).map(|(_, rest)| rest.trim_end_matches(['>', ')']).trim());
        let email = inner.filter(|e| e.contains('@')).unwrap_or(owner).trim();
        if email.contains('@') {
            return self
                .by_email
                .get(&email.to_lowercase())
                .copied()
                .ok_or_else(|| format!("unknown owner: no user has the email {email}"));
        }
        match self.by_name.get(&loose_name(owner)).map(Vec::as_slice) {
            Some([id]) => Ok(*id),
            Some(ids) if ids.len() > 1 => Err(format!("{owner} is the name of {} users: give the email", ids.len())),
            _ => Err(format!("unknown owner: no user has the email or name {owner}")),
        }
    }

    /// The email of user `id`, for reports.
    pub fn email(&self, id: Option<i32>) -> String {
        id.and_then(|id| self.emails.get(&id).cloned()).unwrap_or_else(|| "none".to_owned())
    }
}

/// Customer accounts as the contacts and economics imports name them: by
/// exact name, or else by the one account whose name matches ignoring case.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    exact: HashMap<String, i32>,
    loose: HashMap<String, Vec<i32>>,
}

impl Accounts {
    /// Every account's id and name, loaded once.
    pub async fn load(db: &impl ConnectionTrait) -> AppResult<Self> {
        let rows: Vec<(i32, String)> = account::Entity::find()
            .select_only()
            .column(account::Column::Id)
            .column(account::Column::Name)
            .into_tuple()
            .all(db)
            .await?;
        let mut accounts = Self::default();
        for (id, name) in rows {
            accounts.loose.entry(loose_name(&name)).or_default().push(id);
            accounts.exact.insert(name, id);
        }
        Ok(accounts)
    }

    /// The id of the account named `name`.
    pub fn resolve(&self, name: &str) -> Result<i32, String> {
        if let Some(id) = self.exact.get(name) {
            return Ok(*id);
        }
        match self.loose.get(&loose_name(name)).map(Vec::as_slice) {
            Some([id]) => Ok(*id),
            Some(ids) if ids.len() > 1 => Err(format!("{name} matches {} accounts: write the name exactly", ids.len())),
            _ => Err(format!("unknown account: no account is named {name} (import its deals first)")),
        }
    }
}

fn loose_name(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> Result<NaiveDate, String> {
        NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| "bad test date".to_owned())
    }

    #[test]
    fn dates_in_the_exports_formats() {
        assert_eq!(date("2026-03-01", false), day(2026, 3, 1));
        assert_eq!(date("2026-03-01 14:30", false), day(2026, 3, 1));
        assert_eq!(date("2026-03-01T14:30:00Z", false), day(2026, 3, 1));
        assert_eq!(date("3/1/2026", false), day(2026, 3, 1));
        assert_eq!(date("3/1/2026", true), day(2026, 1, 3));
        assert_eq!(date("12/31/2025 11:00 PM", false), day(2025, 12, 31));
        assert_eq!(date("01.03.2026", false), day(2026, 3, 1));
        assert_eq!(date("1.3.2026", true), day(2026, 3, 1));
    }

    #[test]
    fn dates_that_are_not_are_refused_with_a_reason() {
        assert!(date("25/12/2026", false).is_err_and(|e| e.contains("not a US date")));
        assert!(date("2026-02-30", false).is_err_and(|e| e.contains("not a day of the calendar")));
        assert!(date("1/3/26", false).is_err_and(|e| e.contains("four-digit year")));
        assert!(date("next week", false).is_err_and(|e| e.starts_with("must be a date")));
        assert!(date("0226-01-01", false).is_err_and(|e| e.contains("between the years")));
    }

    fn cents(raw: &str) -> Result<(i64, Option<String>), String> {
        amount(raw).map(|m| (m.cents, m.currency_code()))
    }

    #[test]
    fn amounts_in_us_and_european_styles() {
        assert_eq!(cents("1234.56"), Ok((123_456, None)));
        assert_eq!(cents("1,234.56"), Ok((123_456, None)));
        assert_eq!(cents("$1,234.56"), Ok((123_456, Some("USD".to_owned()))));
        assert_eq!(cents("EUR 1.234,56"), Ok((123_456, Some("EUR".to_owned()))));
        assert_eq!(cents("1 234,5 €"), Ok((123_450, Some("EUR".to_owned()))));
        assert_eq!(cents("12,000"), Ok((1_200_000, None)));
        assert_eq!(cents("1.234.567"), Ok((123_456_700, None)));
        assert_eq!(cents("15000"), Ok((1_500_000, None)));
        assert_eq!(cents("0.5"), Ok((50, None)));
    }

    #[test]
    fn amounts_that_are_not_are_refused_with_a_reason() {
        assert!(cents("1.234").is_err_and(|e| e.contains("ambiguous")));
        assert!(cents("-5").is_err_and(|e| e.contains("negative")));
        assert!(cents("12.345,678").is_err_and(|e| e.contains("more than two decimals")));
        assert!(cents("12,34,56").is_err_and(|e| e.starts_with("must be an amount")));
        assert!(cents("lots").is_err_and(|e| e.starts_with("must be an amount")));
    }

    #[test]
    fn won_stages_ignore_case_and_spacing() {
        let default = WonStages::new(&[]);
        assert!(default.matches("Closed Won") && default.matches("closedwon") && default.matches("CLOSED_WON"));
        assert!(!default.matches("Closed Lost"));
        let custom = WonStages::new(&["Contract signed".to_owned()]);
        assert!(custom.matches("contract-signed") && !custom.matches("Closed Won"));
    }

    #[test]
    fn owners_by_email_or_name() {
        let mut people = People::default();
        people.by_email.insert("kim@example.com".to_owned(), 1);
        people.by_name.insert("kim jansen".to_owned(), vec![1]);
        people.by_name.insert("sam lee".to_owned(), vec![2, 3]);
        assert_eq!(people.resolve("KIM@example.com"), Ok(1));
        assert_eq!(people.resolve("Kim  JANSEN"), Ok(1));
        assert_eq!(people.resolve("Kim Jansen <kim@example.com>"), Ok(1));
        assert!(people.resolve("Sam Lee").is_err_and(|e| e.contains("2 users")));
        assert!(people.resolve("Nobody").is_err_and(|e| e.starts_with("unknown owner")));
    }
}
