//! Profitability: what a customer is worth against what winning them cost.
//!
//! Per account, from three fields on the account (editable on the account
//! page and through `PATCH /api/v1/accounts/{id}`):
//! - ARR (annual recurring revenue), gross margin % and CAC (customer
//!   acquisition cost);
//! - ARPA (average revenue per account, monthly) = ARR / 12;
//! - LTV = ARPA x gross margin / monthly churn rate;
//! - LTV:CAC, judged against the 3:1 line ([`TARGET_LTV_CAC`]);
//! - CAC payback in months = CAC / (ARPA x gross margin).
//!
//! **The churn rate** comes from the data when there is enough of it,
//! otherwise from the configured rate (by default [`DEFAULT_MONTHLY_CHURN`]):
//! - an account is a customer from the day its first deal was won; it has
//!   churned when every one of its deals has churned, on the last of those
//!   days;
//! - over the last 12 months, each account is observed from the later of its
//!   start and the window's start to the earlier of its churn and today;
//!   the rate is the accounts that churned in the window divided by the
//!   account-months observed (a month is 365.25 / 12 days);
//! - "enough" is at least [`MIN_ACCOUNTS_OBSERVED`] accounts observed and at
//!   least one churn: fewer accounts make the rate noise, and no churn at
//!   all would make every LTV infinite.
//!
//! One churn rate serves every account and segment: per-segment rates would
//! rarely have enough data behind them.
//!
//! Segments sum their accounts that have all three figures: ARPA is their
//! total ARR / 12 / their number, the margin is weighted by ARR, and
//! LTV:CAC and payback come from the totals, so a segment's figures are
//! those of its average account.

use std::collections::BTreeMap;

use chrono::{DateTime, Months, NaiveDate, Utc};
use entity::{account, deal};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryOrder, Set};
use serde::{Deserialize, Serialize};

use super::stats::round4;
use crate::validate::Fields;
use crate::{AppError, AppResult, audit};

/// The configured monthly churn rate used when the data is too thin:
/// 1.5 % of accounts a month, as a fraction.
pub const DEFAULT_MONTHLY_CHURN: f64 = 0.015;

/// The line a healthy account or segment is judged against: LTV at least
/// three times CAC.
pub const TARGET_LTV_CAC: f64 = 3.0;

/// The data gives the churn rate only when at least this many accounts were
/// observed over the window (and at least one churned).
pub const MIN_ACCOUNTS_OBSERVED: u64 = 10;

/// The window the churn rate is measured over, in months.
pub const CHURN_WINDOW_MONTHS: u32 = 12;

/// Days in an average month.
const DAYS_PER_MONTH: f64 = 365.25 / 12.0;

/// The largest ARR or CAC we accept (in currency units): catches typos and
/// keeps cents within a 64-bit integer with room to sum.
const MAX_AMOUNT: f64 = 1_000_000_000_000.0;

/// Ratios are compared with this tolerance, so that a 3:1 computed from round
/// figures (e.g. 900 / 0.015 / 20 000) counts as 3 despite floating point.
pub const TOLERANCE: f64 = 1e-9;

/// Where the churn rate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChurnSource {
    /// Measured over the last 12 months.
    Data,
    /// The configured rate: the data was too thin.
    Configured,
}

/// The monthly churn rate behind every LTV, and how it was found.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChurnRate {
    /// Accounts lost per account per month, as a fraction (0.015 = 1.5 %).
    pub monthly: f64,
    /// The same in percent, rounded to two decimals, for display.
    pub monthly_pct: f64,
    /// `data` or `configured`.
    pub source: ChurnSource,
    /// Accounts observed over the window.
    pub accounts_observed: u64,
    /// Accounts that churned in the window.
    pub churned: u64,
    /// Account-months observed.
    pub account_months: f64,
    /// Why this rate, in a sentence.
    pub explanation: String,
}

