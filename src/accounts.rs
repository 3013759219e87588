//! Customer accounts (companies) and their contacts.

use chrono::{DateTime, Utc};
use entity::{account, contact, deal};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};

use crate::validate::{Fields, MAX_LINE};
use crate::{AppError, AppResult, audit};

/// An account as submitted with a new deal.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    /// The company's name.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub name: Option<String>,
    /// Its web domain, e.g. `example.com`.
    #[serde(default)]
    pub domain: Option<String>,
    /// A segment such as "Mid-market".
    #[serde(default)]
    pub segment: Option<String>,
}

/// A contact as submitted.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// Their name.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub name: Option<String>,
    /// Their email.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Email)]
    pub email: Option<String>,
    /// Their role at the customer, e.g. "CFO".
    #[serde(default)]
    pub role: Option<String>,
    /// Their language, e.g. `en` or `nl` (default `en`).
    #[serde(default)]
    pub language: Option<String>,
    /// Whether surveys go to them (`true`/`yes`); when no contact of an
    /// account is marked, the first contact gets the surveys.
    #[serde(default)]
    pub survey_recipient: Option<String>,
}

/// A checked account.
#[derive(Debug, Clone)]
pub struct ValidAccount {
    name: String,
    domain: Option<String>,
    segment: Option<String>,
}

/// A checked contact.
#[derive(Debug, Clone)]
pub struct ValidContact {
    name: String,
    email: String,
    role: Option<String>,
    language: String,
    survey_recipient: bool,
}

impl AccountInput {
    /// Checks the account, naming fields under `prefix` (e.g. `account.`).
    pub fn check(&self, fields: &mut Fields, prefix: &str) -> ValidAccount {
        let name = fields.required(&format!("{prefix}name"), self.name.as_deref(), MAX_LINE);
        let domain =
            fields.optional(&format!("{prefix}domain"), self.domain.as_deref(), MAX_LINE).map(|d| d.to_lowercase());
        if domain.as_deref().is_some_and(|d| !d.contains('.') || d.contains(['/', ' ', '@'])) {
            fields.error(&format!("{prefix}domain"), "must be a domain such as example.com");
        }
        let segment = fields.optional(&format!("{prefix}segment"), self.segment.as_deref(), MAX_LINE);
        ValidAccount { name, domain, segment }
    }
}

impl ContactInput {
    /// Checks the contact, naming fields under `prefix` (e.g. `contacts[0].`).
    pub fn check(&self, fields: &mut Fields, prefix: &str) -> ValidContact {
        let name = fields.required(&format!("{prefix}name"), self.name.as_deref(), MAX_LINE);
        let email = fields.email(&format!("{prefix}email"), self.email.as_deref());
        let role = fields.optional(&format!("{prefix}role"), self.role.as_deref(), MAX_LINE);
        let language = fields
            .optional(&format!("{prefix}language"), self.language.as_deref(), 35)
            .map(|l| l.to_lowercase())
            .unwrap_or_else(|| "en".to_owned());
        let valid_language = language.split('-').enumerate().all(|(i, part)| {
            let len_ok = if i == 0 { (2..=3).contains(&part.len()) } else { (2..=8).contains(&part.len()) };
            len_ok && part.chars().all(|c| c.is_ascii_alphanumeric())
        });
        if !valid_language {
            fields.error(&format!("{prefix}language"), "must be a language code such as en or nl");
        }
        let survey_recipient = fields
            .optional_flag(&format!("{prefix}survey_recipient"), self.survey_recipient.as_deref())
            .unwrap_or(false);
        ValidContact { name, email, role, language, survey_recipient }
    }
}

