//! A JSON call turned into a request message (body, path variables and
//! query parameters, AIP-127), and the service's gRPC answer turned back
//! into JSON (proto3 JSON mapping, by prost-reflect).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;
use prost_reflect::{
    DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, SerializeOptions,
};
use serde_json::{Map, Value};

use super::rules::{BodyRule, Route};
use crate::domain::Violations;

/// A JSON call that cannot be a request: the field at fault and why.
#[derive(Debug)]
pub struct BadInput(pub Violations);

impl BadInput {
    fn new(field: impl Into<String>, why: impl Into<String>) -> Self {
        Self(Violations::single(field, why))
    }
}

/// The request message of `route` from its path variables, query string
/// and body.
pub fn request(
    route: &Route,
    bound: Vec<(&str, String)>,
    query: Option<&str>,
    body: &[u8],
) -> Result<DynamicMessage, BadInput> {
    let input = route.method.input();
    let mut root = Map::new();
    let body_json = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(
            serde_json::from_slice::<Value>(body)
                .map_err(|e| BadInput::new("body", format!("not JSON: {e}")))?,
        )
    };
    match (&route.body, body_json) {
        (BodyRule::None, Some(_)) => {
            return Err(BadInput::new(
                "body",
                format!(
                    "{} {} takes no body: send its fields as query parameters",
                    route.verb, route.template.text
                ),
            ));
        }
        (BodyRule::Whole, Some(Value::Object(fields))) => root = fields,
        (BodyRule::Whole, Some(_)) => {
            return Err(BadInput::new("body", "must be a JSON object"));
        }
        (BodyRule::Field(field), Some(value)) => {
            root.insert(field.clone(), value);
        }
        (_, None) => {}
    }
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        if route.body == BodyRule::Whole {
            return Err(BadInput::new(
                "query",
                format!(
                    "{} {} takes its fields in the body, not the query string",
                    route.verb, route.template.text
                ),
            ));
        }
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            set_query_param(&input, &mut root, &key, &value)?;
        }
    }
    for (path, value) in bound {
        set_bound(&mut root, path, value)?;
    }
    let message = DynamicMessage::deserialize_with_options(
        input,
        Value::Object(root),
        &DeserializeOptions::new().deny_unknown_fields(true),
    )
    .map_err(|e| BadInput::new("body", e.to_string()))?;
    Ok(message)
}

