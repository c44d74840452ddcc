//! `CompanyService` and `SmeService`: the same methods over two tables.

use std::marker::PhantomData;

use tonic::{Request, Response, Status};

use super::ApiError;
use super::convert::{
    EnterpriseMessage, etag, parse_enterprise, parse_name, parse_new_id, request_key,
};
use super::list::{ListArgs, total};
use super::mask;
use crate::domain::{QueryShape, Violations};
use crate::pb;
use crate::store::{Companies, Created, EnterpriseTable, Smes, Store};

/// The gRPC service of one enterprise table.
pub struct EnterpriseApi<E> {
    store: Store,
    table: PhantomData<fn() -> E>,
}

impl<E> EnterpriseApi<E> {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            table: PhantomData,
        }
    }
}

pub type CompanyApi = EnterpriseApi<Companies>;
pub type SmeApi = EnterpriseApi<Smes>;

impl<E: EnterpriseTable> EnterpriseApi<E>
where
    E::Model: Send + Sync,
    E::ActiveModel: Send,
{
    fn singular() -> &'static str {
        E::COLLECTION.singular()
    }

    async fn create<M: EnterpriseMessage>(
        &self,
        message: Option<&M>,
        id: &str,
        key: Option<crate::store::RequestKey>,
    ) -> Result<M, ApiError> {
        let at = Self::singular();
        let message = message.ok_or_else(|| Violations::single(at, "is required"))?;
        let id_field = format!("{at}_id");
        let (id, data) = match (
            parse_new_id(id, &id_field),
            parse_enterprise(E::CLASS, message.fields(), at),
        ) {
            (Ok(id), Ok(data)) => (id, data),
            (a, b) => {
                let mut v = Violations::new();
                v.0.extend(a.err().map(|e| e.0).unwrap_or_default());
                v.0.extend(b.err().map(|e| e.0).unwrap_or_default());
                return Err(v.into());
            }
        };
        let created = self
            .store
            .create_enterprise::<E>(id, data, false, key.as_ref(), |s| {
                prost::Message::encode_to_vec(&M::from_stored(s))
            })
            .await?;
        match created {
            Created::New(stored) => Ok(M::from_stored(&stored)),
            Created::Replayed(bytes) => <M as prost::Message>::decode(bytes.as_slice())
                .map_err(|e| ApiError::Store(crate::store::StoreError::Internal(e.to_string()))),
        }
    }

    async fn get<M: EnterpriseMessage>(&self, name: &str) -> Result<M, ApiError> {
        let id = parse_name(E::COLLECTION, name)?;
        Ok(M::from_stored(&self.store.get_enterprise::<E>(&id).await?))
    }

    async fn list<M: EnterpriseMessage>(
        &self,
        args: ListArgs<'_>,
    ) -> Result<(Vec<M>, String, i32), ApiError> {
        let query = args.page_query()?;
        let page = self.store.list_enterprises::<E>(&query).await?;
        Ok((
            page.items.iter().map(M::from_stored).collect(),
            args.next_token(page.next),
            total(page.total_size),
        ))
    }

    async fn update<M: EnterpriseMessage>(
        &self,
        message: Option<&M>,
        update_mask: Option<&prost_types::FieldMask>,
    ) -> Result<M, ApiError> {
        let at = Self::singular();
        let message = message.ok_or_else(|| Violations::single(at, "is required"))?;
        let id = E::COLLECTION
            .parse_name(message.name())
            .map_err(|e| Violations::single(format!("{at}.name"), e))?;
        let paths = mask::resolve(update_mask, message)?;
        let stored = self
            .store
            .update_enterprise::<E>(&id, etag(message.etag()), |current| {
                let mut merged = M::from_stored(current);
                for path in &paths {
                    mask::Masked::copy_field(&mut merged, message, path);
                }
                parse_enterprise(E::CLASS, merged.fields(), at)
            })
            .await?;
        Ok(M::from_stored(&stored))
    }

    async fn delete<M: EnterpriseMessage>(
        &self,
        name: &str,
        etag_value: &str,
        force: bool,
    ) -> Result<M, ApiError> {
        let id = parse_name(E::COLLECTION, name)?;
        let stored = self
            .store
            .delete_enterprise::<E>(&id, etag(etag_value), force)
            .await?;
        Ok(M::from_stored(&stored))
    }

    async fn undelete<M: EnterpriseMessage>(
        &self,
        name: &str,
        etag_value: &str,
    ) -> Result<M, ApiError> {
        let id = parse_name(E::COLLECTION, name)?;
        let stored = self
            .store
            .undelete_enterprise::<E>(&id, etag(etag_value))
            .await?;
        Ok(M::from_stored(&stored))
    }
}

