//! Reminding non-respondents (at most three times, on the configured days
//! after the first send, never after an answer) and expiring surveys that
//! went unanswered.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use entity::{account, contact, deal, promise, survey, survey_promise, survey_wave, user};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use super::{email, planner, status};
use crate::AppResult;
use crate::config::SurveyPolicy;
use crate::mail::outbox;

/// Never more reminders than this, whatever the schedule lists.
pub const MAX_REMINDERS: usize = 3;

/// What a reminder run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReminderReport {
    /// Reminders queued.
    pub reminded: usize,
}

impl fmt::Display for ReminderReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reminded={}", self.reminded)
    }
}

/// Queues the reminders that are due as of `now`.
pub async fn remind(
    db: &DatabaseConnection,
    policy: &SurveyPolicy,
    base_url: &str,
    now: DateTime<Utc>,
) -> AppResult<ReminderReport> {
    let mut report = ReminderReport::default();
    let open = survey::Entity::find()
        .filter(survey::Column::Status.eq(status::SENT))
        .filter(survey::Column::ExpiresAt.gt(now))
        .order_by_asc(survey::Column::Id)
        .all(db)
        .await?;
    for found in open {
        let Some(sent_at) = found.sent_at else { continue };
        let done = usize::try_from(found.reminders_sent).unwrap_or(usize::MAX);
        let Some(days) = policy.reminder_days.get(done).filter(|_| done < MAX_REMINDERS) else { continue };
        if now < sent_at + Duration::days(*days) {
            continue;
        }
        let Some(recipient) = contact::Entity::find_by_id(found.contact_id).one(db).await? else { continue };
        if recipient.unsubscribed_at.is_some() {
            continue;
        }
        let number = found.reminders_sent + 1;
        let txn = crate::db::begin_write(db).await?;
        // Conditional on the count we read: a concurrent run reminds once.
        let claimed = survey::Entity::update_many()
            .col_expr(survey::Column::RemindersSent, Expr::value(number))
            .col_expr(survey::Column::LastReminderAt, Expr::value(now))
            .filter(survey::Column::Id.eq(found.id))
            .filter(survey::Column::Status.eq(status::SENT))
            .filter(survey::Column::RemindersSent.eq(found.reminders_sent))
            .exec(&txn)
            .await?;
        if claimed.rows_affected != 1 {
            continue;
        }
        let promise_ids: Vec<i32> = survey_promise::Entity::find()
            .filter(survey_promise::Column::SurveyId.eq(found.id))
            .all(&txn)
            .await?
            .into_iter()
            .map(|sp| sp.promise_id)
            .collect();
        let promises = promise::Entity::find()
            .filter(promise::Column::Id.is_in(promise_ids))
            .order_by_asc(promise::Column::Id)
            .all(&txn)
            .await?;
        let waves: Vec<i32> = survey_wave::Entity::find()
            .filter(survey_wave::Column::SurveyId.eq(found.id))
            .all(&txn)
            .await?
            .into_iter()
            .map(|w| w.wave_months)
            .collect();
        let company =
            account::Entity::find_by_id(found.account_id).one(&txn).await?.map(|a| a.name).unwrap_or_default();
        let deal_ids: Vec<i32> = promises.iter().map(|p| p.deal_id).collect();
        let manager_id = deal::Entity::find()
            .filter(deal::Column::AccountId.eq(found.account_id))
            .filter(deal::Column::Id.is_in(deal_ids))
            .all(&txn)
            .await?
            .into_iter()
            .find_map(|d| d.account_manager_id);
        let manager = match manager_id {
            Some(id) => user::Entity::find_by_id(id).one(&txn).await?.map(|m| (m.name, m.email)),
            None => None,
        };
        let token = planner::issue_token(&txn, found.id, &format!("reminder-{number}"), now).await?;
        let message = email::SurveyEmail {
            survey_id: found.id,
            company,
            contact_name: recipient.name.clone(),
            contact_email: recipient.email.clone(),
            language: found.language.clone(),
            promises: promises.into_iter().map(|p| p.text).collect(),
            waves,
            manager,
            reminder: Some(number),
            token,
            base_url: base_url.to_owned(),
        };
        outbox::enqueue(&txn, message.compose()?, base_url, now).await?;
        txn.commit().await?;
        report.reminded += 1;
    }
    Ok(report)
}

/// What an expiry run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExpiryReport {
    /// Surveys expired.
    pub expired: u64,
}

impl fmt::Display for ExpiryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expired={}", self.expired)
    }
}

/// Expires unanswered surveys whose time ran out.
pub async fn expire(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<ExpiryReport> {
    let result = survey::Entity::update_many()
        .col_expr(survey::Column::Status, Expr::value(status::EXPIRED))
        .filter(survey::Column::Status.eq(status::SENT))
        .filter(survey::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(ExpiryReport { expired: result.rows_affected })
}
