//! The journal as callers see it: the kinds of change, positions in the
//! change feed and their resume tokens, and the audit trail's filter,
//! order and page tokens.

use aip_160::{Arg, Comparable, Comparator, Expression, StringMatch};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use super::query::{MAX_FILTER_TERMS, Op, Wildcard, parse_expression, parse_filter_time};
use super::{Collection, Lines, check_text};

/// What a change did to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
    Undeleted,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 4] = [
        ChangeKind::Created,
        ChangeKind::Updated,
        ChangeKind::Deleted,
        ChangeKind::Undeleted,
    ];
    /// The proto's prefix of the value names (`CHANGE_KIND_CREATED`).
    pub const PROTO_PREFIX: &'static str = "CHANGE_KIND_";

    /// The stored text, also what filters and metrics say.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Updated => "UPDATED",
            Self::Deleted => "DELETED",
            Self::Undeleted => "UNDELETED",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// A place in the change feed: after every entry at or before it in the
/// order (`txid`, `sequence`). See the store's journal for what `txid` is
/// on each database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub txid: i64,
    pub sequence: i64,
}

/// Prefix of resume tokens of this format.
const TOKEN_VERSION: &str = "f1";
/// Longest resume token accepted, in bytes; ours are far shorter.
const MAX_RESUME_TOKEN_BYTES: usize = 256;

impl Position {
    /// Before every entry.
    pub const START: Position = Position {
        txid: 0,
        sequence: 0,
    };

    /// The opaque resume token of this position.
    pub fn token(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{TOKEN_VERSION}:{}:{}", self.txid, self.sequence))
    }

    /// Parses a resume token; anything but one this service issued is an
    /// error.
    pub fn parse_token(token: &str) -> Result<Position, String> {
        let foreign = || "is not a resume token issued by this service's change feed".to_owned();
        if token.len() > MAX_RESUME_TOKEN_BYTES {
            return Err(foreign());
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| foreign())?;
        let text = String::from_utf8(bytes).map_err(|_| foreign())?;
        let mut parts = text.split(':');
        let (Some(TOKEN_VERSION), Some(txid), Some(sequence), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(foreign());
        };
        let txid: i64 = txid.parse().map_err(|_| foreign())?;
        let sequence: i64 = sequence.parse().map_err(|_| foreign())?;
        if txid < 0 || sequence < 0 {
            return Err(foreign());
        }
        Ok(Position { txid, sequence })
    }
}

/// Parses the `collections` of a watch: empty means every collection.
pub fn parse_collections(names: &[String]) -> Result<Vec<Collection>, String> {
    let mut out = Vec::new();
    for name in names {
        let found = Collection::from_segment(name.trim()).ok_or_else(|| {
                format!("{name:?} is not a collection; the collections are companies, smes, programs and participations")
            })?;
        if !out.contains(&found) {
            out.push(found);
        }
    }
    Ok(out)
}

/// A field of the audit trail's filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditField {
    Resource,
    Caller,
    Method,
    Kind,
    RequestId,
    CommitTime,
}

impl AuditField {
    const ALL: [AuditField; 6] = [
        AuditField::Resource,
        AuditField::Caller,
        AuditField::Method,
        AuditField::Kind,
        AuditField::RequestId,
        AuditField::CommitTime,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Self::Resource => "resource",
            Self::Caller => "caller",
            Self::Method => "method",
            Self::Kind => "kind",
            Self::RequestId => "request_id",
            Self::CommitTime => "commit_time",
        }
    }

    fn list() -> String {
        Self::ALL.map(Self::path).join(", ")
    }
}

/// A checked audit filter.
#[derive(Debug, Clone, PartialEq)]
pub enum AuditFilter {
    All(Vec<AuditFilter>),
    Any(Vec<AuditFilter>),
    Not(Box<AuditFilter>),
    /// A text field equal to `text`, or matching it with a wildcard.
    Text {
        field: AuditField,
        wildcard: Option<Wildcard>,
        text: String,
    },
    /// `commit_time op time`.
    Time {
        op: Op,
        time: DateTime<Utc>,
    },
    /// `request_id:*`: the change's request had a `request_id`.
    Present(AuditField),
}

