//! What a digest says: exception-first, for the deals the user owns (as
//! account manager, implementation lead or CSM), as of a moment.
//!
//! Sections, each left out when empty:
//! - deals stuck over their stage's SLA, with the days over;
//! - next calls overdue or within the next 7 days, and deals in flight with
//!   no next call;
//! - open follow-ups from promises the customer said were not kept;
//! - survey answers received in the window (verdicts, NPS, comments);
//! - survey waves falling due within 14 days, to prepare the customer;
//! - advocacy candidates on the user's deals, with their ask budget left;
//! - stage moves in the window;
//! - for managers and admins, the team roll-up: each account manager's
//!   kept rate, stuck deals and open follow-ups, and the team's monthly trend.
//!
//! The user's promise-kept rate beside the team's closes every digest; it is
//! context, not news, so a digest with nothing else is skipped (or sent as a
//! short all-clear when the user asked for that).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::{deal, stage, stage_transition, survey, user};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use crate::AppResult;
use crate::advocacy::candidates::{self, Candidate};
use crate::auth::Role;
use crate::config::Config;
use crate::metrics::promise_kept::{self, Filter, Group, Tally};
use crate::pipeline::deals::{self, DealFilter, DealSummary};
use crate::pipeline::gate;
use crate::surveys::followups::{self, FollowupView};
use crate::surveys::queries::{self, SurveyDetail, WaveView};
use crate::surveys::status;

/// Next calls this many days ahead are listed.
pub const CALLS_AHEAD_DAYS: i64 = 7;
/// Survey waves falling due this many days ahead are listed.
pub const SURVEYS_AHEAD_DAYS: i64 = 14;
/// Months of team trend a manager's digest shows.
pub const TREND_MONTHS: usize = 6;

/// A deal an item is about.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DealRef {
    /// The deal's id (links go to `/deals/{id}`).
    pub id: i32,
    /// Its name.
    pub name: String,
    /// The customer.
    pub account: String,
}

/// A deal over its stage's SLA.
#[derive(Debug, Clone, Serialize)]
pub struct StuckDeal {
    /// The deal.
    pub deal: DealRef,
    /// The stage it is stuck in.
    pub stage: String,
    /// Active days beyond the SLA.
    pub days_over: i64,
}

/// A next customer call.
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    /// The deal.
    pub deal: DealRef,
    /// When.
    pub at: DateTime<Utc>,
}

/// A survey answer received in the window.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// The survey (links go to the deal's page).
    pub survey_id: i32,
    /// A deal it covers that the user owns.
    pub deal: DealRef,
    /// Who answered.
    pub contact: String,
    /// When.
    pub answered_at: Option<DateTime<Utc>>,
    /// The recommend score.
    pub nps: Option<i32>,
    /// (promise, verdict, comment).
    pub verdicts: Vec<(String, String, Option<String>)>,
    /// Their free comment.
    pub comment: Option<String>,
}

/// A survey wave about to fall due.
#[derive(Debug, Clone, Serialize)]
pub struct UpcomingSurvey {
    /// The deal.
    pub deal: DealRef,
    /// Months after the purchase.
    pub wave_months: i32,
    /// When it falls due.
    pub due_on: NaiveDate,
}

/// An advocacy candidate on one of the user's deals.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateItem {
    /// The deal.
    pub deal: DealRef,
    /// The contact.
    pub contact: String,
    /// Why, in words.
    pub summary: String,
    /// Asks (and surveys) the budget still allows this quarter.
    pub asks_left: u32,
}

