//! Deals: entering the pipeline at closed-won, listing and showing them with
//! their time in stage, and who owns them and the next customer call.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use entity::{account, criterion, deal, deal_hold, stage, stage_transition, user};
use sea_orm::sea_query::Condition;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set, SqlErr,
};
use serde::{Deserialize, Serialize};

use super::holds::{self, TimeInStage};
use super::{evidence, find_deal, gate, stages};
use crate::accounts::{self, AccountInput, ContactInput, ContactView};
use crate::auth::users;
use crate::validate::{Fields, MAX_LINE, double_option};
use crate::{AppError, AppResult, audit};

/// The owners of a new deal, by user email.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnersInput {
    /// The account manager.
    #[serde(default)]
    #[schema(format = Email)]
    pub account_manager: Option<String>,
    /// The implementation lead.
    #[serde(default)]
    #[schema(format = Email)]
    pub implementation_lead: Option<String>,
    /// The customer-success manager.
    #[serde(default)]
    #[schema(format = Email)]
    pub csm: Option<String>,
}

/// A deal won in the CRM, as submitted.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeal {
    /// The deal's name.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub name: Option<String>,
    /// When it was won (`YYYY-MM-DD`).
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Date)]
    pub closed_won_on: Option<String>,
    /// The customer.
    #[serde(default)]
    #[schema(value_type = AccountInput, required = true)]
    pub account: Option<AccountInput>,
    /// The contract value.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub amount: Option<f64>,
    /// ISO 4217 code, e.g. `EUR`.
    #[serde(default)]
    pub currency: Option<String>,
    /// The CRM's id; the same id never creates a second deal.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Who owns the deal.
    #[serde(default)]
    pub owners: Option<OwnersInput>,
    /// People at the customer.
    #[serde(default)]
    pub contacts: Vec<ContactInput>,
}

/// A user as deals refer to them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct UserRef {
    /// The user's id.
    pub id: i32,
    /// Their name.
    pub name: String,
    /// Their email.
    pub email: String,
}

/// Who owns a deal.
#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
pub struct Owners {
    /// The account manager.
    pub account_manager: Option<UserRef>,
    /// The implementation lead.
    pub implementation_lead: Option<UserRef>,
    /// The customer-success manager.
    pub csm: Option<UserRef>,
}

/// The next customer call.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NextCall {
    /// When it is.
    pub at: DateTime<Utc>,
    /// Who leads it.
    pub lead: Option<UserRef>,
    /// Who schedules it.
    pub scheduler: Option<UserRef>,
    /// Whether its time has passed without a new one being set.
    pub overdue: bool,
}

/// A deal as the board and lists show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DealSummary {
    /// The deal's id.
    pub id: i32,
    /// Its name.
    pub name: String,
    /// The CRM's id.
    pub external_id: Option<String>,
    /// The customer.
    pub account: AccountRef,
    /// The contract value.
    pub amount: Option<f64>,
    /// Its currency.
    pub currency: Option<String>,
    /// When it was won.
    pub closed_won_on: NaiveDate,
    /// The current stage's key.
    pub stage: String,
    /// The current stage's name.
    pub stage_name: String,
    /// When the deal entered it.
    pub stage_entered_at: DateTime<Utc>,
    /// Whole days in the stage, holds excluded.
    pub active_days_in_stage: i64,
    /// Whole days on hold in the stage.
    pub on_hold_days_in_stage: i64,
    /// The stage's time target.
    pub sla_days: Option<i32>,
    /// Whether active days exceed the SLA.
    pub stuck: bool,
    /// Active days beyond the SLA.
    pub days_over_sla: i64,
    /// Whether the deal is on hold now.
    pub on_hold: bool,
    /// Why, when it is.
    pub hold_reason: Option<String>,
    /// Who owns it.
    pub owners: Owners,
    /// The next customer call.
    pub next_call: Option<NextCall>,
    /// When the customer churned (no further surveys).
    pub churned_on: Option<NaiveDate>,
}

/// The account a deal belongs to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountRef {
    /// The account's id.
    pub id: i32,
    /// The company's name.
    pub name: String,
    /// Its segment.
    pub segment: Option<String>,
}