fn shape(
    collection: &'static str,
    filter: &'static str,
    order_by: &'static str,
) -> QueryShape<'static> {
    QueryShape {
        collection,
        parent: "",
        filter,
        order_by,
        show_deleted: false,
    }
}

/// Implements one enterprise service on [`EnterpriseApi`].
macro_rules! enterprise_service {
    (
        $api:ty, $server:ident :: $trait:ident, $msg:ident, $field:ident, $id_field:ident,
        $collection:literal, $method_prefix:literal,
        $create:ident, $get:ident, $list:ident, $update:ident, $delete:ident, $undelete:ident,
        $create_req:ident, $get_req:ident, $list_req:ident, $list_resp:ident, $update_req:ident,
        $delete_req:ident, $undelete_req:ident, $items:ident
    ) => {
        #[tonic::async_trait]
        impl pb::$server::$trait for $api {
            async fn $create(
                &self,
                request: Request<pb::$create_req>,
            ) -> Result<Response<pb::$msg>, Status> {
                let r = request.into_inner();
                let key = request_key(
                    &r.request_id,
                    concat!($method_prefix, "Create", stringify!($msg)),
                    &r,
                    |r| r.request_id.clear(),
                )
                .map_err(ApiError::from)?;
                Ok(Response::new(
                    self.create(r.$field.as_ref(), &r.$id_field, key).await?,
                ))
            }

            async fn $get(
                &self,
                request: Request<pb::$get_req>,
            ) -> Result<Response<pb::$msg>, Status> {
                Ok(Response::new(self.get(&request.into_inner().name).await?))
            }

            async fn $list(
                &self,
                request: Request<pb::$list_req>,
            ) -> Result<Response<pb::$list_resp>, Status> {
                let r = request.into_inner();
                let args = ListArgs {
                    shape: QueryShape {
                        show_deleted: r.show_deleted,
                        filter: &r.filter,
                        order_by: &r.order_by,
                        ..shape($collection, "", "")
                    },
                    page_size: r.page_size,
                    page_token: &r.page_token,
                };
                let ($items, next_page_token, total_size) = self.list(args).await?;
                Ok(Response::new(pb::$list_resp {
                    $items,
                    next_page_token,
                    total_size,
                }))
            }

            async fn $update(
                &self,
                request: Request<pb::$update_req>,
            ) -> Result<Response<pb::$msg>, Status> {
                let r = request.into_inner();
                Ok(Response::new(
                    self.update(r.$field.as_ref(), r.update_mask.as_ref())
                        .await?,
                ))
            }

            async fn $delete(
                &self,
                request: Request<pb::$delete_req>,
            ) -> Result<Response<pb::$msg>, Status> {
                let r = request.into_inner();
                Ok(Response::new(self.delete(&r.name, &r.etag, r.force).await?))
            }

            async fn $undelete(
                &self,
                request: Request<pb::$undelete_req>,
            ) -> Result<Response<pb::$msg>, Status> {
                let r = request.into_inner();
                Ok(Response::new(self.undelete(&r.name, &r.etag).await?))
            }
        }
    };
}

enterprise_service!(
    CompanyApi,
    company_service_server::CompanyService,
    Company,
    company,
    company_id,
    "companies",
    "/partnership.v1.CompanyService/",
    create_company,
    get_company,
    list_companies,
    update_company,
    delete_company,
    undelete_company,
    CreateCompanyRequest,
    GetCompanyRequest,
    ListCompaniesRequest,
    ListCompaniesResponse,
    UpdateCompanyRequest,
    DeleteCompanyRequest,
    UndeleteCompanyRequest,
    companies
);

enterprise_service!(
    SmeApi,
    sme_service_server::SmeService,
    Sme,
    sme,
    sme_id,
    "smes",
    "/partnership.v1.SmeService/",
    create_sme,
    get_sme,
    list_smes,
    update_sme,
    delete_sme,
    undelete_sme,
    CreateSmeRequest,
    GetSmeRequest,
    ListSmesRequest,
    ListSmesResponse,
    UpdateSmeRequest,
    DeleteSmeRequest,
    UndeleteSmeRequest,
    smes
);
