//! Turning raw input into checked values, collecting every field's problem
//! at once so a user can fix a form in one go ("parse, don't validate").

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};

use serde::de::DeserializeOwned;

use crate::error::{AppError, FieldErrors};

/// The longest single-line value we accept (names, emails, labels).
pub const MAX_LINE: usize = 200;
/// The longest free text we accept (notes, reasons).
pub const MAX_TEXT: usize = 10_000;
/// The longest URL we accept.
pub const MAX_URL: usize = 2_000;
/// The years a date may fall in: catches typos such as `0226` or `-2026`
/// and keeps every date storable on both databases.
pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

/// Collects field errors while values are parsed.
#[derive(Debug, Default)]
pub struct Fields {
    errors: FieldErrors,
}

impl Fields {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem with `field` (the first problem per field wins).
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.entry(field.to_owned()).or_insert_with(|| message.into());
    }

    /// `Ok(())` when no field had a problem.
    pub fn finish(self) -> Result<(), AppError> {
        if self.errors.is_empty() { Ok(()) } else { Err(AppError::Validation(self.errors)) }
    }

    /// A required single line of text, trimmed.
    pub fn required(&mut self, field: &str, value: Option<&str>, max: usize) -> String {
        match self.optional(field, value, max) {
            Some(value) => value,
            None => {
                self.error(field, "is required");
                String::new()
            }
        }
    }

    /// Optional text, trimmed; blank counts as absent.
    pub fn optional(&mut self, field: &str, value: Option<&str>, max: usize) -> Option<String> {
        let value = value.map(str::trim).filter(|v| !v.is_empty())?;
        if value.chars().count() > max {
            self.error(field, format!("is too long (at most {max} characters)"));
            return None;
        }
        if max <= MAX_LINE && value.contains(['\n', '\r']) {
            self.error(field, "must be a single line");
            return None;
        }
        // NUL and other control characters are never meant, and PostgreSQL
        // refuses NUL in text.
        if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            self.error(field, "must not contain control characters");
            return None;
        }
        Some(value.to_owned())
    }

    /// An optional yes/no: `true`/`false`, `yes`/`no`, `on`/`off` (a checkbox)
    /// or `1`/`0`; blank is absent.
    pub fn optional_flag(&mut self, field: &str, value: Option<&str>) -> Option<bool> {
        match value.map(str::trim) {
            None | Some("") => None,
            Some("true" | "1" | "yes" | "on") => Some(true),
            Some("false" | "0" | "no" | "off") => Some(false),
            Some(_) => {
                self.error(field, "must be true or false");
                None
            }
        }
    }

    /// An optional email address, lower-cased.
    pub fn optional_email(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let value = self.optional(field, value, MAX_LINE)?;
        let valid = value
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.'))
            && !value.contains(char::is_whitespace);
        if valid {
            Some(value.to_lowercase())
        } else {
            self.error(field, "must be an email address such as name@example.com");
            None
        }
    }

    /// A required email address, lower-cased.
    pub fn email(&mut self, field: &str, value: Option<&str>) -> String {
        if value.map(str::trim).is_none_or(str::is_empty) {
            self.error(field, "is required");
            return String::new();
        }
        self.optional_email(field, value).unwrap_or_default()
    }

    /// An optional calendar date in `YYYY-MM-DD`.
    pub fn optional_date(&mut self, field: &str, value: Option<&str>) -> Option<NaiveDate> {
        let value = value.map(str::trim).filter(|v| !v.is_empty())?;
        match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
            Ok(date) if YEARS.contains(&date.year()) => Some(date),
            Ok(_) => {
                self.error(field, format!("must be a date between the years {} and {}", YEARS.start(), YEARS.end()));
                None
            }
            Err(_) => {
                self.error(field, "must be a date as YYYY-MM-DD");
                None
            }
        }
    }

    /// A required calendar date in `YYYY-MM-DD`.
    pub fn date(&mut self, field: &str, value: Option<&str>) -> Option<NaiveDate> {
        if value.map(str::trim).is_none_or(str::is_empty) {
            self.error(field, "is required (YYYY-MM-DD)");
            return None;
        }
        self.optional_date(field, value)
    }

    /// An optional instant: RFC 3339, or `YYYY-MM-DDTHH:MM` (a browser's
    /// datetime-local field) read as UTC.
    pub fn optional_datetime(&mut self, field: &str, value: Option<&str>) -> Option<DateTime<Utc>> {
        let value = value.map(str::trim).filter(|v| !v.is_empty())?;
        let parsed = DateTime::parse_from_rfc3339(value).map(|at| at.with_timezone(&Utc)).ok().or_else(|| {
            ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
                .into_iter()
                .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
                .map(|at| at.and_utc())
        });
        match parsed {
            Some(at) if YEARS.contains(&at.year()) => Some(at),
            Some(_) => {
                self.error(field, format!("must be a date between the years {} and {}", YEARS.start(), YEARS.end()));
                None
            }
            None => {
                self.error(field, "must be a date and time such as 2026-12-01T14:30:00Z");
                None
            }
        }
    }

    /// An optional link that a browser may open: http, https or mailto.
    pub fn optional_url(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let value = self.optional(field, value, MAX_URL)?;
        match url::Url::parse(&value) {
            Ok(url) if matches!(url.scheme(), "http" | "https" | "mailto") => Some(url.to_string()),
            Ok(_) => {
                self.error(field, "must be an http, https or mailto link");
                None
            }
            Err(_) => {
                self.error(field, "must be a full link such as https://mail.example.com/...");
                None
            }
        }
    }
}

/// Deserializes a field that distinguishes "absent" (`None`) from "null"
/// (`Some(None)`), for PATCH bodies.
pub fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

/// Deserializes `application/x-www-form-urlencoded` data, naming the field
/// that failed.
pub fn urlencoded<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(deserializer)
        .map_err(|error| AppError::Validation(serde_field_error(&error.path().to_string(), &error.inner().to_string())))
}

/// Names the field a serde error is about. serde reports missing and
/// unknown fields at the parent's path, with the name in backticks.
pub fn serde_field_error(path: &str, message: &str) -> FieldErrors {
    let named = message
        .split('`')
        .nth(1)
        .filter(|_| ["missing field", "unknown field", "duplicate field"].iter().any(|kind| message.starts_with(kind)));
    let field = match (named, path) {
        // Unknown fields are reported at their own path, missing ones at
        // the parent's.
        (Some(name), path) if path == name || path.ends_with(&format!(".{name}")) => path.to_owned(),
        (Some(name), "." | "") => name.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, "." | "") => "body".to_owned(),
        (None, path) => path.to_owned(),
    };
    let message = message.split(" at line ").next().unwrap_or(message);
    let message = if message.starts_with("missing field") {
        "is required".to_owned()
    } else if message.starts_with("unknown field") {
        "is not a known field".to_owned()
    } else if message.starts_with("duplicate field") {
        "is given more than once".to_owned()
    } else {
        message
            .replace("expected i32", "expected a whole number")
            .replace("expected i64", "expected a whole number")
            .replace("expected f64", "expected a number")
    };
    FieldErrors::from([(field, message)])
}