/// A stage move in the window.
#[derive(Debug, Clone, Serialize)]
pub struct Move {
    /// The deal.
    pub deal: DealRef,
    /// From this stage (none for the first).
    pub from: Option<String>,
    /// To this one.
    pub to: String,
    /// `advance` or `move_back`.
    pub kind: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// One account manager's line in a manager's roll-up.
#[derive(Debug, Clone, Serialize)]
pub struct MemberLine {
    /// Their name.
    pub name: String,
    /// Their promise-kept rate as account manager.
    pub kept: Tally,
    /// Their deals stuck over SLA.
    pub stuck: usize,
    /// Open follow-ups on their deals.
    pub open_followups: usize,
}

/// The team roll-up managers get.
#[derive(Debug, Clone, Serialize)]
pub struct Team {
    /// One line per account manager.
    pub members: Vec<MemberLine>,
    /// The team's kept rate by month, the last [`TREND_MONTHS`].
    pub trend: Vec<Group>,
}

/// One user's digest.
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    /// The recipient's id.
    pub user_id: i32,
    /// Their name.
    pub name: String,
    /// Their email.
    pub email: String,
    /// `en` or `nl`.
    pub language: String,
    /// The moment it is as of.
    pub as_of: DateTime<Utc>,
    /// That moment's date in the user's time zone.
    pub local_date: NaiveDate,
    /// The days "this week" covers (7, or 1 for a daily digest).
    pub window_days: i64,
    /// Deals over SLA, most days over first.
    pub stuck: Vec<StuckDeal>,
    /// Next calls already past.
    pub calls_overdue: Vec<Call>,
    /// Next calls within [`CALLS_AHEAD_DAYS`].
    pub calls_soon: Vec<Call>,
    /// Deals in flight with no next call.
    pub no_next_call: Vec<DealRef>,
    /// Open follow-ups from broken promises.
    pub followups: Vec<FollowupView>,
    /// Answers received in the window.
    pub answers: Vec<Answer>,
    /// Waves falling due within [`SURVEYS_AHEAD_DAYS`].
    pub upcoming_surveys: Vec<UpcomingSurvey>,
    /// Advocacy candidates on the user's deals.
    pub candidates: Vec<CandidateItem>,
    /// Stage moves in the window.
    pub moves: Vec<Move>,
    /// The user's promise-kept rate as account manager.
    pub kept: Tally,
    /// The team's.
    pub team_kept: Tally,
    /// Managers' roll-up.
    pub team: Option<Team>,
}

impl Digest {
    /// Whether anything needs the user (the kept rates alone are not news).
    pub fn has_news(&self) -> bool {
        !(self.stuck.is_empty()
            && self.calls_overdue.is_empty()
            && self.calls_soon.is_empty()
            && self.no_next_call.is_empty()
            && self.followups.is_empty()
            && self.answers.is_empty()
            && self.upcoming_surveys.is_empty()
            && self.candidates.is_empty()
            && self.moves.is_empty()
            && self.team.as_ref().is_none_or(|t| t.members.iter().all(|m| m.stuck == 0 && m.open_followups == 0)))
    }
}

/// What every digest of one run shares, read once.
pub struct Shared {
    now: DateTime<Utc>,
    window_days: i64,
    live_key: Option<String>,
    stage_names: HashMap<i32, String>,
    open_followups: Vec<FollowupView>,
    answered: Vec<SurveyDetail>,
    waves: Vec<WaveView>,
    candidates: Vec<Candidate>,
    kept_by_manager: HashMap<String, Tally>,
    team_kept: Tally,
    trend: Vec<Group>,
    team: Option<Vec<(user::Model, Vec<DealSummary>)>>,
}