/// Parses a `ListAuditEvents` filter; the empty filter is `None`.
pub fn parse_audit_filter(text: &str) -> Result<Option<AuditFilter>, String> {
    let Some(expression) = parse_expression(text, "resource = \"smes/*\" AND kind = UPDATED")?
    else {
        return Ok(None);
    };
    let mut terms = 0;
    audit_expression(&expression, &mut terms).map(Some)
}

fn audit_expression(e: &Expression, terms: &mut usize) -> Result<AuditFilter, String> {
    let all = |children: &[Expression], terms: &mut usize| {
        children
            .iter()
            .map(|c| audit_expression(c, terms))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match e {
        Expression::And(children) | Expression::Sequence(children) => {
            AuditFilter::All(all(children, terms)?)
        }
        Expression::Or(children) => AuditFilter::Any(all(children, terms)?),
        Expression::Not(inner) => AuditFilter::Not(Box::new(audit_expression(inner, terms)?)),
        Expression::Restriction(r) => {
            *terms += 1;
            if *terms > MAX_FILTER_TERMS {
                return Err(format!(
                    "has more than {MAX_FILTER_TERMS} comparisons; split the query"
                ));
            }
            audit_restriction(&r.comparable, r.comparator, &r.arg)?
        }
        Expression::Global(c) => {
            return Err(format!(
                "{c} is a bare value: compare a field with it (e.g. resource = \"smes/*\"); the fields are {}",
                AuditField::list()
            ));
        }
    })
}

fn audit_restriction(
    comparable: &Comparable,
    comparator: Comparator,
    arg: &Arg,
) -> Result<AuditFilter, String> {
    let path = comparable.field_path().ok_or_else(|| {
        format!(
            "{comparable} is not a field; the fields are {}",
            AuditField::list()
        )
    })?;
    let field = AuditField::ALL
        .into_iter()
        .find(|f| f.path() == path)
        .ok_or_else(|| {
            format!(
                "{path:?} is not a field of audit events; the fields are {}",
                AuditField::list()
            )
        })?;
    let value = arg.as_value().ok_or_else(|| {
        format!("{path} must be compared with a single value, not an expression or a field")
    })?;
    if comparator == Comparator::Has && value.as_str() == "*" {
        return match field {
            AuditField::RequestId => Ok(AuditFilter::Present(field)),
            _ => Err(format!(
                "{path} is always set; `{path}:*` matches everything"
            )),
        };
    }
    if value.is_null() {
        return Err(format!(
            "{path} cannot be compared with null{}",
            if field == AuditField::RequestId {
                "; write `NOT request_id:*` for changes without one"
            } else {
                ""
            }
        ));
    }
    let op = Op::of(comparator);
    let ordered = op.is_ordering();
    let negate = |filter| {
        if op == Op::Ne {
            AuditFilter::Not(Box::new(filter))
        } else {
            filter
        }
    };
    match field {
        AuditField::CommitTime => Ok(AuditFilter::Time {
            op,
            time: parse_filter_time(&path, value.as_str())?,
        }),
        AuditField::Kind => {
            if ordered || comparator == Comparator::Has {
                return Err(format!("{path} is an enum: use = or !="));
            }
            let name = value.as_str();
            let kind = ChangeKind::from_stored(
                name.strip_prefix(ChangeKind::PROTO_PREFIX).unwrap_or(name),
            )
            .ok_or_else(|| {
                format!(
                    "{name:?} is not a value of kind; the values are {}",
                    ChangeKind::ALL.map(ChangeKind::as_str).join(", ")
                )
            })?;
            Ok(negate(AuditFilter::Text {
                field,
                wildcard: None,
                text: kind.as_str().to_owned(),
            }))
        }
        AuditField::Resource | AuditField::Caller | AuditField::Method | AuditField::RequestId => {
            if ordered {
                return Err(format!("{path} is text: use =, != or : (contains)"));
            }
            check_text(value.as_str(), Lines::Single).map_err(|e| format!("{path}: {e}"))?;
            let (wildcard, text) = match (comparator, value.string_match()) {
                (Comparator::Has, _) => {
                    (Some(Wildcard::Contains), value.as_str().trim_matches('*'))
                }
                (_, Some(StringMatch::Prefix(t))) => (Some(Wildcard::Prefix), t),
                (_, Some(StringMatch::Suffix(t))) => (Some(Wildcard::Suffix), t),
                (_, Some(StringMatch::Contains(t))) => (Some(Wildcard::Contains), t),
                _ => (None, value.as_str()),
            };
            Ok(negate(AuditFilter::Text {
                field,
                wildcard,
                text: text.to_owned(),
            }))
        }
    }
}

