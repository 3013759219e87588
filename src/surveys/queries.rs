//! Surveys as lists, pages and the API show them.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use entity::{account, contact, deal, promise, survey, survey_answer, survey_promise, survey_response, survey_wave};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};

use super::{planner, status};
use crate::config::{Anchor, SurveyPolicy};
use crate::validate::Fields;
use crate::{AppError, AppResult};

/// A survey in a list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SurveySummary {
    /// The survey's id.
    pub id: i32,
    /// `sent`, `answered` or `expired`.
    pub status: String,
    /// The customer's account id.
    pub account_id: i32,
    /// The customer's company.
    pub company: String,
    /// Who was asked.
    pub contact_name: String,
    /// Their email.
    pub contact_email: String,
    /// The survey's language.
    pub language: String,
    /// The waves (months) it covers.
    pub waves: Vec<i32>,
    /// The deals it covers.
    pub deal_ids: Vec<i32>,
    /// When the earliest of its waves fell due.
    pub due_on: NaiveDate,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// When it was answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// When its link stops working.
    pub expires_at: DateTime<Utc>,
    /// Reminders sent so far.
    pub reminders_sent: i32,
}

/// A verdict on one promise.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AnswerView {
    /// The promise.
    pub promise_id: i32,
    /// Its text.
    pub promise: String,
    /// `kept`, `partly`, `not_kept` or `too_early`.
    pub verdict: String,
    /// The customer's comment.
    pub comment: Option<String>,
}

/// The rest of a submission.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResponseView {
    /// How likely they are to recommend us, 0-10.
    pub nps: Option<i32>,
    /// Open to being a reference.
    pub reference: bool,
    /// Open to writing a review.
    pub review: bool,
    /// Their free comment.
    pub comment: Option<String>,
    /// When they answered.
    pub submitted_at: DateTime<Utc>,
}

/// A survey with its answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SurveyDetail {
    /// The summary.
    #[serde(flatten)]
    pub summary: SurveySummary,
    /// The promises it asks about.
    pub promises: Vec<AskedPromiseView>,
    /// The verdicts, once answered.
    pub answers: Vec<AnswerView>,
    /// The rest of the submission, once answered.
    pub response: Option<ResponseView>,
}

/// A promise a survey asks about.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AskedPromiseView {
    /// The promise's id.
    pub id: i32,
    /// Its text.
    pub text: String,
    /// Its deal.
    pub deal_id: i32,
}

/// Filters for listing surveys, as raw query values.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SurveyFilter {
    /// `sent`, `answered` or `expired`.
    #[serde(default)]
    pub status: Option<String>,
    /// A deal id.
    #[serde(default)]
    #[param(value_type = Option<i32>)]
    pub deal_id: Option<String>,
}

