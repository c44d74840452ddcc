//! `InsightService`: program totals by group, and partners.

use tonic::{Request, Response, Status};

use super::ApiError;
use super::error::Action;
use crate::domain::{
    Collection, Cursor, Field, FieldType, Literal, MAX_GROUPS, Order, OrderKey, PageToken,
    PartnersOf, QueryShape, Violations, parse_filter, parse_group_by, parse_page_size,
};
use crate::pb::insight_service_server::{InsightService, InsightServiceServer};
use crate::pb::{self};
use crate::store::Store;

/// `InsightService` over the store's aggregates.
pub struct InsightApi {
    store: Store,
}

impl InsightApi {
    pub fn server(store: Store) -> InsightServiceServer<Self> {
        InsightServiceServer::new(Self { store })
    }
}

/// Partners run by total support, largest first, then by id.
fn partner_order() -> Order {
    Order {
        keys: vec![OrderKey {
            field: Field::SupportAmountKrw,
            ty: FieldType::Integer,
            nullable: false,
            descending: true,
        }],
    }
}

/// The query a partners page token is bound to: the partners of `name`.
fn partner_shape<'a>(of: &PartnersOf, name: &'a str) -> QueryShape<'a> {
    QueryShape {
        collection: of.partners(),
        parent: name,
        filter: "",
        order_by: "partners",
        search: "",
        show_deleted: false,
    }
}

#[tonic::async_trait]
impl InsightService for InsightApi {
    async fn summarize_programs(
        &self,
        request: Request<pb::SummarizeProgramsRequest>,
    ) -> Result<Response<pb::SummarizeProgramsResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let filter = v.check("filter", parse_filter(Collection::Programs, &r.filter));
        let group_by = v.check("group_by", parse_group_by(&r.group_by));
        let (filter, group_by) = v
            .finish_some(|| Some((filter?, group_by?)))
            .map_err(ApiError::from)?;
        let summary = self
            .store
            .summarize_programs(filter.as_ref(), &group_by)
            .await
            .map_err(ApiError::store(Collection::Programs, Action::Read))?;
        let groups = summary.groups;
        if groups.len() > MAX_GROUPS {
            return Err(ApiError::from(Violations::single(
                "group_by",
                format!(
                    "makes more than {MAX_GROUPS} groups; narrow the filter or group by fewer fields"
                ),
            ))
            .into());
        }
        let groups = groups
            .into_iter()
            .map(|g| pb::ProgramGroup {
                keys: group_by
                    .iter()
                    .zip(g.keys)
                    .map(|(k, v)| (k.name().to_owned(), v.unwrap_or_default()))
                    .collect(),
                program_count: g.program_count,
                sme_count: g.sme_count,
                total_budget_krw: g.total_budget_krw,
                total_support_krw: g.total_support_krw,
            })
            .collect();
        Ok(Response::new(pb::SummarizeProgramsResponse {
            groups,
            resume_token: summary.position.map(|p| p.token()).unwrap_or_default(),
        }))
    }

    async fn list_partners(
        &self,
        request: Request<pb::ListPartnersRequest>,
    ) -> Result<Response<pb::ListPartnersResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let of = v.check("name", PartnersOf::parse(&r.name));
        let size = v.check("page_size", parse_page_size(r.page_size));
        let order = partner_order();
        let after = match &of {
            Some(of) => {
                let shape = partner_shape(of, &r.name);
                v.check(
                    "page_token",
                    PageToken::parse(&r.page_token, &shape, &order),
                )
            }
            None => None,
        };
        let (of, size, after) = v
            .finish_some(|| Some((of?, size?, after?)))
            .map_err(ApiError::from)?;
        let position = after
            .as_ref()
            .and_then(|c| match (c.values.first(), c.keys.first()) {
                (Some(Literal::Int(total)), Some(id)) => Some((*total, id)),
                _ => None,
            });
        let mut partners = self
            .store
            .list_partners(&of, position, size)
            .await
            .map_err(ApiError::store(of.collection(), Action::Read))?;
        let more = partners.len() as u64 > size;
        partners.truncate(usize::try_from(size).unwrap_or(usize::MAX));
        let next_page_token = match partners.last() {
            Some(last) if more => {
                let shape = partner_shape(&of, &r.name);
                let cursor = Cursor {
                    values: vec![Literal::Int(last.total_support_krw)],
                    keys: vec![last.id.clone()],
                    total_size: None,
                };
                PageToken::encode(&cursor, &shape)
            }
            _ => String::new(),
        };
        let partners = partners
            .into_iter()
            .map(|p| pb::Partner {
                partner: of.partners().name_of(&p.id),
                program_count: p.program_count,
                total_support_krw: p.total_support_krw,
            })
            .collect();
        Ok(Response::new(pb::ListPartnersResponse {
            partners,
            next_page_token,
        }))
    }
}
