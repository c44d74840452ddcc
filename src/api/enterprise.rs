//! `CompanyService` and `SmeService`: the standard methods over the two
//! enterprise tables.

use tonic::{Request, Response, Status};

use super::convert::{EnterpriseMessage, parse_enterprise, request_key};
use super::list::TopLevelList;
use super::resource::{self, BatchItem, Resource, new_id};
use crate::domain::{Enterprise, EnterpriseClass, ResourceId, Violations};
use crate::pb;
use crate::pb::company_service_server::{CompanyService, CompanyServiceServer};
use crate::pb::sme_service_server::{SmeService, SmeServiceServer};
use crate::store::{Companies, Smes, Store, Stored, Table};

/// An enterprise table and its message.
pub trait EnterpriseResource: Table<Key = ResourceId, Data = Enterprise> {
    type Message: EnterpriseMessage;
    const CLASS: EnterpriseClass;
}

impl EnterpriseResource for Companies {
    type Message = pb::Company;
    const CLASS: EnterpriseClass = EnterpriseClass::Company;
}

impl EnterpriseResource for Smes {
    type Message = pb::Sme;
    const CLASS: EnterpriseClass = EnterpriseClass::Sme;
}

impl<E: EnterpriseResource> Resource for E {
    type Message = <E as EnterpriseResource>::Message;

    fn to_message(stored: &Stored<Enterprise>) -> Self::Message {
        Self::Message::from_stored(stored)
    }

    fn into_message(stored: Stored<Enterprise>) -> Self::Message {
        Self::Message::from_owned(stored)
    }

    fn from_message(message: &Self::Message, at: &str) -> Result<Enterprise, Violations> {
        parse_enterprise(E::CLASS, message.fields(), at)
    }

    fn parse_key(name: &str) -> Result<ResourceId, String> {
        E::COLLECTION.parse_name(name)
    }
}

/// `CompanyService` on the `companies` table.
pub struct CompanyApi {
    store: Store,
}

impl CompanyApi {
    pub fn server(store: Store) -> CompanyServiceServer<Self> {
        CompanyServiceServer::new(Self { store })
    }
}

#[tonic::async_trait]
impl CompanyService for CompanyApi {
    async fn create_company(
        &self,
        request: Request<pb::CreateCompanyRequest>,
    ) -> Result<Response<pb::Company>, Status> {
        let r = request.into_inner();
        let key = new_id(Companies::COLLECTION, &r.company_id, "company_id");
        let request = request_key(&r);
        let created = resource::create::<Companies>(&self.store, key, r.company.as_ref(), request);
        Ok(Response::new(created.await?))
    }

    async fn get_company(
        &self,
        request: Request<pb::GetCompanyRequest>,
    ) -> Result<Response<pb::Company>, Status> {
        let name = &request.get_ref().name;
        Ok(Response::new(
            resource::get::<Companies>(&self.store, name).await?,
        ))
    }

    async fn list_companies(
        &self,
        request: Request<pb::ListCompaniesRequest>,
    ) -> Result<Response<pb::ListCompaniesResponse>, Status> {
        let r = request.into_inner();
        let args = r.args(Companies::COLLECTION);
        let (companies, next_page_token, total_size) =
            resource::list::<Companies>(&self.store, &args).await?;
        Ok(Response::new(pb::ListCompaniesResponse {
            companies,
            next_page_token,
            total_size,
        }))
    }

    async fn update_company(
        &self,
        request: Request<pb::UpdateCompanyRequest>,
    ) -> Result<Response<pb::Company>, Status> {
        let r = request.into_inner();
        let updated =
            resource::update::<Companies>(&self.store, r.company.as_ref(), r.update_mask.as_ref());
        Ok(Response::new(updated.await?))
    }

    async fn delete_company(
        &self,
        request: Request<pb::DeleteCompanyRequest>,
    ) -> Result<Response<pb::Company>, Status> {
        let r = request.into_inner();
        let deleted = resource::delete::<Companies>(&self.store, &r.name, &r.etag, r.force);
        Ok(Response::new(deleted.await?))
    }

    async fn undelete_company(
        &self,
        request: Request<pb::UndeleteCompanyRequest>,
    ) -> Result<Response<pb::Company>, Status> {
        let r = request.into_inner();
        let restored = resource::undelete::<Companies>(&self.store, &r.name, &r.etag);
        Ok(Response::new(restored.await?))
    }
    async fn batch_get_companies(
        &self,
        request: Request<pb::BatchGetCompaniesRequest>,
    ) -> Result<Response<pb::BatchGetCompaniesResponse>, Status> {
        let companies =
            resource::batch_get::<Companies>(&self.store, &request.get_ref().names).await?;
        Ok(Response::new(pb::BatchGetCompaniesResponse { companies }))
    }