impl Shared {
    /// Reads what the digests as of `now` over `window_days` share; with
    /// `managers`, also every account manager's deals for the roll-up.
    pub async fn load(
        db: &impl ConnectionTrait,
        config: &Config,
        now: DateTime<Utc>,
        window_days: i64,
        managers: bool,
    ) -> AppResult<Self> {
        let stages = stage::Entity::find().order_by_asc(stage::Column::Position).all(db).await?;
        let since = now - Duration::days(window_days);
        let answered_ids: Vec<i32> = survey::Entity::find()
            .filter(survey::Column::Status.eq(status::ANSWERED))
            .filter(survey::Column::AnsweredAt.gte(since))
            .filter(survey::Column::AnsweredAt.lt(now))
            .order_by_asc(survey::Column::AnsweredAt)
            .all(db)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect();
        let mut answered = Vec::with_capacity(answered_ids.len());
        for id in answered_ids {
            answered.push(queries::get(db, id).await?);
        }
        let by_manager =
            promise_kept::compute(db, &Filter { group_by: Some("account_manager".to_owned()), ..Filter::default() })
                .await?;
        let kept_by_manager = by_manager.groups.into_iter().map(|g| (g.key, g.tally)).collect();
        let mut trend = if managers { promise_kept::trend(db, &Filter::default()).await? } else { Vec::new() };
        if trend.len() > TREND_MONTHS {
            trend.drain(..trend.len() - TREND_MONTHS);
        }
        let team = if managers {
            let mut team = Vec::new();
            let manager_ids: HashSet<i32> =
                deal::Entity::find().all(db).await?.into_iter().filter_map(|d| d.account_manager_id).collect();
            let mut members: Vec<user::Model> =
                user::Entity::find().filter(user::Column::Id.is_in(manager_ids)).all(db).await?;
            members.sort_by(|a, b| a.name.cmp(&b.name));
            for member in members {
                let filter = DealFilter { owner: Some(member.email.clone()), ..DealFilter::default() };
                let owned = deals::list(db, &filter, now).await?;
                let id = member.id;
                let managed: Vec<DealSummary> = owned
                    .into_iter()
                    .filter(|d| d.owners.account_manager.as_ref().is_some_and(|m| m.id == id))
                    .collect();
                team.push((member, managed));
            }
            Some(team)
        } else {
            None
        };
        Ok(Self {
            now,
            window_days,
            live_key: stages.last().map(|s| s.key.clone()),
            stage_names: stages.into_iter().map(|s| (s.id, s.name)).collect(),
            open_followups: followups::list(db, Some(followups::status::OPEN), None).await?,
            answered,
            waves: queries::waves(db, &config.surveys, now.date_naive(), SURVEYS_AHEAD_DAYS).await?,
            candidates: candidates::list(db, &config.advocacy, now).await?,
            kept_by_manager,
            team_kept: by_manager.overall,
            trend,
            team,
        })
    }
}

fn deal_ref(summary: &DealSummary) -> DealRef {
    DealRef { id: summary.id, name: summary.name.clone(), account: summary.account.name.clone() }
}