/// The account with this name, created when it does not exist yet.
pub async fn find_or_create(
    db: &impl ConnectionTrait,
    input: ValidAccount,
    now: DateTime<Utc>,
) -> AppResult<account::Model> {
    if let Some(found) = account::Entity::find().filter(account::Column::Name.eq(&input.name)).one(db).await? {
        return Ok(found);
    }
    Ok(account::ActiveModel {
        name: Set(input.name),
        domain: Set(input.domain),
        segment: Set(input.segment),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Adds a contact to an account unless one with that email is there already.
pub async fn upsert_contact(
    db: &impl ConnectionTrait,
    account_id: i32,
    input: ValidContact,
    now: DateTime<Utc>,
) -> AppResult<contact::Model> {
    let existing = contact::Entity::find()
        .filter(contact::Column::AccountId.eq(account_id))
        .filter(contact::Column::Email.eq(&input.email))
        .one(db)
        .await?;
    if let Some(existing) = existing {
        return Ok(existing);
    }
    Ok(contact::ActiveModel {
        account_id: Set(account_id),
        name: Set(input.name),
        email: Set(input.email),
        role: Set(input.role),
        language: Set(input.language),
        survey_recipient: Set(input.survey_recipient),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Adds a contact to an existing account.
pub async fn add_contact(
    db: &DatabaseConnection,
    account_id: i32,
    input: ContactInput,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<ContactView> {
    let mut fields = Fields::new();
    let valid = input.check(&mut fields, "");
    fields.finish()?;
    let txn = crate::db::begin_write(db).await?;
    account::Entity::find_by_id(account_id).one(&txn).await?.ok_or(AppError::NotFound("account"))?;
    let email = valid.email.clone();
    let exists = contact::Entity::find()
        .filter(contact::Column::AccountId.eq(account_id))
        .filter(contact::Column::Email.eq(&email))
        .one(&txn)
        .await?;
    if exists.is_some() {
        return Err(AppError::field("email", format!("{email} is already a contact of this account")));
    }
    let created = upsert_contact(&txn, account_id, valid, now).await?;
    audit::record(&txn, Some(actor), "contact.add", &format!("account:{account_id}"), email, now).await?;
    txn.commit().await?;
    Ok(created.into())
}

/// A contact as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactView {
    /// The contact's id.
    pub id: i32,
    /// Their name.
    pub name: String,
    /// Their email.
    pub email: String,
    /// Their role at the customer.
    pub role: Option<String>,
    /// Their language.
    pub language: String,
    /// Whether surveys go to them.
    pub survey_recipient: bool,
    /// Whether they unsubscribed from surveys.
    pub unsubscribed: bool,
}

impl From<contact::Model> for ContactView {
    fn from(model: contact::Model) -> Self {
        Self {
            id: model.id,
            name: model.name,
            email: model.email,
            role: model.role,
            language: model.language,
            survey_recipient: model.survey_recipient,
            unsubscribed: model.unsubscribed_at.is_some(),
        }
    }
}

/// Marks whether a contact receives surveys.
pub async fn set_survey_recipient(
    db: &DatabaseConnection,
    account_id: i32,
    contact_id: i32,
    recipient: bool,
    actor: i32,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let txn = crate::db::begin_write(db).await?;
    let found = contact::Entity::find_by_id(contact_id)
        .one(&txn)
        .await?
        .filter(|c| c.account_id == account_id)
        .ok_or(AppError::NotFound("contact"))?;
    let email = found.email.clone();
    let mut active: contact::ActiveModel = found.into();
    active.survey_recipient = Set(recipient);
    active.update(&txn).await?;
    let detail = format!("{email}: {}", if recipient { "receives surveys" } else { "no longer marked for surveys" });
    audit::record(&txn, Some(actor), "contact.survey_recipient", &format!("account:{account_id}"), detail, now).await?;
    txn.commit().await?;
    Ok(())
}

/// An account as lists show it.
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    /// The account's id.
    pub id: i32,
    /// The company's name.
    pub name: String,
    /// Its domain.
    pub domain: Option<String>,
    /// Its segment.
    pub segment: Option<String>,
    /// How many deals it has.
    pub deal_count: usize,
    /// Its contacts, by name.
    pub contacts: Vec<ContactView>,
}

/// Every account with its contacts, by name.
pub async fn list(db: &impl ConnectionTrait) -> AppResult<Vec<AccountView>> {
    let accounts = account::Entity::find().order_by_asc(account::Column::Name).all(db).await?;
    let contacts = contact::Entity::find().order_by_asc(contact::Column::Name).all(db).await?;
    let deals = deal::Entity::find().all(db).await?;
    Ok(accounts
        .into_iter()
        .map(|a| AccountView {
            deal_count: deals.iter().filter(|d| d.account_id == a.id).count(),
            contacts: contacts.iter().filter(|c| c.account_id == a.id).cloned().map(Into::into).collect(),
            id: a.id,
            name: a.name,
            domain: a.domain,
            segment: a.segment,
        })
        .collect())
}

/// One account with its contacts.
pub async fn get(db: &impl ConnectionTrait, id: i32) -> AppResult<AccountView> {
    let found = account::Entity::find_by_id(id).one(db).await?.ok_or(AppError::NotFound("account"))?;
    let contacts = contacts_of(db, id).await?;
    let deal_count = deal::Entity::find().filter(deal::Column::AccountId.eq(id)).all(db).await?.len();
    Ok(AccountView { id, name: found.name, domain: found.domain, segment: found.segment, deal_count, contacts })
}

/// An account's contacts, by name.
pub async fn contacts_of(db: &impl ConnectionTrait, account_id: i32) -> AppResult<Vec<ContactView>> {
    Ok(contact::Entity::find()
        .filter(contact::Column::AccountId.eq(account_id))
        .order_by_asc(contact::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}
