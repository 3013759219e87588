//! Which column holds which field.
//!
//! Headers are compared ignoring case, spaces and `_`/`-`, so "Close Date",
//! "close_date" and "CLOSE-DATE" are the same column. Unknown columns are
//! ignored: real exports carry dozens.
//!
//! - A **HubSpot deals export** is recognised by "Record ID" and "Deal
//!   Name"; a **Salesforce opportunities report** by "Opportunity ID" or
//!   "Opportunity Name"; [`HUBSPOT`] and [`SALESFORCE`] list the headers
//!   each field is read from.
//! - Any file may use Aftercare's field names as headers (`external_id`,
//!   `name`, ... see [`fields`]); that is the format of the contacts,
//!   promises and economics imports, which also know a few common aliases.
//! - A **mapping** (`--mapping FILE`, or the web form's mapping box) names
//!   the column of any field, one `field = Column Name` per line; blank lines
//!   and lines starting with `#` are ignored. It adds to, or overrides, what
//!   was recognised.

use std::collections::HashMap;

use super::{Kind, RowError};

/// A field an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Its name, as mappings and Aftercare's own files name it.
    pub name: &'static str,
    /// Whether a file must have a column for it.
    pub required: bool,
    /// What it holds.
    pub about: &'static str,
}

const fn field(name: &'static str, required: bool, about: &'static str) -> FieldSpec {
    FieldSpec { name, required, about }
}

/// The fields of a deals import.
pub const DEAL_FIELDS: &[FieldSpec] = &[
    field("external_id", true, "the CRM's record id; the same id never makes a second deal"),
    field("name", true, "the deal's name"),
    field("account", true, "the customer company's name"),
    field("stage", false, "the CRM stage; only closed-won rows are imported (without the column, every row is)"),
    field("closed_won_on", true, "the close date"),
    field("amount", false, "the contract value"),
    field("currency", false, "an ISO 4217 code such as EUR"),
    field("owner", false, "the account manager: a user's email or name"),
    field("segment", false, "the account's segment, for new accounts"),
];

/// The fields of a contacts import.
pub const CONTACT_FIELDS: &[FieldSpec] = &[
    field("account", true, "the customer company's name (the account must exist)"),
    field("name", true, "the contact's name"),
    field("email", true, "their email; identifies the contact within the account"),
    field("role", false, "their role, e.g. CFO"),
    field("language", false, "a language code such as en or nl (default en)"),
    field("survey_recipient", false, "yes/no: whether surveys go to them"),
];

/// The fields of a promises import.
pub const PROMISE_FIELDS: &[FieldSpec] = &[
    field("deal_external_id", false, "the deal's CRM id (or give deal_id)"),
    field("deal_id", false, "the deal's id in Aftercare (or give deal_external_id)"),
    field("text", true, "the promise, in the customer's words"),
    field("category", false, "a category such as Finance"),
    field("target", false, "a measurable target such as 5 days"),
];

/// The fields of an account economics import.
pub const ECONOMICS_FIELDS: &[FieldSpec] = &[
    field("account", true, "the customer company's name (the account must exist)"),
    field("arr", false, "annual recurring revenue"),
    field("gross_margin_pct", false, "gross margin in percent"),
    field("cac", false, "customer acquisition cost"),
];

/// The fields of `kind`.
pub fn fields(kind: Kind) -> &'static [FieldSpec] {
    match kind {
        Kind::Deals => DEAL_FIELDS,
        Kind::Contacts => CONTACT_FIELDS,
        Kind::Promises => PROMISE_FIELDS,
        Kind::Economics => ECONOMICS_FIELDS,
    }
}

/// Which headers a format reads each field from (the first present wins).
pub type Headers = &'static [(&'static str, &'static [&'static str])];

/// A HubSpot deals export.
pub const HUBSPOT: Headers = &[
    ("external_id", &["Record ID", "Deal ID"]),
    ("name", &["Deal Name"]),
    ("account", &["Associated Company", "Associated Company (Primary)", "Company name", "Company"]),
    ("stage", &["Deal Stage"]),
    ("closed_won_on", &["Close Date"]),
    ("amount", &["Amount", "Amount in company currency"]),
    ("currency", &["Currency", "Deal currency code"]),
    ("owner", &["Deal owner", "HubSpot owner"]),
    ("segment", &["Segment"]),
];

/// A Salesforce opportunities report.
pub const SALESFORCE: Headers = &[
    ("external_id", &["Opportunity ID", "Opportunity ID (18)"]),
    ("name", &["Opportunity Name"]),
    ("account", &["Account Name"]),
    ("stage", &["Stage"]),
    ("closed_won_on", &["Close Date"]),
    ("amount", &["Amount"]),
    ("currency", &["Opportunity Currency", "Amount Currency", "Currency"]),
    ("owner", &["Opportunity Owner", "Owner"]),
    ("segment", &["Segment"]),
];

