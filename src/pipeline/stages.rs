//! Stages and their exit criteria: the defaults, and the settings admins and
//! managers change. Stages are named after what the customer has done.

use chrono::{DateTime, Utc};
use entity::{criterion, stage};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};

use crate::validate::{Fields, MAX_LINE};
use crate::{AppError, AppResult, audit};

/// A default stage: key, customer-centred name, SLA days, exit criteria
/// (text, required).
type DefaultStage = (&'static str, &'static str, Option<i32>, &'static [(&'static str, bool)]);

/// The default post-close pipeline.
pub const DEFAULT_STAGES: [DefaultStage; 4] = [
    (
        "closed_won",
        "Customer signed",
        Some(7),
        &[
            ("Customer's countersigned order form is on file", true),
            ("Customer named their project lead", true),
            ("Customer confirmed the kickoff date by email", true),
        ],
    ),
    (
        "handoff",
        "Customer met the implementation team",
        Some(14),
        &[
            ("Customer attended the kickoff meeting", true),
            ("Customer confirmed their success criteria in writing", true),
            ("Customer signed off the implementation plan", true),
            ("Customer shared their IT contact", false),
        ],
    ),
    (
        "implementing",
        "Customer is implementing",
        Some(60),
        &[
            ("Customer completed user acceptance testing", true),
            ("Customer's admins completed training", false),
            ("Customer confirmed first production use", true),
        ],
    ),
    ("live", "Customer is live", None, &[]),
];

/// A stage as the API and pages show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StageView {
    /// The stage's id.
    #[serde(skip)]
    pub id: i32,
    /// The stable key, e.g. `handoff`.
    pub key: String,
    /// The customer-centred name.
    pub name: String,
    /// The time target in active days (`null` for the final stage).
    pub sla_days: Option<i32>,
    /// The stage's current exit criteria, in order.
    pub criteria: Vec<CriterionView>,
    /// Criteria retired from this stage (their evidence is kept).
    #[serde(skip)]
    pub retired: Vec<CriterionView>,
}

/// An exit criterion.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CriterionView {
    /// The criterion's id.
    pub id: i32,
    /// What the customer has done.
    pub text: String,
    /// Whether the deal cannot leave the stage without evidence for it.
    pub required: bool,
}

impl From<criterion::Model> for CriterionView {
    fn from(model: criterion::Model) -> Self {
        Self { id: model.id, text: model.text, required: model.required }
    }
}

