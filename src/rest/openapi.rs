//! The OpenAPI 3 document of the HTTP/JSON API, written from the same
//! descriptors and routes the transcoder serves: a path per route, its
//! parameters and body, a schema per message and enum (the proto comments
//! as descriptions), the error envelope, and the bearer-token scheme.

use std::collections::{BTreeMap, HashMap};

use prost_reflect::{
    DescriptorPool, EnumDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor,
};
use serde_json::{Map, Value, json};

use super::rules::{BodyRule, Route};

/// The document as pretty JSON with a final newline, as committed in
/// `docs/openapi.json`.
pub fn document_json(pool: &DescriptorPool, routes: &[Route]) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(&document(pool, routes)).unwrap_or_default();
    out.push(b'\n');
    out
}

/// The document of the API's descriptors.
pub fn current() -> Result<Vec<u8>, super::RestError> {
    let (pool, routes) = super::descriptors()?;
    Ok(document_json(&pool, &routes))
}

/// Leading comments by (file, path in the file's descriptor).
struct Comments(HashMap<(String, Vec<i32>), String>);

impl Comments {
    fn of(pool: &DescriptorPool) -> Self {
        let mut map = HashMap::new();
        for file in pool.files() {
            let proto = file.file_descriptor_proto();
            let Some(info) = &proto.source_code_info else {
                continue;
            };
            for location in &info.location {
                if let Some(text) = &location.leading_comments {
                    let text = tidy(text);
                    if !text.is_empty() {
                        map.insert((file.name().to_owned(), location.path.clone()), text);
                    }
                }
            }
        }
        Self(map)
    }

    fn get(&self, file: &FileDescriptor, path: &[i32]) -> Option<&str> {
        self.0
            .get(&(file.name().to_owned(), path.to_vec()))
            .map(String::as_str)
    }
}

/// A comment's lines without the one space after `//`.
fn tidy(text: &str) -> String {
    text.lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

fn document(pool: &DescriptorPool, routes: &[Route]) -> Value {
    let comments = Comments::of(pool);
    let mut schemas = Schemas {
        comments: &comments,
        out: BTreeMap::new(),
    };
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut seen_ids: HashMap<String, usize> = HashMap::new();
    let mut tags = BTreeMap::new();
    for route in routes {
        let method = &route.method;
        let service = method.parent_service();
        let description = comments
            .get(&method.parent_file(), method.path())
            .unwrap_or_default()
            .to_owned();
        tags.entry(service.name().to_owned()).or_insert_with(|| {
            comments
                .get(&service.parent_file(), service.path())
                .unwrap_or_default()
                .to_owned()
        });
        let count = seen_ids.entry(method.name().to_owned()).or_default();
        *count += 1;
        let operation_id = if *count == 1 {
            method.name().to_owned()
        } else {
            format!("{}{}", method.name(), count)
        };
        let (path, mut parameters) = path_and_parameters(route);
        let input = method.input();
        let bound: Vec<&str> = route
            .template
            .vars
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        if route.body != BodyRule::Whole {
            for field in input.fields() {
                let body_field = matches!(&route.body, BodyRule::Field(f) if f == field.name());
                if body_field || bound.contains(&field.name()) || !queryable(&field) {
                    continue;
                }
                let mut schema = schemas.field(&field);
                let description = take_description(&mut schema);
                let mut parameter = json!({
                    "name": field.json_name(),
                    "in": "query",
                    "schema": schema,
                    "explode": true,
                });
                if !description.is_null() {
                    parameter["description"] = description;
                }
                parameters.push(parameter);
            }
        }
        let mut operation = json!({
            "operationId": operation_id,
            "tags": [service.name()],
            "summary": first_sentence(&description),
            "description": format!(
                "{description}\n\ngRPC: `{}`.",
                route.grpc_path.trim_start_matches('/')
            ),
            "parameters": parameters,
            "responses": {
                "200": response_of(&mut schemas, &method.output(), method.is_server_streaming()),
                "default": {
                    "description": "An error: the `google.rpc.Status` in Google's JSON error envelope, with AIP-193's HTTP status.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            },
        });
        let body_schema = match &route.body {
            BodyRule::None => None,
            BodyRule::Whole => Some(schemas.reference(&input)),
            BodyRule::Field(name) => input.get_field_by_name(name).map(|f| {
                let mut s = schemas.field(&f);
                take_description(&mut s);
                s
            }),
        };
        if let Some(schema) = body_schema {
            operation["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": schema}},
            });
        }
        paths
            .entry(path)
            .or_default()
            .insert(route.verb.as_str().to_ascii_lowercase(), operation);
    }
    schemas.out.insert("Error".to_owned(), error_schema());
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "partnership",
            "version": "v1",
            "description": "Records of how Korea's large corporations and SMEs cooperate, as JSON over HTTP: the same methods, records and errors as the gRPC API (package `partnership.v1`), on the same port. Proto3 JSON mapping: camelCase names, enums by name, 64-bit integers as strings, timestamps in RFC 3339. Deadlines: `grpc-timeout` (e.g. `500m`) or `X-Server-Timeout` (seconds). Streams (exports, the change feed) are newline-delimited JSON, one message per line, and a last line `{\"error\": …}` if the stream fails.",
            "license": {"name": "MIT OR Apache-2.0"},
        },
        "tags": tags.into_iter().map(|(name, description)| json!({"name": name, "description": description})).collect::<Vec<_>>(),
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `partnership token new`, when the server runs with --auth-config; each method needs a scope (read, write, admin, audit).",
                },
            },
            "schemas": schemas.out,
        },
    })
}