/// Aftercare's own files: the field names, and a few common aliases.
const AFTERCARE: Headers = &[
    ("external_id", &["external_id", "External ID"]),
    ("name", &["name", "Contact Name", "Full Name"]),
    ("account", &["account", "Account Name", "Company", "Company Name"]),
    ("stage", &["stage"]),
    ("closed_won_on", &["closed_won_on", "Closed Won On"]),
    ("amount", &["amount"]),
    ("currency", &["currency"]),
    ("owner", &["owner", "Account Manager"]),
    ("segment", &["segment"]),
    ("email", &["email", "Email Address"]),
    ("role", &["role", "Job Title", "Title"]),
    ("language", &["language"]),
    ("survey_recipient", &["survey_recipient"]),
    ("deal_external_id", &["deal_external_id", "Deal External ID", "Record ID", "Opportunity ID"]),
    ("deal_id", &["deal_id"]),
    ("text", &["text", "Promise"]),
    ("category", &["category"]),
    ("target", &["target"]),
    ("arr", &["arr", "ARR"]),
    ("gross_margin_pct", &["gross_margin_pct", "Gross Margin", "Gross Margin %"]),
    ("cac", &["cac", "CAC"]),
];

/// Header text compared loosely: lower case, `_` and `-` as spaces, runs
/// of spaces as one, and no `%` sign apart from the word.
fn loose(header: &str) -> String {
    let spaced: String = header.chars().map(|c| if matches!(c, '_' | '-') { ' ' } else { c }).collect();
    spaced.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Which column holds which field of one file.
#[derive(Debug, Clone)]
pub struct Columns {
    /// `hubspot`, `salesforce`, `mapped` or `aftercare`.
    pub format: &'static str,
    by_field: HashMap<&'static str, (usize, String)>,
}

impl Columns {
    /// Whether the file has a column for `field`.
    pub fn has(&self, field: &str) -> bool {
        self.by_field.contains_key(field)
    }

    /// The header of `field`'s column, as the file names it.
    pub fn header(&self, field: &str) -> Option<&str> {
        self.by_field.get(field).map(|(_, header)| header.as_str())
    }

    /// Where `field`'s column is in the file (after every other column when
    /// the file has none), for listing a row's problems in column order.
    pub fn position(&self, field: &str) -> usize {
        self.by_field.get(field).map_or(usize::MAX, |(index, _)| *index)
    }

    /// `field`'s value in `record`, trimmed; `None` when the file has no
    /// such column or the value is blank.
    pub fn value<'r>(&self, record: &'r super::table::Record, field: &str) -> Option<&'r str> {
        let (index, _) = self.by_field.get(field)?;
        record.get(*index).filter(|value| !value.is_empty())
    }
}

/// Finds each field's column in `headers`, from the recognised format and
/// the `mapping`; names every missing required column.
pub fn resolve(kind: Kind, headers: &[String], mapping: Option<&str>) -> Result<Columns, Vec<RowError>> {
    let loose_headers: Vec<String> = headers.iter().map(|h| loose(h)).collect();
    let find = |wanted: &str| loose_headers.iter().position(|h| *h == loose(wanted));
    let format = detect(kind, &find);
    let mut by_field = HashMap::new();
    let specs = fields(kind);
    for (name, candidates) in format.map_or(AFTERCARE, |(_, headers)| headers) {
        let Some(spec) = specs.iter().find(|spec| spec.name == *name) else { continue };
        if let Some(index) = candidates.iter().find_map(|candidate| find(candidate)) {
            by_field.insert(spec.name, (index, headers[index].clone()));
        }
    }
    let mapped = match mapping.filter(|m| !m.trim().is_empty()) {
        Some(mapping) => {
            for (field, index) in parse_mapping(kind, mapping, headers)? {
                by_field.insert(field, (index, headers[index].clone()));
            }
            true
        }
        None => false,
    };
    if kind == Kind::Deals && format.is_none() && !mapped && !by_field.contains_key("external_id") {
        return Err(vec![RowError::new(
            1,
            None,
            "the columns are not those of a HubSpot deals export (\"Record ID\", \"Deal Name\", ...), \
             a Salesforce opportunities report (\"Opportunity ID\", \"Opportunity Name\", ...) \
             or Aftercare's field names; give a column mapping",
        )]);
    }
    let format = if mapped { "mapped" } else { format.map_or("aftercare", |(name, _)| name) };
    let columns = Columns { format, by_field };
    missing_columns(kind, &columns).map(|()| columns)
}

/// The export `headers` come from, if recognised.
fn detect(kind: Kind, find: &impl Fn(&str) -> Option<usize>) -> Option<(&'static str, Headers)> {
    if kind != Kind::Deals {
        return None;
    }
    if find("Record ID").is_some() && find("Deal Name").is_some() {
        Some(("hubspot", HUBSPOT))
    } else if find("Opportunity ID").is_some() || find("Opportunity Name").is_some() {
        Some(("salesforce", SALESFORCE))
    } else {
        None
    }
}

