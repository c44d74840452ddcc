//! Each collection's documented fields: what a filter and an order may
//! name, and what their values are.

use crate::domain::{
    Collection, EnterpriseClass, EnterpriseSize, ProgramKind, ProgramState, Region,
};

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
    /// The size classes a company or an SME may have.
    Size(EnterpriseClass),
    Region,
    ProgramKind,
    ProgramState,
}

impl EnumType {
    /// The proto's prefix of this enum's value names.
    pub(super) fn prefix(self) -> &'static str {
        match self {
            Self::Size(_) => EnterpriseSize::PROTO_PREFIX,
            Self::Region => Region::PROTO_PREFIX,
            Self::ProgramKind => ProgramKind::PROTO_PREFIX,
            Self::ProgramState => ProgramState::PROTO_PREFIX,
        }
    }

    /// The stored text of a value named `name`, with or without the proto
    /// prefix.
    pub(super) fn parse(self, name: &str) -> Option<&'static str> {
        let short = name.strip_prefix(self.prefix()).unwrap_or(name);
        match self {
            // Every size stays accepted (a filter valid once stays valid);
            // the other class's sizes simply match nothing.
            Self::Size(_) => EnterpriseSize::from_stored(short).map(EnterpriseSize::as_str),
            Self::Region => Region::from_stored(short).map(Region::as_str),
            Self::ProgramKind => ProgramKind::from_stored(short).map(ProgramKind::as_str),
            Self::ProgramState => ProgramState::from_stored(short).map(ProgramState::as_str),
        }
    }

    pub(super) fn names(self) -> Vec<&'static str> {
        match self {
            // The sizes this class has: what an error suggests.
            Self::Size(class) => class.allowed_sizes().iter().map(|v| v.as_str()).collect(),
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

/// Fields every collection has.
const CREATE_TIME: FieldSpec = spec("create_time", Field::CreateTime, T::Timestamp, true, false);
const UPDATE_TIME: FieldSpec = spec("update_time", Field::UpdateTime, T::Timestamp, true, false);
/// Companies, SMEs and programs have a display name.
const DISPLAY_NAME: FieldSpec = spec("display_name", Field::DisplayName, T::Text, true, false);
const REGION: FieldSpec = spec(
    "region",
    Field::Region,
    T::Enum(EnumType::Region),
    false,
    true,
);

/// The fields of an enterprise (company or SME), then `$extra`.
macro_rules! enterprise_fields {
    ($class:expr $(, $extra:expr)* $(,)?) => {
        &[
            DISPLAY_NAME,
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
                T::Enum(EnumType::Size($class)),
                false,
                false,
            ),
            REGION,
            spec("ksic_code", Field::KsicCode, T::Text, false, true),
            spec(
                "employee_count",
                Field::EmployeeCount,
                T::Integer,
                true,
                true,
            ),
            CREATE_TIME,
            UPDATE_TIME,
            $($extra,)*
        ]
    };
}

const COMPANY_FIELDS: &[FieldSpec] = enterprise_fields![EnterpriseClass::Company];

const SME_FIELDS: &[FieldSpec] = enterprise_fields![
    EnterpriseClass::Sme,
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
    DISPLAY_NAME,
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
    REGION,
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
    CREATE_TIME,
    UPDATE_TIME,
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
    CREATE_TIME,
    UPDATE_TIME,
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

pub(super) fn field_spec(collection: Collection, path: &str) -> Option<&'static FieldSpec> {
    fields_of(collection).iter().find(|s| s.path == path)
}

pub(super) fn field_list(collection: Collection, pick: impl Fn(&FieldSpec) -> bool) -> String {
    let names: Vec<&str> = fields_of(collection)
        .iter()
        .filter(|s| pick(s))
        .map(|s| s.path)
        .collect();
    names.join(", ")
}
