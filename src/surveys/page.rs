//! The public survey page's rules: a link is a capability (a random token,
//! stored hashed, for one survey, until it expires); the customer submits
//! once; a "not kept" verdict opens a follow-up; unsubscribing is one click.
//! Unknown and expired links are indistinguishable, so tokens cannot be
//! probed.

use std::net::IpAddr;
use std::num::NonZeroU32;

use chrono::{DateTime, Utc};
use entity::{account, contact, promise, survey, survey_answer, survey_promise, survey_response, survey_token};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::{Verdict, followups, status};
use crate::AppResult;
use crate::auth::tokens;
use crate::validate::Fields;
use crate::webhooks::outbound;

/// The longest comment we accept.
pub const MAX_COMMENT: usize = 5_000;

/// Submission throttles: per link and per client address.
#[derive(Debug)]
pub struct Limits {
    per_token: DefaultKeyedRateLimiter<String>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
}

impl Limits {
    /// 5 submissions a minute per link, 30 per address.
    pub fn new() -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self { per_token: RateLimiter::keyed(per_minute(5)), per_ip: RateLimiter::keyed(per_minute(30)) }
    }

    /// Whether another submission may go through now.
    pub fn allow(&self, token: &str, ip: Option<IpAddr>) -> bool {
        let token_ok = self.per_token.check_key(&tokens::digest(token)).is_ok();
        let ip_ok = ip.is_none_or(|ip| self.per_ip.check_key(&ip).is_ok());
        token_ok && ip_ok
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}

/// A promise as the survey asks about it.
#[derive(Debug, Clone)]
pub struct AskedPromise {
    /// The promise's id (the form's `verdict_<id>`).
    pub id: i32,
    /// The promised outcome.
    pub text: String,
    /// Its measurable target.
    pub target: Option<String>,
}

/// What the survey page shows.
#[derive(Debug, Clone)]
pub struct SurveyForm {
    /// The survey.
    pub survey_id: i32,
    /// The customer's company.
    pub company: String,
    /// The contact's name.
    pub contact_name: String,
    /// `en` or `nl`.
    pub language: String,
    /// The promises asked about.
    pub promises: Vec<AskedPromise>,
    /// Whether the contact has unsubscribed.
    pub unsubscribed: bool,
}

/// What a link leads to.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Unknown or expired: the same answer for both.
    Invalid,
    /// Already answered: a thank-you, nothing to change.
    Answered(SurveyForm),
    /// Waiting for answers.
    Open(SurveyForm),
}

async fn survey_of(db: &impl ConnectionTrait, token: &str) -> AppResult<Option<survey::Model>> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let Some(found) =
        survey_token::Entity::find().filter(survey_token::Column::TokenHash.eq(tokens::digest(token))).one(db).await?
    else {
        return Ok(None);
    };
    Ok(survey::Entity::find_by_id(found.survey_id).one(db).await?)
}

async fn form_of(db: &impl ConnectionTrait, found: &survey::Model) -> AppResult<SurveyForm> {
    let ids: Vec<i32> = survey_promise::Entity::find()
        .filter(survey_promise::Column::SurveyId.eq(found.id))
        .all(db)
        .await?
        .into_iter()
        .map(|sp| sp.promise_id)
        .collect();
    let promises = promise::Entity::find()
        .filter(promise::Column::Id.is_in(ids))
        .order_by_asc(promise::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|p| AskedPromise { id: p.id, text: p.text, target: p.target })
        .collect();
    let company = account::Entity::find_by_id(found.account_id).one(db).await?.map(|a| a.name).unwrap_or_default();
    let recipient = contact::Entity::find_by_id(found.contact_id).one(db).await?;
    Ok(SurveyForm {
        survey_id: found.id,
        company,
        contact_name: recipient.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
        language: found.language.clone(),
        promises,
        unsubscribed: recipient.is_some_and(|c| c.unsubscribed_at.is_some()),
    })
}

/// What the link `token` leads to as of `now`.
pub async fn lookup(db: &impl ConnectionTrait, token: &str, now: DateTime<Utc>) -> AppResult<Lookup> {
    let Some(found) = survey_of(db, token).await? else { return Ok(Lookup::Invalid) };
    if found.status == status::ANSWERED {
        return Ok(Lookup::Answered(form_of(db, &found).await?));
    }
    if found.status == status::EXPIRED || found.expires_at <= now {
        return Ok(Lookup::Invalid);
    }
    Ok(Lookup::Open(form_of(db, &found).await?))
}

/// What became of a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Stored; `followups` were opened for broken promises.
    Stored {
        /// How many follow-ups were opened.
        followups: usize,
    },
    /// The survey was answered before; nothing changed.
    AlreadyAnswered,
    /// Unknown or expired link.
    Invalid,
}

struct Answers {
    verdicts: Vec<(i32, Verdict, Option<String>)>,
    nps: Option<i32>,
    reference: bool,
    review: bool,
    comment: Option<String>,
}

