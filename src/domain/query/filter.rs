//! The AIP-160 `filter`, parsed by the `aip-160` crate and checked here
//! into a typed [`Filter`] tree.

use aip_160::{Arg, Comparable, Comparator, Expression, StringMatch};
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};

use super::fields::{Field, FieldSpec, FieldType, field_list, field_spec};
use crate::domain::Collection;
use FieldType as T;

/// Longest accepted `filter`, in bytes.
pub const MAX_FILTER_BYTES: usize = 2048;
/// Most comparisons in one filter.
pub const MAX_FILTER_TERMS: usize = 24;
/// Deepest nesting of parentheses in one filter.
pub const MAX_FILTER_DEPTH: usize = 8;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    /// The operator of an AIP-160 comparator (`:` compares as `=`).
    pub(crate) fn of(comparator: Comparator) -> Self {
        match comparator {
            Comparator::Equal | Comparator::Has => Op::Eq,
            Comparator::NotEqual => Op::Ne,
            Comparator::LessThan => Op::Lt,
            Comparator::LessThanOrEqual => Op::Le,
            Comparator::GreaterThan => Op::Gt,
            Comparator::GreaterThanOrEqual => Op::Ge,
        }
    }

    /// Whether it orders (`<`, `<=`, `>`, `>=`) rather than compares for
    /// equality.
    pub(crate) fn is_ordering(self) -> bool {
        !matches!(self, Op::Eq | Op::Ne)
    }
}

/// How a text pattern matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wildcard {
    Prefix,
    Suffix,
    Contains,
}

/// A typed value of a comparison or a cursor.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// Text, an enum's stored text, a business number as stored
    /// (`XXX-XX-XXXXX`) or a referenced resource's id.
    Text(String),
    Int(i64),
    Date(NaiveDate),
    Time(DateTime<Utc>),
    /// Unset.
    Null,
}

/// A typed filter, checked against its collection's fields.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Not(Box<Filter>),
    /// `field op value`; `Null` only with `Eq`/`Ne` on a nullable field.
    Compare {
        field: Field,
        op: Op,
        value: Literal,
    },
    /// A text field matching a pattern, case-insensitively where the
    /// database can (see the README).
    Matches {
        field: Field,
        wildcard: Wildcard,
        text: String,
    },
    /// `field:*`: the field is set.
    Present(Field),
}

/// Parses a `filter` for `collection`. The empty filter is `None`.
pub fn parse_filter(collection: Collection, text: &str) -> Result<Option<Filter>, String> {
    let Some(expression) = parse_expression(text, "region = SEOUL AND employee_count >= 10")?
    else {
        return Ok(None);
    };
    let mut builder = Builder {
        collection,
        terms: 0,
    };
    builder.expression(&expression).map(Some)
}

/// Parses the AIP-160 grammar of a filter within this service's limits of
/// length and depth; the empty filter is `None`. `example` is a filter of
/// the language, for the error. Shared by every filter
/// language of the API (the Lists', the audit trail's).
pub(crate) fn parse_expression(text: &str, example: &str) -> Result<Option<Expression>, String> {
    if text.len() > MAX_FILTER_BYTES {
        return Err(format!(
            "is {} bytes long; at most {MAX_FILTER_BYTES} are allowed",
            text.len()
        ));
    }
    if text.contains('\0') {
        return Err("must not contain NUL characters".to_owned());
    }
    let parsed =
        aip_160::parse_filter_with_max_depth(text, MAX_FILTER_DEPTH).map_err(|e| match e {
            aip_160::FilterError::TooDeep { limit } => {
                format!("nests parentheses deeper than {limit} levels")
            }
            other => format!("cannot be read as an AIP-160 filter ({other}); write comparisons such as `{example}`"),
        })?;
    Ok(parsed.expression)
}

struct Builder {
    collection: Collection,
    terms: usize,
}

impl Builder {
    fn expression(&mut self, e: &Expression) -> Result<Filter, String> {
        Ok(match e {
            Expression::And(children) | Expression::Sequence(children) => {
                Filter::All(self.all(children)?)
            }
            Expression::Or(children) => Filter::Any(self.all(children)?),
            Expression::Not(inner) => Filter::Not(Box::new(self.expression(inner)?)),
            Expression::Restriction(r) => {
                self.terms += 1;
                if self.terms > MAX_FILTER_TERMS {
                    return Err(format!(
                        "has more than {MAX_FILTER_TERMS} comparisons; split the query"
                    ));
                }
                self.restriction(&r.comparable, r.comparator, &r.arg)?
            }
            Expression::Global(c) => {
                return Err(format!(
                    "{} is a bare value: compare a field with it (e.g. display_name = \"…\"), or use `search`",
                    c
                ));
            }
        })
    }

    fn all(&mut self, children: &[Expression]) -> Result<Vec<Filter>, String> {
        children.iter().map(|c| self.expression(c)).collect()
    }

