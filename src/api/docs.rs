//! `GET /api/docs`: the OpenAPI document ([`super::openapi::document`]) as a
//! page, rendered on the server: grouped by tag, each operation with its
//! method and path, summary, parameters, request body fields and
//! responses, then every schema. No scripts and nothing from elsewhere, so
//! it works offline and under the app's CSP (`script-src 'none'`).
//!
//! Public, like the document it renders: it shows the API's shape, never
//! its data.

use std::collections::BTreeSet;

use askama::Template;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value};

use super::openapi::{PREFIX, document};
use crate::AppState;

/// Where the page is served.
pub const PATH: &str = "/api/docs";

/// The docs page's route, `GET /api/docs` (outside `/api/v1`: merge it into
/// the app's router beside `.nest("/api/v1", api::router())`).
pub fn router() -> Router<AppState> {
    Router::new().route(PATH, get(docs_page))
}

async fn docs_page() -> Response {
    match page().render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering the API docs page");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// The page's view of the document.
#[derive(Template)]
#[template(path = "pages/api_docs.html")]
struct DocsPage {
    title: String,
    version: String,
    intro: Vec<Text>,
    document_url: String,
    auth: Text,
    tags: Vec<TagSection>,
    schemas: Vec<SchemaSection>,
}

/// A run of text whose `backticked` parts are code.
#[derive(Debug, Clone, Default)]
struct Text {
    parts: Vec<TextPart>,
}

#[derive(Debug, Clone)]
struct TextPart {
    code: bool,
    text: String,
}

impl Text {
    fn new(raw: &str) -> Self {
        let parts = raw
            .split('`')
            .enumerate()
            .filter(|(_, text)| !text.is_empty())
            .map(|(i, text)| TextPart { code: i % 2 == 1, text: text.to_owned() })
            .collect();
        Self { parts }
    }

    /// Paragraphs (blank-line separated; single line breaks are spaces).
    fn paragraphs(raw: &str) -> Vec<Self> {
        raw.split("\n\n")
            .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
            .filter(|p| !p.is_empty())
            .map(|p| Self::new(&p))
            .collect()
    }

    fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
}

/// A type as people read it, with links to the schemas it names.
#[derive(Debug, Clone, Default)]
struct TypeLabel {
    parts: Vec<TypePart>,
}

#[derive(Debug, Clone)]
struct TypePart {
    text: String,
    /// The schema this part names (a link to its section).
    schema: Option<String>,
}

impl TypeLabel {
    fn text(text: impl Into<String>) -> Self {
        Self { parts: vec![TypePart { text: text.into(), schema: None }] }
    }

    fn push_text(&mut self, text: &str) {
        self.parts.push(TypePart { text: text.to_owned(), schema: None });
    }

    fn append(&mut self, other: TypeLabel) {
        self.parts.extend(other.parts);
    }
}

struct TagSection {
    name: String,
    description: Text,
    operations: Vec<Operation>,
}

struct Operation {
    anchor: String,
    method: String,
    path: String,
    summary: Text,
    description: Vec<Text>,
    public: bool,
    parameters: Vec<Parameter>,
    body: Option<RequestBody>,
    responses: Vec<ResponseRow>,
}

struct Parameter {
    name: String,
    location: String,
    required: bool,
    ty: TypeLabel,
    description: Text,
}

struct RequestBody {
    required: bool,
    ty: TypeLabel,
    description: Text,
    fields: Vec<Field>,
}

struct Field {
    name: String,
    ty: TypeLabel,
    required: bool,
    description: Text,
}

struct ResponseRow {
    status: String,
    description: Text,
    ty: Option<TypeLabel>,
}

struct SchemaSection {
    name: String,
    description: Vec<Text>,
    /// What it is when it is not an object with fields (e.g. an enum).
    kind: Option<TypeLabel>,
    fields: Vec<Field>,
}

const METHODS: [&str; 8] = ["get", "post", "put", "patch", "delete", "head", "options", "trace"];

fn page() -> DocsPage {
    let doc = serde_json::to_value(document()).unwrap_or_default();
    let info = &doc["info"];
    let str_of = |v: &Value| v.as_str().unwrap_or_default().to_owned();

    let mut tags: Vec<TagSection> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| TagSection {
            name: str_of(&t["name"]),
            description: Text::new(&str_of(&t["description"])),
            operations: vec![],
        })
        .collect();
    let empty = Map::new();
    for (path, item) in doc["paths"].as_object().unwrap_or(&empty) {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let tag = op["tags"][0].as_str().unwrap_or("other").to_owned();
            let section = match tags.iter().position(|t| t.name == tag) {
                Some(i) => &mut tags[i],
                None => {
                    tags.push(TagSection { name: tag, description: Text::default(), operations: vec![] });
                    tags.last_mut().expect("just pushed")
                }
            };
            section.operations.push(operation(&doc, method, path, op));
        }
    }
    tags.retain(|t| !t.operations.is_empty());

    let schemas = doc["components"]["schemas"]
        .as_object()
        .unwrap_or(&empty)
        .iter()
        .map(|(name, schema)| schema_section(&doc, name, schema))
        .collect();
    let auth = doc["components"]["securitySchemes"]["bearer"]["description"].as_str().unwrap_or_default();

    DocsPage {
        title: str_of(&info["title"]),
        version: str_of(&info["version"]),
        intro: Text::paragraphs(&str_of(&info["description"])),
        document_url: format!("{PREFIX}/openapi.json"),
        auth: Text::new(auth),
        tags,
        schemas,
    }
}