/// Creates the default stages when the pipeline is empty.
pub async fn ensure_defaults(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<()> {
    let txn = crate::db::begin_write(db).await?;
    if stage::Entity::find().count(&txn).await? > 0 {
        return Ok(());
    }
    for (position, (key, name, sla_days, criteria)) in DEFAULT_STAGES.iter().enumerate() {
        let created = stage::ActiveModel {
            key: Set((*key).to_owned()),
            name: Set((*name).to_owned()),
            position: Set(position_of(position)),
            sla_days: Set(*sla_days),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        for (index, (text, required)) in criteria.iter().enumerate() {
            criterion::ActiveModel {
                stage_id: Set(created.id),
                text: Set((*text).to_owned()),
                required: Set(*required),
                position: Set(position_of(index)),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

fn position_of(index: usize) -> i32 {
    i32::try_from(index).unwrap_or(i32::MAX)
}

/// Every stage in order, with its criteria.
pub async fn list(db: &impl ConnectionTrait) -> AppResult<Vec<StageView>> {
    let stages = stage::Entity::find().order_by_asc(stage::Column::Position).all(db).await?;
    let criteria = criterion::Entity::find()
        .order_by_asc(criterion::Column::Position)
        .order_by_asc(criterion::Column::Id)
        .all(db)
        .await?;
    Ok(stages
        .into_iter()
        .map(|stage| {
            let (current, retired): (Vec<_>, Vec<_>) =
                criteria.iter().filter(|c| c.stage_id == stage.id).cloned().partition(|c| c.retired_at.is_none());
            StageView {
                id: stage.id,
                key: stage.key,
                name: stage.name,
                sla_days: stage.sla_days,
                criteria: current.into_iter().map(Into::into).collect(),
                retired: retired.into_iter().map(Into::into).collect(),
            }
        })
        .collect())
}

/// The stage with `key`, or a field error naming `field`.
pub async fn by_key(db: &impl ConnectionTrait, field: &str, key: &str) -> AppResult<stage::Model> {
    stage::Entity::find()
        .filter(stage::Column::Key.eq(key.trim()))
        .one(db)
        .await?
        .ok_or_else(|| AppError::field(field, format!("there is no stage {key:?}")))
}

/// The stage a deal enters when it is won.
pub async fn first(db: &impl ConnectionTrait) -> AppResult<stage::Model> {
    stage::Entity::find()
        .order_by_asc(stage::Column::Position)
        .one(db)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the pipeline has no stages")))
}

/// A stage's new name and time target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageUpdate {
    /// The customer-centred name.
    pub name: String,
    /// Active days allowed in the stage; blank for none.
    #[serde(default)]
    pub sla_days: Option<String>,
}

/// Renames a stage and sets its time target.
pub async fn update_stage(
    db: &DatabaseConnection,
    key: &str,
    input: StageUpdate,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut fields = Fields::new();
    let name = fields.required("name", Some(&input.name), MAX_LINE);
    let sla_days = parse_sla(&mut fields, input.sla_days.as_deref());
    fields.finish()?;
    let txn = crate::db::begin_write(db).await?;
    let found = by_key(&txn, "stage", key).await.map_err(|_| AppError::NotFound("stage"))?;
    let mut active: stage::ActiveModel = found.into();
    active.name = Set(name.clone());
    active.sla_days = Set(sla_days);
    active.update(&txn).await?;
    let detail = format!("name {name:?}, SLA {}", sla_days.map_or("none".to_owned(), |d| format!("{d} days")));
    audit::record(&txn, Some(actor), "stage.update", &format!("stage:{key}"), detail, now).await?;
    txn.commit().await?;
    Ok(())
}

fn parse_sla(fields: &mut Fields, value: Option<&str>) -> Option<i32> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    match value.parse::<i32>() {
        Ok(days) if (1..=3650).contains(&days) => Some(days),
        _ => {
            fields.error("sla_days", "must be a whole number of days from 1 to 3650, or blank for none");
            None
        }
    }
}

/// A criterion's wording and whether it is required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriterionInput {
    /// What the customer has done, e.g. "Customer signed off the plan".
    pub text: String,
    /// Whether the stage cannot be left without evidence for it.
    #[serde(default)]
    pub required: Option<String>,
}

fn parse_criterion(input: &CriterionInput) -> AppResult<(String, bool)> {
    let mut fields = Fields::new();
    let text = fields.required("text", Some(&input.text), 500);
    let required = fields.optional_flag("required", input.required.as_deref()).unwrap_or(false);
    fields.finish()?;
    Ok((text, required))
}

/// Adds a criterion at the end of a stage's list.
pub async fn add_criterion(
    db: &DatabaseConnection,
    stage_key: &str,
    input: CriterionInput,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<CriterionView> {
    let (text, required) = parse_criterion(&input)?;
    let txn = crate::db::begin_write(db).await?;
    let found = by_key(&txn, "stage", stage_key).await.map_err(|_| AppError::NotFound("stage"))?;
    let count = criterion::Entity::find().filter(criterion::Column::StageId.eq(found.id)).count(&txn).await?;
    let created = criterion::ActiveModel {
        stage_id: Set(found.id),
        text: Set(text.clone()),
        required: Set(required),
        position: Set(i32::try_from(count).unwrap_or(i32::MAX)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, Some(actor), "criterion.add", &format!("criterion:{}", created.id), text, now).await?;
    txn.commit().await?;
    Ok(created.into())
}

/// Rewords a criterion or changes whether it is required.
pub async fn update_criterion(
    db: &DatabaseConnection,
    id: i32,
    input: CriterionInput,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let (text, required) = parse_criterion(&input)?;
    let txn = crate::db::begin_write(db).await?;
    let found = criterion::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound("criterion"))?;
    let before = found.text.clone();
    let mut active: criterion::ActiveModel = found.into();
    active.text = Set(text.clone());
    active.required = Set(required);
    active.update(&txn).await?;
    let detail = format!("{before:?} -> {text:?}, {}", if required { "required" } else { "optional" });
    audit::record(&txn, Some(actor), "criterion.update", &format!("criterion:{id}"), detail, now).await?;
    txn.commit().await?;
    Ok(())
}

/// Moves a criterion one place up (`-1`) or down (`1`) within its stage.
pub async fn move_criterion(
    db: &DatabaseConnection,
    id: i32,
    direction: i32,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let txn = crate::db::begin_write(db).await?;
    let found = criterion::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound("criterion"))?;
    let mut siblings = criterion::Entity::find()
        .filter(criterion::Column::StageId.eq(found.stage_id))
        .filter(criterion::Column::RetiredAt.is_null())
        .order_by_asc(criterion::Column::Position)
        .order_by_asc(criterion::Column::Id)
        .all(&txn)
        .await?;
    let Some(index) = siblings.iter().position(|c| c.id == id) else {
        return Err(AppError::conflict("criterion_retired", "a retired criterion has no place in the list"));
    };
    let target = index.checked_add_signed(direction.signum() as isize).filter(|t| *t < siblings.len());
    if let Some(target) = target {
        siblings.swap(index, target);
        // Renumber the whole list so positions stay dense and unique.
        for (position, sibling) in siblings.into_iter().enumerate() {
            let mut active: criterion::ActiveModel = sibling.into();
            active.position = Set(position_of(position));
            active.update(&txn).await?;
        }
        let way = if direction < 0 { "up" } else { "down" };
        audit::record(&txn, Some(actor), "criterion.move", &format!("criterion:{id}"), way, now).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Retires a criterion: it no longer gates its stage, and every piece of
/// evidence recorded against it stays.
pub async fn retire_criterion(db: &DatabaseConnection, id: i32, actor: i32, now: DateTime<Utc>) -> AppResult<()> {
    let txn = crate::db::begin_write(db).await?;
    let found = criterion::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound("criterion"))?;
    if found.retired_at.is_none() {
        let mut active: criterion::ActiveModel = found.into();
        active.retired_at = Set(Some(now));
        active.update(&txn).await?;
        audit::record(&txn, Some(actor), "criterion.retire", &format!("criterion:{id}"), "", now).await?;
    }
    txn.commit().await?;
    Ok(())
}
