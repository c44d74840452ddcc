//! Participations of SMEs in programs, stored under their program.

use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};

use super::enterprise::{page_next, reject_deleted};
use super::entity::{participation, sme};
use super::lifecycle::{col, list_page, live, write_delete_time};
use super::request_id::{Created, RequestKey, record};
use super::{Page, PageQuery, Rejection, RejectionKind, Store, StoreError, Stored, now, stored_id};
use crate::domain::{
    Collection, Outcome, Participation, ParticipationName, ResourceId, Violations, Won,
};

fn to_stored(m: participation::Model) -> Result<Stored<Participation>, StoreError> {
    let outcomes: Vec<Outcome> = serde_json::from_str(&m.outcomes)
        .map_err(|_| StoreError::Internal("stored participation outcomes are not valid".into()))?;
    let name = ParticipationName {
        program: stored_id(m.program_id),
        participation: stored_id(m.id),
    };
    Ok(Stored {
        name: name.to_string(),
        data: Participation {
            sme: stored_id(m.sme_id),
            support_amount_krw: m
                .support_amount_krw
                .map(|a| {
                    Won::parse(a).map_err(|_| {
                        StoreError::Internal("stored support amount is negative".into())
                    })
                })
                .transpose()?,
            joined_date: m.joined_date,
            outcomes,
        },
        create_time: m.create_time,
        update_time: m.update_time,
        delete_time: m.delete_time,
        revision: m.revision,
        demo: m.demo,
    })
}

fn to_active(
    name: &ParticipationName,
    s: &Stored<Participation>,
) -> Result<participation::ActiveModel, StoreError> {
    let d = &s.data;
    let outcomes = serde_json::to_string(&d.outcomes)
        .map_err(|e| StoreError::Internal(format!("cannot encode outcomes: {e}")))?;
    Ok(participation::ActiveModel {
        program_id: Set(name.program.to_string()),
        id: Set(name.participation.to_string()),
        sme_id: Set(d.sme.to_string()),
        support_amount_krw: Set(d.support_amount_krw.map(Won::get)),
        joined_date: Set(d.joined_date),
        outcomes: Set(outcomes),
        create_time: Set(s.create_time),
        update_time: Set(s.update_time),
        delete_time: Set(s.delete_time),
        revision: Set(s.revision),
        demo: Set(s.demo),
    })
}

fn key_is(name: &ParticipationName) -> Condition {
    Condition::all()
        .add(participation::Column::ProgramId.eq(name.program.as_str()))
        .add(participation::Column::Id.eq(name.participation.as_str()))
}

async fn find(
    db: &impl ConnectionTrait,
    name: &ParticipationName,
) -> Result<Option<Stored<Participation>>, StoreError> {
    participation::Entity::find()
        .filter(key_is(name))
        .one(db)
        .await?
        .map(to_stored)
        .transpose()
}

async fn find_existing(
    db: &impl ConnectionTrait,
    name: &ParticipationName,
) -> Result<Stored<Participation>, StoreError> {
    find(db, name)
        .await?
        .ok_or_else(|| Rejection::not_found(&name.to_string()).into())
}

/// The parent program must exist (NOT_FOUND) and be live.
async fn check_program(db: &impl ConnectionTrait, program: &ResourceId) -> Result<(), StoreError> {
    let name = Collection::Programs.name_of(program);
    match super::program::find(db, program).await? {
        None => Err(Rejection::not_found(&name).field("parent").into()),
        Some(p) if p.delete_time.is_some() => Err(Rejection::new(
            RejectionKind::FailedPrecondition,
            "PROGRAM_DELETED",
            format!("program {name} is deleted"),
        )
        .field("parent")
        .resource(name)
        .into()),
        Some(_) => Ok(()),
    }
}

/// The SME must exist and be live.
async fn check_sme(
    db: &impl ConnectionTrait,
    id: &ResourceId,
    field: &str,
) -> Result<(), StoreError> {
    let name = Collection::Smes.name_of(id);
    match sme::Entity::find_by_id(id.as_str()).one(db).await? {
        None => Err(Rejection::new(
            RejectionKind::FailedPrecondition,
            "SME_NOT_FOUND",
            format!("SME {name} does not exist"),
        )
        .field(field)
        .resource(name)
        .into()),
        Some(s) if s.delete_time.is_some() => Err(Rejection::new(
            RejectionKind::FailedPrecondition,
            "SME_DELETED",
            format!("SME {name} is deleted"),
        )
        .field(field)
        .resource(name)
        .into()),
        Some(_) => Ok(()),
    }
}

/// An SME has at most one live participation per program.
async fn check_unique(
    db: &impl ConnectionTrait,
    name: &ParticipationName,
    sme: &ResourceId,
    field: &str,
) -> Result<(), StoreError> {
    let cond = live()
        .add(participation::Column::ProgramId.eq(name.program.as_str()))
        .add(participation::Column::SmeId.eq(sme.as_str()))
        .add(participation::Column::Id.ne(name.participation.as_str()));
    if let Some(other) = participation::Entity::find().filter(cond).one(db).await? {
        let other = to_stored(other)?;
        return Err(duplicate_sme(sme, field).resource(other.name).into());
    }
    Ok(())
}

fn duplicate_sme(sme: &ResourceId, field: &str) -> Rejection {
    Rejection::new(
        RejectionKind::AlreadyExists,
        "SME_ALREADY_PARTICIPATES",
        format!(
            "{} already has a live participation in this program",
            Collection::Smes.name_of(sme)
        ),
    )
    .field(field)
}

