//! Small statistics shared by the metrics, and calendar quarters (close
//! cohorts, the ask budget).

use std::fmt;

use chrono::{Datelike, NaiveDate};

use crate::validate::YEARS;

/// z for a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Fewer observations than this and a rate carries a warning.
pub const SMALL_SAMPLE: u64 = 30;

/// The 95 % Wilson score interval of `successes` out of `n`, as fractions;
/// `None` when `n` is 0.
pub fn wilson(successes: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let n_f = n as f64;
    let p = successes as f64 / n_f;
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denominator;
    let half = Z95 * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denominator;
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// The `q`-quantile (0-1) of sorted values, by linear interpolation between
/// closest ranks; `None` for no values.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    match sorted {
        [] => None,
        [only] => Some(*only),
        _ => {
            let rank = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
            let low = rank.floor() as usize;
            let high = rank.ceil() as usize;
            Some(sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64))
        }
    }
}

/// The median of sorted values.
pub fn median(sorted: &[f64]) -> Option<f64> {
    quantile(sorted, 0.5)
}

/// Rounds to one decimal, for display and stable JSON.
pub fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Rounds to four decimals (rates as fractions).
pub fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// A calendar quarter, the unit of close cohorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quarter {
    /// The year.
    pub year: i32,
    /// 1 to 4.
    pub quarter: u32,
}

impl Quarter {
    /// The quarter `date` falls in.
    pub fn of(date: NaiveDate) -> Self {
        Self { year: date.year(), quarter: date.month0() / 3 + 1 }
    }

    /// Parses `YYYY-Qn` (the `Q` in either case).
    pub fn parse(value: &str) -> Option<Self> {
        let (year, quarter) = value.trim().split_once('-')?;
        let digit = quarter.strip_prefix(['Q', 'q'])?;
        if year.len() != 4 || !year.chars().all(|c| c.is_ascii_digit()) || digit.len() != 1 {
            return None;
        }
        let year: i32 = year.parse().ok()?;
        let quarter: u32 = digit.parse().ok().filter(|q| (1..=4).contains(q))?;
        YEARS.contains(&year).then_some(Self { year, quarter })
    }

    /// The quarter's first day.
    pub fn first_day(self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.year, self.quarter * 3 - 2, 1)
    }

    /// The first day after the quarter.
    pub fn end(self) -> Option<NaiveDate> {
        if self.quarter == 4 {
            NaiveDate::from_ymd_opt(self.year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(self.year, self.quarter * 3 + 1, 1)
        }
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-Q{}", self.year, self.quarter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_hand_computed_values() {
        // 8 of 10: the textbook interval is 0.4902 to 0.9433.
        let (low, high) = wilson(8, 10).expect("an interval");
        assert_eq!((round4(low), round4(high)), (0.4902, 0.9433));
        // All successes: the upper bound is 1, the lower bound is not.
        let (low, high) = wilson(5, 5).expect("an interval");
        assert_eq!(round4(high), 1.0);
        assert_eq!(round4(low), 0.5655);
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn quantiles_interpolate_between_ranks() {
        let values = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(median(&values), Some(2.5));
        assert_eq!(quantile(&values, 0.9), Some(3.7));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
    }
}
