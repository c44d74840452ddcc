//! The AIP-132 `order_by`.

use super::fields::{Field, FieldType, field_list, field_spec};
use super::filter::MAX_FILTER_BYTES;
use crate::domain::Collection;

/// Most keys in one `order_by`.
pub const MAX_ORDER_KEYS: usize = 3;

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
    /// Whether this is creation order (either way), the default.
    pub fn is_creation(&self) -> bool {
        matches!(self.keys.as_slice(), [key] if key.field == Field::CreateTime)
    }

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
