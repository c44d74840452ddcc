//! `ProgramService`: the standard methods over programs and, below them,
//! participations.

use tonic::{Request, Response, Status};

use super::ApiError;
use super::convert::{
    encode_participation, encode_program, parse_participation, parse_program, request_key,
};
use super::error::Action;
use super::list::{ListArgs, TopLevelList, total};
use super::resource::{self, Resource, new_id};
use crate::domain::{
    Collection, Participation, ParticipationName, Program, QueryShape, ResourceId, Violations,
};
use crate::pb;
use crate::pb::program_service_server::{ProgramService, ProgramServiceServer};
use crate::store::{Participations, Programs, Store, Stored, Table};

impl Resource for Programs {
    type Message = pb::Program;

    fn to_message(stored: &Stored<Program>) -> pb::Program {
        encode_program(stored)
    }

    fn from_message(message: &pb::Program, at: &str) -> Result<Program, Violations> {
        parse_program(message, at)
    }

    fn parse_key(name: &str) -> Result<ResourceId, String> {
        Self::COLLECTION.parse_name(name)
    }
}

impl Resource for Participations {
    type Message = pb::Participation;

    fn to_message(stored: &Stored<Participation>) -> pb::Participation {
        encode_participation(stored)
    }

    fn from_message(message: &pb::Participation, at: &str) -> Result<Participation, Violations> {
        parse_participation(message, at)
    }

    fn parse_key(name: &str) -> Result<ParticipationName, String> {
        ParticipationName::parse(name)
    }
}

/// `programs/{program}` or `programs/-` (every program).
fn parse_parent(parent: &str) -> Result<Option<ResourceId>, Violations> {
    if parent == "programs/-" {
        return Ok(None);
    }
    Collection::Programs
        .parse_name(parent)
        .map(Some)
        .map_err(|e| Violations::single("parent", e))
}

/// `ProgramService` on the `programs` and `participations` tables.
pub struct ProgramApi {
    store: Store,
}

impl ProgramApi {
    pub fn server(store: Store) -> ProgramServiceServer<Self> {
        ProgramServiceServer::new(Self { store })
    }
}

#[tonic::async_trait]
impl ProgramService for ProgramApi {
    async fn create_program(
        &self,
        request: Request<pb::CreateProgramRequest>,
    ) -> Result<Response<pb::Program>, Status> {
        let r = request.into_inner();
        let key = new_id(Programs::COLLECTION, &r.program_id, "program_id");
        let request = request_key(&r);
        let created = resource::create::<Programs>(&self.store, key, r.program.as_ref(), request);
        Ok(Response::new(created.await?))
    }

    async fn get_program(
        &self,
        request: Request<pb::GetProgramRequest>,
    ) -> Result<Response<pb::Program>, Status> {
        let name = &request.get_ref().name;
        Ok(Response::new(
            resource::get::<Programs>(&self.store, name).await?,
        ))
    }

    async fn list_programs(
        &self,
        request: Request<pb::ListProgramsRequest>,
    ) -> Result<Response<pb::ListProgramsResponse>, Status> {
        let r = request.into_inner();
        let args = r.args(Programs::COLLECTION);
        let (programs, next_page_token, total_size) =
            resource::list::<Programs>(&self.store, &args).await?;
        Ok(Response::new(pb::ListProgramsResponse {
            programs,
            next_page_token,
            total_size,
        }))
    }

    async fn update_program(
        &self,
        request: Request<pb::UpdateProgramRequest>,
    ) -> Result<Response<pb::Program>, Status> {
        let r = request.into_inner();
        let updated =
            resource::update::<Programs>(&self.store, r.program.as_ref(), r.update_mask.as_ref());
        Ok(Response::new(updated.await?))
    }

    async fn delete_program(
        &self,
        request: Request<pb::DeleteProgramRequest>,
    ) -> Result<Response<pb::Program>, Status> {
        let r = request.into_inner();
        let deleted = resource::delete::<Programs>(&self.store, &r.name, &r.etag, r.force);
        Ok(Response::new(deleted.await?))
    }