/// A criterion of the current stage with the evidence recorded for it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CriterionStatus {
    /// The criterion's id.
    pub id: i32,
    /// What the customer has to have done.
    pub text: String,
    /// Whether it gates the stage.
    pub required: bool,
    /// Whether it has current evidence.
    pub met: bool,
    /// Its current evidence (corrections replace what they supersede).
    pub evidence: Vec<EvidenceView>,
}

/// One piece of evidence.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EvidenceView {
    /// The row's id.
    pub id: i32,
    /// The criterion it is for.
    pub criterion_id: i32,
    /// The criterion's wording.
    pub criterion: String,
    /// The note.
    pub note: Option<String>,
    /// The link to the proof.
    pub url: Option<String>,
    /// Who at the customer confirmed it.
    pub confirmed_by: String,
    /// When they did.
    pub confirmed_on: NaiveDate,
    /// Who recorded it.
    pub recorded_by: Option<UserRef>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The row it corrects.
    pub supersedes_id: Option<i32>,
    /// Whether a later row corrected it.
    pub superseded: bool,
}

/// A stage move.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TransitionView {
    /// The stage left (`null` when the deal was created).
    pub from: Option<String>,
    /// The stage entered.
    pub to: String,
    /// The name of the stage entered.
    pub to_name: String,
    /// `created`, `advance` or `move_back`.
    pub kind: String,
    /// Why (required for moves back).
    pub reason: Option<String>,
    /// Who moved it.
    pub by: Option<UserRef>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A hold, past or present.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HoldView {
    /// Why the deal waited.
    pub reason: String,
    /// Since when.
    pub started_at: DateTime<Utc>,
    /// Until when (`null` while on hold).
    pub ended_at: Option<DateTime<Utc>>,
    /// Who put it on hold.
    pub started_by: Option<UserRef>,
}

/// A deal with everything a manager needs to inspect it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DealView {
    /// The summary.
    #[serde(flatten)]
    pub summary: DealSummary,
    /// The current stage's criteria with their evidence.
    pub criteria: Vec<CriterionStatus>,
    /// All evidence ever recorded on the deal, oldest first.
    pub evidence_history: Vec<EvidenceView>,
    /// All stage moves, oldest first.
    pub transitions: Vec<TransitionView>,
    /// All holds, oldest first.
    pub holds: Vec<HoldView>,
    /// People at the customer.
    pub contacts: Vec<ContactView>,
}

/// Whether a deal was created now or already existed (same external id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// A new deal.
    New,
    /// The deal with this external id already existed; nothing changed.
    Existing,
}

