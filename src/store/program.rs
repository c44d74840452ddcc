//! Programs, hosted by companies.

use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait};

use super::entity::{company, participation, program};
use super::error::Reference;
use super::table::{Children, Table};
use super::{StoreError, valid};
use crate::domain::{Collection, DisplayName, Program, ResourceId, Won};

/// The `programs` table.
pub struct Programs;

/// The record `id` of `E`, which `reference` points to, must exist and be
/// live.
pub(super) async fn check_reference<E: EntityTrait>(
    db: &impl ConnectionTrait,
    reference: Reference,
    name: String,
    id: &str,
) -> Result<(), StoreError>
where
    E::Model: Send + Sync,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<String>,
{
    use sea_orm::QuerySelect;
    let delete_time = E::find_by_id(id.to_owned())
        .select_only()
        .column_as(super::table::col("delete_time"), "delete_time")
        .into_tuple::<Option<chrono::DateTime<chrono::Utc>>>()
        .one(db)
        .await?;
    match delete_time {
        None => Err(StoreError::ReferenceMissing { reference, name }),
        Some(Some(_)) => Err(StoreError::ReferenceDeleted { reference, name }),
        Some(None) => Ok(()),
    }
}

impl Table for Programs {
    type Entity = program::Entity;
    type Key = ResourceId;
    type Data = Program;
    const COLLECTION: Collection = Collection::Programs;

    fn from_row(m: program::Model) -> Result<(ResourceId, Program), StoreError> {
        let data = Program {
            display_name: valid("display_name", DisplayName::parse(&m.display_name))?,
            description: m.description,
            host_company: ResourceId::from_stored(m.host_company_id),
            kind: m.kind.into(),
            region: m.region.map(Into::into),
            state: m.state.into(),
            start_date: m.start_date,
            end_date: m.end_date,
            budget_krw: valid("budget_krw", m.budget_krw.map(Won::parse).transpose())?,
        };
        Ok((ResourceId::from_stored(m.id), data))
    }

    fn to_row(id: &ResourceId, d: &Program) -> program::ActiveModel {
        program::ActiveModel {
            id: Set(id.to_string()),
            display_name: Set(d.display_name.to_string()),
            description: Set(d.description.clone()),
            host_company_id: Set(d.host_company.to_string()),
            kind: Set(d.kind.into()),
            region: Set(d.region.map(Into::into)),
            state: Set(d.state.into()),
            start_date: Set(d.start_date),
            end_date: Set(d.end_date),
            budget_krw: Set(d.budget_krw.map(Won::get)),
            ..Default::default()
        }
    }

    /// The host company must exist and be live.
    async fn check_write(
        txn: &DatabaseTransaction,
        _key: &ResourceId,
        data: &Program,
        before: Option<&Program>,
    ) -> Result<(), StoreError> {
        if before.is_some_and(|b| b.host_company == data.host_company) {
            return Ok(());
        }
        let host = &data.host_company;
        check_reference::<company::Entity>(
            txn,
            Reference::HostCompany,
            Collection::Companies.name_of(host),
            host.as_str(),
        )
        .await
    }

    /// A program's participations.
    fn children(key: &ResourceId) -> Option<Children> {
        Some(Children {
            collection: Collection::Participations,
            table: "participations",
            condition: Condition::all().add(participation::Column::ProgramId.eq(key.as_str())),
            descendants: Vec::new(),
        })
    }
}