fn operation(doc: &Value, method: &str, path: &str, op: &Value) -> Operation {
    let str_of = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let parameters = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| Parameter {
            name: str_of(&p["name"]),
            location: str_of(&p["in"]),
            required: p["required"].as_bool().unwrap_or(false),
            ty: type_label(&p["schema"]),
            description: Text::new(&str_of(&p["description"])),
        })
        .collect();
    let body = op.get("requestBody").map(|body| {
        let schema = &body["content"]["application/json"]["schema"];
        RequestBody {
            required: body["required"].as_bool().unwrap_or(false),
            ty: type_label(schema),
            description: Text::new(&str_of(&body["description"])),
            fields: fields(doc, schema, &mut BTreeSet::new()),
        }
    });
    let responses = op["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(status, response)| {
            let response = resolve(doc, response);
            let schema = &response["content"]["application/json"]["schema"];
            ResponseRow {
                status: status.clone(),
                description: Text::new(&str_of(&response["description"])),
                ty: (!schema.is_null()).then(|| type_label(schema)),
            }
        })
        .collect();
    let description = str_of(&op["description"]);
    Operation {
        anchor: format!("op-{}", str_of(&op["operationId"])),
        method: method.to_uppercase(),
        path: path.to_owned(),
        summary: Text::new(&str_of(&op["summary"])),
        description: Text::paragraphs(&description),
        public: op["security"].as_array().is_some_and(|s| s.iter().all(|r| r.as_object().is_some_and(Map::is_empty))),
        parameters,
        body,
        responses,
    }
}

fn schema_section(doc: &Value, name: &str, schema: &Value) -> SchemaSection {
    let fields = fields(doc, schema, &mut BTreeSet::new());
    let is_object = schema["type"] == "object" || schema.get("allOf").is_some();
    SchemaSection {
        name: name.to_owned(),
        description: Text::paragraphs(schema["description"].as_str().unwrap_or_default()),
        kind: (!is_object || (fields.is_empty() && schema.get("additionalProperties").is_some_and(Value::is_object)))
            .then(|| type_label(schema)),
        fields,
    }
}

/// A `$ref` (to a schema or a response) resolved; anything else as it is.
fn resolve<'d>(doc: &'d Value, value: &'d Value) -> &'d Value {
    match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => doc.pointer(pointer).unwrap_or(value),
        None => value,
    }
}

/// The fields of an object schema, flattened through `$ref` and `allOf`.
fn fields(doc: &Value, schema: &Value, seen: &mut BTreeSet<String>) -> Vec<Field> {
    if let Some(target) = schema["$ref"].as_str()
        && !seen.insert(target.to_owned())
    {
        return vec![];
    }
    let schema = resolve(doc, schema);
    let mut found = Vec::new();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        found.extend(fields(doc, part, seen));
    }
    let required: BTreeSet<&str> =
        schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        found.push(Field {
            name: name.clone(),
            ty: type_label(property),
            required: required.contains(name.as_str()),
            description: Text::new(description_of(property)),
        });
    }
    found
}

/// A property's description; utoipa puts an optional reference's inside
/// its `oneOf`.
fn description_of(property: &Value) -> &str {
    property["description"].as_str().unwrap_or_else(|| {
        property["oneOf"].as_array().into_iter().flatten().find_map(|v| v["description"].as_str()).unwrap_or_default()
    })
}

/// A schema as a short type: `string (date)`, `array of DealSummary`,
/// `UserRef or null`, `one of data, configured`...
fn type_label(schema: &Value) -> TypeLabel {
    if let Some(target) = schema["$ref"].as_str() {
        let name = target.rsplit('/').next().unwrap_or(target).to_owned();
        return TypeLabel { parts: vec![TypePart { text: name.clone(), schema: Some(name) }] };
    }
    for (key, joiner) in [("oneOf", " or "), ("anyOf", " or "), ("allOf", " and ")] {
        if let Some(options) = schema[key].as_array() {
            let mut label = TypeLabel::default();
            for (i, option) in options.iter().enumerate() {
                if i > 0 {
                    label.push_text(joiner);
                }
                label.append(type_label(option));
            }
            return label;
        }
    }
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> =
            values.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect();
        return TypeLabel::text(format!("one of: {}", values.join(", ")));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let nullable = types.contains(&"null");
    let mut label = TypeLabel::default();
    match types.iter().find(|t| **t != "null").copied() {
        Some("array") => {
            label.push_text("array of ");
            label.append(type_label(&schema["items"]));
        }
        Some("object") if schema["additionalProperties"].is_object() => {
            label.push_text("map of string to ");
            label.append(type_label(&schema["additionalProperties"]));
        }
        Some(t) => label.push_text(t),
        None if nullable => label.push_text("null"),
        None => label.push_text("any"),
    }
    let mut notes = Vec::new();
    if let Some(format) = schema["format"].as_str() {
        notes.push(format.to_owned());
    }
    match (schema.get("minimum"), schema.get("maximum")) {
        (Some(min), Some(max)) => notes.push(format!("{min} to {max}")),
        (Some(min), None) => notes.push(format!("at least {min}")),
        (None, Some(max)) => notes.push(format!("at most {max}")),
        (None, None) => {}
    }
    if !notes.is_empty() {
        label.push_text(&format!(" ({})", notes.join(", ")));
    }
    if nullable && types.len() > 1 {
        label.push_text(" or null");
    }
    label
}