/// Enters a won deal into the pipeline at the first stage.
pub async fn create(
    db: &DatabaseConnection,
    input: NewDeal,
    actor: Option<i32>,
    now: DateTime<Utc>,
) -> AppResult<(i32, Created)> {
    let mut fields = Fields::new();
    let name = fields.required("name", input.name.as_deref(), MAX_LINE);
    let closed_won_on = fields.date("closed_won_on", input.closed_won_on.as_deref());
    if closed_won_on.is_some_and(|d| d > now.date_naive()) {
        fields.error("closed_won_on", "cannot be in the future");
    }
    let account = match &input.account {
        Some(account) => Some(account.check(&mut fields, "account.")),
        None => {
            fields.error("account", "is required (an object with at least a name)");
            None
        }
    };
    let amount_cents = match input.amount {
        Some(amount) if amount.is_finite() && (0.0..1e13).contains(&amount) => Some((amount * 100.0).round() as i64),
        Some(_) => {
            fields.error("amount", "must be a positive number below 10 000 000 000 000");
            None
        }
        None => None,
    };
    let currency = fields.optional("currency", input.currency.as_deref(), 3).map(|c| c.to_uppercase());
    if currency.as_deref().is_some_and(|c| c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_alphabetic())) {
        fields.error("currency", "must be a three-letter ISO 4217 code such as EUR");
    }
    let external_id = fields.optional("external_id", input.external_id.as_deref(), MAX_LINE);
    let owners = input.owners.clone().unwrap_or_default();
    let owner_emails = [
        ("owners.account_manager", fields.optional_email("owners.account_manager", owners.account_manager.as_deref())),
        (
            "owners.implementation_lead",
            fields.optional_email("owners.implementation_lead", owners.implementation_lead.as_deref()),
        ),
        ("owners.csm", fields.optional_email("owners.csm", owners.csm.as_deref())),
    ];
    let contacts: Vec<_> = input
        .contacts
        .iter()
        .enumerate()
        .map(|(i, contact)| contact.check(&mut fields, &format!("contacts[{i}].")))
        .collect();
    if input.contacts.len() > 100 {
        fields.error("contacts", "at most 100 contacts per deal");
    }
    fields.finish()?;
    let (Some(closed_won_on), Some(account)) = (closed_won_on, account) else {
        return Err(AppError::field("closed_won_on", "is required"));
    };

    let txn = crate::db::begin_write(db).await?;
    if let Some(external_id) = &external_id
        && let Some(existing) = by_external_id(&txn, external_id).await?
    {
        return Ok((existing.id, Created::Existing));
    }
    let mut owner_ids = [None; 3];
    let mut unknown = Fields::new();
    for (slot, (field, email)) in owner_ids.iter_mut().zip(&owner_emails) {
        if let Some(email) = email {
            match users::id_by_email(&txn, field, email).await {
                Ok(id) => *slot = Some(id),
                Err(_) => unknown.error(field, format!("no user has the email {email}")),
            }
        }
    }
    unknown.finish()?;
    let account = accounts::find_or_create(&txn, account, now).await?;
    for contact in contacts {
        accounts::upsert_contact(&txn, account.id, contact, now).await?;
    }
    let first = stages::first(&txn).await?;
    let inserted = deal::ActiveModel {
        account_id: Set(account.id),
        name: Set(name.clone()),
        external_id: Set(external_id.clone()),
        amount_cents: Set(amount_cents),
        currency: Set(currency),
        closed_won_on: Set(closed_won_on),
        stage_id: Set(first.id),
        stage_entered_at: Set(now),
        account_manager_id: Set(owner_ids[0]),
        implementation_lead_id: Set(owner_ids[1]),
        csm_id: Set(owner_ids[2]),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    let created = match inserted {
        Ok(created) => created,
        // Another request with the same external id won the race.
        Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            drop(txn);
            let existing = match &external_id {
                Some(external_id) => by_external_id(db, external_id).await?,
                None => None,
            };
            return existing.map(|d| (d.id, Created::Existing)).ok_or_else(|| error.into());
        }
        Err(error) => return Err(error.into()),
    };
    stage_transition::ActiveModel {
        deal_id: Set(created.id),
        from_stage_id: Set(None),
        to_stage_id: Set(first.id),
        kind: Set(gate::kind::CREATED.to_owned()),
        reason: Set(None),
        actor_id: Set(actor),
        at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, actor, "deal.create", &format!("deal:{}", created.id), name, now).await?;
    txn.commit().await?;
    Ok((created.id, Created::New))
}

async fn by_external_id(db: &impl ConnectionTrait, external_id: &str) -> AppResult<Option<deal::Model>> {
    Ok(deal::Entity::find().filter(deal::Column::ExternalId.eq(external_id)).one(db).await?)
}

/// Filters for listing deals, as raw query values.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DealFilter {
    /// A stage key.
    #[serde(default)]
    pub stage: Option<String>,
    /// A user's email: deals they own in any role.
    #[serde(default)]
    #[param(format = Email)]
    pub owner: Option<String>,
    /// `true`: only deals over their stage's SLA.
    #[serde(default)]
    #[param(value_type = Option<bool>)]
    pub stuck: Option<String>,
    /// `true`: only deals on hold.
    #[serde(default)]
    #[param(value_type = Option<bool>)]
    pub on_hold: Option<String>,
    /// An account id.
    #[serde(default)]
    #[param(value_type = Option<i32>)]
    pub account: Option<String>,
}

/// The columns a deal is placed by: id, stage, entered the stage, next call.
pub(super) type DealRow = (i32, i32, DateTime<Utc>, Option<DateTime<Utc>>);

