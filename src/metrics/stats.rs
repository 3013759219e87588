//! Small statistics shared by the metrics.

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