fn missing_columns(kind: Kind, columns: &Columns) -> Result<(), Vec<RowError>> {
    let mut errors: Vec<RowError> = fields(kind)
        .iter()
        .filter(|spec| spec.required && !columns.has(spec.name))
        .map(|spec| {
            let expected = expected_header(columns.format, spec.name);
            RowError::new(1, Some(&expected), format!("the file has no such column ({}: {})", spec.name, spec.about))
        })
        .collect();
    let either = |a: &str, b: &str| columns.has(a) || columns.has(b);
    if kind == Kind::Promises && !either("deal_external_id", "deal_id") {
        errors.push(RowError::new(1, Some("deal_external_id"), "the file needs a deal_external_id or deal_id column"));
    }
    if kind == Kind::Economics && !either("arr", "cac") && !columns.has("gross_margin_pct") {
        errors.push(RowError::new(1, Some("arr"), "the file needs at least one of arr, gross_margin_pct and cac"));
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// The header a user should add for `field` in a file of `format`.
fn expected_header(format: &str, field: &str) -> String {
    let headers = match format {
        "hubspot" => HUBSPOT,
        "salesforce" => SALESFORCE,
        _ => return field.to_owned(),
    };
    headers.iter().find(|(name, _)| *name == field).and_then(|(_, h)| h.first()).map_or(field, |h| h).to_owned()
}

/// Reads `field = Column Name` lines; each field must be one of `kind`'s
/// and each column one of `headers`.
fn parse_mapping(kind: Kind, mapping: &str, headers: &[String]) -> Result<Vec<(&'static str, usize)>, Vec<RowError>> {
    let specs = fields(kind);
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for (n, line) in mapping.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let problem = |reason: String| RowError::new(0, None, format!("the mapping, line {}: {reason}", n + 1));
        let Some((field, column)) = line.split_once('=') else {
            errors.push(problem(format!("expected field = Column Name, found {line:?}")));
            continue;
        };
        let (field, column) = (field.trim().to_lowercase(), column.trim().trim_matches('"').trim());
        let Some(spec) = specs.iter().find(|spec| spec.name == field) else {
            let known: Vec<&str> = specs.iter().map(|spec| spec.name).collect();
            errors.push(problem(format!("{field:?} is not a field of {kind} imports ({})", known.join(", "))));
            continue;
        };
        match headers.iter().position(|h| loose(h) == loose(column)) {
            Some(index) => found.push((spec.name, index)),
            None => errors.push(problem(format!("the file has no column {column:?} (for {field})"))),
        }
    }
    if errors.is_empty() { Ok(found) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn hubspot_and_salesforce_headers_are_recognised_loosely() {
        let hubspot =
            headers(&["Record ID", "deal name", "Deal Stage", "CLOSE_DATE", "Associated Company", "Pipeline"]);
        let columns = resolve(Kind::Deals, &hubspot, None).map_err(|e| format!("{e:?}"));
        let columns = columns.as_ref().map(|c| (c.format, c.header("closed_won_on").map(str::to_owned)));
        assert_eq!(columns, Ok(("hubspot", Some("CLOSE_DATE".to_owned()))));
        let salesforce =
            headers(&["Opportunity ID", "Opportunity Name", "Account Name", "Stage", "Close Date", "Amount"]);
        let columns = resolve(Kind::Deals, &salesforce, None).map(|c| c.format).map_err(|e| format!("{e:?}"));
        assert_eq!(columns, Ok("salesforce"));
    }

    #[test]
    fn a_mapping_names_columns_and_its_mistakes_are_reported_by_line() {
        let file = headers(&["Deal #", "Title", "Customer", "Won"]);
        let mapping = "# ours\nexternal_id = Deal #\nname=Title\naccount = \"Customer\"\nclosed_won_on = Won\n";
        let columns = resolve(Kind::Deals, &file, Some(mapping)).map(|c| c.format).map_err(|e| format!("{e:?}"));
        assert_eq!(columns, Ok("mapped"));
        let errors = resolve(Kind::Deals, &file, Some("external_id = Nope\namout = Title\nname Title")).err();
        let reasons: Vec<String> = errors.unwrap_or_default().into_iter().map(|e| e.reason).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].starts_with("the mapping, line 1: the file has no column \"Nope\""), "{reasons:?}");
        assert!(reasons[1].contains("\"amout\" is not a field of deals imports"), "{reasons:?}");
        assert!(reasons[2].contains("expected field = Column Name"), "{reasons:?}");
    }

    #[test]
    fn missing_required_columns_are_named_as_the_format_names_them() {
        let errors = resolve(Kind::Deals, &headers(&["Record ID", "Deal Name", "Associated Company"]), None).err();
        let columns: Vec<Option<String>> = errors.unwrap_or_default().into_iter().map(|e| e.column).collect();
        assert_eq!(columns, [Some("Close Date".to_owned())]);
        let errors = resolve(Kind::Deals, &headers(&["Foo", "Bar"]), None).err().unwrap_or_default();
        assert!(errors[0].reason.contains("give a column mapping"), "{errors:?}");
    }
}
