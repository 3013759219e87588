//! Survey health: how many surveys went out, how many were answered, how
//! many needed reminders or expired, and how many contacts unsubscribed;
//! per wave and per month sent.

use std::collections::BTreeMap;

use sea_orm::ConnectionTrait;
use serde::Serialize;

use super::stats::round4;
use crate::AppResult;
use crate::db::Sql;

/// Counts for one row of the table.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = SurveyHealthRow)]
pub struct Health {
    /// The row's key: a wave's months or a month `YYYY-MM`.
    pub key: String,
    /// Surveys sent.
    pub sent: u64,
    /// Answered.
    pub answered: u64,
    /// answered / sent.
    pub response_rate: Option<f64>,
    /// Surveys that needed at least one reminder.
    pub reminded: u64,
    /// Expired unanswered.
    pub expired: u64,
}

/// Survey health by wave and by month, plus unsubscribes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SurveyHealth {
    /// Every survey.
    pub overall: Health,
    /// By wave (a survey covering two waves counts under its first).
    pub by_wave: Vec<Health>,
    /// By month sent.
    pub by_month: Vec<Health>,
    /// Contacts who unsubscribed from surveys.
    pub unsubscribed: u64,
}

/// Computes survey health.
pub async fn compute(db: &impl ConnectionTrait) -> AppResult<SurveyHealth> {
    let backend = db.get_database_backend();
    let month = match backend {
        sea_orm::DbBackend::Postgres => "TO_CHAR(s.sent_at AT TIME ZONE 'UTC', 'YYYY-MM')",
        _ => "substr(s.sent_at, 1, 7)",
    };
    let mut sql = Sql::new(backend);
    sql.text = format!(
        "SELECT CAST(w.wave_months AS TEXT) AS wave, {month} AS month, s.status AS status, \
                CAST(CASE WHEN s.reminders_sent > 0 THEN 1 ELSE 0 END AS BIGINT) AS reminded, COUNT(*) AS n \
         FROM surveys s \
         LEFT JOIN (SELECT survey_id, MIN(wave_months) AS wave_months FROM survey_waves \
                    WHERE survey_id IS NOT NULL GROUP BY survey_id) w ON w.survey_id = s.id \
         WHERE s.sent_at IS NOT NULL \
         GROUP BY 1, 2, 3, 4"
    );
    let mut overall = Health { key: "all".to_owned(), ..Default::default() };
    let mut by_wave: BTreeMap<i64, Health> = BTreeMap::new();
    let mut by_month: BTreeMap<String, Health> = BTreeMap::new();
    for row in db.query_all_raw(sql.statement()).await? {
        let wave: Option<String> = row.try_get("", "wave")?;
        let month: Option<String> = row.try_get("", "month")?;
        let status: String = row.try_get("", "status")?;
        let reminded: i64 = row.try_get("", "reminded")?;
        let n = u64::try_from(row.try_get::<i64>("", "n")?).unwrap_or(0);
        let wave_key = wave.as_deref().and_then(|w| w.parse().ok()).unwrap_or(0);
        let month_key = month.unwrap_or_default();
        for health in [
            &mut overall,
            by_wave.entry(wave_key).or_insert_with(|| Health { key: wave_key.to_string(), ..Default::default() }),
            by_month
                .entry(month_key.clone())
                .or_insert_with(|| Health { key: month_key.clone(), ..Default::default() }),
        ] {
            health.sent += n;
            if status == "answered" {
                health.answered += n;
            }
            if status == "expired" {
                health.expired += n;
            }
            if reminded == 1 {
                health.reminded += n;
            }
        }
    }
    let finish = |mut h: Health| {
        h.response_rate = (h.sent > 0).then(|| round4(h.answered as f64 / h.sent as f64));
        h
    };
    let mut count = Sql::new(backend);
    count.text = "SELECT COUNT(*) AS n FROM contacts WHERE unsubscribed_at IS NOT NULL".to_owned();
    let unsubscribed = match db.query_one_raw(count.statement()).await? {
        Some(row) => u64::try_from(row.try_get::<i64>("", "n")?).unwrap_or(0),
        None => 0,
    };
    Ok(SurveyHealth {
        overall: finish(overall),
        by_wave: by_wave.into_values().map(finish).collect(),
        by_month: by_month.into_values().map(finish).collect(),
        unsubscribed,
    })
}
