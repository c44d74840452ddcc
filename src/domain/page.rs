//! List paging: page sizes and opaque page tokens bound to their query.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Collection, ResourceId};

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

/// Where a page starts: strictly after this row in list order
/// (`create_time`, then the key columns). Only [`PageToken::parse`] makes one
/// from caller input, and it checks every field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// `create_time` of the last row returned.
    pub create_time: DateTime<Utc>,
    /// Key columns of the last row returned (its id; a participation's
    /// program id and id).
    pub keys: Vec<ResourceId>,
}

/// The query a token belongs to; any change to it invalidates the token.
#[derive(Debug, Clone)]
pub struct QueryShape<'a> {
    pub collection: Collection,
    pub parent: &'a str,
    pub filter: &'a str,
    pub order_by: &'a str,
    pub show_deleted: bool,
}

impl QueryShape<'_> {
    fn fingerprint(&self) -> String {
        let text = format!(
            "{}\n{}\n{}\n{}\n{}",
            self.collection.segment(),
            self.parent,
            self.filter,
            self.order_by,
            self.show_deleted
        );
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

/// The earliest and latest `create_time` a cursor may name: every backend
/// stores these, and every record was created inside them.
fn cursor_time_range() -> (DateTime<Utc>, DateTime<Utc>) {
    let last = NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map_or(DateTime::<Utc>::MAX_UTC, |t| t.and_utc());
    (DateTime::UNIX_EPOCH, last)
}

/// The token as it travels: base64url of this JSON.
#[derive(Serialize, Deserialize)]
struct TokenBody {
    /// Format version.
    v: u8,
    /// Fingerprint of the query.
    q: String,
    /// `create_time` in microseconds since the epoch.
    t: i64,
    /// Key columns.
    k: Vec<String>,
}

/// An opaque page token: base64url of a small JSON body.
pub struct PageToken;

/// Longest page token accepted, in bytes; ours are far shorter.
const MAX_TOKEN_BYTES: usize = 1024;

impl PageToken {
    pub fn encode(cursor: &Cursor, query: &QueryShape<'_>) -> String {
        let body = TokenBody {
            v: 1,
            q: query.fingerprint(),
            t: cursor.create_time.timestamp_micros(),
            k: cursor.keys.iter().map(|k| k.as_str().to_owned()).collect(),
        };
        // Serializing a struct of strings and integers cannot fail.
        let json = serde_json::to_vec(&body).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Parses a token; the empty token is the first page. Anything that
    /// does not decode into a valid cursor of this query is an error.
    pub fn parse(token: &str, query: &QueryShape<'_>) -> Result<Option<Cursor>, String> {
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
            .filter(|b: &TokenBody| b.v == 1)
            .ok_or_else(foreign)?;
        if body.q != query.fingerprint() {
            return Err(
                "belongs to a different query (parent, filter, order_by or show_deleted changed)"
                    .to_owned(),
            );
        }
        let (min, max) = cursor_time_range();
        let create_time = DateTime::<Utc>::from_timestamp_micros(body.t)
            .filter(|t| (min..=max).contains(t))
            .ok_or_else(foreign)?;
        if body.k.len() != query.key_count() {
            return Err(foreign());
        }
        let keys = body
            .k
            .iter()
            .map(|k| ResourceId::parse(k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| foreign())?;
        Ok(Some(Cursor { create_time, keys }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(show_deleted: bool) -> QueryShape<'static> {
        QueryShape {
            collection: Collection::Companies,
            parent: "",
            filter: "",
            order_by: "",
            show_deleted,
        }
    }

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_query() {
        let cursor = Cursor {
            create_time: DateTime::from_timestamp_micros(1_700_000_000_000_042).unwrap(),
            keys: vec![ResourceId::parse("acme").unwrap()],
        };
        let token = PageToken::encode(&cursor, &shape(false));
        assert_eq!(PageToken::parse(&token, &shape(false)), Ok(Some(cursor)));
        assert!(PageToken::parse(&token, &shape(true)).is_err());
        assert!(PageToken::parse("garbage!", &shape(false)).is_err());
        assert_eq!(PageToken::parse("", &shape(false)), Ok(None));
    }

    /// The time and keys of a body with this query's fingerprint.
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
        assert!(matches!(PageToken::parse(&ok, &shape(false)), Ok(Some(_))));
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
            assert!(PageToken::parse(&token, &shape(false)).is_err(), "{t} {k}");
        }
        assert!(PageToken::parse(&"A".repeat(5000), &shape(false)).is_err());
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
            let (min, max) = cursor_time_range();
            for token in [text, body(serde_json::json!(t), serde_json::json!(k))] {
                if let Ok(Some(cursor)) = PageToken::parse(&token, &shape(false)) {
                    proptest::prop_assert!((min..=max).contains(&cursor.create_time));
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
