//! List paging: page sizes and opaque page tokens bound to their query.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::date::{parse_iso_date, time_range};
use super::query::{FieldType, Literal, Order, OrderKey};
use super::{Collection, Lines, ResourceId, check_text};

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 1000;

/// Parses a requested page size: 0 means the default, larger than the
/// maximum is lowered to it, negative is an error.
pub fn parse_page_size(requested: i32) -> Result<u64, String> {
    match u64::try_from(requested) {
        Err(_) => Err(format!("must not be negative, got {requested}")),
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(n) => Ok(n.min(MAX_PAGE_SIZE)),
    }
}

/// Where a page starts: strictly after this row in the list's order (its
/// order keys, then its key columns). Only [`PageToken::parse`] makes one
/// from caller input, and it checks every field.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// The order keys' values of the last row returned.
    pub values: Vec<Literal>,
    /// Key columns of the last row returned (its id; a participation's
    /// program id and id).
    pub keys: Vec<ResourceId>,
    /// `total_size` as found for the first page, repeated on later pages;
    /// `None` in tokens from before it was carried.
    pub total_size: Option<u64>,
}

/// The query a token belongs to; any change to it invalidates the token.
#[derive(Debug, Clone)]
pub struct QueryShape<'a> {
    pub collection: Collection,
    pub parent: &'a str,
    pub filter: &'a str,
    pub order_by: &'a str,
    pub search: &'a str,
    pub show_deleted: bool,
}

impl QueryShape<'_> {
    fn fingerprint(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n{}\n{}",
            self.collection.segment(),
            self.parent,
            self.filter,
            self.order_by,
            self.show_deleted
        );
        // Appended only when set, so tokens issued before `search` existed
        // keep their fingerprint.
        if !self.search.is_empty() {
            text.push_str("\nsearch:");
            text.push_str(self.search);
        }
        hex::encode(&Sha256::digest(text.as_bytes())[..8])
    }

    /// How many key columns a cursor of this collection carries.
    fn key_count(&self) -> usize {
        match self.collection {
            Collection::Participations => 2,
            _ => 1,
        }
    }
}

/// The token as it travels: base64url of this JSON.
#[derive(Serialize, Deserialize)]
struct TokenBody {
    /// Format version: 1 held only `t` (creation order), 2 holds `o`.
    v: u8,
    /// Fingerprint of the query.
    q: String,
    /// Version 1: `create_time` in microseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<i64>,
    /// Version 2: the order keys' values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    o: Vec<serde_json::Value>,
    /// Key columns.
    k: Vec<String>,
    /// `total_size` of the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<u64>,
}

/// An opaque page token: base64url of a small JSON body.
pub struct PageToken;

/// Longest page token accepted, in bytes; ours are far shorter.
const MAX_TOKEN_BYTES: usize = 2048;

/// A cursor value as JSON: timestamps as microseconds, dates as text.
fn value_to_json(value: &Literal) -> serde_json::Value {
    match value {
        Literal::Text(s) => s.clone().into(),
        Literal::Int(n) => (*n).into(),
        Literal::Date(d) => d.format("%Y-%m-%d").to_string().into(),
        Literal::Time(t) => t.timestamp_micros().into(),
        Literal::Null => serde_json::Value::Null,
    }
}

/// A cursor value of `key`'s type, or `None` when it is not one.
fn value_from_json(value: &serde_json::Value, key: &OrderKey) -> Option<Literal> {
    use serde_json::Value as J;
    match (value, key.ty) {
        (J::Null, _) => key.nullable.then_some(Literal::Null),
        (J::Number(n), FieldType::Integer) => n.as_i64().map(Literal::Int),
        (J::Number(n), FieldType::Timestamp) => {
            let (min, max) = time_range();
            n.as_i64()
                .and_then(DateTime::<Utc>::from_timestamp_micros)
                .filter(|t| (min..=max).contains(t))
                .map(Literal::Time)
        }
        (J::String(s), FieldType::Date) => parse_iso_date(s).map(Literal::Date),
        (J::String(s), FieldType::Text | FieldType::Enum(_) | FieldType::Reference(_))
        | (J::String(s), FieldType::BusinessNumber) => check_text(s, Lines::Single)
            .ok()
            .map(|()| Literal::Text(s.clone())),
        _ => None,
    }
}