/// A deal's place in the pipeline, measured without loading its details:
/// enough to count, filter and order deals cheaply.
#[derive(Debug, Clone, Copy)]
pub(super) struct Placed {
    pub(super) id: i32,
    pub(super) stage_id: i32,
    pub(super) position: i32,
    pub(super) entered_at: DateTime<Utc>,
    pub(super) time: TimeInStage,
    pub(super) on_hold: bool,
    pub(super) overdue: bool,
}

impl Placed {
    /// Measures a deal in `stage` (its holds there, its SLA) as of `now`.
    pub(super) fn measure(
        (id, stage_id, entered_at, next_call_at): DealRow,
        stage: Option<&stage::Model>,
        held: &[deal_hold::Model],
        now: DateTime<Utc>,
    ) -> Self {
        Placed {
            id,
            stage_id,
            position: stage.map_or(i32::MAX, |s| s.position),
            entered_at,
            time: holds::time_in_stage(entered_at, held, stage.and_then(|s| s.sla_days), now),
            on_hold: held.iter().any(|h| h.ended_at.is_none()),
            overdue: next_call_at.is_some_and(|at| at < now),
        }
    }

    /// Pipeline order, then longest-waiting first: the order of every list.
    pub(super) fn order(&self) -> (i32, i32, std::cmp::Reverse<i64>, DateTime<Utc>, i32) {
        (self.position, self.stage_id, std::cmp::Reverse(self.time.active_days), self.entered_at, self.id)
    }
}

/// A validated [`DealFilter`].
#[derive(Debug, Clone)]
pub(super) struct Criteria {
    /// What SQL can decide: stage, owner, account.
    pub(super) matching: Condition,
    /// Over the SLA or not (measured, holds excluded).
    pub(super) stuck: Option<bool>,
    /// On hold now or not.
    pub(super) on_hold: Option<bool>,
}

impl Criteria {
    /// Validates `filter`; bad values are 422s naming the field.
    pub(super) async fn parse(db: &impl ConnectionTrait, filter: &DealFilter) -> AppResult<Self> {
        let mut fields = Fields::new();
        let stuck = fields.optional_flag("stuck", filter.stuck.as_deref());
        let on_hold = fields.optional_flag("on_hold", filter.on_hold.as_deref());
        let owner = fields.optional_email("owner", filter.owner.as_deref());
        let account = filter.account.as_deref().map(str::trim).filter(|a| !a.is_empty()).and_then(|a| {
            let parsed = a.parse::<i32>().ok();
            if parsed.is_none() {
                fields.error("account", "must be an account id");
            }
            parsed
        });
        fields.finish()?;
        let mut matching = Condition::all();
        if let Some(key) = filter.stage.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            matching = matching.add(deal::Column::StageId.eq(stages::by_key(db, "stage", key).await?.id));
        }
        if let Some(owner) = owner {
            let id = users::id_by_email(db, "owner", &owner).await?;
            matching = matching.add(
                Condition::any()
                    .add(deal::Column::AccountManagerId.eq(id))
                    .add(deal::Column::ImplementationLeadId.eq(id))
                    .add(deal::Column::CsmId.eq(id)),
            );
        }
        if let Some(account) = account {
            matching = matching.add(deal::Column::AccountId.eq(account));
        }
        Ok(Self { matching, stuck, on_hold })
    }

    /// Whether a deal SQL matched also passes the measured criteria.
    pub(super) fn matches(&self, deal: &Placed) -> bool {
        self.stuck.is_none_or(|want| deal.time.stuck == want) && self.on_hold.is_none_or(|want| deal.on_hold == want)
    }
}

/// Deals matching `filter`, in pipeline order, longest-waiting first.
pub async fn list(db: &impl ConnectionTrait, filter: &DealFilter, now: DateTime<Utc>) -> AppResult<Vec<DealSummary>> {
    let placed = place(db, &Criteria::parse(db, filter).await?, now).await?;
    summaries(db, &placed.iter().map(|p| p.id).collect::<Vec<_>>(), now).await
}