/// One account's economics; `None` where a figure is unknown or undefined.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AccountEconomics {
    /// The account's id.
    pub account_id: i32,
    /// The company's name.
    pub account: String,
    /// Its segment.
    pub segment: Option<String>,
    /// Annual recurring revenue, in currency units.
    pub arr: Option<f64>,
    /// Gross margin in percent.
    pub gross_margin_pct: Option<f64>,
    /// Customer acquisition cost, in currency units.
    pub cac: Option<f64>,
    /// Average revenue per account per month: ARR / 12.
    pub arpa_monthly: Option<f64>,
    /// Lifetime value: ARPA x margin / monthly churn.
    pub ltv: Option<f64>,
    /// LTV divided by CAC (undefined when CAC is 0).
    pub ltv_cac: Option<f64>,
    /// Months of gross profit that pay back CAC (undefined at no profit).
    pub payback_months: Option<f64>,
    /// Whether LTV:CAC reaches the 3:1 line; `None` when unknown.
    pub meets_target: Option<bool>,
}

impl AccountEconomics {
    /// Whether ARR, margin and CAC are all known.
    pub fn is_complete(&self) -> bool {
        self.arr.is_some() && self.gross_margin_pct.is_some() && self.cac.is_some()
    }
}

/// A segment's economics: its accounts with all three figures, summed.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SegmentEconomics {
    /// The segment (`No segment` for accounts without one; `All accounts`
    /// for the total).
    pub segment: String,
    /// Accounts in the segment.
    pub accounts: usize,
    /// Of those, how many have ARR, margin and CAC.
    pub with_economics: usize,
    /// Their total ARR.
    pub arr_total: f64,
    /// Their average monthly revenue per account.
    pub arpa_monthly: Option<f64>,
    /// Their ARR-weighted gross margin in percent.
    pub gross_margin_pct: Option<f64>,
    /// Their average CAC.
    pub cac_average: Option<f64>,
    /// The average account's lifetime value.
    pub ltv: Option<f64>,
    /// Total LTV over total CAC.
    pub ltv_cac: Option<f64>,
    /// Total CAC over total monthly gross profit.
    pub payback_months: Option<f64>,
    /// Whether LTV:CAC reaches the 3:1 line.
    pub meets_target: Option<bool>,
}

/// Profitability by account and by segment.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ProfitabilityReport {
    /// The churn rate behind every LTV.
    pub churn: ChurnRate,
    /// The 3:1 line.
    pub target_ltv_cac: f64,
    /// Every account, by name.
    pub accounts: Vec<AccountEconomics>,
    /// Every segment, by name.
    pub segments: Vec<SegmentEconomics>,
    /// All accounts together.
    pub overall: SegmentEconomics,
}

/// The monthly churn rate as of `now`: from the last 12 months when there is
/// enough data, else `configured` (a fraction, e.g. [`DEFAULT_MONTHLY_CHURN`]).
pub async fn churn_rate(db: &impl ConnectionTrait, configured: f64, now: DateTime<Utc>) -> AppResult<ChurnRate> {
    let deals = deal::Entity::find().all(db).await?;
    // account -> (first won, churned on when every deal churned)
    let mut spans: BTreeMap<i32, (NaiveDate, Option<NaiveDate>, bool)> = BTreeMap::new();
    for d in &deals {
        let span = spans.entry(d.account_id).or_insert((d.closed_won_on, d.churned_on, true));
        span.0 = span.0.min(d.closed_won_on);
        match (span.1, d.churned_on) {
            (_, None) => span.2 = false,
            (Some(before), Some(on)) => span.1 = Some(before.max(on)),
            (None, Some(on)) => span.1 = Some(on),
        }
    }
    let today = now.date_naive();
    let window_start = today.checked_sub_months(Months::new(CHURN_WINDOW_MONTHS)).unwrap_or(today);
    let (mut observed, mut churned, mut days) = (0_u64, 0_u64, 0_i64);
    for (start, churned_on, all_churned) in spans.into_values() {
        let churned_on = churned_on.filter(|_| all_churned);
        let from = start.max(window_start);
        let until = churned_on.map_or(today, |on| on.min(today));
        if from >= until {
            // Not a customer yet, or gone before the window.
            continue;
        }
        observed += 1;
        days += (until - from).num_days();
        if churned_on.is_some_and(|on| on >= window_start && on <= today) {
            churned += 1;
        }
    }
    let account_months = days as f64 / DAYS_PER_MONTH;
    let enough = observed >= MIN_ACCOUNTS_OBSERVED && churned >= 1;
    let (monthly, source, explanation) = if enough {
        (
            churned as f64 / account_months,
            ChurnSource::Data,
            format!(
                "measured: {churned} of {observed} accounts churned over {:.1} account-months in the last {CHURN_WINDOW_MONTHS} months",
                account_months
            ),
        )
    } else {
        let why = if observed < MIN_ACCOUNTS_OBSERVED {
            format!(
                "only {observed} accounts observed in the last {CHURN_WINDOW_MONTHS} months (at least {MIN_ACCOUNTS_OBSERVED} needed)"
            )
        } else {
            format!("no account churned in the last {CHURN_WINDOW_MONTHS} months")
        };
        (configured, ChurnSource::Configured, format!("configured rate: {why}"))
    };
    Ok(ChurnRate {
        monthly,
        monthly_pct: (monthly * 10_000.0).round() / 100.0,
        source,
        accounts_observed: observed,
        churned,
        account_months: round4(account_months),
        explanation,
    })
}

