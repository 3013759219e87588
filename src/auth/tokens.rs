//! Random secrets and API tokens. Secrets are 256 random bits; only their
//! SHA-256 is stored, so a database leak reveals no usable token.

use chrono::{DateTime, Utc};
use entity::{api_token, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::CurrentUser;
use crate::{AppError, AppResult, audit};

/// The visible prefix of API tokens, so leaked tokens are easy to recognise.
pub const TOKEN_PREFIX: &str = "aftercare_";

/// Fills `buf` from the operating system's CSPRNG.
pub fn fill_random(buf: &mut [u8]) -> AppResult<()> {
    getrandom::fill(buf).map_err(|error| AppError::Internal(anyhow::anyhow!("no randomness: {error}")))
}

/// A new random secret: 32 bytes, hex-encoded.
pub fn random_secret() -> AppResult<String> {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// The stored form of a secret.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// An API token as admins see it (never the secret).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    /// The token's id.
    pub id: i32,
    /// Whose token it is.
    pub user_email: String,
    /// A label such as "HubSpot workflow".
    pub name: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last used.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Creates a token for the user with `email`; returns the secret, shown once.
pub async fn create(
    db: &impl ConnectionTrait,
    email: &str,
    name: Option<&str>,
    actor: Option<i32>,
    now: DateTime<Utc>,
) -> AppResult<String> {
    let mut fields = crate::validate::Fields::new();
    let email = fields.email("email", Some(email));
    let name = fields.optional("name", name, crate::validate::MAX_LINE);
    fields.finish()?;
    let owner = user::Entity::find()
        .filter(user::Column::Email.eq(&email))
        .one(db)
        .await?
        .ok_or_else(|| AppError::field("email", format!("no user has the email {email}")))?;
    let secret = format!("{TOKEN_PREFIX}{}", random_secret()?);
    let token = api_token::ActiveModel {
        user_id: Set(owner.id),
        name: Set(name.unwrap_or_else(|| "API token".to_owned())),
        token_hash: Set(digest(&secret)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    audit::record(db, actor, "token.create", &format!("token:{}", token.id), format!("for {email}"), now).await?;
    Ok(secret)
}

/// The active user behind a bearer token, recording its use.
pub async fn authenticate(db: &impl ConnectionTrait, secret: &str, now: DateTime<Utc>) -> AppResult<CurrentUser> {
    let token = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(digest(secret)))
        .filter(api_token::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let owner = user::Entity::find_by_id(token.user_id)
        .one(db)
        .await?
        .filter(|owner| owner.active)
        .ok_or(AppError::Unauthenticated)?;
    // Only note the day of last use, so busy integrations do not write on
    // every request.
    if token.last_used_at.is_none_or(|used| used.date_naive() != now.date_naive()) {
        let mut active: api_token::ActiveModel = token.into();
        active.last_used_at = Set(Some(now));
        active.update(db).await?;
    }
    CurrentUser::try_from(owner)
}

/// Every token, newest first.
pub async fn list(db: &impl ConnectionTrait) -> AppResult<Vec<TokenInfo>> {
    let tokens = api_token::Entity::find().order_by_desc(api_token::Column::Id).all(db).await?;
    let users = super::users::emails_by_id(db).await?;
    Ok(tokens
        .into_iter()
        .map(|token| TokenInfo {
            id: token.id,
            user_email: users.get(&token.user_id).cloned().unwrap_or_default(),
            name: token.name,
            created_at: token.created_at,
            last_used_at: token.last_used_at,
            revoked_at: token.revoked_at,
        })
        .collect())
}

/// Revokes a token; revoking twice is harmless.
pub async fn revoke(db: &impl ConnectionTrait, id: i32, actor: Option<i32>, now: DateTime<Utc>) -> AppResult<()> {
    let token = api_token::Entity::find_by_id(id).one(db).await?.ok_or(AppError::NotFound("token"))?;
    if token.revoked_at.is_none() {
        let mut active: api_token::ActiveModel = token.into();
        active.revoked_at = Set(Some(now));
        active.update(db).await?;
        audit::record(db, actor, "token.revoke", &format!("token:{id}"), "", now).await?;
    }
    Ok(())
}