/// Places every deal matching `criteria`, measuring each one's time in
/// stage with its holds, in [`Placed::order`].
pub(super) async fn place(
    db: &impl ConnectionTrait,
    criteria: &Criteria,
    now: DateTime<Utc>,
) -> AppResult<Vec<Placed>> {
    let stages: HashMap<i32, stage::Model> =
        stage::Entity::find().all(db).await?.into_iter().map(|s| (s.id, s)).collect();
    let rows: Vec<DealRow> = deal::Entity::find()
        .select_only()
        .columns([deal::Column::Id, deal::Column::StageId, deal::Column::StageEnteredAt, deal::Column::NextCallAt])
        .filter(criteria.matching.clone())
        .into_tuple()
        .all(db)
        .await?;
    // The holds of the same deals, in one query whatever their number.
    let matching_ids =
        deal::Entity::find().select_only().column(deal::Column::Id).filter(criteria.matching.clone()).into_query();
    let mut holds: HashMap<i32, Vec<deal_hold::Model>> = HashMap::new();
    for hold in deal_hold::Entity::find()
        .filter(deal_hold::Column::DealId.in_subquery(matching_ids))
        .order_by_asc(deal_hold::Column::StartedAt)
        .all(db)
        .await?
    {
        holds.entry(hold.deal_id).or_default().push(hold);
    }
    let mut placed: Vec<Placed> = rows
        .into_iter()
        .map(|row| {
            let held = holds.get(&row.0).map(Vec::as_slice).unwrap_or_default();
            Placed::measure(row, stages.get(&row.1), held, now)
        })
        .filter(|p| criteria.matches(p))
        .collect();
    placed.sort_by_key(Placed::order);
    Ok(placed)
}

/// The summaries of the given deals, in the given order.
pub(super) async fn summaries(
    db: &impl ConnectionTrait,
    ids: &[i32],
    now: DateTime<Utc>,
) -> AppResult<Vec<DealSummary>> {
    let mut deals: HashMap<i32, deal::Model> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(crate::db::IN_LIST) {
        for found in deal::Entity::find().filter(deal::Column::Id.is_in(chunk.iter().copied())).all(db).await? {
            deals.insert(found.id, found);
        }
    }
    let ordered: Vec<deal::Model> = ids.iter().filter_map(|id| deals.remove(id)).collect();
    let context = Context::load(db, &ordered).await?;
    Ok(ordered.iter().map(|d| context.summary(d, now)).collect())
}

/// One deal with its checklist, evidence, moves, holds and contacts.
pub async fn get(db: &impl ConnectionTrait, id: i32, now: DateTime<Utc>) -> AppResult<DealView> {
    let deal = find_deal(db, id).await?;
    let context = Context::load(db, std::slice::from_ref(&deal)).await?;
    let summary = context.summary(&deal, now);
    let all_criteria = criterion::Entity::find()
        .order_by_asc(criterion::Column::Position)
        .order_by_asc(criterion::Column::Id)
        .all(db)
        .await?;
    let wording: HashMap<i32, &str> = all_criteria.iter().map(|c| (c.id, c.text.as_str())).collect();
    let rows = evidence::all_for_deal(db, id).await?;
    let current: Vec<i32> = evidence::current(rows.clone()).into_iter().map(|row| row.id).collect();
    let evidence_history: Vec<EvidenceView> = rows
        .into_iter()
        .map(|row| EvidenceView {
            id: row.id,
            criterion_id: row.criterion_id,
            criterion: wording.get(&row.criterion_id).copied().unwrap_or_default().to_owned(),
            note: row.note,
            url: row.url,
            confirmed_by: row.confirmed_by,
            confirmed_on: row.confirmed_on,
            recorded_by: context.user(Some(row.recorded_by_id)),
            recorded_at: row.recorded_at,
            supersedes_id: row.supersedes_id,
            superseded: !current.contains(&row.id),
        })
        .collect();
    let criteria = all_criteria
        .iter()
        .filter(|c| c.stage_id == deal.stage_id && c.retired_at.is_none())
        .map(|c| {
            let evidence: Vec<EvidenceView> =
                evidence_history.iter().filter(|e| e.criterion_id == c.id && !e.superseded).cloned().collect();
            CriterionStatus {
                id: c.id,
                text: c.text.clone(),
                required: c.required,
                met: !evidence.is_empty(),
                evidence,
            }
        })
        .collect();
    let transitions = stage_transition::Entity::find()
        .filter(stage_transition::Column::DealId.eq(id))
        .order_by_asc(stage_transition::Column::At)
        .order_by_asc(stage_transition::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|t| TransitionView {
            from: t.from_stage_id.and_then(|s| context.stages.get(&s)).map(|s| s.key.clone()),
            to: context.stages.get(&t.to_stage_id).map(|s| s.key.clone()).unwrap_or_default(),
            to_name: context.stages.get(&t.to_stage_id).map(|s| s.name.clone()).unwrap_or_default(),
            kind: t.kind,
            reason: t.reason,
            by: context.user(t.actor_id),
            at: t.at,
        })
        .collect();
    let holds = context
        .holds
        .get(&id)
        .into_iter()
        .flatten()
        .map(|h| HoldView {
            reason: h.reason.clone(),
            started_at: h.started_at,
            ended_at: h.ended_at,
            started_by: context.user(h.started_by_id),
        })
        .collect();
    let contacts = accounts::contacts_of(db, deal.account_id).await?;
    Ok(DealView { summary, criteria, evidence_history, transitions, holds, contacts })
}