fn cents_to_units(cents: Option<i64>) -> Option<f64> {
    cents.map(|c| c as f64 / 100.0)
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// An account's economics at `monthly_churn` (a fraction).
pub fn economics(account: &account::Model, monthly_churn: f64) -> AccountEconomics {
    let arr = cents_to_units(account.arr_cents);
    let margin = account.gross_margin_pct;
    let cac = cents_to_units(account.cac_cents);
    let arpa = arr.map(|arr| arr / 12.0);
    let profit = arpa.zip(margin).map(|(arpa, margin)| arpa * margin / 100.0);
    let ltv = profit.filter(|_| monthly_churn > 0.0).map(|profit| profit / monthly_churn);
    let ltv_cac = ltv.zip(cac.filter(|c| *c > 0.0)).map(|(ltv, cac)| ltv / cac);
    let payback = cac.zip(profit.filter(|p| *p > 0.0)).map(|(cac, profit)| cac / profit);
    AccountEconomics {
        account_id: account.id,
        account: account.name.clone(),
        segment: account.segment.clone(),
        arr,
        gross_margin_pct: margin,
        cac,
        arpa_monthly: arpa.map(round2),
        ltv: ltv.map(round2),
        ltv_cac: ltv_cac.map(round4),
        payback_months: payback.map(|p| (p * 10.0).round() / 10.0),
        meets_target: ltv_cac.map(meets_target),
    }
}

/// Whether a ratio reaches the 3:1 line.
pub fn meets_target(ltv_cac: f64) -> bool {
    ltv_cac >= TARGET_LTV_CAC - TOLERANCE
}

fn segment_of(name: &str, accounts: &[&account::Model], monthly_churn: f64) -> SegmentEconomics {
    let complete: Vec<&&account::Model> = accounts
        .iter()
        .filter(|a| a.arr_cents.is_some() && a.gross_margin_pct.is_some() && a.cac_cents.is_some())
        .collect();
    let n = complete.len();
    let arr_total: f64 = complete.iter().filter_map(|a| cents_to_units(a.arr_cents)).sum();
    let cac_total: f64 = complete.iter().filter_map(|a| cents_to_units(a.cac_cents)).sum();
    // Monthly gross profit of all of them together.
    let profit_total: f64 = complete
        .iter()
        .map(|a| {
            cents_to_units(a.arr_cents).unwrap_or_default() / 12.0 * a.gross_margin_pct.unwrap_or_default() / 100.0
        })
        .sum();
    let some = |value: f64| (n > 0).then_some(value);
    let ltv_total = some(profit_total).filter(|_| monthly_churn > 0.0).map(|p| p / monthly_churn);
    let ltv_cac = ltv_total.filter(|_| cac_total > 0.0).map(|ltv| ltv / cac_total);
    SegmentEconomics {
        segment: name.to_owned(),
        accounts: accounts.len(),
        with_economics: n,
        arr_total: round2(arr_total),
        arpa_monthly: some(round2(arr_total / 12.0 / n.max(1) as f64)),
        gross_margin_pct: (arr_total > 0.0).then(|| round2(profit_total * 12.0 * 100.0 / arr_total)),
        cac_average: some(round2(cac_total / n.max(1) as f64)),
        ltv: ltv_total.map(|ltv| round2(ltv / n.max(1) as f64)),
        ltv_cac: ltv_cac.map(round4),
        payback_months: some(cac_total)
            .filter(|_| profit_total > 0.0)
            .map(|cac| (cac / profit_total * 10.0).round() / 10.0),
        meets_target: ltv_cac.map(meets_target),
    }
}

/// Profitability of every account and segment as of `now`, at the churn
/// rate from the data or `configured_churn`.
pub async fn report(
    db: &impl ConnectionTrait,
    configured_churn: f64,
    now: DateTime<Utc>,
) -> AppResult<ProfitabilityReport> {
    let churn = churn_rate(db, configured_churn, now).await?;
    let accounts = account::Entity::find().order_by_asc(account::Column::Name).all(db).await?;
    let mut by_segment: BTreeMap<String, Vec<&account::Model>> = BTreeMap::new();
    for a in &accounts {
        by_segment.entry(a.segment.clone().unwrap_or_else(|| "No segment".to_owned())).or_default().push(a);
    }
    let segments = by_segment.iter().map(|(name, members)| segment_of(name, members, churn.monthly)).collect();
    let overall = segment_of("All accounts", &accounts.iter().collect::<Vec<_>>(), churn.monthly);
    Ok(ProfitabilityReport {
        accounts: accounts.iter().map(|a| economics(a, churn.monthly)).collect(),
        segments,
        overall,
        target_ltv_cac: TARGET_LTV_CAC,
        churn,
    })
}

/// One account's economics as of `now`.
pub async fn for_account(
    db: &impl ConnectionTrait,
    id: i32,
    configured_churn: f64,
    now: DateTime<Utc>,
) -> AppResult<AccountEconomics> {
    let found = account::Entity::find_by_id(id).one(db).await?.ok_or(AppError::NotFound("account"))?;
    let churn = churn_rate(db, configured_churn, now).await?;
    Ok(economics(&found, churn.monthly))
}

/// What an account's economics become. Absent fields stay as they are;
/// `null` or blank clears them. Numbers may be sent as JSON numbers or as
/// text (forms).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EconomicsInput {
    /// Annual recurring revenue, in currency units (e.g. 120000 or 1250.50).
    #[serde(default, deserialize_with = "number_or_text")]
    #[schema(value_type = Option<f64>)]
    pub arr: Option<Option<String>>,
    /// Gross margin in percent, 0-100.
    #[serde(default, deserialize_with = "number_or_text")]
    #[schema(value_type = Option<f64>)]
    pub gross_margin_pct: Option<Option<String>>,
    /// Customer acquisition cost, in currency units.
    #[serde(default, deserialize_with = "number_or_text")]
    #[schema(value_type = Option<f64>)]
    pub cac: Option<Option<String>>,
}