fn parse(form: &SurveyForm, pairs: &[(String, String)]) -> AppResult<Answers> {
    let mut fields = Fields::new();
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    for (key, _) in pairs {
        let known = matches!(key.as_str(), "nps" | "reference" | "review" | "comment")
            || ["verdict_", "comment_"].iter().any(|prefix| {
                key.strip_prefix(prefix)
                    .and_then(|id| id.parse::<i32>().ok())
                    .is_some_and(|id| form.promises.iter().any(|p| p.id == id))
            });
        if !known {
            fields.error(key, "is not a question of this survey");
        }
    }
    let mut verdicts = Vec::new();
    for promise in &form.promises {
        let name = format!("verdict_{}", promise.id);
        match get(&name).map(str::trim).filter(|v| !v.is_empty()) {
            None => fields.error(&name, "choose kept, partly kept, not kept or too early to tell"),
            Some(value) => match Verdict::parse(value) {
                Some(verdict) => {
                    let comment_name = format!("comment_{}", promise.id);
                    let comment = fields.optional(&comment_name, get(&comment_name), MAX_COMMENT);
                    verdicts.push((promise.id, verdict, comment));
                }
                None => fields.error(&name, "must be kept, partly, not_kept or too_early"),
            },
        }
    }
    let nps = match get("nps").map(str::trim).filter(|v| !v.is_empty()) {
        None => None,
        Some(raw) => match raw.parse::<i32>() {
            Ok(score) if (0..=10).contains(&score) => Some(score),
            _ => {
                fields.error("nps", "must be a whole number from 0 to 10");
                None
            }
        },
    };
    let flag = |fields: &mut Fields, name: &str| match get(name) {
        None => false,
        Some("yes") => true,
        Some(_) => {
            fields.error(name, "must be yes or absent");
            false
        }
    };
    let reference = flag(&mut fields, "reference");
    let review = flag(&mut fields, "review");
    let comment = fields.optional("comment", get("comment"), MAX_COMMENT);
    fields.finish()?;
    Ok(Answers { verdicts, nps, reference, review, comment })
}

/// Stores a submission, once, with a follow-up for every "not kept".
pub async fn submit(
    db: &DatabaseConnection,
    token: &str,
    pairs: &[(String, String)],
    now: DateTime<Utc>,
) -> AppResult<Submitted> {
    let form = match lookup(db, token, now).await? {
        Lookup::Invalid => return Ok(Submitted::Invalid),
        Lookup::Answered(_) => return Ok(Submitted::AlreadyAnswered),
        Lookup::Open(form) => form,
    };
    let answers = parse(&form, pairs)?;
    let txn = crate::db::begin_write(db).await?;
    // Conditional on "still open": two submissions at once store one.
    let claimed = survey::Entity::update_many()
        .col_expr(survey::Column::Status, Expr::value(status::ANSWERED))
        .col_expr(survey::Column::AnsweredAt, Expr::value(now))
        .filter(survey::Column::Id.eq(form.survey_id))
        .filter(survey::Column::Status.eq(status::SENT))
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Ok(Submitted::AlreadyAnswered);
    }
    let response = survey_response::ActiveModel {
        survey_id: Set(form.survey_id),
        nps: Set(answers.nps),
        reference: Set(answers.reference),
        review: Set(answers.review),
        comment: Set(answers.comment),
        submitted_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let mut opened = 0;
    let mut verdicts = Vec::new();
    for (promise_id, verdict, comment) in answers.verdicts {
        verdicts.push(serde_json::json!({"promise_id": promise_id, "verdict": verdict.as_str(), "comment": &comment}));
        survey_answer::ActiveModel {
            survey_id: Set(form.survey_id),
            promise_id: Set(promise_id),
            verdict: Set(verdict.as_str().to_owned()),
            comment: Set(comment.clone()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        if verdict == Verdict::NotKept
            && let Some(broken) = promise::Entity::find_by_id(promise_id).one(&txn).await?
        {
            let data = serde_json::json!({
                "survey_id": form.survey_id,
                "promise_id": promise_id,
                "promise": broken.text,
                "deal_id": broken.deal_id,
                "comment": comment,
            });
            let id = format!("promise.not_kept:{}:{promise_id}", form.survey_id);
            outbound::emit(&txn, "promise.not_kept", &id, data, now).await?;
            entity::followup::ActiveModel {
                deal_id: Set(broken.deal_id),
                promise_id: Set(promise_id),
                survey_id: Set(form.survey_id),
                status: Set(followups::status::OPEN.to_owned()),
                opened_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            opened += 1;
        }
    }
    let data = serde_json::json!({
        "survey_id": form.survey_id,
        "nps": response.nps,
        "reference": response.reference,
        "review": response.review,
        "comment": response.comment,
        "verdicts": verdicts,
        "answered_at": now.to_rfc3339(),
    });
    outbound::emit(&txn, "survey.answered", &format!("survey.answered:{}", form.survey_id), data, now).await?;
    txn.commit().await?;
    Ok(Submitted::Stored { followups: opened })
}

/// Unsubscribes the contact a link was sent to. `false`: unknown link.
pub async fn unsubscribe(db: &DatabaseConnection, token: &str, now: DateTime<Utc>) -> AppResult<bool> {
    let Some(found) = survey_of(db, token).await? else { return Ok(false) };
    let txn = crate::db::begin_write(db).await?;
    contact::Entity::update_many()
        .col_expr(contact::Column::UnsubscribedAt, Expr::value(now))
        .filter(contact::Column::Id.eq(found.contact_id))
        .filter(contact::Column::UnsubscribedAt.is_null())
        .exec(&txn)
        .await?;
    crate::audit::record(&txn, None, "contact.unsubscribe", &format!("contact:{}", found.contact_id), "one-click", now)
        .await?;
    txn.commit().await?;
    Ok(true)
}

/// What a link's contact is called, for the unsubscribe page.
pub async fn contact_of(db: &impl ConnectionTrait, token: &str) -> AppResult<Option<(String, String)>> {
    let Some(found) = survey_of(db, token).await? else { return Ok(None) };
    let form = form_of(db, &found).await?;
    Ok(Some((form.company, form.language)))
}