    async fn undelete_program(
        &self,
        request: Request<pb::UndeleteProgramRequest>,
    ) -> Result<Response<pb::Program>, Status> {
        let r = request.into_inner();
        let restored = resource::undelete::<Programs>(&self.store, &r.name, &r.etag);
        Ok(Response::new(restored.await?))
    }

    async fn create_participation(
        &self,
        request: Request<pb::CreateParticipationRequest>,
    ) -> Result<Response<pb::Participation>, Status> {
        let r = request.into_inner();
        let program = Collection::Programs
            .parse_name(&r.parent)
            .map_err(|e| Violations::single("parent", e));
        let id = new_id(
            Participations::COLLECTION,
            &r.participation_id,
            "participation_id",
        );
        let key = match (program, id) {
            (Ok(program), Ok(participation)) => Ok(ParticipationName {
                program,
                participation,
            }),
            (program, id) => Err(Violations(
                [program.err(), id.err()]
                    .into_iter()
                    .flatten()
                    .flat_map(|v| v.0)
                    .collect(),
            )),
        };
        let request = request_key(&r);
        let created =
            resource::create::<Participations>(&self.store, key, r.participation.as_ref(), request);
        Ok(Response::new(created.await?))
    }

    async fn get_participation(
        &self,
        request: Request<pb::GetParticipationRequest>,
    ) -> Result<Response<pb::Participation>, Status> {
        let name = &request.get_ref().name;
        let found = resource::get::<Participations>(&self.store, name);
        Ok(Response::new(found.await?))
    }

    async fn list_participations(
        &self,
        request: Request<pb::ListParticipationsRequest>,
    ) -> Result<Response<pb::ListParticipationsResponse>, Status> {
        let r = request.into_inner();
        let shape = QueryShape {
            collection: Participations::COLLECTION,
            parent: &r.parent,
            filter: &r.filter,
            order_by: &r.order_by,
            search: "",
            show_deleted: r.show_deleted,
        };
        let args = ListArgs::new(shape, r.page_size, &r.page_token);
        let (program, query, ()) =
            resource::all_valid(parse_parent(&r.parent), args.page_query(), Ok(()))
                .map_err(ApiError::from)?;
        let page = self
            .store
            .list_participations(program.as_ref(), &query)
            .await
            .map_err(ApiError::store(Participations::COLLECTION, Action::Read))?;
        Ok(Response::new(pb::ListParticipationsResponse {
            participations: page.items.iter().map(encode_participation).collect(),
            next_page_token: args.next_token(page.next),
            total_size: total(page.total_size),
        }))
    }

    async fn update_participation(
        &self,
        request: Request<pb::UpdateParticipationRequest>,
    ) -> Result<Response<pb::Participation>, Status> {
        let r = request.into_inner();
        let updated = resource::update::<Participations>(
            &self.store,
            r.participation.as_ref(),
            r.update_mask.as_ref(),
        );
        Ok(Response::new(updated.await?))
    }

    async fn delete_participation(
        &self,
        request: Request<pb::DeleteParticipationRequest>,
    ) -> Result<Response<pb::Participation>, Status> {
        let r = request.into_inner();
        let deleted = resource::delete::<Participations>(&self.store, &r.name, &r.etag, false);
        Ok(Response::new(deleted.await?))
    }

    async fn undelete_participation(
        &self,
        request: Request<pb::UndeleteParticipationRequest>,
    ) -> Result<Response<pb::Participation>, Status> {
        let r = request.into_inner();
        let restored = resource::undelete::<Participations>(&self.store, &r.name, &r.etag);
        Ok(Response::new(restored.await?))
    }

    type ExportProgramsStream = tonic::codegen::BoxStream<pb::ExportProgramsResponse>;

    async fn export_programs(
        &self,
        request: Request<pb::ExportProgramsRequest>,
    ) -> Result<Response<Self::ExportProgramsStream>, Status> {
        let r = request.get_ref();
        let stream = resource::export::<Programs, _>(
            &self.store,
            &r.filter,
            r.show_deleted,
            |programs, resume_token| pb::ExportProgramsResponse {
                programs,
                resume_token,
            },
        )?;
        Ok(Response::new(stream))
    }
}