impl PageToken {
    pub fn encode(cursor: &Cursor, query: &QueryShape<'_>) -> String {
        let body = TokenBody {
            v: 2,
            q: query.fingerprint(),
            t: None,
            o: cursor.values.iter().map(value_to_json).collect(),
            k: cursor.keys.iter().map(|k| k.as_str().to_owned()).collect(),
            n: cursor.total_size,
        };
        // Serializing a struct of strings and integers cannot fail.
        let json = serde_json::to_vec(&body).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Parses a token of a list in `order`; the empty token is the first
    /// page. Anything that does not decode into a valid cursor of this
    /// query is an error.
    pub fn parse(
        token: &str,
        query: &QueryShape<'_>,
        order: &Order,
    ) -> Result<Option<Cursor>, String> {
        if token.is_empty() {
            return Ok(None);
        }
        let foreign = || "is not a page token issued by this service".to_owned();
        if token.len() > MAX_TOKEN_BYTES {
            return Err(foreign());
        }
        let body: TokenBody = URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(foreign)?;
        if body.q != query.fingerprint() {
            return Err(
                "belongs to a different query (parent, filter, order_by, search or show_deleted changed)"
                    .to_owned(),
            );
        }
        let values = match (body.v, body.t) {
            // Version 1 tokens come only from creation order.
            (1, Some(t)) if body.o.is_empty() => vec![serde_json::Value::from(t)],
            (2, None) => body.o,
            _ => return Err(foreign()),
        };
        if values.len() != order.keys.len() || body.k.len() != query.key_count() {
            return Err(foreign());
        }
        let values = values
            .iter()
            .zip(&order.keys)
            .map(|(v, key)| value_from_json(v, key))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(foreign)?;
        let keys = body
            .k
            .iter()
            .map(|k| ResourceId::parse(k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| foreign())?;
        let total_size = body.n.filter(|n| *n <= i64::MAX as u64);
        Ok(Some(Cursor {
            values,
            keys,
            total_size,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::query::parse_order_by;

    fn shape(show_deleted: bool) -> QueryShape<'static> {
        QueryShape {
            collection: Collection::Companies,
            parent: "",
            filter: "",
            order_by: "",
            search: "",
            show_deleted,
        }
    }

    fn creation() -> Order {
        Order::creation()
    }

    fn time_of(cursor: &Cursor) -> DateTime<Utc> {
        match cursor.values.first() {
            Some(Literal::Time(t)) => *t,
            other => panic!("not a time: {other:?}"),
        }
    }

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_query() {
        let cursor = Cursor {
            values: vec![Literal::Time(
                DateTime::from_timestamp_micros(1_700_000_000_000_042).unwrap(),
            )],
            keys: vec![ResourceId::parse("acme").unwrap()],
            total_size: Some(12),
        };
        let token = PageToken::encode(&cursor, &shape(false));
        assert_eq!(
            PageToken::parse(&token, &shape(false), &creation()),
            Ok(Some(cursor))
        );
        assert!(PageToken::parse(&token, &shape(true), &creation()).is_err());
        let searching = QueryShape {
            search: "acme",
            ..shape(false)
        };
        assert!(PageToken::parse(&token, &searching, &creation()).is_err());
        assert!(PageToken::parse("garbage!", &shape(false), &creation()).is_err());
        assert_eq!(PageToken::parse("", &shape(false), &creation()), Ok(None));
    }

    #[test]
    fn values_are_checked_against_the_order() {
        let order = parse_order_by(Collection::Companies, "employee_count desc").unwrap();
        let shape = QueryShape {
            order_by: "employee_count desc",
            ..shape(false)
        };
        let token = |o: serde_json::Value| {
            let json =
                serde_json::json!({"v": 2, "q": shape.fingerprint(), "o": [o], "k": ["acme"]});
            URL_SAFE_NO_PAD.encode(json.to_string())
        };
        assert!(PageToken::parse(&token(serde_json::json!(7)), &shape, &order).is_ok());
        // Employee counts may be unset.
        assert!(PageToken::parse(&token(serde_json::Value::Null), &shape, &order).is_ok());
        for bad in [
            serde_json::json!("7"),
            serde_json::json!(1.5),
            serde_json::json!([7]),
        ] {
            assert!(
                PageToken::parse(&token(bad.clone()), &shape, &order).is_err(),
                "{bad}"
            );
        }
    }

    /// A version 1 body (creation order) with this query's fingerprint.
    fn body(t: serde_json::Value, k: serde_json::Value) -> String {
        let q = shape(false).fingerprint();
        let json = serde_json::json!({"v": 1, "q": q, "t": t, "k": k});
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    #[test]
    fn cursor_fields_are_checked() {
        let ok = body(
            serde_json::json!(1_700_000_000_000_000_i64),
            serde_json::json!(["acme"]),
        );
        assert!(matches!(
            PageToken::parse(&ok, &shape(false), &creation()),
            Ok(Some(_))
        ));
        for (t, k) in [
            (serde_json::json!(i64::MAX), serde_json::json!(["acme"])),
            (serde_json::json!(i64::MIN), serde_json::json!(["acme"])),
            (serde_json::json!(-1), serde_json::json!(["acme"])),
            (serde_json::json!(1), serde_json::json!([])),
            (serde_json::json!(1), serde_json::json!(["a", "b"])),
            (serde_json::json!(1), serde_json::json!(["Not An Id"])),
            (serde_json::json!("1"), serde_json::json!(["acme"])),
        ] {
            let token = body(t.clone(), k.clone());
            assert!(
                PageToken::parse(&token, &shape(false), &creation()).is_err(),
                "{t} {k}"
            );
        }
        assert!(PageToken::parse(&"A".repeat(5000), &shape(false), &creation()).is_err());
    }

    proptest::proptest! {
        /// Any text, and any time and keys in a well-formed body: the parser
        /// never panics, and what it accepts is a valid cursor of the query.
        #[test]
        fn parser_accepts_only_valid_cursors(
            text in ".{0,300}",
            t in proptest::num::i64::ANY,
            k in proptest::collection::vec("[a-z0-9-]{0,70}|.{0,10}", 0..3),
        ) {
            let (min, max) = time_range();
            for token in [text, body(serde_json::json!(t), serde_json::json!(k))] {
                if let Ok(Some(cursor)) = PageToken::parse(&token, &shape(false), &creation()) {
                    proptest::prop_assert!((min..=max).contains(&time_of(&cursor)));
                    proptest::prop_assert_eq!(cursor.keys.len(), 1);
                }
            }
        }
    }

    #[test]
    fn page_sizes() {
        assert_eq!(parse_page_size(0), Ok(50));
        assert_eq!(parse_page_size(5000), Ok(1000));
        assert_eq!(parse_page_size(7), Ok(7));
        assert!(parse_page_size(-1).is_err());
    }
}
