//! Programs, hosted by companies.

use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};

use super::enterprise::{page_next, reject_deleted};
use super::entity::{company, participation, program};
use super::lifecycle::{cascade_delete, col, count_live, list_page, write_delete_time};
use super::request_id::{Created, RequestKey, record};
use super::{Page, PageQuery, Rejection, RejectionKind, Store, StoreError, Stored, now, stored_id};
use crate::domain::{
    Collection, DisplayName, Program, ProgramKind, ProgramState, Region, ResourceId, Violations,
    Won,
};

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("stored program {what} is not valid"))
}

fn to_stored(m: program::Model) -> Result<Stored<Program>, StoreError> {
    let data = Program {
        display_name: DisplayName::parse(&m.display_name).map_err(|_| corrupt("display_name"))?,
        description: m.description,
        host_company: stored_id(m.host_company_id),
        kind: ProgramKind::from_stored(&m.kind).ok_or_else(|| corrupt("kind"))?,
        region: m
            .region
            .as_deref()
            .map(|r| Region::from_stored(r).ok_or_else(|| corrupt("region")))
            .transpose()?,
        state: ProgramState::from_stored(&m.state).ok_or_else(|| corrupt("state"))?,
        start_date: m.start_date,
        end_date: m.end_date,
        budget_krw: m
            .budget_krw
            .map(|b| Won::parse(b).map_err(|_| corrupt("budget_krw")))
            .transpose()?,
    };
    Ok(Stored {
        name: Collection::Programs.name_of(&stored_id(m.id)),
        data,
        create_time: m.create_time,
        update_time: m.update_time,
        delete_time: m.delete_time,
        revision: m.revision,
        demo: m.demo,
    })
}

fn to_active(id: &ResourceId, s: &Stored<Program>) -> program::ActiveModel {
    let d = &s.data;
    program::ActiveModel {
        id: Set(id.to_string()),
        display_name: Set(d.display_name.to_string()),
        description: Set(d.description.clone()),
        host_company_id: Set(d.host_company.to_string()),
        kind: Set(d.kind.as_str().to_owned()),
        region: Set(d.region.map(|r| r.as_str().to_owned())),
        state: Set(d.state.as_str().to_owned()),
        start_date: Set(d.start_date),
        end_date: Set(d.end_date),
        budget_krw: Set(d.budget_krw.map(Won::get)),
        create_time: Set(s.create_time),
        update_time: Set(s.update_time),
        delete_time: Set(s.delete_time),
        revision: Set(s.revision),
        demo: Set(s.demo),
    }
}

fn id_is(id: &ResourceId) -> Condition {
    Condition::all().add(program::Column::Id.eq(id.as_str()))
}

pub(super) async fn find(
    db: &impl ConnectionTrait,
    id: &ResourceId,
) -> Result<Option<Stored<Program>>, StoreError> {
    program::Entity::find()
        .filter(id_is(id))
        .one(db)
        .await?
        .map(to_stored)
        .transpose()
}

async fn find_existing(
    db: &impl ConnectionTrait,
    id: &ResourceId,
) -> Result<Stored<Program>, StoreError> {
    find(db, id)
        .await?
        .ok_or_else(|| Rejection::not_found(&Collection::Programs.name_of(id)).into())
}

/// The host company must exist and be live.
async fn check_host(
    db: &impl ConnectionTrait,
    host: &ResourceId,
    field: &str,
) -> Result<(), StoreError> {
    let name = Collection::Companies.name_of(host);
    match company::Entity::find_by_id(host.as_str()).one(db).await? {
        None => Err(Rejection::new(
            RejectionKind::FailedPrecondition,
            "HOST_COMPANY_NOT_FOUND",
            format!("host company {name} does not exist"),
        )
        .field(field)
        .resource(name)
        .into()),
        Some(c) if c.delete_time.is_some() => Err(Rejection::new(
            RejectionKind::FailedPrecondition,
            "HOST_COMPANY_DELETED",
            format!("host company {name} is deleted"),
        )
        .field(field)
        .resource(name)
        .into()),
        Some(_) => Ok(()),
    }
}

fn already_exists(id: &ResourceId) -> StoreError {
    let name = Collection::Programs.name_of(id);
    Rejection::new(
        RejectionKind::AlreadyExists,
        "RESOURCE_ALREADY_EXISTS",
        format!("{name} already exists"),
    )
    .field("program_id")
    .resource(name)
    .into()
}

