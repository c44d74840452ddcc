//! List paging: page sizes and opaque page tokens bound to their query.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
/// (`create_time`, then the key columns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// `create_time` of the last row returned, in microseconds since the epoch.
    #[serde(rename = "t")]
    pub create_time_micros: i64,
    /// Key columns of the last row returned (e.g. its id).
    #[serde(rename = "k")]
    pub keys: Vec<String>,
}

/// The query a token belongs to; any change to it invalidates the token.
#[derive(Debug, Clone)]
pub struct QueryShape<'a> {
    pub collection: &'a str,
    pub parent: &'a str,
    pub filter: &'a str,
    pub order_by: &'a str,
    pub show_deleted: bool,
}

impl QueryShape<'_> {
    fn fingerprint(&self) -> String {
        let text = format!(
            "{}\n{}\n{}\n{}\n{}",
            self.collection, self.parent, self.filter, self.order_by, self.show_deleted
        );
        hex::encode(&Sha256::digest(text.as_bytes())[..8])
    }
}

#[derive(Serialize, Deserialize)]
struct TokenBody {
    /// Format version.
    v: u8,
    /// Fingerprint of the query.
    q: String,
    #[serde(flatten)]
    cursor: Cursor,
}

/// An opaque page token: base64url of a small JSON body.
pub struct PageToken;

impl PageToken {
    pub fn encode(cursor: Cursor, query: &QueryShape<'_>) -> String {
        let body = TokenBody {
            v: 1,
            q: query.fingerprint(),
            cursor,
        };
        // Serializing a struct of strings and integers cannot fail.
        let json = serde_json::to_vec(&body).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Parses a token; the empty token is the first page.
    pub fn parse(token: &str, query: &QueryShape<'_>) -> Result<Option<Cursor>, String> {
        if token.is_empty() {
            return Ok(None);
        }
        let body: TokenBody = URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .filter(|b: &TokenBody| b.v == 1)
            .ok_or_else(|| "is not a page token issued by this service".to_owned())?;
        if body.q != query.fingerprint() {
            return Err(
                "belongs to a different query (parent, filter, order_by or show_deleted changed)"
                    .to_owned(),
            );
        }
        Ok(Some(body.cursor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(show_deleted: bool) -> QueryShape<'static> {
        QueryShape {
            collection: "companies",
            parent: "",
            filter: "",
            order_by: "",
            show_deleted,
        }
    }

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_query() {
        let cursor = Cursor {
            create_time_micros: 42,
            keys: vec!["acme".into()],
        };
        let token = PageToken::encode(cursor.clone(), &shape(false));
        assert_eq!(PageToken::parse(&token, &shape(false)), Ok(Some(cursor)));
        assert!(PageToken::parse(&token, &shape(true)).is_err());
        assert!(PageToken::parse("garbage!", &shape(false)).is_err());
        assert_eq!(PageToken::parse("", &shape(false)), Ok(None));
    }

    #[test]
    fn page_sizes() {
        assert_eq!(parse_page_size(0), Ok(50));
        assert_eq!(parse_page_size(5000), Ok(1000));
        assert_eq!(parse_page_size(7), Ok(7));
        assert!(parse_page_size(-1).is_err());
    }
}