/// A path variable's value at its dotted field path; a body that set the
/// same field to something else is refused rather than silently
/// overridden.
fn set_bound(root: &mut Map<String, Value>, path: &str, value: String) -> Result<(), BadInput> {
    let mut names = path.split('.').peekable();
    let mut object = root;
    while let Some(name) = names.next() {
        if names.peek().is_none() {
            match object.get(name) {
                Some(Value::String(s)) if !s.is_empty() && *s != value => {
                    return Err(BadInput::new(
                        path,
                        format!("`{s}` in the body but `{value}` in the URL path"),
                    ));
                }
                _ => {
                    object.insert(name.to_owned(), Value::String(value));
                }
            }
            return Ok(());
        }
        let next = object
            .entry(name.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if next.is_null() {
            *next = Value::Object(Map::new());
        }
        object = match next {
            Value::Object(o) => o,
            _ => return Err(BadInput::new(name, "must be a JSON object")),
        };
    }
    Ok(())
}

/// One `key=value` of the query string: `key` a dotted path of fields
/// (proto or JSON names) ending in a scalar, an enum, a repeated one of
/// those, or a well-known type written as a JSON string (`update_mask`,
/// timestamps).
fn set_query_param(
    input: &MessageDescriptor,
    root: &mut Map<String, Value>,
    key: &str,
    value: &str,
) -> Result<(), BadInput> {
    let unknown = || BadInput::new(key, format!("no such field in {}", input.name()));
    let mut message = input.clone();
    let mut object = root;
    let mut names = key.split('.').peekable();
    while let Some(name) = names.next() {
        let field = field_named(&message, name).ok_or_else(unknown)?;
        let last = names.peek().is_none();
        if !last {
            let Kind::Message(inner) = field.kind() else {
                return Err(unknown());
            };
            if field.is_list() || field.is_map() || is_wkt(&inner) {
                return Err(BadInput::new(key, "cannot be set from the query string"));
            }
            message = inner;
            let next = object
                .entry(field.name().to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            object = match next {
                Value::Object(o) => o,
                _ => return Err(BadInput::new(key, "set twice")),
            };
            continue;
        }
        let scalar = query_value(&field, value).map_err(|why| BadInput::new(key, why))?;
        if field.is_list() {
            match object
                .entry(field.name().to_owned())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                Value::Array(items) => items.push(scalar),
                _ => return Err(BadInput::new(key, "set twice")),
            }
        } else if object.insert(field.name().to_owned(), scalar).is_some() {
            return Err(BadInput::new(key, "set twice"));
        }
    }
    Ok(())
}

fn field_named(message: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    message
        .get_field_by_name(name)
        .or_else(|| message.get_field_by_json_name(name))
}

fn is_wkt(message: &MessageDescriptor) -> bool {
    message.package_name() == "google.protobuf"
}

/// A query parameter as the JSON value the proto3 JSON mapping reads for
/// its field: booleans as JSON booleans, everything else as a string
/// (numbers, 64-bit ones included, are read from strings too).
fn query_value(field: &FieldDescriptor, value: &str) -> Result<Value, String> {
    if field.is_map() {
        return Err("a map cannot be set from the query string".to_owned());
    }
    match field.kind() {
        Kind::Bool => match value {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("`{value}` is not `true` or `false`")),
        },
        Kind::Message(m) if !is_wkt(&m) => {
            Err("a message cannot be set from the query string".to_owned())
        }
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => number::<i32>(value),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => number::<i64>(value),
        Kind::Uint32 | Kind::Fixed32 => number::<u32>(value),
        Kind::Uint64 | Kind::Fixed64 => number::<u64>(value),
        Kind::Float | Kind::Double => number::<f64>(value),
        Kind::Enum(e) => {
            let by_number = value.parse::<i32>().ok().and_then(|n| e.get_value(n));
            if e.get_value_by_name(value).is_some() || by_number.is_some() {
                Ok(Value::String(value.to_owned()))
            } else {
                let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
                Err(format!("`{value}` is not one of {}", names.join(", ")))
            }
        }
        _ => Ok(Value::String(value.to_owned())),
    }
}

/// A number in a query parameter, checked here so the error names it,
/// passed on as the string the JSON mapping reads.
fn number<T: std::str::FromStr>(value: &str) -> Result<Value, String> {
    value
        .parse::<T>()
        .map(|_| Value::String(value.to_owned()))
        .map_err(|_| format!("`{value}` is not a number of this field's type"))
}

/// The proto3 JSON of a message: camelCase names, enums by name, 64-bit
/// integers as strings, default values left out.
pub fn json(message: &DynamicMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.encoded_len() * 2 + 16);
    let mut serializer = serde_json::Serializer::new(&mut out);
    // Writing to a Vec fails only if the message holds what JSON cannot
    // (a float NaN is written as "NaN", per the mapping): never here.
    if message
        .serialize_with_options(&mut serializer, &SerializeOptions::new())
        .is_err()
    {
        out.clear();
        out.extend_from_slice(b"{}");
    }
    out
}

/// The gRPC wire frame of one message: uncompressed flag, length, bytes.
pub fn frame(message: &DynamicMessage) -> Bytes {
    let len = message.encoded_len();
    let mut out = BytesMut::with_capacity(5 + len);
    out.put_u8(0);
    out.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    // Encoding into a buffer with room for it cannot fail.
    let _ = message.encode(&mut out);
    out.freeze()
}