impl Store {
    pub async fn create_program(
        &self,
        id: Option<ResourceId>,
        data: Program,
        demo: bool,
        key: Option<&RequestKey>,
        encode: impl Fn(&Stored<Program>) -> Vec<u8>,
    ) -> Result<Created<Program>, StoreError> {
        let id = id.unwrap_or_else(|| ResourceId::generate(Collection::Programs));
        self.idempotent(key, || async {
            let txn = self.begin_write().await?;
            if find(&txn, &id).await?.is_some() {
                return Err(already_exists(&id));
            }
            check_host(&txn, &data.host_company, "program.host_company").await?;
            let t = now();
            let stored = Stored::new(Collection::Programs.name_of(&id), data, t, demo);
            if let Some(key) = key {
                record(&txn, key, encode(&stored), t).await?;
            }
            program::Entity::insert(to_active(&id, &stored))
                .exec_without_returning(&txn)
                .await
                .map_err(|e| match StoreError::unique_violation(&e) {
                    Some(_) => already_exists(&id),
                    None => e.into(),
                })?;
            txn.commit().await?;
            Ok(stored)
        })
        .await
    }

    pub async fn get_program(&self, id: &ResourceId) -> Result<Stored<Program>, StoreError> {
        find_existing(&self.read, id).await
    }

    pub async fn list_programs(&self, page: &PageQuery) -> Result<Page<Program>, StoreError> {
        let (rows, total) =
            list_page::<program::Entity>(&self.read, Condition::all(), page, &["id"]).await?;
        let mut items = rows
            .into_iter()
            .map(to_stored)
            .collect::<Result<Vec<_>, _>>()?;
        let next = page_next(&mut items, page.size, |s| {
            vec![s.name.rsplit('/').next().unwrap_or_default().to_owned()]
        });
        Ok(Page {
            items,
            next,
            total_size: total,
        })
    }

    pub async fn update_program(
        &self,
        id: &ResourceId,
        etag: Option<&str>,
        patch: impl Fn(&Stored<Program>) -> Result<Program, Violations>,
    ) -> Result<Stored<Program>, StoreError> {
        let patch = &patch;
        self.write_retrying(etag.is_some(), |txn| async move {
            let current = find_existing(&txn, id).await?;
            current.check_etag(etag)?;
            reject_deleted(&current)?;
            let data = patch(&current)?;
            if data.host_company != current.data.host_company {
                check_host(&txn, &data.host_company, "program.host_company").await?;
            }
            let next = current.revised(data, now());
            let res = program::Entity::update_many()
                .set(to_active(id, &next))
                .filter(id_is(id).add(col("revision").eq(current.revision)))
                .exec(&txn)
                .await?;
            Ok((txn, (res.rows_affected == 1).then_some(next)))
        })
        .await
    }

    pub async fn delete_program(
        &self,
        id: &ResourceId,
        etag: Option<&str>,
        force: bool,
    ) -> Result<Stored<Program>, StoreError> {
        self.write_retrying(etag.is_some(), |txn| async move {
            let current = find_existing(&txn, id).await?;
            current.check_etag(etag)?;
            current.check_deletable()?;
            let children = Condition::all().add(participation::Column::ProgramId.eq(id.as_str()));
            let live_children = count_live::<participation::Entity>(&txn, children.clone()).await?;
            let t = now();
            if live_children > 0 {
                if !force {
                    return Err(Rejection::new(
                        RejectionKind::FailedPrecondition,
                        "HAS_LIVE_CHILDREN",
                        format!(
                            "{} has {live_children} live participations; delete them first or set force",
                            current.name
                        ),
                    )
                    .field("force")
                    .resource(current.name.clone())
                    .into());
                }
                cascade_delete(&txn, "participations", children, t).await?;
            }
            let done = write_delete_time(&txn, "programs", id_is(id), &current, Some(t), t).await?;
            Ok((txn, done))
        })
        .await
    }

    pub async fn undelete_program(
        &self,
        id: &ResourceId,
        etag: Option<&str>,
    ) -> Result<Stored<Program>, StoreError> {
        self.write_retrying(etag.is_some(), |txn| async move {
            let current = find_existing(&txn, id).await?;
            current.check_etag(etag)?;
            current.check_undeletable()?;
            check_host(&txn, &current.data.host_company, "name").await?;
            let t = now();
            let done = write_delete_time(&txn, "programs", id_is(id), &current, None, t).await?;
            Ok((txn, done))
        })
        .await
    }
}
