//! List queries: the AIP-160 `filter`, the AIP-132 `order_by` and the name
//! `search` of a List request, parsed into typed values against each
//! collection's documented fields. Nothing here knows SQL: the store
//! compiles a [`Filter`] tree to its own conditions, so no caller text ever
//! reaches a statement as text.
//!
//! The filter grammar is parsed by the `aip-160` crate; this module checks
//! fields, operators and values and builds the typed tree.

use aip_160::{Arg, Comparable, Comparator, Expression, StringMatch};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use super::{Collection, EnterpriseSize, ProgramKind, ProgramState, Region};

/// Longest accepted `filter`, in bytes.
pub const MAX_FILTER_BYTES: usize = 2048;
/// Most comparisons in one filter.
pub const MAX_FILTER_TERMS: usize = 24;
/// Deepest nesting of parentheses in one filter.
pub const MAX_FILTER_DEPTH: usize = 8;
/// Most keys in one `order_by`.
pub const MAX_ORDER_KEYS: usize = 3;
/// Longest accepted `search`, in characters.
pub const MAX_SEARCH_CHARS: usize = 100;

/// A filterable or orderable field. The store maps each to its SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    DisplayName,
    BusinessNumber,
    Size,
    Region,
    KsicCode,
    EmployeeCount,
    CreateTime,
    UpdateTime,
    Kind,
    State,
    HostCompany,
    StartDate,
    EndDate,
    BudgetKrw,
    Sme,
    SupportAmountKrw,
    JoinedDate,
    /// SMEs: the kinds of the programs they take part in.
    ProgramsKind,
    /// SMEs: the host companies of the programs they take part in.
    ProgramsHostCompany,
    /// Programs: the SMEs taking part.
    ParticipationsSme,
}

/// What a field's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Free text: `=`, `!=` and `:` (contains); quoted strings may start or
    /// end with the `*` wildcard.
    Text,
    /// A business number, with or without dashes: `=`, `!=`.
    BusinessNumber,
    /// One of a closed set of names: `=`, `!=`.
    Enum(EnumType),
    /// A whole number: every comparison.
    Integer,
    /// `YYYY-MM-DD`: every comparison.
    Date,
    /// RFC 3339 (quoted, since it holds `:`), or `YYYY-MM-DD` meaning its
    /// midnight UTC: every comparison.
    Timestamp,
    /// A resource name of this collection: `=`, `!=`.
    Reference(Collection),
}

/// The enum types a filter can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnumType {
    EnterpriseSize,
    Region,
    ProgramKind,
    ProgramState,
}

impl EnumType {
    /// The proto's prefix of this enum's value names.
    fn prefix(self) -> &'static str {
        match self {
            Self::EnterpriseSize => "ENTERPRISE_SIZE_",
            Self::Region => "REGION_",
            Self::ProgramKind => "PROGRAM_KIND_",
            Self::ProgramState => "PROGRAM_STATE_",
        }
    }

    /// The stored text of a value named `name`, with or without the proto
    /// prefix.
    fn parse(self, name: &str) -> Option<&'static str> {
        let short = name.strip_prefix(self.prefix()).unwrap_or(name);
        match self {
            Self::EnterpriseSize => EnterpriseSize::from_stored(short).map(EnterpriseSize::as_str),
            Self::Region => Region::from_stored(short).map(Region::as_str),
            Self::ProgramKind => ProgramKind::from_stored(short).map(ProgramKind::as_str),
            Self::ProgramState => ProgramState::from_stored(short).map(ProgramState::as_str),
        }
    }

    fn names(self) -> Vec<&'static str> {
        match self {
            Self::EnterpriseSize => EnterpriseSize::ALL.iter().map(|v| v.as_str()).collect(),
            Self::Region => Region::ALL.iter().map(|v| v.as_str()).collect(),
            Self::ProgramKind => ProgramKind::ALL.iter().map(|v| v.as_str()).collect(),
            Self::ProgramState => ProgramState::ALL.iter().map(|v| v.as_str()).collect(),
        }
    }
}

/// One documented field of a collection.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// The path callers write, e.g. `programs.kind`.
    pub path: &'static str,
    pub field: Field,
    pub ty: FieldType,
    /// May be named in `order_by`.
    pub orderable: bool,
    /// May be unset, so `= null` and `!= null` mean something.
    pub nullable: bool,
}