/// `user`'s digest, from what the run shares; `local_date` is the as-of
/// moment's date in their time zone.
pub async fn build(
    db: &impl ConnectionTrait,
    shared: &Shared,
    recipient: &user::Model,
    local_date: NaiveDate,
) -> AppResult<Digest> {
    let now = shared.now;
    let since = now - Duration::days(shared.window_days);
    let filter = DealFilter { owner: Some(recipient.email.clone()), ..DealFilter::default() };
    let owned = deals::list(db, &filter, now).await?;
    let refs: HashMap<i32, DealRef> = owned.iter().map(|d| (d.id, deal_ref(d))).collect();
    let in_flight: Vec<&DealSummary> = owned
        .iter()
        .filter(|d| d.churned_on.is_none() && shared.live_key.as_deref() != Some(d.stage.as_str()))
        .collect();

    let mut stuck: Vec<StuckDeal> = in_flight
        .iter()
        .filter(|d| d.stuck)
        .map(|d| StuckDeal { deal: deal_ref(d), stage: d.stage_name.clone(), days_over: d.days_over_sla })
        .collect();
    stuck.sort_by_key(|s| std::cmp::Reverse(s.days_over));

    let horizon = now + Duration::days(CALLS_AHEAD_DAYS);
    let mut calls_overdue = Vec::new();
    let mut calls_soon = Vec::new();
    let mut no_next_call = Vec::new();
    for d in &in_flight {
        match &d.next_call {
            Some(call) if call.at < now => calls_overdue.push(Call { deal: deal_ref(d), at: call.at }),
            Some(call) if call.at <= horizon => calls_soon.push(Call { deal: deal_ref(d), at: call.at }),
            Some(_) => {}
            None => no_next_call.push(deal_ref(d)),
        }
    }
    calls_overdue.sort_by_key(|c| c.at);
    calls_soon.sort_by_key(|c| c.at);

    let followups: Vec<FollowupView> =
        shared.open_followups.iter().filter(|f| refs.contains_key(&f.deal_id)).cloned().collect();

    let answers: Vec<Answer> = shared
        .answered
        .iter()
        .filter_map(|s| {
            let deal = s.summary.deal_ids.iter().find_map(|id| refs.get(id))?.clone();
            let response = s.response.as_ref();
            Some(Answer {
                survey_id: s.summary.id,
                deal,
                contact: s.summary.contact_name.clone(),
                answered_at: s.summary.answered_at,
                nps: response.and_then(|r| r.nps),
                verdicts: s.answers.iter().map(|a| (a.promise.clone(), a.verdict.clone(), a.comment.clone())).collect(),
                comment: response.and_then(|r| r.comment.clone()),
            })
        })
        .collect();

    let last_day = now.date_naive() + Duration::days(SURVEYS_AHEAD_DAYS);
    let upcoming_surveys: Vec<UpcomingSurvey> = shared
        .waves
        .iter()
        .filter(|w| w.status == "upcoming" && w.due_on <= last_day)
        .filter_map(|w| {
            let deal = refs.get(&w.deal_id)?.clone();
            Some(UpcomingSurvey { deal, wave_months: w.wave_months, due_on: w.due_on })
        })
        .collect();

    let candidates: Vec<CandidateItem> = shared
        .candidates
        .iter()
        .filter_map(|c| {
            let deal = refs.get(&c.deal_id?)?.clone();
            Some(CandidateItem {
                deal,
                contact: c.contact_name.clone(),
                summary: c.summary.clone(),
                asks_left: c.asks_left_this_quarter,
            })
        })
        .collect();

    let deal_ids: Vec<i32> = refs.keys().copied().collect();
    let mut moves = Vec::new();
    for chunk in deal_ids.chunks(crate::db::IN_LIST) {
        let found = stage_transition::Entity::find()
            .filter(stage_transition::Column::DealId.is_in(chunk.iter().copied()))
            .filter(stage_transition::Column::At.gte(since))
            .filter(stage_transition::Column::At.lt(now))
            .filter(stage_transition::Column::Kind.ne(gate::kind::CREATED))
            .all(db)
            .await?;
        for t in found {
            let Some(deal) = refs.get(&t.deal_id) else { continue };
            moves.push(Move {
                deal: deal.clone(),
                from: t.from_stage_id.and_then(|id| shared.stage_names.get(&id).cloned()),
                to: shared.stage_names.get(&t.to_stage_id).cloned().unwrap_or_default(),
                kind: t.kind,
                at: t.at,
            });
        }
    }
    moves.sort_by_key(|m| m.at);

    let is_manager = Role::parse(&recipient.role).is_some_and(|r| r >= Role::Manager);
    let team = match (&shared.team, is_manager) {
        (Some(team), true) => Some(Team {
            members: team
                .iter()
                .map(|(member, managed)| {
                    let ids: HashSet<i32> = managed.iter().map(|d| d.id).collect();
                    MemberLine {
                        name: member.name.clone(),
                        kept: shared.kept_by_manager.get(&member.id.to_string()).cloned().unwrap_or_default(),
                        stuck: managed.iter().filter(|d| d.stuck).count(),
                        open_followups: shared.open_followups.iter().filter(|f| ids.contains(&f.deal_id)).count(),
                    }
                })
                .collect(),
            trend: shared.trend.clone(),
        }),
        _ => None,
    };

    Ok(Digest {
        user_id: recipient.id,
        name: recipient.name.clone(),
        email: recipient.email.clone(),
        language: crate::surveys::email::language_of(&recipient.language).to_owned(),
        as_of: now,
        local_date,
        window_days: shared.window_days,
        stuck,
        calls_overdue,
        calls_soon,
        no_next_call,
        followups,
        answers,
        upcoming_surveys,
        candidates,
        moves,
        kept: shared.kept_by_manager.get(&recipient.id.to_string()).cloned().unwrap_or_default(),
        team_kept: shared.team_kept.clone(),
        team,
    })
}
