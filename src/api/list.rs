//! The shared parts of List requests: page size, page token, and the
//! `filter`/`order_by` fields that are declared but not supported yet.

use crate::domain::{Cursor, PageToken, QueryShape, Violations, parse_page_size};
use crate::store::PageQuery;

/// The paging fields of a List request.
pub struct ListArgs<'a> {
    pub shape: QueryShape<'a>,
    pub page_size: i32,
    pub page_token: &'a str,
}

impl<'a> ListArgs<'a> {
    pub fn new(shape: QueryShape<'a>, page_size: i32, page_token: &'a str) -> Self {
        Self {
            shape,
            page_size,
            page_token,
        }
    }

    pub fn page_query(&self) -> Result<PageQuery, Violations> {
        let mut v = Violations::new();
        let size = v.check("page_size", parse_page_size(self.page_size));
        for (field, value) in [
            ("filter", self.shape.filter),
            ("order_by", self.shape.order_by),
        ] {
            if !value.trim().is_empty() {
                v.add(
                    field,
                    format!("{field} is not supported yet; leave it empty"),
                );
            }
        }
        let after = v.check("page_token", PageToken::parse(self.page_token, &self.shape));
        match (size, after) {
            (Some(size), Some(after)) if v.is_empty() => Ok(PageQuery {
                size,
                after,
                show_deleted: self.shape.show_deleted,
            }),
            _ => Err(v),
        }
    }

    pub fn next_token(&self, next: Option<Cursor>) -> String {
        next.map(|c| PageToken::encode(&c, &self.shape))
            .unwrap_or_default()
    }
}

/// `total_size` as the proto's `int32`.
pub fn total(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