fn on_unique(err: sea_orm::DbErr, name: &ParticipationName, sme: &ResourceId) -> StoreError {
    match StoreError::unique_violation(&err) {
        Some(msg) if msg.contains("sme") => duplicate_sme(sme, "participation.sme").into(),
        Some(_) => Rejection::new(
            RejectionKind::AlreadyExists,
            "RESOURCE_ALREADY_EXISTS",
            format!("{name} already exists"),
        )
        .field("participation_id")
        .resource(name.to_string())
        .into(),
        None => err.into(),
    }
}

impl Store {
    pub async fn create_participation(
        &self,
        program: ResourceId,
        id: Option<ResourceId>,
        data: Participation,
        demo: bool,
        key: Option<&RequestKey>,
        encode: impl Fn(&Stored<Participation>) -> Vec<u8>,
    ) -> Result<Created<Participation>, StoreError> {
        let name = ParticipationName {
            program,
            participation: id.unwrap_or_else(|| ResourceId::generate(Collection::Participations)),
        };
        self.idempotent(key, || async {
            let txn = self.begin_write().await?;
            check_program(&txn, &name.program).await?;
            if find(&txn, &name).await?.is_some() {
                return Err(Rejection::new(
                    RejectionKind::AlreadyExists,
                    "RESOURCE_ALREADY_EXISTS",
                    format!("{name} already exists"),
                )
                .field("participation_id")
                .resource(name.to_string())
                .into());
            }
            check_sme(&txn, &data.sme, "participation.sme").await?;
            check_unique(&txn, &name, &data.sme, "participation.sme").await?;
            let t = now();
            let stored = Stored::new(name.to_string(), data, t, demo);
            if let Some(key) = key {
                record(&txn, key, encode(&stored), t).await?;
            }
            participation::Entity::insert(to_active(&name, &stored)?)
                .exec_without_returning(&txn)
                .await
                .map_err(|e| on_unique(e, &name, &stored.data.sme))?;
            txn.commit().await?;
            Ok(stored)
        })
        .await
    }

    pub async fn get_participation(
        &self,
        name: &ParticipationName,
    ) -> Result<Stored<Participation>, StoreError> {
        find_existing(&self.read, name).await
    }

    /// Lists the participations of `program`, or of every program when it is
    /// `None`.
    pub async fn list_participations(
        &self,
        program: Option<&ResourceId>,
        page: &PageQuery,
    ) -> Result<Page<Participation>, StoreError> {
        let mut filter = Condition::all();
        if let Some(p) = program {
            check_program_exists(&self.read, p).await?;
            filter = filter.add(participation::Column::ProgramId.eq(p.as_str()));
        }
        let (rows, total) =
            list_page::<participation::Entity>(&self.read, filter, page, &["program_id", "id"])
                .await?;
        let mut items = rows
            .into_iter()
            .map(to_stored)
            .collect::<Result<Vec<_>, _>>()?;
        let next = page_next(&mut items, page.size, |s| {
            // programs/{p}/participations/{id}
            let parts: Vec<&str> = s.name.split('/').collect();
            vec![
                parts.get(1).copied().unwrap_or_default().to_owned(),
                parts.get(3).copied().unwrap_or_default().to_owned(),
            ]
        });
        Ok(Page {
            items,
            next,
            total_size: total,
        })
    }

    pub async fn update_participation(
        &self,
        name: &ParticipationName,
        etag: Option<&str>,
        patch: impl Fn(&Stored<Participation>) -> Result<Participation, Violations>,
    ) -> Result<Stored<Participation>, StoreError> {
        let patch = &patch;
        self.write_retrying(etag.is_some(), |txn| async move {
            let current = find_existing(&txn, name).await?;
            current.check_etag(etag)?;
            reject_deleted(&current)?;
            let data = patch(&current)?;
            if data.sme != current.data.sme {
                check_sme(&txn, &data.sme, "participation.sme").await?;
                check_unique(&txn, name, &data.sme, "participation.sme").await?;
            }
            let next = current.revised(data, now());
            let res = participation::Entity::update_many()
                .set(to_active(name, &next)?)
                .filter(key_is(name).add(col("revision").eq(current.revision)))
                .exec(&txn)
                .await
                .map_err(|e| on_unique(e, name, &next.data.sme))?;
            Ok((txn, (res.rows_affected == 1).then_some(next)))
        })
        .await
    }

    pub async fn delete_participation(
        &self,
        name: &ParticipationName,
        etag: Option<&str>,
    ) -> Result<Stored<Participation>, StoreError> {
        self.write_retrying(etag.is_some(), |txn| async move {
            let current = find_existing(&txn, name).await?;
            current.check_etag(etag)?;
            current.check_deletable()?;
            let t = now();
            let done =
                write_delete_time(&txn, "participations", key_is(name), &current, Some(t), t)
                    .await?;
            Ok((txn, done))
        })
        .await
    }

    pub async fn undelete_participation(
        &self,
        name: &ParticipationName,
        etag: Option<&str>,
    ) -> Result<Stored<Participation>, StoreError> {
        self.write_retrying(etag.is_some(), |txn| async move {
            let current = find_existing(&txn, name).await?;
            current.check_etag(etag)?;
            current.check_undeletable()?;
            check_program(&txn, &name.program).await?;
            check_sme(&txn, &current.data.sme, "name").await?;
            check_unique(&txn, name, &current.data.sme, "name").await?;
            let t = now();
            let done =
                write_delete_time(&txn, "participations", key_is(name), &current, None, t).await?;
            Ok((txn, done))
        })
        .await
    }
}

/// Listing under a program that does not exist is NOT_FOUND.
async fn check_program_exists(
    db: &impl ConnectionTrait,
    program: &ResourceId,
) -> Result<(), StoreError> {
    match super::program::find(db, program).await? {
        Some(_) => Ok(()),
        None => Err(Rejection::not_found(&Collection::Programs.name_of(program))
            .field("parent")
            .into()),
    }
}