    async fn batch_create_companies(
        &self,
        request: Request<pb::BatchCreateCompaniesRequest>,
    ) -> Result<Response<pb::BatchCreateCompaniesResponse>, Status> {
        let r = request.into_inner();
        let items: Vec<_> = r
            .requests
            .iter()
            .map(|c| BatchItem {
                id: &c.company_id,
                message: c.company.as_ref(),
                request_id: &c.request_id,
            })
            .collect();
        let key = request_key(&r);
        let companies = resource::batch_create::<Companies>(&self.store, &items, key).await?;
        Ok(Response::new(pb::BatchCreateCompaniesResponse {
            companies,
        }))
    }

    type ExportCompaniesStream = tonic::codegen::BoxStream<pb::ExportCompaniesResponse>;

    async fn export_companies(
        &self,
        request: Request<pb::ExportCompaniesRequest>,
    ) -> Result<Response<Self::ExportCompaniesStream>, Status> {
        let r = request.get_ref();
        let stream = resource::export::<Companies, _>(
            &self.store,
            &r.filter,
            r.show_deleted,
            |companies, resume_token| pb::ExportCompaniesResponse {
                companies,
                resume_token,
            },
        )?;
        Ok(Response::new(stream))
    }
}

/// `SmeService` on the `smes` table.
pub struct SmeApi {
    store: Store,
}

impl SmeApi {
    pub fn server(store: Store) -> SmeServiceServer<Self> {
        SmeServiceServer::new(Self { store })
    }
}

#[tonic::async_trait]
impl SmeService for SmeApi {
    async fn create_sme(
        &self,
        request: Request<pb::CreateSmeRequest>,
    ) -> Result<Response<pb::Sme>, Status> {
        let r = request.into_inner();
        let key = new_id(Smes::COLLECTION, &r.sme_id, "sme_id");
        let request = request_key(&r);
        let created = resource::create::<Smes>(&self.store, key, r.sme.as_ref(), request);
        Ok(Response::new(created.await?))
    }

    async fn get_sme(
        &self,
        request: Request<pb::GetSmeRequest>,
    ) -> Result<Response<pb::Sme>, Status> {
        let name = &request.get_ref().name;
        Ok(Response::new(
            resource::get::<Smes>(&self.store, name).await?,
        ))
    }

    async fn list_smes(
        &self,
        request: Request<pb::ListSmesRequest>,
    ) -> Result<Response<pb::ListSmesResponse>, Status> {
        let r = request.into_inner();
        let args = r.args(Smes::COLLECTION);
        let (smes, next_page_token, total_size) =
            resource::list::<Smes>(&self.store, &args).await?;
        Ok(Response::new(pb::ListSmesResponse {
            smes,
            next_page_token,
            total_size,
        }))
    }

    async fn update_sme(
        &self,
        request: Request<pb::UpdateSmeRequest>,
    ) -> Result<Response<pb::Sme>, Status> {
        let r = request.into_inner();
        let updated = resource::update::<Smes>(&self.store, r.sme.as_ref(), r.update_mask.as_ref());
        Ok(Response::new(updated.await?))
    }

    async fn delete_sme(
        &self,
        request: Request<pb::DeleteSmeRequest>,
    ) -> Result<Response<pb::Sme>, Status> {
        let r = request.into_inner();
        let deleted = resource::delete::<Smes>(&self.store, &r.name, &r.etag, r.force);
        Ok(Response::new(deleted.await?))
    }

    async fn undelete_sme(
        &self,
        request: Request<pb::UndeleteSmeRequest>,
    ) -> Result<Response<pb::Sme>, Status> {
        let r = request.into_inner();
        let restored = resource::undelete::<Smes>(&self.store, &r.name, &r.etag);
        Ok(Response::new(restored.await?))
    }
    async fn batch_get_smes(
        &self,
        request: Request<pb::BatchGetSmesRequest>,
    ) -> Result<Response<pb::BatchGetSmesResponse>, Status> {
        let smes = resource::batch_get::<Smes>(&self.store, &request.get_ref().names).await?;
        Ok(Response::new(pb::BatchGetSmesResponse { smes }))
    }

    async fn batch_create_smes(
        &self,
        request: Request<pb::BatchCreateSmesRequest>,
    ) -> Result<Response<pb::BatchCreateSmesResponse>, Status> {
        let r = request.into_inner();
        let items: Vec<_> = r
            .requests
            .iter()
            .map(|c| BatchItem {
                id: &c.sme_id,
                message: c.sme.as_ref(),
                request_id: &c.request_id,
            })
            .collect();
        let key = request_key(&r);
        let smes = resource::batch_create::<Smes>(&self.store, &items, key).await?;
        Ok(Response::new(pb::BatchCreateSmesResponse { smes }))
    }

    type ExportSmesStream = tonic::codegen::BoxStream<pb::ExportSmesResponse>;

    async fn export_smes(
        &self,
        request: Request<pb::ExportSmesRequest>,
    ) -> Result<Response<Self::ExportSmesStream>, Status> {
        let r = request.get_ref();
        let stream = resource::export::<Smes, _>(
            &self.store,
            &r.filter,
            r.show_deleted,
            |smes, resume_token| pb::ExportSmesResponse { smes, resume_token },
        )?;
        Ok(Response::new(stream))
    }
}
