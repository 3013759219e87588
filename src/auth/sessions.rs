//! Server-side browser sessions. The cookie carries a random secret; the
//! database keeps its SHA-256, the user and the session's CSRF token.

use chrono::{DateTime, Duration, Utc};
use entity::{session, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::{CurrentUser, tokens};
use crate::AppResult;

/// How long a session lives without being renewed.
pub const SESSION_LIFETIME: Duration = Duration::days(14);

/// A live session: who is signed in, and the token their forms must carry.
#[derive(Debug, Clone)]
pub struct Session {
    /// The signed-in user.
    pub user: CurrentUser,
    /// The synchroniser token for this session's forms.
    pub csrf_token: String,
}

/// Starts a session for `user_id`; returns the cookie secret.
pub async fn create(db: &impl ConnectionTrait, user_id: i32, now: DateTime<Utc>) -> AppResult<String> {
    let secret = tokens::random_secret()?;
    session::ActiveModel {
        token_hash: Set(tokens::digest(&secret)),
        user_id: Set(user_id),
        csrf_token: Set(tokens::random_secret()?),
        created_at: Set(now),
        expires_at: Set(now + SESSION_LIFETIME),
        ..Default::default()
    }
    .insert(db)
    .await?;
    // Sign-ins are rare; a good moment to forget sessions that ran out.
    session::Entity::delete_many().filter(session::Column::ExpiresAt.lt(now)).exec(db).await?;
    Ok(secret)
}

/// The live session behind a cookie secret, if any.
pub async fn find(db: &impl ConnectionTrait, secret: &str, now: DateTime<Utc>) -> AppResult<Option<Session>> {
    let Some(row) = session::Entity::find()
        .filter(session::Column::TokenHash.eq(tokens::digest(secret)))
        .filter(session::Column::ExpiresAt.gt(now))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let Some(owner) = user::Entity::find_by_id(row.user_id).one(db).await?.filter(|u| u.active) else {
        return Ok(None);
    };
    Ok(Some(Session { user: CurrentUser::try_from(owner)?, csrf_token: row.csrf_token }))
}

/// Ends the session behind a cookie secret.
pub async fn delete(db: &impl ConnectionTrait, secret: &str) -> AppResult<()> {
    session::Entity::delete_many().filter(session::Column::TokenHash.eq(tokens::digest(secret))).exec(db).await?;
    Ok(())
}
