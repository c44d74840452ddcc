//! Programs, hosted by companies.

use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, Condition, DatabaseTransaction};

use super::entity::{company, participation, program};
use super::error::Reference;
use super::table::{Children, Rows, Table, check_reference};
use super::{StoreError, valid};
use crate::domain::{Collection, DisplayName, Field, Funder, Program, ResourceId, Won};

/// The `programs` table.
pub struct Programs;

/// A funder as stored in the `funders` JSON column.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredFunder {
    display_name: String,
    contribution_krw: Option<i64>,
}

/// A JSON array column; NULL is the empty list.
fn json_list<T: serde::de::DeserializeOwned>(
    column: program::Column,
    text: Option<&str>,
) -> Result<Vec<T>, StoreError> {
    text.map_or(Ok(Vec::new()), |t| valid(column, serde_json::from_str(t)))
}

/// A list as a JSON array column; the empty list is NULL.
fn json_text<T: serde::Serialize>(items: impl Iterator<Item = T>) -> Option<String> {
    let items: Vec<T> = items.collect();
    // A list of strings and integers always serializes.
    (!items.is_empty()).then(|| serde_json::to_string(&items).unwrap_or_else(|_| "[]".to_owned()))
}

impl Table for Programs {
    type Entity = program::Entity;
    type Key = ResourceId;
    type Data = Program;
    const COLLECTION: Collection = Collection::Programs;

    fn column(field: Field) -> Option<program::Column> {
        program::column(field)
    }

    fn from_row(m: program::Model) -> Result<(ResourceId, Program), StoreError> {
        let data = Program {
            display_name: valid(
                program::Column::DisplayName,
                DisplayName::parse(&m.display_name),
            )?,
            description: m.description,
            host_company: ResourceId::from_stored(m.host_company_id),
            kind: m.kind.into(),
            region: m.region.map(Into::into),
            state: m.state.into(),
            start_date: m.start_date,
            end_date: m.end_date,
            budget_krw: valid(
                program::Column::BudgetKrw,
                m.budget_krw.map(Won::parse).transpose(),
            )?,
            co_hosts: json_list::<String>(program::Column::CoHosts, m.co_hosts.as_deref())?
                .into_iter()
                .map(ResourceId::from_stored)
                .collect(),
            funders: json_list::<StoredFunder>(program::Column::Funders, m.funders.as_deref())?
                .into_iter()
                .map(|f| {
                    Ok(Funder {
                        display_name: valid(
                            program::Column::Funders,
                            DisplayName::parse(&f.display_name),
                        )?,
                        contribution_krw: valid(
                            program::Column::Funders,
                            f.contribution_krw.map(Won::parse).transpose(),
                        )?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
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
            co_hosts: Set(json_text(d.co_hosts.iter().map(ResourceId::to_string))),
            funders: Set(json_text(d.funders.iter().map(|f| StoredFunder {
                display_name: f.display_name.to_string(),
                contribution_krw: f.contribution_krw.map(Won::get),
            }))),
            ..Default::default()
        }
    }

    /// The host company and every co-host must exist and be live (those
    /// an update leaves as they were are not checked again).
    async fn check_write(
        txn: &DatabaseTransaction,
        _key: &ResourceId,
        data: &Program,
        before: Option<&Program>,
    ) -> Result<(), StoreError> {
        let host = std::iter::once((Reference::HostCompany, &data.host_company))
            .filter(|_| before.is_none_or(|b| b.host_company != data.host_company));
        let co_hosts = data
            .co_hosts
            .iter()
            .filter(|c| before.is_none_or(|b| !b.co_hosts.contains(c)))
            .map(|c| (Reference::CoHost, c));
        for (reference, id) in host.chain(co_hosts) {
            let name = Collection::Companies.name_of(id);
            check_reference::<company::Entity>(txn, reference, name, id).await?;
        }
        Ok(())
    }

    /// A program's participations.
    fn children(key: &ResourceId) -> Option<Children> {
        Some(Children {
            collection: Collection::Participations,
            rows: Rows::of::<super::Participations>(
                Condition::all().add(participation::Column::ProgramId.eq(key.as_str())),
            ),
            descendants: Vec::new(),
        })
    }
}