const fn spec(
    path: &'static str,
    field: Field,
    ty: FieldType,
    orderable: bool,
    nullable: bool,
) -> FieldSpec {
    FieldSpec {
        path,
        field,
        ty,
        orderable,
        nullable,
    }
}

use FieldType as T;

const ENTERPRISE_FIELDS: [FieldSpec; 8] = [
    spec("display_name", Field::DisplayName, T::Text, true, false),
    spec(
        "business_number",
        Field::BusinessNumber,
        T::BusinessNumber,
        false,
        true,
    ),
    spec(
        "size",
        Field::Size,
        T::Enum(EnumType::EnterpriseSize),
        false,
        false,
    ),
    spec(
        "region",
        Field::Region,
        T::Enum(EnumType::Region),
        false,
        true,
    ),
    spec("ksic_code", Field::KsicCode, T::Text, false, true),
    spec(
        "employee_count",
        Field::EmployeeCount,
        T::Integer,
        true,
        true,
    ),
    spec("create_time", Field::CreateTime, T::Timestamp, true, false),
    spec("update_time", Field::UpdateTime, T::Timestamp, true, false),
];

const COMPANY_FIELDS: &[FieldSpec] = &ENTERPRISE_FIELDS;

const SME_FIELDS: &[FieldSpec] = &[
    ENTERPRISE_FIELDS[0],
    ENTERPRISE_FIELDS[1],
    ENTERPRISE_FIELDS[2],
    ENTERPRISE_FIELDS[3],
    ENTERPRISE_FIELDS[4],
    ENTERPRISE_FIELDS[5],
    ENTERPRISE_FIELDS[6],
    ENTERPRISE_FIELDS[7],
    spec(
        "programs.kind",
        Field::ProgramsKind,
        T::Enum(EnumType::ProgramKind),
        false,
        false,
    ),
    spec(
        "programs.host_company",
        Field::ProgramsHostCompany,
        T::Reference(Collection::Companies),
        false,
        false,
    ),
];

const PROGRAM_FIELDS: &[FieldSpec] = &[
    spec("display_name", Field::DisplayName, T::Text, true, false),
    spec(
        "kind",
        Field::Kind,
        T::Enum(EnumType::ProgramKind),
        false,
        false,
    ),
    spec(
        "state",
        Field::State,
        T::Enum(EnumType::ProgramState),
        false,
        false,
    ),
    spec(
        "host_company",
        Field::HostCompany,
        T::Reference(Collection::Companies),
        false,
        false,
    ),
    spec(
        "region",
        Field::Region,
        T::Enum(EnumType::Region),
        false,
        true,
    ),
    spec("start_date", Field::StartDate, T::Date, true, true),
    spec("end_date", Field::EndDate, T::Date, true, true),
    spec("budget_krw", Field::BudgetKrw, T::Integer, true, true),
    spec(
        "participations.sme",
        Field::ParticipationsSme,
        T::Reference(Collection::Smes),
        false,
        false,
    ),
    spec("create_time", Field::CreateTime, T::Timestamp, true, false),
    spec("update_time", Field::UpdateTime, T::Timestamp, true, false),
];

const PARTICIPATION_FIELDS: &[FieldSpec] = &[
    spec(
        "sme",
        Field::Sme,
        T::Reference(Collection::Smes),
        false,
        false,
    ),
    spec(
        "support_amount_krw",
        Field::SupportAmountKrw,
        T::Integer,
        true,
        true,
    ),
    spec("joined_date", Field::JoinedDate, T::Date, true, true),
    spec("create_time", Field::CreateTime, T::Timestamp, true, false),
    spec("update_time", Field::UpdateTime, T::Timestamp, true, false),
];

/// The documented fields of a collection, for `filter` and `order_by`.
pub fn fields_of(collection: Collection) -> &'static [FieldSpec] {
    match collection {
        Collection::Companies => COMPANY_FIELDS,
        Collection::Smes => SME_FIELDS,
        Collection::Programs => PROGRAM_FIELDS,
        Collection::Participations => PARTICIPATION_FIELDS,
    }
}

fn field_spec(collection: Collection, path: &str) -> Option<&'static FieldSpec> {
    fields_of(collection).iter().find(|s| s.path == path)
}