/// Accepts a JSON number, a string (a form field) or `null`, keeping the
/// text so that it is checked, with the field named, in one place.
fn number_or_text<'de, D>(deserializer: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Visitor;

    impl serde::de::Visitor<'_> for Visitor {
        type Value = Option<String>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a number or null")
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }

        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
    }

    deserializer.deserialize_any(Visitor).map(Some)
}

/// Parses an amount or percentage in `min..=max`; blank clears.
fn number(fields: &mut Fields, field: &str, value: Option<&str>, min: f64, max: f64, what: &str) -> Option<f64> {
    let text = fields.optional(field, value, 40)?;
    match text.replace(['_', ' '], "").parse::<f64>() {
        Ok(n) if n.is_finite() && (min..=max).contains(&n) => Some(n),
        Ok(_) => {
            fields.error(field, format!("must be {what}"));
            None
        }
        Err(_) => {
            fields.error(field, "must be a number such as 120000 or 80.5");
            None
        }
    }
}

fn to_cents(units: f64) -> i64 {
    (units * 100.0).round() as i64
}

/// Sets an account's ARR, gross margin and CAC.
pub async fn update_economics(
    db: &DatabaseConnection,
    id: i32,
    input: EconomicsInput,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut fields = Fields::new();
    let amount = "a number from 0 to 1000000000000";
    let arr = input.arr.as_ref().map(|v| number(&mut fields, "arr", v.as_deref(), 0.0, MAX_AMOUNT, amount));
    let margin = input
        .gross_margin_pct
        .as_ref()
        .map(|v| number(&mut fields, "gross_margin_pct", v.as_deref(), 0.0, 100.0, "a percentage from 0 to 100"));
    let cac = input.cac.as_ref().map(|v| number(&mut fields, "cac", v.as_deref(), 0.0, MAX_AMOUNT, amount));
    fields.finish()?;

    let txn = crate::db::begin_write(db).await?;
    let found = account::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound("account"))?;
    let mut active: account::ActiveModel = found.into();
    let mut changed = Vec::new();
    let shown = |v: Option<f64>| v.map_or_else(|| "none".to_owned(), |v| format!("{v}"));
    if let Some(arr) = arr {
        active.arr_cents = Set(arr.map(to_cents));
        changed.push(format!("arr={}", shown(arr)));
    }
    if let Some(margin) = margin {
        active.gross_margin_pct = Set(margin);
        changed.push(format!("gross_margin_pct={}", shown(margin)));
    }
    if let Some(cac) = cac {
        active.cac_cents = Set(cac.map(to_cents));
        changed.push(format!("cac={}", shown(cac)));
    }
    if changed.is_empty() {
        return Ok(());
    }
    active.update(&txn).await?;
    audit::record(&txn, Some(actor), "account.economics", &format!("account:{id}"), changed.join(", "), now).await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(arr: Option<i64>, margin: Option<f64>, cac: Option<i64>) -> account::Model {
        account::Model {
            id: 1,
            name: "Acme".to_owned(),
            domain: None,
            segment: None,
            created_at: DateTime::<Utc>::MIN_UTC,
            arr_cents: arr.map(|a| a * 100),
            gross_margin_pct: margin,
            cac_cents: cac.map(|c| c * 100),
        }
    }

    #[test]
    fn economics_follow_the_formulas() {
        // ARPA 1 000; gross profit 900 a month; LTV 900 / 0.015 = 60 000.
        let e = economics(&account(Some(12_000), Some(90.0), Some(20_000)), 0.015);
        assert_eq!(e.arpa_monthly, Some(1_000.0));
        assert_eq!(e.ltv, Some(60_000.0));
        assert_eq!(e.ltv_cac, Some(3.0));
        assert_eq!(e.meets_target, Some(true));
        assert_eq!(e.payback_months, Some(22.2));
        // 87 %: LTV 58 000, 2.9:1.
        let e = economics(&account(Some(12_000), Some(87.0), Some(20_000)), 0.015);
        assert_eq!((e.ltv, e.ltv_cac, e.meets_target), (Some(58_000.0), Some(2.9), Some(false)));
    }

    #[test]
    fn unknown_or_undefined_figures_stay_unknown() {
        let e = economics(&account(None, Some(80.0), Some(1_000)), 0.015);
        assert_eq!(
            (e.arpa_monthly, e.ltv, e.ltv_cac, e.payback_months, e.meets_target),
            (None, None, None, None, None)
        );
        // A free customer: no ratio, but a lifetime value (500 / 0.015).
        let e = economics(&account(Some(12_000), Some(50.0), Some(0)), 0.015);
        assert_eq!((e.ltv, e.ltv_cac, e.payback_months), (Some(33_333.33), None, Some(0.0)));
        // No margin: nothing ever pays back.
        let e = economics(&account(Some(12_000), Some(0.0), Some(5_000)), 0.015);
        assert_eq!((e.ltv, e.ltv_cac, e.payback_months), (Some(0.0), Some(0.0), None));
    }
}