/// The order of audit events: by commit time, newest first unless asked.
pub fn parse_audit_order(text: &str) -> Result<bool, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [] | ["commit_time", "desc"] => Ok(true),
        ["commit_time"] | ["commit_time", "asc"] => Ok(false),
        _ => Err(format!(
            "{text:?} is not an order of audit events: use `commit_time desc` (the default) or `commit_time`"
        )),
    }
}

/// Where a page of audit events starts: after this event in the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    pub commit_time: DateTime<Utc>,
    pub sequence: i64,
}

impl AuditCursor {
    /// The page token of this cursor for a query (`filter`, `order_by`).
    pub fn token(self, filter: &str, order_by: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "a1:{}:{}:{}",
            audit_fingerprint(filter, order_by),
            self.commit_time.timestamp_micros(),
            self.sequence
        ))
    }

    /// Parses the page token of a query; empty is the first page.
    pub fn parse(token: &str, filter: &str, order_by: &str) -> Result<Option<Self>, String> {
        if token.is_empty() {
            return Ok(None);
        }
        let foreign = || "is not a page token issued by this service".to_owned();
        if token.len() > MAX_RESUME_TOKEN_BYTES {
            return Err(foreign());
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| foreign())?;
        let text = String::from_utf8(bytes).map_err(|_| foreign())?;
        let parts: Vec<&str> = text.split(':').collect();
        let ["a1", query, micros, sequence] = parts.as_slice() else {
            return Err(foreign());
        };
        if *query != audit_fingerprint(filter, order_by) {
            return Err("belongs to a different query (filter or order_by changed)".to_owned());
        }
        let commit_time = micros
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(foreign)?;
        let sequence = sequence.parse::<i64>().map_err(|_| foreign())?;
        Ok(Some(Self {
            commit_time,
            sequence,
        }))
    }
}

fn audit_fingerprint(filter: &str, order_by: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(format!("{filter}\n{order_by}").as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_tokens_round_trip_and_refuse_anything_else() {
        let p = Position {
            txid: 7_000_000_123,
            sequence: 42,
        };
        assert_eq!(Position::parse_token(&p.token()), Ok(p));
        let encoded = |text: &str| URL_SAFE_NO_PAD.encode(text);
        for bad in ["f1:1", "f2:1:1", "f1:-1:1", "f1:a:1", "f1:1:1:1", "f1:1:"] {
            assert!(Position::parse_token(&encoded(bad)).is_err(), "{bad}");
        }
        for bad in ["", "x", "%%", &"A".repeat(300)] {
            assert!(Position::parse_token(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn audit_filters_name_their_fields() {
        assert_eq!(
            parse_audit_filter(r#"resource = "smes/*""#),
            Ok(Some(AuditFilter::Text {
                field: AuditField::Resource,
                wildcard: Some(Wildcard::Prefix),
                text: "smes/".to_owned()
            }))
        );
        assert!(parse_audit_filter("kind = CHANGE_KIND_DELETED").is_ok());
        assert!(parse_audit_filter("kind = DELETED AND NOT request_id:*").is_ok());
        let err = parse_audit_filter("size = SME").unwrap_err();
        assert!(err.contains("resource, caller"), "{err}");
        assert!(
            parse_audit_filter("kind = GONE")
                .unwrap_err()
                .contains("CREATED")
        );
        assert!(parse_audit_filter("caller > \"a\"").is_err());
        assert!(parse_audit_filter("commit_time >= \"nope\"").is_err());
        assert_eq!(parse_audit_order(""), Ok(true));
        assert_eq!(parse_audit_order("commit_time"), Ok(false));
        assert!(parse_audit_order("sequence").is_err());
    }
}