    fn restriction(
        &self,
        comparable: &Comparable,
        comparator: Comparator,
        arg: &Arg,
    ) -> Result<Filter, String> {
        let path = comparable.field_path().ok_or_else(|| {
            format!(
                "{} is not a field; the fields are: {}",
                comparable,
                field_list(self.collection, |_| true)
            )
        })?;
        let spec = field_spec(self.collection, &path).ok_or_else(|| {
            format!(
                "{path:?} is not a filterable field of {}; the fields are: {}",
                self.collection.segment(),
                field_list(self.collection, |_| true)
            )
        })?;
        let value = arg.as_value().ok_or_else(|| {
            format!("{path} must be compared with a single value, not an expression or a field")
        })?;
        if comparator == Comparator::Has && value.as_str() == "*" {
            return Ok(Filter::Present(spec.field));
        }
        if value.is_null() {
            return null_comparison(spec, comparator);
        }
        let op = Op::of(comparator);
        let ordered = op.is_ordering();
        let field = spec.field;
        let literal = match spec.ty {
            T::Text => {
                if ordered {
                    return Err(format!("{path} is text: use =, != or : (contains)"));
                }
                check_value_text(&path, value.as_str())?;
                let matches = |wildcard, text: &str| Filter::Matches {
                    field,
                    wildcard,
                    text: text.to_owned(),
                };
                let filter = match (comparator, value.string_match()) {
                    (Comparator::Has, _) => {
                        let text = value.as_str().trim_matches('*');
                        matches(Wildcard::Contains, text)
                    }
                    (_, Some(StringMatch::Prefix(t))) => matches(Wildcard::Prefix, t),
                    (_, Some(StringMatch::Suffix(t))) => matches(Wildcard::Suffix, t),
                    (_, Some(StringMatch::Contains(t))) => matches(Wildcard::Contains, t),
                    _ => Filter::Compare {
                        field,
                        op: Op::Eq,
                        value: Literal::Text(value.as_str().to_owned()),
                    },
                };
                return Ok(if op == Op::Ne {
                    Filter::Not(Box::new(filter))
                } else {
                    filter
                });
            }
            T::BusinessNumber => {
                if ordered {
                    return Err(format!("{path} can only be compared with = or !="));
                }
                let number = crate::domain::BusinessNumber::parse(value.as_str())
                    .map_err(|e| format!("{path}: {e}"))?;
                Literal::Text(number.to_string())
            }
            T::Enum(ty) => {
                if ordered {
                    return Err(format!("{path} is an enum: use = or !="));
                }
                let stored = ty.parse(value.as_str()).ok_or_else(|| {
                    format!(
                        "{:?} is not a value of {path}; the values are: {}",
                        value.as_str(),
                        ty.names().join(", ")
                    )
                })?;
                Literal::Text(stored.to_owned())
            }
            T::Reference(target) => {
                if ordered {
                    return Err(format!("{path} is a resource name: use = or !="));
                }
                let id = target
                    .parse_name(value.as_str())
                    .map_err(|e| format!("{path}: {e}"))?;
                Literal::Text(id.as_str().to_owned())
            }
            T::Integer => {
                let n = value.as_i64().ok_or_else(|| {
                    format!("{path} is a whole number; {:?} is not one", value.as_str())
                })?;
                Literal::Int(n)
            }
            T::Date => Literal::Date(parse_filter_date(&path, value.as_str())?),
            T::Timestamp => Literal::Time(parse_filter_time(&path, value.as_str())?),
        };
        Ok(Filter::Compare {
            field,
            op,
            value: literal,
        })
    }
}

fn null_comparison(spec: &FieldSpec, comparator: Comparator) -> Result<Filter, String> {
    let path = spec.path;
    if !spec.nullable {
        return Err(format!(
            "{path} is always set; it cannot be compared with null"
        ));
    }
    let op = match comparator {
        Comparator::Equal => Op::Eq,
        Comparator::NotEqual => Op::Ne,
        _ => return Err(format!("{path} can only be compared with null by = or !=")),
    };
    Ok(Filter::Compare {
        field: spec.field,
        op,
        value: Literal::Null,
    })
}

fn check_value_text(path: &str, text: &str) -> Result<(), String> {
    crate::domain::check_text(text, crate::domain::Lines::Single)
        .map_err(|e| format!("{path}: value {e}"))
}

/// `YYYY-MM-DD`, in [`crate::domain::date::YEARS`].
fn parse_filter_date(path: &str, text: &str) -> Result<NaiveDate, String> {
    crate::domain::date::parse_iso_date(text)
        .ok_or_else(|| format!("{path} is a date written YYYY-MM-DD; {text:?} is not one"))
}

/// RFC 3339, or `YYYY-MM-DD` for its midnight UTC; years 1970 to 9999.
pub(crate) fn parse_filter_time(path: &str, text: &str) -> Result<DateTime<Utc>, String> {
    let time = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_time(NaiveTime::MIN).and_utc())
        })
        .ok_or_else(|| {
            format!(
                "{path} is a timestamp: RFC 3339 in quotes (\"2025-01-01T09:00:00+09:00\") or a date (2025-01-01); {text:?} is neither"
            )
        })?;
    let (min, max) = crate::domain::date::time_range();
    if (min..=max).contains(&time) {
        Ok(time)
    } else {
        Err(format!(
            "{path}: {text:?} is outside {} to {}",
            min.year(),
            max.year()
        ))
    }
}