/// What the deal's owners and next call become. Absent fields stay as they
/// are; `null` or blank clears them.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealUpdate {
    /// The account manager's email.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Email)]
    pub account_manager: Option<Option<String>>,
    /// The implementation lead's email.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Email)]
    pub implementation_lead: Option<Option<String>>,
    /// The CS manager's email.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Email)]
    pub csm: Option<Option<String>>,
    /// When the next customer call is (RFC 3339, or `YYYY-MM-DDTHH:MM` in UTC).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_call_at: Option<Option<String>>,
    /// Who leads the next call (email).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Email)]
    pub next_call_lead: Option<Option<String>>,
    /// Who schedules the next call (email).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Email)]
    pub next_call_scheduler: Option<Option<String>>,
    /// When the customer churned (`YYYY-MM-DD`); no survey waves after it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub churned_on: Option<Option<String>>,
}

/// Sets a deal's owners and next call.
pub async fn update(
    db: &DatabaseConnection,
    id: i32,
    input: DealUpdate,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut fields = Fields::new();
    let mut emails: Vec<(&str, Option<Option<String>>)> = Vec::new();
    for (field, value) in [
        ("account_manager", &input.account_manager),
        ("implementation_lead", &input.implementation_lead),
        ("csm", &input.csm),
        ("next_call_lead", &input.next_call_lead),
        ("next_call_scheduler", &input.next_call_scheduler),
    ] {
        let parsed = value.as_ref().map(|v| fields.optional_email(field, v.as_deref()));
        emails.push((field, parsed));
    }
    let next_call_at = input.next_call_at.as_ref().map(|v| fields.optional_datetime("next_call_at", v.as_deref()));
    let churned_on = input.churned_on.as_ref().map(|v| fields.optional_date("churned_on", v.as_deref()));
    if churned_on.flatten().is_some_and(|d| d > now.date_naive()) {
        fields.error("churned_on", "cannot be in the future");
    }
    fields.finish()?;

    let txn = crate::db::begin_write(db).await?;
    let deal = find_deal(&txn, id).await?;
    let mut active: deal::ActiveModel = deal.into();
    let mut changed = Vec::new();
    let mut unknown = Fields::new();
    for (field, value) in emails {
        let Some(value) = value else { continue };
        let user_id = match &value {
            Some(email) => match users::id_by_email(&txn, field, email).await {
                Ok(user_id) => Some(user_id),
                Err(_) => {
                    unknown.error(field, format!("no user has the email {email}"));
                    None
                }
            },
            None => None,
        };
        match field {
            "account_manager" => active.account_manager_id = Set(user_id),
            "implementation_lead" => active.implementation_lead_id = Set(user_id),
            "csm" => active.csm_id = Set(user_id),
            "next_call_lead" => active.next_call_lead_id = Set(user_id),
            _ => active.next_call_scheduler_id = Set(user_id),
        }
        changed.push(format!("{field}={}", value.as_deref().unwrap_or("none")));
    }
    unknown.finish()?;
    if let Some(at) = next_call_at {
        active.next_call_at = Set(at);
        changed.push(format!("next_call_at={}", at.map_or("none".to_owned(), |at| at.to_rfc3339())));
    }
    if let Some(on) = churned_on {
        active.churned_on = Set(on);
        changed.push(format!("churned_on={}", on.map_or("none".to_owned(), |d| d.to_string())));
    }
    if changed.is_empty() {
        return Ok(());
    }
    active.updated_at = Set(now);
    active.update(&txn).await?;
    audit::record(&txn, Some(actor), "deal.update", &format!("deal:{id}"), changed.join(", "), now).await?;
    txn.commit().await?;
    Ok(())
}

