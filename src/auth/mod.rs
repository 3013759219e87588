//! Who may do what: users and their roles, passwords, browser sessions and
//! API tokens.

pub mod password;
pub mod sessions;
pub mod tokens;
pub mod users;

use serde::Serialize;

use crate::{AppError, AppResult};

/// What a user may do. Each role includes everything below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Records evidence and moves deals.
    Member,
    /// Also edits the pipeline's settings (stages, criteria).
    Manager,
    /// Also manages users and API tokens.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Member, Role::Manager, Role::Admin];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored or typed name.
    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == value.trim().to_lowercase())
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The signed-in user, as the interfaces see them.
#[derive(Debug, Clone, Serialize)]
pub struct CurrentUser {
    /// The user's id.
    pub id: i32,
    /// Their email, which is also their login.
    pub email: String,
    /// Their display name.
    pub name: String,
    /// What they may do.
    pub role: Role,
}

impl CurrentUser {
    /// Fails with 403 unless the user holds at least `role`.
    pub fn require(&self, role: Role) -> AppResult<()> {
        if self.role >= role { Ok(()) } else { Err(AppError::Forbidden) }
    }

    /// Whether the user holds at least `role` (for showing or hiding controls).
    pub fn can(&self, role: Role) -> bool {
        self.role >= role
    }
}

impl TryFrom<entity::user::Model> for CurrentUser {
    type Error = AppError;

    fn try_from(user: entity::user::Model) -> AppResult<Self> {
        let role = Role::parse(&user.role)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("user {} has unknown role {:?}", user.id, user.role)))?;
        Ok(Self { id: user.id, email: user.email, name: user.name, role })
    }
}