/// Surveys matching `filter`, newest first.
pub async fn list(db: &impl ConnectionTrait, filter: &SurveyFilter) -> AppResult<Vec<SurveySummary>> {
    let mut fields = Fields::new();
    let status = filter.status.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if status.is_some_and(|s| ![status::SENT, status::ANSWERED, status::EXPIRED].contains(&s)) {
        fields.error("status", "must be sent, answered or expired");
    }
    let deal_id = filter.deal_id.as_deref().map(str::trim).filter(|s| !s.is_empty()).and_then(|raw| {
        let parsed = raw.parse::<i32>().ok();
        if parsed.is_none() {
            fields.error("deal_id", "must be a deal id");
        }
        parsed
    });
    fields.finish()?;
    let mut query = survey::Entity::find().order_by_desc(survey::Column::Id);
    if let Some(status) = status {
        query = query.filter(survey::Column::Status.eq(status));
    }
    if let Some(deal_id) = deal_id {
        let promise_ids: Vec<i32> = promise::Entity::find()
            .filter(promise::Column::DealId.eq(deal_id))
            .all(db)
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect();
        let mut ids: HashSet<i32> = survey_promise::Entity::find()
            .filter(survey_promise::Column::PromiseId.is_in(promise_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|sp| sp.survey_id)
            .collect();
        ids.extend(
            survey_wave::Entity::find()
                .filter(survey_wave::Column::DealId.eq(deal_id))
                .all(db)
                .await?
                .into_iter()
                .filter_map(|w| w.survey_id),
        );
        query = query.filter(survey::Column::Id.is_in(ids));
    }
    summarise(db, query.all(db).await?).await
}

async fn summarise(db: &impl ConnectionTrait, rows: Vec<survey::Model>) -> AppResult<Vec<SurveySummary>> {
    let ids: Vec<i32> = rows.iter().map(|s| s.id).collect();
    let mut accounts: HashMap<i32, String> = HashMap::new();
    let account_ids: Vec<i32> = rows.iter().map(|s| s.account_id).collect::<HashSet<_>>().into_iter().collect();
    for chunk in account_ids.chunks(crate::db::IN_LIST) {
        let found = account::Entity::find().filter(account::Column::Id.is_in(chunk.iter().copied())).all(db).await?;
        accounts.extend(found.into_iter().map(|a| (a.id, a.name)));
    }
    let contacts: HashMap<i32, contact::Model> = contact::Entity::find()
        .filter(contact::Column::Id.is_in(rows.iter().map(|s| s.contact_id).collect::<HashSet<_>>()))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let mut waves: HashMap<i32, Vec<survey_wave::Model>> = HashMap::new();
    for chunk in ids.chunks(crate::db::IN_LIST) {
        for wave in survey_wave::Entity::find()
            .filter(survey_wave::Column::SurveyId.is_in(chunk.iter().copied()))
            .all(db)
            .await?
        {
            if let Some(id) = wave.survey_id {
                waves.entry(id).or_default().push(wave);
            }
        }
    }
    Ok(rows
        .into_iter()
        .map(|s| {
            let of = waves.get(&s.id).cloned().unwrap_or_default();
            let recipient = contacts.get(&s.contact_id);
            let mut wave_months: Vec<i32> = of.iter().map(|w| w.wave_months).collect();
            wave_months.sort_unstable();
            wave_months.dedup();
            SurveySummary {
                id: s.id,
                status: s.status,
                account_id: s.account_id,
                company: accounts.get(&s.account_id).cloned().unwrap_or_default(),
                contact_name: recipient.map(|c| c.name.clone()).unwrap_or_default(),
                contact_email: recipient.map(|c| c.email.clone()).unwrap_or_default(),
                language: s.language,
                waves: wave_months,
                deal_ids: of.iter().map(|w| w.deal_id).collect::<std::collections::BTreeSet<_>>().into_iter().collect(),
                due_on: s.due_on,
                sent_at: s.sent_at,
                answered_at: s.answered_at,
                expires_at: s.expires_at,
                reminders_sent: s.reminders_sent,
            }
        })
        .collect())
}

/// One survey with its answers.
pub async fn get(db: &impl ConnectionTrait, id: i32) -> AppResult<SurveyDetail> {
    let found = survey::Entity::find_by_id(id).one(db).await?.ok_or(AppError::NotFound("survey"))?;
    let summary = summarise(db, vec![found]).await?.pop().ok_or(AppError::NotFound("survey"))?;
    let promise_ids: Vec<i32> = survey_promise::Entity::find()
        .filter(survey_promise::Column::SurveyId.eq(id))
        .all(db)
        .await?
        .into_iter()
        .map(|sp| sp.promise_id)
        .collect();
    let promises: HashMap<i32, promise::Model> = promise::Entity::find()
        .filter(promise::Column::Id.is_in(promise_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let mut asked: Vec<AskedPromiseView> =
        promises.values().map(|p| AskedPromiseView { id: p.id, text: p.text.clone(), deal_id: p.deal_id }).collect();
    asked.sort_by_key(|p| p.id);
    let answers = survey_answer::Entity::find()
        .filter(survey_answer::Column::SurveyId.eq(id))
        .order_by_asc(survey_answer::Column::PromiseId)
        .all(db)
        .await?
        .into_iter()
        .map(|a| AnswerView {
            promise: promises.get(&a.promise_id).map(|p| p.text.clone()).unwrap_or_default(),
            promise_id: a.promise_id,
            verdict: a.verdict,
            comment: a.comment,
        })
        .collect();
    let response =
        survey_response::Entity::find().filter(survey_response::Column::SurveyId.eq(id)).one(db).await?.map(|r| {
            ResponseView {
                nps: r.nps,
                reference: r.reference,
                review: r.review,
                comment: r.comment,
                submitted_at: r.submitted_at,
            }
        });
    Ok(SurveyDetail { summary, promises: asked, answers, response })
}

/// Every survey of a deal with its answers, newest first.
pub async fn for_deal(db: &impl ConnectionTrait, deal_id: i32) -> AppResult<Vec<SurveyDetail>> {
    let filter = SurveyFilter { deal_id: Some(deal_id.to_string()), ..Default::default() };
    let mut details = Vec::new();
    for summary in list(db, &filter).await? {
        details.push(get(db, summary.id).await?);
    }
    Ok(details)
}

/// A wave as the surveys page shows it: upcoming, waiting or skipped.
#[derive(Debug, Clone, Serialize)]
pub struct WaveView {
    /// The deal.
    pub deal_id: i32,
    /// The deal's name.
    pub deal_name: String,
    /// The customer.
    pub company: String,
    /// Months after the anchor.
    pub wave_months: i32,
    /// When it falls (or fell) due.
    pub due_on: NaiveDate,
    /// `upcoming`, `waiting` or `skipped`.
    pub status: String,
    /// Why it was skipped.
    pub note: Option<String>,
}

/// Waves recorded as waiting or skipped, and waves falling due within
/// `horizon_days` of `today`, soonest first.
pub async fn waves(
    db: &impl ConnectionTrait,
    policy: &SurveyPolicy,
    today: NaiveDate,
    horizon_days: i64,
) -> AppResult<Vec<WaveView>> {
    let deals: HashMap<i32, deal::Model> = deal::Entity::find().all(db).await?.into_iter().map(|d| (d.id, d)).collect();
    let accounts: HashMap<i32, String> =
        account::Entity::find().all(db).await?.into_iter().map(|a| (a.id, a.name)).collect();
    let recorded = survey_wave::Entity::find().all(db).await?;
    let known: HashSet<(i32, i32)> = recorded.iter().map(|w| (w.deal_id, w.wave_months)).collect();
    let view = |deal: &deal::Model, wave_months: i32, due_on: NaiveDate, status: &str, note: Option<String>| WaveView {
        deal_id: deal.id,
        deal_name: deal.name.clone(),
        company: accounts.get(&deal.account_id).cloned().unwrap_or_default(),
        wave_months,
        due_on,
        status: status.to_owned(),
        note,
    };
    let mut out: Vec<WaveView> = recorded
        .iter()
        .filter(|w| w.status != super::wave_status::SURVEYED)
        .filter_map(|w| deals.get(&w.deal_id).map(|d| view(d, w.wave_months, w.due_on, &w.status, w.note.clone())))
        .collect();
    if policy.anchor == Anchor::ClosedWon {
        let horizon = today + chrono::Duration::days(horizon_days);
        for deal in deals.values().filter(|d| d.churned_on.is_none()) {
            for &months in &policy.waves {
                let Some(due) = planner::due_on(Some(deal.closed_won_on), months) else { continue };
                let months = i32::try_from(months).unwrap_or(i32::MAX);
                if due > today && due <= horizon && !known.contains(&(deal.id, months)) {
                    out.push(view(deal, months, due, "upcoming", None));
                }
            }
        }
    }
    out.sort_by_key(|w| w.due_on);
    Ok(out)
}