/// The OpenAPI path of a route (each `*` of a bound resource name as a
/// parameter named for its collection: `/v1/programs/{program}/participations/{participation}`)
/// and those path parameters.
fn path_and_parameters(route: &Route) -> (String, Vec<Value>) {
    let text = &route.template.text;
    let mut path = String::new();
    let mut parameters = Vec::new();
    let mut rest = text.as_str();
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let inner = &rest[open + 1..close];
        let (field, pattern) = inner.split_once('=').unwrap_or((inner, "*"));
        let mut previous = "";
        let mut segments = Vec::new();
        for segment in pattern.split('/') {
            if segment == "*" || segment == "**" {
                let name = singular(previous);
                segments.push(format!("{{{name}}}"));
                parameters.push(json!({
                    "name": name,
                    "in": "path",
                    "required": true,
                    "description": format!("The `{{{name}}}` of `{field}`, `{pattern}`."),
                    "schema": {"type": "string"},
                }));
            } else {
                segments.push(segment.to_owned());
            }
            previous = segment;
        }
        path.push_str(&segments.join("/"));
        rest = &rest[(close + 1).min(rest.len())..];
    }
    path.push_str(rest);
    (path, parameters)
}

/// `programs` → `program`, `companies` → `company`.
fn singular(collection: &str) -> String {
    if let Some(stem) = collection.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = collection.strip_suffix('s') {
        stem.to_owned()
    } else if collection.is_empty() {
        "id".to_owned()
    } else {
        collection.to_owned()
    }
}

/// Whether a request field can be sent as a query parameter.
fn queryable(field: &FieldDescriptor) -> bool {
    match field.kind() {
        Kind::Message(m) => !field.is_list() && m.package_name() == "google.protobuf",
        _ => !field.is_map(),
    }
}

fn first_sentence(text: &str) -> String {
    let flat = text.replace('\n', " ");
    match flat.find(". ") {
        Some(i) => flat[..=i].to_owned(),
        None => flat,
    }
}

fn take_description(schema: &mut Value) -> Value {
    schema
        .as_object_mut()
        .and_then(|o| o.remove("description"))
        .unwrap_or(Value::Null)
}

fn response_of(schemas: &mut Schemas, output: &MessageDescriptor, streaming: bool) -> Value {
    let schema = schemas.reference(output);
    if streaming {
        json!({
            "description": "A stream: newline-delimited JSON, one message per line as the server sends them; if the stream fails, a last line `{\"error\": …}` (the error envelope).",
            "content": {"application/x-ndjson": {"schema": schema}},
        })
    } else {
        json!({
            "description": "OK",
            "content": {"application/json": {"schema": schema}},
        })
    }
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "description": "Google's JSON error envelope (AIP-193): the gRPC status as JSON.",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "integer", "description": "The HTTP status."},
                    "message": {"type": "string", "description": "What went wrong, for a developer."},
                    "status": {"type": "string", "description": "The google.rpc.Code name, e.g. `NOT_FOUND`."},
                    "details": {
                        "type": "array",
                        "description": "ErrorInfo (reason, domain `partnership.gov.kr`, metadata), BadRequest (the fields at fault), RetryInfo (when to retry), each with its `@type`.",
                        "items": {
                            "type": "object",
                            "properties": {"@type": {"type": "string"}},
                            "additionalProperties": true,
                        },
                    },
                },
            },
        },
    })
}

/// The component schemas, added as they are referred to.
struct Schemas<'a> {
    comments: &'a Comments,
    out: BTreeMap<String, Value>,
}

