//! `ProgramService`: programs and their participations.

use tonic::{Request, Response, Status};

use super::ApiError;
use super::convert::{
    encode_participation, encode_program, etag, parse_name, parse_new_id, parse_participation,
    parse_program, request_key,
};
use super::list::{ListArgs, total};
use super::mask;
use crate::domain::{Collection, ParticipationName, QueryShape, ResourceId, Violations};
use crate::pb;
use crate::store::{Created, Store, StoreError};

pub struct ProgramApi {
    store: Store,
}

impl ProgramApi {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

fn merge_errors<A, B>(
    a: Result<A, Violations>,
    b: Result<B, Violations>,
) -> Result<(A, B), Violations> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => {
            let mut v = Violations::new();
            v.0.extend(a.err().map(|e| e.0).unwrap_or_default());
            v.0.extend(b.err().map(|e| e.0).unwrap_or_default());
            Err(v)
        }
    }
}

fn replayed<M: prost::Message + Default>(bytes: &[u8]) -> Result<M, ApiError> {
    M::decode(bytes).map_err(|e| StoreError::Internal(format!("stored response: {e}")).into())
}

fn parse_participation_name(name: &str, field: &str) -> Result<ParticipationName, Violations> {
    ParticipationName::parse(name).map_err(|e| Violations::single(field, e))
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

#[tonic::async_trait]
impl pb::program_service_server::ProgramService for ProgramApi {
    async fn create_program(
        &self,
        request: Request<pb::CreateProgramRequest>,
    ) -> Result<Response<pb::Program>, Status> {
        let r = request.into_inner();
        let run = async {
            let key = request_key(
                &r.request_id,
                "/partnership.v1.ProgramService/CreateProgram",
                &r,
                |r| r.request_id.clear(),
            )?;
            let program = r
                .program
                .as_ref()
                .ok_or_else(|| Violations::single("program", "is required"))?;
            let (id, data) = merge_errors(
                parse_new_id(&r.program_id, "program_id"),
                parse_program(program, "program"),
            )?;
            match self
                .store
                .create_program(id, data, false, key.as_ref(), |s| {
                    prost::Message::encode_to_vec(&encode_program(s))
                })
                .await?
            {
                Created::New(s) => Ok(encode_program(&s)),
                Created::Replayed(bytes) => replayed(&bytes),
            }
        };
        let result: Result<pb::Program, ApiError> = run.await;
        Ok(Response::new(result?))
    }

    async fn get_program(
        &self,
        request: Request<pb::GetProgramRequest>,
    ) -> Result<Response<pb::Program>, Status> {
        let id =
            parse_name(Collection::Programs, &request.get_ref().name).map_err(ApiError::from)?;
        let stored = self.store.get_program(&id).await.map_err(ApiError::from)?;
        Ok(Response::new(encode_program(&stored)))
    }

    async fn list_programs(
        &self,
        request: Request<pb::ListProgramsRequest>,
    ) -> Result<Response<pb::ListProgramsResponse>, Status> {
        let r = request.into_inner();
        let args = ListArgs {
            shape: QueryShape {
                collection: "programs",
                parent: "",
                filter: &r.filter,
                order_by: &r.order_by,
                show_deleted: r.show_deleted,
            },
            page_size: r.page_size,
            page_token: &r.page_token,
        };
        let query = args.page_query().map_err(ApiError::from)?;
        let page = self
            .store
            .list_programs(&query)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::ListProgramsResponse {
            programs: page.items.iter().map(encode_program).collect(),
            next_page_token: args.next_token(page.next),
            total_size: total(page.total_size),
        }))
    }

    async fn update_program(
        &self,
        request: Request<pb::UpdateProgramRequest>,
    ) -> Result<Response<pb::Program>, Status> {
        let r = request.into_inner();
        let run = async {
            let program = r
                .program
                .as_ref()
                .ok_or_else(|| Violations::single("program", "is required"))?;
            let id = Collection::Programs
                .parse_name(&program.name)
                .map_err(|e| Violations::single("program.name", e))?;
            let paths = mask::resolve(r.update_mask.as_ref(), program)?;
            let stored = self
                .store
                .update_program(&id, etag(&program.etag), |current| {
                    let mut merged = encode_program(current);
                    for path in &paths {
                        mask::Masked::copy_field(&mut merged, program, path);
                    }
                    parse_program(&merged, "program")
                })
                .await?;
            Ok::<_, ApiError>(encode_program(&stored))
        };
        Ok(Response::new(run.await?))
    }

    async fn delete_program(
        &self,
        request: Request<pb::DeleteProgramRequest>,
    ) -> Result<Response<pb::Program>, Status> {
        let r = request.into_inner();
        let id = parse_name(Collection::Programs, &r.name).map_err(ApiError::from)?;
        let stored = self
            .store
            .delete_program(&id, etag(&r.etag), r.force)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(encode_program(&stored)))
    }

    async fn undelete_program(
        &self,
        request: Request<pb::UndeleteProgramRequest>,
    ) -> Result<Response<pb::Program>, Status> {
        let r = request.into_inner();
        let id = parse_name(Collection::Programs, &r.name).map_err(ApiError::from)?;
        let stored = self
            .store
            .undelete_program(&id, etag(&r.etag))
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(encode_program(&stored)))
    }

    async fn create_participation(
        &self,
        request: Request<pb::CreateParticipationRequest>,
    ) -> Result<Response<pb::Participation>, Status> {
        let r = request.into_inner();
        let run = async {
            let key = request_key(
                &r.request_id,
                "/partnership.v1.ProgramService/CreateParticipation",
                &r,
                |r| r.request_id.clear(),
            )?;
            let program = Collection::Programs
                .parse_name(&r.parent)
                .map_err(|e| Violations::single("parent", e));
            let participation = r
                .participation
                .as_ref()
                .ok_or_else(|| Violations::single("participation", "is required"))
                .and_then(|p| parse_participation(p, "participation"));
            let (program, data) = merge_errors(program, participation)?;
            let id = parse_new_id(&r.participation_id, "participation_id")?;
            match self
                .store
                .create_participation(program, id, data, false, key.as_ref(), |s| {
                    prost::Message::encode_to_vec(&encode_participation(s))
                })
                .await?
            {
                Created::New(s) => Ok(encode_participation(&s)),
                Created::Replayed(bytes) => replayed(&bytes),
            }
        };
        let result: Result<pb::Participation, ApiError> = run.await;
        Ok(Response::new(result?))
    }

    async fn get_participation(
        &self,
        request: Request<pb::GetParticipationRequest>,
    ) -> Result<Response<pb::Participation>, Status> {
        let name =
            parse_participation_name(&request.get_ref().name, "name").map_err(ApiError::from)?;
        let stored = self
            .store
            .get_participation(&name)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(encode_participation(&stored)))
    }

    async fn list_participations(
        &self,
        request: Request<pb::ListParticipationsRequest>,
    ) -> Result<Response<pb::ListParticipationsResponse>, Status> {
        let r = request.into_inner();
        let args = ListArgs {
            shape: QueryShape {
                collection: "participations",
                parent: &r.parent,
                filter: &r.filter,
                order_by: &r.order_by,
                show_deleted: r.show_deleted,
            },
            page_size: r.page_size,
            page_token: &r.page_token,
        };
        let (program, query) =
            merge_errors(parse_parent(&r.parent), args.page_query()).map_err(ApiError::from)?;
        let page = self
            .store
            .list_participations(program.as_ref(), &query)
            .await
            .map_err(ApiError::from)?;
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
        let run = async {
            let participation = r
                .participation
                .as_ref()
                .ok_or_else(|| Violations::single("participation", "is required"))?;
            let name = parse_participation_name(&participation.name, "participation.name")?;
            let paths = mask::resolve(r.update_mask.as_ref(), participation)?;
            let stored = self
                .store
                .update_participation(&name, etag(&participation.etag), |current| {
                    let mut merged = encode_participation(current);
                    for path in &paths {
                        mask::Masked::copy_field(&mut merged, participation, path);
                    }
                    parse_participation(&merged, "participation")
                })
                .await?;
            Ok::<_, ApiError>(encode_participation(&stored))
        };
        Ok(Response::new(run.await?))
    }

    async fn delete_participation(
        &self,
        request: Request<pb::DeleteParticipationRequest>,
    ) -> Result<Response<pb::Participation>, Status> {
        let r = request.into_inner();
        let name = parse_participation_name(&r.name, "name").map_err(ApiError::from)?;
        let stored = self
            .store
            .delete_participation(&name, etag(&r.etag))
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(encode_participation(&stored)))
    }

    async fn undelete_participation(
        &self,
        request: Request<pb::UndeleteParticipationRequest>,
    ) -> Result<Response<pb::Participation>, Status> {
        let r = request.into_inner();
        let name = parse_participation_name(&r.name, "name").map_err(ApiError::from)?;
        let stored = self
            .store
            .undelete_participation(&name, etag(&r.etag))
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(encode_participation(&stored)))
    }
}