/// What summaries are computed from, loaded once for many deals.
struct Context {
    stages: HashMap<i32, stage::Model>,
    users: HashMap<i32, user::Model>,
    accounts: HashMap<i32, account::Model>,
    holds: HashMap<i32, Vec<deal_hold::Model>>,
}

impl Context {
    async fn load(db: &impl ConnectionTrait, deals: &[deal::Model]) -> AppResult<Self> {
        let stages = stage::Entity::find().all(db).await?.into_iter().map(|s| (s.id, s)).collect();
        let users = user::Entity::find().all(db).await?.into_iter().map(|u| (u.id, u)).collect();
        let mut account_ids: Vec<i32> = deals.iter().map(|d| d.account_id).collect();
        account_ids.sort_unstable();
        account_ids.dedup();
        let mut accounts = HashMap::new();
        for chunk in account_ids.chunks(crate::db::IN_LIST) {
            for found in
                account::Entity::find().filter(account::Column::Id.is_in(chunk.iter().copied())).all(db).await?
            {
                accounts.insert(found.id, found);
            }
        }
        let deal_ids: Vec<i32> = deals.iter().map(|d| d.id).collect();
        let mut holds: HashMap<i32, Vec<deal_hold::Model>> = HashMap::new();
        for hold in holds::for_deals(db, &deal_ids).await? {
            holds.entry(hold.deal_id).or_default().push(hold);
        }
        Ok(Self { stages, users, accounts, holds })
    }

    fn user(&self, id: Option<i32>) -> Option<UserRef> {
        let found = self.users.get(&id?)?;
        Some(UserRef { id: found.id, name: found.name.clone(), email: found.email.clone() })
    }

    fn summary(&self, deal: &deal::Model, now: DateTime<Utc>) -> DealSummary {
        let stage = self.stages.get(&deal.stage_id);
        let holds = self.holds.get(&deal.id).map(Vec::as_slice).unwrap_or_default();
        let open = holds.iter().find(|h| h.ended_at.is_none());
        let time: TimeInStage = holds::time_in_stage(deal.stage_entered_at, holds, stage.and_then(|s| s.sla_days), now);
        let account = self.accounts.get(&deal.account_id);
        DealSummary {
            id: deal.id,
            name: deal.name.clone(),
            external_id: deal.external_id.clone(),
            account: AccountRef {
                id: deal.account_id,
                name: account.map(|a| a.name.clone()).unwrap_or_default(),
                segment: account.and_then(|a| a.segment.clone()),
            },
            amount: deal.amount_cents.map(|cents| cents as f64 / 100.0),
            currency: deal.currency.clone(),
            closed_won_on: deal.closed_won_on,
            stage: stage.map(|s| s.key.clone()).unwrap_or_default(),
            stage_name: stage.map(|s| s.name.clone()).unwrap_or_default(),
            stage_entered_at: deal.stage_entered_at,
            active_days_in_stage: time.active_days,
            on_hold_days_in_stage: time.on_hold_days,
            sla_days: stage.and_then(|s| s.sla_days),
            stuck: time.stuck,
            days_over_sla: time.days_over_sla,
            on_hold: open.is_some(),
            hold_reason: open.map(|h| h.reason.clone()),
            owners: Owners {
                account_manager: self.user(deal.account_manager_id),
                implementation_lead: self.user(deal.implementation_lead_id),
                csm: self.user(deal.csm_id),
            },
            churned_on: deal.churned_on,
            next_call: deal.next_call_at.map(|at| NextCall {
                at,
                lead: self.user(deal.next_call_lead_id),
                scheduler: self.user(deal.next_call_scheduler_id),
                overdue: at < now,
            }),
        }
    }
}