impl Schemas<'_> {
    /// A `$ref` to the message's schema, written on first use.
    fn reference(&mut self, message: &MessageDescriptor) -> Value {
        if let Some(inline) = well_known(message) {
            return inline;
        }
        let name = message.full_name().to_owned();
        if !self.out.contains_key(&name) {
            // Placeholder first: a message may refer to itself.
            self.out.insert(name.clone(), Value::Null);
            let schema = self.message(message);
            self.out.insert(name.clone(), schema);
        }
        json!({"$ref": format!("#/components/schemas/{name}")})
    }

    fn enum_reference(&mut self, e: &EnumDescriptor) -> Value {
        let name = e.full_name().to_owned();
        if !self.out.contains_key(&name) {
            let mut schema = json!({
                "type": "string",
                "enum": e.values().map(|v| v.name().to_owned()).collect::<Vec<_>>(),
            });
            if let Some(text) = self.comments.get(&e.parent_file(), e.path()) {
                schema["description"] = json!(text);
            }
            self.out.insert(name.clone(), schema);
        }
        json!({"$ref": format!("#/components/schemas/{name}")})
    }

    fn message(&mut self, message: &MessageDescriptor) -> Value {
        let mut properties = Map::new();
        for field in message.fields() {
            properties.insert(field.json_name().to_owned(), self.field(&field));
        }
        let mut schema = json!({"type": "object", "properties": properties});
        if let Some(text) = self.comments.get(&message.parent_file(), message.path()) {
            schema["description"] = json!(text);
        }
        schema
    }

    /// A field's schema, with its comment as description (a `$ref` is
    /// wrapped in `allOf`, since OpenAPI 3.0 ignores a `$ref`'s siblings).
    fn field(&mut self, field: &FieldDescriptor) -> Value {
        let single = match field.kind() {
            Kind::Message(m) if field.is_map() => {
                let value = m.map_entry_value_field();
                let value = self.kind(&value.kind());
                json!({"type": "object", "additionalProperties": value})
            }
            kind => self.kind(&kind),
        };
        let mut schema = if field.is_list() {
            json!({"type": "array", "items": single})
        } else if single.get("$ref").is_some() {
            json!({"allOf": [single]})
        } else {
            single
        };
        if let Some(text) = self
            .comments
            .get(&field.parent_message().parent_file(), field.path())
        {
            if text.starts_with("Output only.") {
                schema["readOnly"] = json!(true);
            }
            schema["description"] = json!(text);
        }
        schema
    }

    fn kind(&mut self, kind: &Kind) -> Value {
        match kind {
            Kind::Double => json!({"type": "number", "format": "double"}),
            Kind::Float => json!({"type": "number", "format": "float"}),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({"type": "integer", "format": "int32"})
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({"type": "integer", "format": "int64", "minimum": 0})
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({"type": "string", "format": "int64"})
            }
            Kind::Uint64 | Kind::Fixed64 => json!({"type": "string", "format": "uint64"}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "format": "byte"}),
            Kind::Message(m) => self.reference(m),
            Kind::Enum(e) => self.enum_reference(e),
        }
    }
}

/// The JSON forms of the well-known types, written inline.
fn well_known(message: &MessageDescriptor) -> Option<Value> {
    Some(match message.full_name() {
        "google.protobuf.Timestamp" => {
            json!({"type": "string", "format": "date-time", "description": "RFC 3339, e.g. `2026-03-10T09:00:00Z`."})
        }
        "google.protobuf.Duration" => {
            json!({"type": "string", "description": "Seconds with an `s` suffix, e.g. `1.5s`."})
        }
        "google.protobuf.FieldMask" => {
            json!({"type": "string", "description": "Field paths in camelCase, separated by commas, e.g. `displayName,region`."})
        }
        "google.protobuf.Any" => json!({
            "type": "object",
            "properties": {"@type": {"type": "string"}},
            "additionalProperties": true,
        }),
        "google.protobuf.Struct" => json!({"type": "object", "additionalProperties": true}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.Empty" => json!({"type": "object"}),
        "google.protobuf.StringValue" => json!({"type": "string"}),
        "google.protobuf.BoolValue" => json!({"type": "boolean"}),
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => json!({"type": "integer"}),
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => {
            json!({"type": "string", "format": "int64"})
        }
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => json!({"type": "number"}),
        "google.protobuf.BytesValue" => json!({"type": "string", "format": "byte"}),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/openapi.json` is what this build writes: after a change to
    /// `proto/`, run `cargo run -- openapi > docs/openapi.json`.
    #[test]
    fn the_committed_document_matches_the_build() {
        let committed = include_str!("../../docs/openapi.json");
        let built = String::from_utf8(current().unwrap()).unwrap();
        assert!(
            committed == built,
            "docs/openapi.json is stale: run `cargo run -- openapi > docs/openapi.json`"
        );
    }

    #[test]
    fn paths_name_their_parameters_after_collections() {
        let (pool, routes) = super::super::descriptors().unwrap();
        let doc = document(&pool, &routes);
        assert_eq!(doc["paths"]["/healthz"]["get"]["operationId"], "Check");
        let undelete =
            &doc["paths"]["/v1/programs/{program}/participations/{participation}:undelete"];
        assert_eq!(undelete["post"]["operationId"], "UndeleteParticipation");
        let get = &doc["paths"]["/v1/smes/{sme}"];
        assert!(get["get"].is_object() && get["patch"].is_object() && get["delete"].is_object());
        let list = &get.as_object().unwrap();
        assert_eq!(list.len(), 3);
        let params = doc["paths"]["/v1/smes"]["get"]["parameters"]
            .as_array()
            .unwrap();
        assert!(
            params
                .iter()
                .any(|p| p["name"] == "pageSize" && p["in"] == "query")
        );
        let sme = &doc["components"]["schemas"]["partnership.v1.Sme"];
        assert_eq!(sme["properties"]["annualRevenueKrw"]["type"], "string");
        assert_eq!(sme["properties"]["createTime"]["readOnly"], true);
        assert!(sme["description"].as_str().unwrap().contains("중소기업"));
    }
}
