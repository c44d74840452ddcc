//! Participations of SMEs in programs, stored under their program.

use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect};

use super::entity::{participation, program, sme};
use super::error::Reference;
use super::table::{Children, Table, check_reference, delete_time_of, live};
use super::{Page, PageQuery, Store, StoreError, valid};
use crate::domain::{
    Collection, Field, Outcome, Participation, ParticipationName, ResourceId, Won,
};

/// The `participations` table.
pub struct Participations;

impl Table for Participations {
    type Entity = participation::Entity;
    type Key = ParticipationName;
    type Data = Participation;
    const COLLECTION: Collection = Collection::Participations;

    fn column(field: Field) -> Option<participation::Column> {
        participation::column(field)
    }

    fn from_row(m: participation::Model) -> Result<(ParticipationName, Participation), StoreError> {
        let outcomes: Vec<Outcome> = valid(
            participation::Column::Outcomes,
            serde_json::from_str(&m.outcomes),
        )?;
        let key = ParticipationName {
            program: ResourceId::from_stored(m.program_id),
            participation: ResourceId::from_stored(m.id),
        };
        let data = Participation {
            sme: ResourceId::from_stored(m.sme_id),
            support_amount_krw: valid(
                participation::Column::SupportAmountKrw,
                m.support_amount_krw.map(Won::parse).transpose(),
            )?,
            joined_date: m.joined_date,
            outcomes,
        };
        Ok((key, data))
    }

    fn to_row(key: &ParticipationName, d: &Participation) -> participation::ActiveModel {
        // A list of plain structs of strings and finite numbers always
        // serializes.
        let outcomes = serde_json::to_string(&d.outcomes).unwrap_or_else(|_| "[]".to_owned());
        participation::ActiveModel {
            program_id: Set(key.program.to_string()),
            id: Set(key.participation.to_string()),
            sme_id: Set(d.sme.to_string()),
            support_amount_krw: Set(d.support_amount_krw.map(Won::get)),
            joined_date: Set(d.joined_date),
            outcomes: Set(outcomes),
            ..Default::default()
        }
    }

    /// The program must be live, and so must the SME, which has at most one
    /// live participation per program.
    async fn check_write(
        txn: &DatabaseTransaction,
        key: &ParticipationName,
        data: &Participation,
        before: Option<&Participation>,
    ) -> Result<(), StoreError> {
        if before.is_some_and(|b| b.sme == data.sme) {
            return Ok(());
        }
        let program = &key.program;
        check_reference::<program::Entity>(
            txn,
            Reference::Program,
            Collection::Programs.name_of(program),
            program,
        )
        .await?;
        let sme_name = Collection::Smes.name_of(&data.sme);
        check_reference::<sme::Entity>(txn, Reference::Sme, sme_name.clone(), &data.sme).await?;
        let other = participation::Entity::find()
            .select_only()
            .column(participation::Column::Id)
            .filter(
                live::<participation::Entity>()
                    .add(participation::Column::ProgramId.eq(program.as_str()))
                    .add(participation::Column::SmeId.eq(data.sme.as_str()))
                    .add(participation::Column::Id.ne(key.participation.as_str())),
            )
            .into_tuple::<String>()
            .one(txn)
            .await?;
        match other {
            Some(id) => Err(StoreError::AlreadyParticipates {
                sme: sme_name,
                existing: ParticipationName {
                    program: program.clone(),
                    participation: ResourceId::from_stored(id),
                }
                .to_string(),
            }),
            None => Ok(()),
        }
    }

    fn children(_key: &ParticipationName) -> Option<Children> {
        None
    }
}

impl Store {
    /// Lists the participations of `program`, or of every program when it is
    /// `None`. Listing under a program that does not exist is refused.
    pub async fn list_participations(
        &self,
        program: Option<&ResourceId>,
        page: &PageQuery,
    ) -> Result<Page<Participation>, StoreError> {
        let mut scope = Condition::all();
        if let Some(p) = program {
            // Its own statement, its connection given back before the page
            // takes one.
            let lease = self.reading().await?.pool.one().await?;
            let exists = self
                .read_in(&lease, async |reader| {
                    delete_time_of::<program::Entity>(reader, p).await
                })
                .await?;
            drop(lease);
            if exists.is_none() {
                return Err(StoreError::ReferenceMissing {
                    reference: Reference::Program,
                    name: Collection::Programs.name_of(p),
                });
            }
            scope = scope.add(participation::Column::ProgramId.eq(p.as_str()));
        }
        self.list_in::<Participations>(scope, page).await
    }
}
