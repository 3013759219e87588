//! The recommend score: promoters (9-10) minus detractors (0-6), in points
//! from -100 to 100, with a 95 % interval, overall and by wave, segment or
//! account manager. Each answered survey counts once per group.

use std::collections::BTreeMap;

use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use super::promise_kept::{group_expression, label_of, labels};
use super::stats::{SMALL_SAMPLE, Z95, round1};
use crate::AppResult;
use crate::db::Sql;
use crate::validate::Fields;

/// A score and what it rests on.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = NpsScore)]
pub struct Score {
    /// 9 or 10.
    pub promoters: u64,
    /// 7 or 8.
    pub passives: u64,
    /// 0 to 6.
    pub detractors: u64,
    /// Answers with a score.
    pub n: u64,
    /// Promoters minus detractors, in points; `null` without answers.
    pub nps: Option<f64>,
    /// The 95 % interval's lower bound.
    pub ci_low: Option<f64>,
    /// Its upper bound.
    pub ci_high: Option<f64>,
    /// Fewer than 30 answers.
    pub small_sample: bool,
}

impl Score {
    fn add(&mut self, score: i64, count: u64) {
        match score {
            9..=10 => self.promoters += count,
            7..=8 => self.passives += count,
            _ => self.detractors += count,
        }
    }

    /// Derives the score and interval from the counts.
    pub fn finish(mut self) -> Self {
        self.n = self.promoters + self.passives + self.detractors;
        self.small_sample = self.n < SMALL_SAMPLE;
        if self.n == 0 {
            return self;
        }
        let n = self.n as f64;
        let (p, d) = (self.promoters as f64 / n, self.detractors as f64 / n);
        let nps = p - d;
        // The variance of a difference of two shares of one multinomial.
        let half = Z95 * ((p + d - nps * nps) / n).max(0.0).sqrt();
        self.nps = Some(round1(nps * 100.0));
        self.ci_low = Some(round1(((nps - half) * 100.0).max(-100.0)));
        self.ci_high = Some(round1(((nps + half) * 100.0).min(100.0)));
        self
    }
}

/// A group's score.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NpsGroup {
    /// The group's key.
    pub key: String,
    /// What people read.
    pub label: String,
    /// The score.
    #[serde(flatten)]
    pub score: Score,
}

/// NPS overall and by group.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Nps {
    /// Every answered survey with a score.
    pub overall: Score,
    /// By the requested dimension.
    pub groups: Vec<NpsGroup>,
}

/// Grouping, as a raw query value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NpsFilter {
    /// `wave`, `segment` or `account_manager`.
    #[serde(default)]
    pub group_by: Option<String>,
}

/// NPS overall and, optionally, by wave, segment or account manager.
pub async fn compute(db: &impl ConnectionTrait, filter: &NpsFilter) -> AppResult<Nps> {
    let group_by = match filter.group_by.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
        None => None,
        Some(g @ ("wave" | "segment" | "account_manager")) => Some(g.to_owned()),
        Some(_) => {
            let mut fields = Fields::new();
            fields.error("group_by", "must be wave, segment or account_manager");
            fields.finish()?;
            None
        }
    };
    let backend = db.get_database_backend();
    let mut overall = Score::default();
    let mut sql = Sql::new(backend);
    sql.text = "SELECT CAST(r.nps AS BIGINT) AS score, COUNT(*) AS n FROM survey_responses r WHERE r.nps IS NOT NULL GROUP BY 1".to_owned();
    for row in db.query_all_raw(sql.statement()).await? {
        let score: i64 = row.try_get("", "score")?;
        let n: i64 = row.try_get("", "n")?;
        overall.add(score, u64::try_from(n).unwrap_or(0));
    }
    let mut groups = Vec::new();
    if let Some(group_by) = &group_by {
        let key = group_expression(backend, group_by);
        let mut sql = Sql::new(backend);
        // DISTINCT: a survey covering two deals of one group counts once.
        sql.text = format!(
            "SELECT group_key, score, COUNT(*) AS n FROM ( \
               SELECT DISTINCT r.survey_id, CAST(r.nps AS BIGINT) AS score, {key} AS group_key \
               FROM survey_responses r \
               JOIN survey_waves w ON w.survey_id = r.survey_id \
               JOIN deals d ON d.id = w.deal_id \
               JOIN accounts acc ON acc.id = d.account_id \
               WHERE r.nps IS NOT NULL) scored \
             GROUP BY group_key, score"
        );
        let mut by_key: BTreeMap<String, Score> = BTreeMap::new();
        for row in db.query_all_raw(sql.statement()).await? {
            let key: Option<String> = row.try_get("", "group_key")?;
            let score: i64 = row.try_get("", "score")?;
            let n: i64 = row.try_get("", "n")?;
            by_key
                .entry(key.unwrap_or_else(|| "none".to_owned()))
                .or_default()
                .add(score, u64::try_from(n).unwrap_or(0));
        }
        let names = labels(db, Some(group_by.as_str())).await?;
        groups = by_key
            .into_iter()
            .map(|(key, score)| NpsGroup {
                label: label_of(Some(group_by.as_str()), &key, &names),
                key,
                score: score.finish(),
            })
            .collect();
        if group_by == "wave" {
            groups.sort_by_key(|g| g.key.parse::<i32>().unwrap_or(i32::MAX));
        }
    }
    Ok(Nps { overall: overall.finish(), groups })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promoters_minus_detractors_with_an_interval() {
        let mut score = Score::default();
        score.add(10, 6);
        score.add(8, 2);
        score.add(3, 2);
        let score = score.finish();
        // 60 % promoters - 20 % detractors = 40 points.
        assert_eq!(score.nps, Some(40.0));
        // var = (0.6 + 0.2 - 0.16) / 10 = 0.064; half = 1.96 * 0.253 = 0.4958.
        assert_eq!((score.ci_low, score.ci_high), (Some(-9.6), Some(89.6)));
    }

    #[test]
    fn no_answers_no_score() {
        assert_eq!(Score::default().finish().nps, None);
    }
}