fn field_list(collection: Collection, pick: impl Fn(&FieldSpec) -> bool) -> String {
    let names: Vec<&str> = fields_of(collection)
        .iter()
        .filter(|s| pick(s))
        .map(|s| s.path)
        .collect();
    names.join(", ")
}

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
            other => format!("is not a valid AIP-160 filter: {other}"),
        })?;
    let Some(expression) = parsed.expression else {
        return Ok(None);
    };
    let mut builder = Builder {
        collection,
        terms: 0,
    };
    builder.expression(&expression).map(Some)
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
        let op = match comparator {
            Comparator::Equal | Comparator::Has => Op::Eq,
            Comparator::NotEqual => Op::Ne,
            Comparator::LessThan => Op::Lt,
            Comparator::LessThanOrEqual => Op::Le,
            Comparator::GreaterThan => Op::Gt,
            Comparator::GreaterThanOrEqual => Op::Ge,
        };
        let ordered = !matches!(op, Op::Eq | Op::Ne);
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
                let number = super::BusinessNumber::parse(value.as_str())
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
    super::check_text(text, super::Lines::Single).map_err(|e| format!("{path}: value {e}"))
}

/// `YYYY-MM-DD`, years 1 to 9999.
fn parse_filter_date(path: &str, text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|d| (1..=9999).contains(&chrono::Datelike::year(d)))
        .ok_or_else(|| format!("{path} is a date written YYYY-MM-DD; {text:?} is not one"))
}

/// RFC 3339, or `YYYY-MM-DD` for its midnight UTC; years 1970 to 9999.
fn parse_filter_time(path: &str, text: &str) -> Result<DateTime<Utc>, String> {
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
    let (min, max) = super::page::cursor_time_range();
    if (min..=max).contains(&time) {
        Ok(time)
    } else {
        Err(format!("{path}: {text:?} is outside 1970 to 9999"))
    }
}

/// One key of an `order_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderKey {
    pub field: Field,
    pub ty: FieldType,
    pub nullable: bool,
    pub descending: bool,
}

/// A list's order: its keys, then the record's key columns (ascending, or
/// descending when the last key is) to break ties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub keys: Vec<OrderKey>,
}

impl Order {
    /// Creation order, the default.
    pub fn creation() -> Self {
        Self {
            keys: vec![OrderKey {
                field: Field::CreateTime,
                ty: FieldType::Timestamp,
                nullable: false,
                descending: false,
            }],
        }
    }

    /// Whether the key columns that break ties run descending.
    pub fn ties_descending(&self) -> bool {
        self.keys.last().is_some_and(|k| k.descending)
    }
}

/// Parses an `order_by` for `collection`: `field [asc|desc]`, comma
/// separated. The empty text is creation order.
pub fn parse_order_by(collection: Collection, text: &str) -> Result<Order, String> {
    if text.len() > MAX_FILTER_BYTES {
        return Err(format!("is longer than {MAX_FILTER_BYTES} bytes"));
    }
    if text.trim().is_empty() {
        return Ok(Order::creation());
    }
    let orderable = || field_list(collection, |s| s.orderable);
    let mut keys: Vec<OrderKey> = Vec::new();
    for part in text.split(',') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let (path, descending) = match words.as_slice() {
            [path] => (*path, false),
            [path, "asc"] => (*path, false),
            [path, "desc"] => (*path, true),
            [] => return Err("has an empty key between commas".to_owned()),
            _ => {
                return Err(format!(
                    "{:?} is not `field`, `field asc` or `field desc`",
                    part.trim()
                ));
            }
        };
        let spec = field_spec(collection, path)
            .filter(|s| s.orderable)
            .ok_or_else(|| {
                format!(
                    "{path:?} cannot order {}; the fields are: {}",
                    collection.segment(),
                    orderable()
                )
            })?;
        if keys.iter().any(|k| k.field == spec.field) {
            return Err(format!("names {path} twice"));
        }
        keys.push(OrderKey {
            field: spec.field,
            ty: spec.ty,
            nullable: spec.nullable,
            descending,
        });
    }
    if keys.len() > MAX_ORDER_KEYS {
        return Err(format!("has more than {MAX_ORDER_KEYS} keys"));
    }
    Ok(Order { keys })
}

/// A name search: case-insensitive substring of the display name, and for
/// enterprises of the business number, with or without dashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub text: String,
    /// The digits of the text when it is only digits and dashes.
    pub digits: Option<String>,
}

