//! List queries: the AIP-160 `filter`, the AIP-132 `order_by` and the name
//! `search` of a List request, parsed into typed values against each
//! collection's documented fields. Nothing here knows SQL: the store
//! compiles a [`Filter`] tree to its own conditions, so no caller text ever
//! reaches a statement as text.
//!
//! The filter grammar is parsed by the `aip-160` crate; this module checks
//! fields, operators and values and builds the typed tree.

mod fields;
mod filter;
mod order;
mod search;
#[cfg(test)]
mod tests;

pub use fields::{Field, FieldSpec, FieldType, fields_of};
pub use filter::{Filter, Literal, Op, Wildcard, parse_filter};
pub(crate) use filter::{MAX_FILTER_TERMS, parse_expression, parse_filter_time};
pub use order::{Order, OrderKey, parse_order_by};
pub use search::{Search, parse_search};
