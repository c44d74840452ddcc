//! The shared parts of List requests: page size and token, `filter`,
//! `order_by` and `search`, parsed into one store query.

use crate::domain::{
    Collection, Cursor, PageToken, QueryShape, Violations, parse_filter, parse_order_by,
    parse_page_size, parse_search,
};
use crate::store::PageQuery;

/// The query fields of a List request.
pub struct ListArgs<'a> {
    pub shape: QueryShape<'a>,
    pub page_size: i32,
    pub page_token: &'a str,
}

/// A top-level List request (companies, SMEs, programs): its query and
/// paging fields, read the same way for each.
pub trait TopLevelList {
    /// The request's arguments, listing `collection`.
    fn args(&self, collection: Collection) -> ListArgs<'_>;
}

macro_rules! top_level_list {
    ($($request:ty),+ $(,)?) => {$(
        impl TopLevelList for $request {
            fn args(&self, collection: Collection) -> ListArgs<'_> {
                let shape = QueryShape {
                    collection,
                    parent: "",
                    filter: &self.filter,
                    order_by: &self.order_by,
                    search: &self.search,
                    show_deleted: self.show_deleted,
                };
                ListArgs::new(shape, self.page_size, &self.page_token)
            }
        }
    )+};
}
top_level_list!(
    crate::pb::ListCompaniesRequest,
    crate::pb::ListSmesRequest,
    crate::pb::ListProgramsRequest,
);

impl<'a> ListArgs<'a> {
    pub fn new(shape: QueryShape<'a>, page_size: i32, page_token: &'a str) -> Self {
        Self {
            shape,
            page_size,
            page_token,
        }
    }

    /// Every field checked at once, so a caller sees all that is wrong.
    pub fn page_query(&self) -> Result<PageQuery, Violations> {
        let shape = &self.shape;
        let mut v = Violations::new();
        let size = v.check("page_size", parse_page_size(self.page_size));
        let filter = v.check("filter", parse_filter(shape.collection, shape.filter));
        let order = v.check("order_by", parse_order_by(shape.collection, shape.order_by));
        let search = v.check("search", parse_search(shape.search));
        let after = match &order {
            Some(order) => v.check(
                "page_token",
                PageToken::parse(self.page_token, shape, order),
            ),
            None => None,
        };
        v.finish_some(|| {
            Some(PageQuery {
                size: size?,
                after: after?,
                show_deleted: shape.show_deleted,
                filter: filter?,
                order: order?,
                search: search?,
                want_total: true,
            })
        })
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