/// Parses a `search`; blank is no search.
pub fn parse_search(text: &str) -> Result<Option<Search>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    super::check_text(text, super::Lines::Single)?;
    let n = text.chars().count();
    if n > MAX_SEARCH_CHARS {
        return Err(format!(
            "must be at most {MAX_SEARCH_CHARS} characters, got {n}"
        ));
    }
    let digits = (text.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && text.bytes().any(|b| b.is_ascii_digit()))
    .then(|| text.chars().filter(char::is_ascii_digit).collect());
    Ok(Some(Search {
        text: text.to_owned(),
        digits,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programs(text: &str) -> Result<Option<Filter>, String> {
        parse_filter(Collection::Programs, text)
    }

    #[test]
    fn filters_become_typed_trees() {
        let f = programs(
            r#"kind = SMART_FACTORY AND host_company = "companies/samsung" AND start_date >= 2025-01-01"#,
        )
        .unwrap()
        .unwrap();
        let Filter::All(parts) = f else { panic!() };
        assert_eq!(
            parts[0],
            Filter::Compare {
                field: Field::Kind,
                op: Op::Eq,
                value: Literal::Text("SMART_FACTORY".into())
            }
        );
        assert_eq!(
            parts[1],
            Filter::Compare {
                field: Field::HostCompany,
                op: Op::Eq,
                value: Literal::Text("samsung".into())
            }
        );
        assert!(matches!(
            parts[2],
            Filter::Compare {
                op: Op::Ge,
                value: Literal::Date(_),
                ..
            }
        ));
        assert!(
            programs("kind = PROGRAM_KIND_SMART_FACTORY OR NOT (state = ACTIVE)")
                .unwrap()
                .is_some()
        );
        assert_eq!(
            programs(r#"display_name = "삼성*""#).unwrap(),
            Some(Filter::Matches {
                field: Field::DisplayName,
                wildcard: Wildcard::Prefix,
                text: "삼성".into()
            })
        );
        assert_eq!(programs("  ").unwrap(), None);
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        for (text, says) in [
            ("colour = RED", "not a filterable field"),
            ("kind = PURPLE", "not a value of kind"),
            ("budget_krw > lots", "whole number"),
            ("start_date > 2025-13-01", "YYYY-MM-DD"),
            ("kind > SMART_FACTORY", "enum"),
            ("display_name < \"a\"", "text"),
            ("samsung", "bare value"),
            ("host_company = \"smes/x\"", "companies/{company}"),
            ("kind = null", "always set"),
            ("kind = (state = ACTIVE)", "single value"),
            ("kind = ", "not a valid AIP-160 filter"),
            ("update_time > \"yesterday\"", "timestamp"),
        ] {
            let err = programs(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
        let deep = format!(
            "{}kind = ESG_SUPPLY_CHAIN{}",
            "(".repeat(20),
            ")".repeat(20)
        );
        assert!(programs(&deep).unwrap_err().contains("deeper"));
        let wide = vec!["budget_krw > 1"; MAX_FILTER_TERMS + 1].join(" OR ");
        assert!(programs(&wide).unwrap_err().contains("comparisons"));
        assert!(programs(&"a".repeat(MAX_FILTER_BYTES + 1)).is_err());
    }

    #[test]
    fn orders_name_orderable_fields_once() {
        let o = parse_order_by(Collection::Programs, "budget_krw desc, display_name").unwrap();
        assert_eq!(o.keys.len(), 2);
        assert!(o.keys[0].descending && !o.ties_descending());
        assert_eq!(
            parse_order_by(Collection::Smes, "").unwrap(),
            Order::creation()
        );
        for bad in [
            "kind",
            "budget_krw sideways",
            "display_name, display_name",
            "a,,b",
            "display_name; DROP TABLE programs",
        ] {
            assert!(parse_order_by(Collection::Programs, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn searches_know_business_numbers() {
        let s = parse_search(" 124-81 ").unwrap().unwrap();
        assert_eq!(s.digits.as_deref(), Some("12481"));
        assert_eq!(parse_search("삼성").unwrap().unwrap().digits, None);
        assert_eq!(parse_search("").unwrap(), None);
        assert!(parse_search(&"가".repeat(MAX_SEARCH_CHARS + 1)).is_err());
    }
}
