//! Update masks (AIP-134): which fields of a message an update changes.

use prost_types::FieldMask;

use crate::domain::Violations;

/// A message whose mutable fields can be copied one by one by path.
pub trait Masked: Sized {
    /// Mutable top-level fields, the meaning of `*`.
    const MUTABLE: &'static [&'static str];
    /// Output-only fields: allowed in a mask, and ignored.
    const OUTPUT_ONLY: &'static [&'static str];
    /// Copies field `path` from `src`.
    fn copy_field(&mut self, src: &Self, path: &str);
    /// Whether `path` holds a non-default value.
    fn is_set(&self, path: &str) -> bool;
    /// The resource name the message carries.
    fn name(&self) -> &str;
    /// The etag the message carries; empty for none.
    fn etag(&self) -> &str;
}

/// Whether a field differs from its proto3 default.
pub fn is_non_default<T: Default + PartialEq>(value: &T) -> bool {
    *value != T::default()
}

/// Declares the mutable fields of a generated message.
macro_rules! masked {
    ($ty:ty { $($field:ident),+ $(,)? }) => {
        impl $crate::api::mask::Masked for $ty {
            const MUTABLE: &'static [&'static str] = &[$(stringify!($field)),+];
            const OUTPUT_ONLY: &'static [&'static str] =
                &["name", "create_time", "update_time", "delete_time", "etag", "demo"];
            fn copy_field(&mut self, src: &Self, path: &str) {
                match path {
                    $(stringify!($field) => self.$field = src.$field.clone(),)+
                    _ => {}
                }
            }
            fn is_set(&self, path: &str) -> bool {
                match path {
                    $(stringify!($field) => $crate::api::mask::is_non_default(&self.$field),)+
                    _ => false,
                }
            }
            fn name(&self) -> &str {
                &self.name
            }
            fn etag(&self) -> &str {
                &self.etag
            }
        }
    };
}
pub(crate) use masked;

/// The mutable paths an update changes: the mask's paths, `*` for all, or
/// when there is no mask the fields set in `message`. `resource` is the
/// request field holding the message, for error paths.
pub fn resolve<M: Masked>(
    mask: Option<&FieldMask>,
    message: &M,
) -> Result<Vec<&'static str>, Violations> {
    let paths: &[String] = mask.map(|m| m.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() {
        return Ok(M::MUTABLE
            .iter()
            .copied()
            .filter(|p| message.is_set(p))
            .collect());
    }
    let mut out = Vec::new();
    let mut violations = Violations::new();
    for path in paths {
        let path = path.trim();
        if path == "*" {
            return Ok(M::MUTABLE.to_vec());
        }
        if let Some(p) = M::MUTABLE.iter().find(|m| **m == path) {
            if !out.contains(p) {
                out.push(*p);
            }
        } else if !M::OUTPUT_ONLY.contains(&path) {
            violations.add(
                "update_mask",
                format!(
                    "unknown path {path:?}; mutable fields are {}",
                    M::MUTABLE.join(", ")
                ),
            );
        }
    }
    violations.finish(|| out)
}
