//! Validated domain types. Each has one constructor, `parse`, so a value that
//! exists past the API edge is valid; nothing here does I/O.

mod business_number;
mod corporate_number;
mod date;
mod enterprise;
#[cfg(test)]
mod fuzz;
mod insight;
mod journal;
mod ksic;
mod names;
mod page;
mod participation;
mod program;
mod query;
mod text;
mod violation;

pub use business_number::BusinessNumber;
pub use corporate_number::CorporateNumber;
pub use date::{YEARS, parse_date};
pub use enterprise::{Enterprise, EnterpriseClass, EnterpriseSize, Region};
pub(crate) use enterprise::{enterprise_sizes, regions};
pub use insight::{GroupKey, MAX_GROUPS, PartnersOf, ProgramGroup, Summary, parse_group_by};
pub use journal::{
    AuditCursor, AuditField, AuditFilter, ChangeKind, Position, parse_audit_filter,
    parse_audit_order, parse_collections,
};
pub use ksic::KsicCode;
pub use names::{Collection, ParticipationName, ResourceId, etag_for};
pub use page::{Cursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageToken, QueryShape, parse_page_size};
pub use participation::{Outcome, Participation};
pub use program::{Funder, MAX_PARTNERS, Program, ProgramKind, ProgramState};
pub(crate) use program::{program_kinds, program_states};
pub use query::{
    Field, FieldSpec, FieldType, Filter, Literal, Op, Order, OrderKey, Search, Wildcard, fields_of,
    parse_filter, parse_order_by, parse_search,
};
pub use text::{DisplayName, Lines, Won, check_text};
pub use violation::{FieldViolation, Violations};