/// The next whole message in `buffer` (gRPC frames), if one has arrived;
/// an error for a compressed frame (never asked for).
pub fn next_frame(buffer: &mut BytesMut) -> Result<Option<Bytes>, &'static str> {
    if buffer.len() < 5 {
        return Ok(None);
    }
    if buffer[0] != 0 {
        return Err("a compressed message, which was not asked for");
    }
    let len = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
    if buffer.len() < 5 + len {
        return Ok(None);
    }
    buffer.advance(5);
    Ok(Some(buffer.split_to(len).freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::DescriptorPool;

    fn route(name: &str) -> Route {
        let pool = DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET).unwrap();
        super::super::rules::routes(&pool)
            .unwrap()
            .into_iter()
            .find(|r| r.method.name() == name)
            .unwrap()
    }

    #[test]
    fn query_parameters_fill_scalars_repeated_fields_and_masks() {
        let list = route("ListSmes");
        let m = request(
            &list,
            vec![],
            Some("pageSize=5&filter=region%20%3D%20SEOUL&show_deleted=true"),
            b"",
        )
        .unwrap();
        assert_eq!(m.get_field_by_name("page_size").unwrap().as_i32(), Some(5));
        assert_eq!(
            m.get_field_by_name("filter").unwrap().as_str(),
            Some("region = SEOUL")
        );
        assert_eq!(
            m.get_field_by_name("show_deleted").unwrap().as_bool(),
            Some(true)
        );

        let batch = route("BatchGetSmes");
        let m = request(&batch, vec![], Some("names=smes/a&names=smes/b"), b"").unwrap();
        assert_eq!(
            m.get_field_by_name("names")
                .unwrap()
                .as_list()
                .unwrap()
                .len(),
            2
        );

        let update = route("UpdateSme");
        let m = request(
            &update,
            vec![("sme.name", "smes/a".to_owned())],
            Some("updateMask=displayName,employeeCount"),
            br#"{"displayName": "x"}"#,
        )
        .unwrap();
        let json: Value = serde_json::from_slice(&json(&m)).unwrap();
        assert_eq!(json["updateMask"], "displayName,employeeCount");
        assert_eq!(json["sme"]["name"], "smes/a");
    }

    #[test]
    fn bad_json_calls_are_refused_naming_the_field() {
        let list = route("ListSmes");
        let field = |r: Result<DynamicMessage, BadInput>| r.unwrap_err().0.0[0].field.clone();
        assert_eq!(field(request(&list, vec![], Some("nope=1"), b"")), "nope");
        assert_eq!(
            field(request(&list, vec![], Some("pageSize=x"), b"")),
            "pageSize"
        );
        assert_eq!(
            field(request(&list, vec![], Some("pageSize=99999999999"), b"")),
            "pageSize"
        );
        assert_eq!(
            field(request(&list, vec![], Some("showDeleted=yes"), b"")),
            "showDeleted"
        );
        assert_eq!(
            field(request(&list, vec![], Some("pageSize=1&pageSize=2"), b"")),
            "pageSize"
        );
        assert_eq!(field(request(&list, vec![], None, b"{}")), "body");
        let create = route("CreateSme");
        assert_eq!(field(request(&create, vec![], None, b"{not json")), "body");
        assert_eq!(
            field(request(&create, vec![], None, br#"{"nope": 1}"#)),
            "body"
        );
        let update = route("UpdateSme");
        assert_eq!(
            field(request(
                &update,
                vec![("sme.name", "smes/a".to_owned())],
                None,
                br#"{"name": "smes/b"}"#
            )),
            "sme.name"
        );
    }

    #[test]
    fn frames_are_split_as_they_arrive() {
        let mut buffer = BytesMut::from(&[0u8, 0, 0, 0, 2, 7, 8, 0, 0][..]);
        assert_eq!(
            next_frame(&mut buffer),
            Ok(Some(Bytes::from_static(&[7, 8])))
        );
        assert_eq!(next_frame(&mut buffer), Ok(None));
        buffer.extend_from_slice(&[0, 0, 0]);
        assert_eq!(next_frame(&mut buffer), Ok(Some(Bytes::new())));
        buffer.extend_from_slice(&[1, 0, 0, 0, 0]);
        assert!(next_frame(&mut buffer).is_err());
    }
}
