//! The service-level error: what went wrong, in terms a user can act on.
//!
//! Each interface renders it its own way: [`crate::api::ApiError`] as the
//! JSON envelope, [`crate::web::PageError`] as an HTML page. Internal
//! details are logged once, never shown.

use std::collections::BTreeMap;

use serde::Serialize;

/// Field name -> what is wrong with it.
pub type FieldErrors = BTreeMap<String, String>;

/// A criterion that still lacks evidence, reported when a deal cannot advance.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct UnmetCriterion {
    /// The criterion's id.
    pub id: i32,
    /// What the customer has to have done.
    pub text: String,
}

/// Everything a service can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 422: the input names fields with problems; nothing was changed.
    #[error("{}", describe_fields(.0))]
    Validation(FieldErrors),
    /// 422 `exit_criteria_unmet`: the deal lacks evidence for these criteria.
    #[error("the customer has not yet met every exit criterion of this stage")]
    ExitCriteriaUnmet(Vec<UnmetCriterion>),
    /// 409: the request is valid but the current state forbids it.
    #[error("{message}")]
    Conflict {
        /// A stable, machine-readable code.
        code: &'static str,
        /// What a person should know.
        message: String,
    },
    /// 404: the named thing does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 401: no valid credentials.
    #[error("sign in first")]
    Unauthenticated,
    /// 403: signed in, but the role does not allow this.
    #[error("your role does not allow this")]
    Forbidden,
    /// 500: a fault on our side; the cause is logged, not shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Shorthand for service results.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// A validation error on one field.
    pub fn field(name: &str, message: impl Into<String>) -> Self {
        Self::Validation(BTreeMap::from([(name.to_owned(), message.into())]))
    }

    /// A conflict with the current state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { code, message: message.into() }
    }
}

fn describe_fields(fields: &FieldErrors) -> String {
    let parts: Vec<String> = fields.iter().map(|(field, problem)| format!("{field}: {problem}")).collect();
    format!("invalid input ({})", parts.join("; "))
}

impl From<sea_orm::DbErr> for AppError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Internal(error.into())
    }
}

impl From<sea_orm::TransactionError<AppError>> for AppError {
    fn from(error: sea_orm::TransactionError<AppError>) -> Self {
        match error {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(app) => app,
        }
    }
}
