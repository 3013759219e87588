//! When a user's digest is due: the configured local hour (Monday 07:00 by
//! default) in the user's own time zone, weekly or daily.
//!
//! A digest belongs to a **period**: the ISO week (`2026-W49`) or the day
//! (`2026-11-30`) of its local send date. The period key is part of the
//! outbox dedupe key, so a period's digest goes out once however often the
//! job runs and on however many instances.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::config::DigestPolicy;

/// How often a user gets a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    /// On the configured weekday.
    Weekly,
    /// Every day.
    Daily,
    /// Never.
    Off,
}

impl Frequency {
    /// Every frequency, as stored.
    pub const ALL: [Frequency; 3] = [Frequency::Weekly, Frequency::Daily, Frequency::Off];

    /// Reads a stored value.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == raw)
    }

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Weekly => "weekly",
            Frequency::Daily => "daily",
            Frequency::Off => "off",
        }
    }

    /// The days a digest covers.
    pub fn window_days(self) -> i64 {
        if self == Frequency::Daily { 1 } else { 7 }
    }
}

/// A scheduled run sends a period's digest at most this late (the
/// instance was down at the hour); later, the next period's waits.
pub const CATCH_UP: Duration = Duration::hours(24);

/// One digest's period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// `2026-W49` or `2026-11-30`.
    pub key: String,
    /// The local date it is sent on.
    pub local_date: NaiveDate,
    /// When it is due.
    pub send_at: DateTime<Utc>,
}

/// The user's time zone; UTC when the stored name is not a known IANA zone.
pub fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

/// The instant of `local` in `tz`; in a DST gap (the clock jumps over it)
/// the first instant after the gap.
fn instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = local;
    for _ in 0..4 {
        if let Some(at) = tz.from_local_datetime(&probe).earliest() {
            return at.with_timezone(&Utc);
        }
        probe += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&local)
}

fn period_of(frequency: Frequency, local_date: NaiveDate, send_at: DateTime<Utc>) -> Period {
    let key = if frequency == Frequency::Daily {
        local_date.format("%Y-%m-%d").to_string()
    } else {
        let week = local_date.iso_week();
        format!("{}-W{:02}", week.year(), week.week())
    };
    Period { key, local_date, send_at }
}

/// The send moment of the period `now` falls in (it may lie ahead of `now`).
fn current(policy: DigestPolicy, frequency: Frequency, tz: Tz, now: DateTime<Utc>) -> Option<Period> {
    let today = now.with_timezone(&tz).date_naive();
    let date = match frequency {
        Frequency::Off => return None,
        Frequency::Daily => today,
        Frequency::Weekly => {
            let back = (7 + today.weekday().num_days_from_monday() - policy.weekday.num_days_from_monday()) % 7;
            today - Duration::days(i64::from(back))
        }
    };
    let local = date.and_hms_opt(policy.hour.min(23), 0, 0)?;
    Some(period_of(frequency, date, instant(tz, local)))
}

/// The period a scheduled run at `now` should send: the latest whose send
/// moment has come, if it came less than [`CATCH_UP`] ago.
pub fn due(policy: DigestPolicy, frequency: Frequency, tz: Tz, now: DateTime<Utc>) -> Option<Period> {
    let mut period = current(policy, frequency, tz, now)?;
    if period.send_at > now {
        let step = Duration::days(frequency.window_days());
        let date = period.local_date - step;
        let local = date.and_hms_opt(policy.hour.min(23), 0, 0)?;
        period = period_of(frequency, date, instant(tz, local));
    }
    (now - period.send_at < CATCH_UP).then_some(period)
}

/// The period `now` falls in, whether or not its hour has come: what a run
/// by hand (`aftercare jobs run weekly-digest --as-of DATE`) sends.
pub fn containing(policy: DigestPolicy, frequency: Frequency, tz: Tz, now: DateTime<Utc>) -> Option<Period> {
    current(policy, frequency, tz, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("a time").with_timezone(&Utc)
    }

    fn due_at(zone_name: &str, now: &str) -> Option<(String, DateTime<Utc>)> {
        due(DigestPolicy::default(), Frequency::Weekly, zone(zone_name), utc(now)).map(|p| (p.key, p.send_at))
    }

    #[test]
    fn weekly_digests_fall_due_at_seven_local_on_monday() {
        // 2026-11-30 is a Monday; Amsterdam is UTC+1 in winter.
        assert_eq!(due_at("Europe/Amsterdam", "2026-11-30T05:59:00Z").map(|p| p.0), None);
        assert_eq!(
            due_at("Europe/Amsterdam", "2026-11-30T06:00:00Z"),
            Some(("2026-W49".to_owned(), utc("2026-11-30T06:00:00Z")))
        );
        assert_eq!(due_at("America/Los_Angeles", "2026-11-30T14:59:00Z"), None);
        assert_eq!(
            due_at("America/Los_Angeles", "2026-11-30T15:00:00Z").map(|p| p.1),
            Some(utc("2026-11-30T15:00:00Z"))
        );
        // Past the catch-up day, a missed digest waits for the next week.
        assert_eq!(due_at("Europe/Amsterdam", "2026-12-01T06:00:00Z"), None);
    }

    #[test]
    fn daylight_saving_moves_the_utc_hour_not_the_local_one() {
        // Europe left summer time on 2026-10-25, the US a week later.
        assert_eq!(due_at("Europe/Amsterdam", "2026-10-26T06:00:00Z").map(|p| p.1), Some(utc("2026-10-26T06:00:00Z")));
        assert_eq!(
            due_at("America/Los_Angeles", "2026-10-26T14:00:00Z").map(|p| p.1),
            Some(utc("2026-10-26T14:00:00Z"))
        );
        assert_eq!(due_at("Europe/Amsterdam", "2026-10-19T05:00:00Z").map(|p| p.1), Some(utc("2026-10-19T05:00:00Z")));
    }

    #[test]
    fn a_send_hour_inside_a_dst_gap_moves_to_the_first_instant_after_it() {
        // On 2026-03-29 Amsterdam jumps from 02:00 to 03:00.
        let policy = DigestPolicy { weekday: chrono::Weekday::Sun, hour: 2 };
        let period =
            due(policy, Frequency::Weekly, zone("Europe/Amsterdam"), utc("2026-03-29T02:00:00Z")).expect("due");
        assert_eq!(period.send_at, utc("2026-03-29T01:00:00Z"));
    }

    #[test]
    fn daily_periods_are_local_days_and_off_is_never_due() {
        let period = due(DigestPolicy::default(), Frequency::Daily, zone("Asia/Kolkata"), utc("2026-12-02T01:30:00Z"));
        assert_eq!(period.map(|p| p.key), Some("2026-12-02".to_owned()));
        assert_eq!(due(DigestPolicy::default(), Frequency::Off, Tz::UTC, utc("2026-11-30T07:00:00Z")), None);
        assert_eq!(zone("Mars/Olympus"), Tz::UTC);
    }

    #[test]
    fn a_run_by_hand_sends_the_period_it_falls_in() {
        let period = containing(
            DigestPolicy::default(),
            Frequency::Weekly,
            zone("America/Los_Angeles"),
            utc("2026-12-02T12:00:00Z"),
        );
        assert_eq!(period.map(|p| p.key), Some("2026-W49".to_owned()));
    }
}
