//! Users: adding them, signing them in, changing their role.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::user;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};

use super::{CurrentUser, Role, password};
use crate::validate::{Fields, MAX_LINE};
use crate::{AppError, AppResult, audit};

/// The shortest password we accept.
pub const MIN_PASSWORD: usize = 10;

/// Input for a new user.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Their login.
    pub email: String,
    /// Their display name.
    pub name: String,
    /// `admin`, `manager`, `member` or `viewer`.
    pub role: String,
    /// A password; when absent one is generated and returned.
    #[serde(default)]
    pub password: Option<String>,
}

/// A user as lists show them.
#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    /// The user's id.
    pub id: i32,
    /// Their login.
    pub email: String,
    /// Their display name.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// Whether they can sign in.
    pub active: bool,
}

/// Adds a user; returns them and the generated password, if one was made.
pub async fn add(
    db: &DatabaseConnection,
    input: NewUser,
    actor: Option<i32>,
    now: DateTime<Utc>,
) -> AppResult<(UserInfo, Option<String>)> {
    let mut fields = Fields::new();
    let email = fields.email("email", Some(&input.email));
    let name = fields.required("name", Some(&input.name), MAX_LINE);
    let role = Role::parse(&input.role);
    if role.is_none() {
        fields.error("role", "must be one of admin, manager, member, viewer");
    }
    let given = input.password.filter(|p| !p.is_empty());
    if let Some(given) = &given
        && given.chars().count() < MIN_PASSWORD
    {
        fields.error("password", format!("must be at least {MIN_PASSWORD} characters"));
    }
    fields.finish()?;
    let role = role.unwrap_or(Role::Viewer);
    let generated = if given.is_none() { Some(password::generate()?) } else { None };
    let hash = password::hash(given.as_deref().or(generated.as_deref()).unwrap_or_default())?;

    let txn = crate::db::begin_write(db).await?;
    if user::Entity::find().filter(user::Column::Email.eq(&email)).one(&txn).await?.is_some() {
        return Err(AppError::field("email", format!("a user with the email {email} already exists")));
    }
    let created = user::ActiveModel {
        email: Set(email.clone()),
        name: Set(name),
        role: Set(role.as_str().to_owned()),
        password_hash: Set(hash),
        active: Set(true),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, actor, "user.add", &format!("user:{}", created.id), format!("{email} as {role}"), now).await?;
    txn.commit().await?;
    Ok((info(created)?, generated))
}

/// The user with these credentials, if they are active.
pub async fn authenticate(db: &impl ConnectionTrait, email: &str, password: &str) -> AppResult<Option<CurrentUser>> {
    let found = user::Entity::find()
        .filter(user::Column::Email.eq(email.trim().to_lowercase()))
        .filter(user::Column::Active.eq(true))
        .one(db)
        .await?;
    match found {
        Some(found) if password::verify(password, &found.password_hash) => Ok(Some(CurrentUser::try_from(found)?)),
        _ => Ok(None),
    }
}

/// Every user, by name.
pub async fn list(db: &impl ConnectionTrait) -> AppResult<Vec<UserInfo>> {
    user::Entity::find().order_by_asc(user::Column::Name).all(db).await?.into_iter().map(info).collect()
}

/// Changes a user's role and whether they may sign in.
pub async fn update(
    db: &DatabaseConnection,
    id: i32,
    role: &str,
    active: bool,
    actor: &CurrentUser,
    now: DateTime<Utc>,
) -> AppResult<UserInfo> {
    let role =
        Role::parse(role).ok_or_else(|| AppError::field("role", "must be one of admin, manager, member, viewer"))?;
    if id == actor.id && (role != actor.role || !active) {
        return Err(AppError::conflict("own_account", "you cannot change your own role or deactivate yourself"));
    }
    let txn = crate::db::begin_write(db).await?;
    let found = user::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound("user"))?;
    let mut active_model: user::ActiveModel = found.into();
    active_model.role = Set(role.as_str().to_owned());
    active_model.active = Set(active);
    let updated = active_model.update(&txn).await?;
    let detail = format!("role {role}, {}", if active { "active" } else { "deactivated" });
    audit::record(&txn, Some(actor.id), "user.update", &format!("user:{id}"), detail, now).await?;
    txn.commit().await?;
    info(updated)
}

/// The id of the user with `email`, or a field error naming `field`.
pub async fn id_by_email(db: &impl ConnectionTrait, field: &str, email: &str) -> AppResult<i32> {
    user::Entity::find()
        .filter(user::Column::Email.eq(email.trim().to_lowercase()))
        .one(db)
        .await?
        .map(|found| found.id)
        .ok_or_else(|| AppError::field(field, format!("no user has the email {email}")))
}

/// Every user's email by id.
pub async fn emails_by_id(db: &impl ConnectionTrait) -> AppResult<HashMap<i32, String>> {
    Ok(user::Entity::find().all(db).await?.into_iter().map(|u| (u.id, u.email)).collect())
}

fn info(model: user::Model) -> AppResult<UserInfo> {
    let current = CurrentUser::try_from(model.clone())?;
    Ok(UserInfo { id: model.id, email: model.email, name: model.name, role: current.role, active: model.active })
}
