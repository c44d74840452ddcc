//! Companies and SMEs: two tables of the same shape, one implementation.
//! Rows of both pass through `company::Model`.

use std::marker::PhantomData;

use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, Condition, DatabaseTransaction, QueryFilter, QuerySelect};

use super::entity::{company, enterprise_row, participation, program, sme};
use super::table::{Children, Column, Rows, Table, live};
use super::{StoreError, opt, valid};
use crate::domain::{
    BusinessNumber, Collection, CorporateNumber, DisplayName, Enterprise, Field, KsicCode,
    ResourceId, Won,
};

/// An enterprise table.
pub struct Enterprises<E>(PhantomData<fn() -> E>);

/// The `companies` table.
pub type Companies = Enterprises<company::Entity>;
/// The `smes` table.
pub type Smes = Enterprises<sme::Entity>;

/// What tells the two enterprise tables apart.
pub trait EnterpriseEntity: super::entity::Resource {
    const COLLECTION: Collection;
    const ID: Self::Column;
    const BUSINESS_NUMBER: Self::Column;
    /// The column of an enterprise field (see `enterprise_entity!`).
    fn column(field: Field) -> Option<Self::Column>;
    fn into_company(model: Self::Model) -> company::Model;
    fn from_company(row: company::ActiveModel) -> Self::ActiveModel;
    /// The records below an enterprise.
    fn children(id: &ResourceId) -> Children;
}

impl EnterpriseEntity for company::Entity {
    const COLLECTION: Collection = Collection::Companies;
    const ID: company::Column = company::Column::Id;
    const BUSINESS_NUMBER: company::Column = company::Column::BusinessNumber;

    fn column(field: Field) -> Option<company::Column> {
        company::column(field)
    }

    fn into_company(model: company::Model) -> company::Model {
        model
    }

    fn from_company(row: company::ActiveModel) -> company::ActiveModel {
        row
    }

    /// A company's programs, and their participations.
    fn children(id: &ResourceId) -> Children {
        let programs = Query::select()
            .column(program::Column::Id)
            .from(program::Entity)
            .and_where(program::Column::HostCompanyId.eq(id.as_str()))
            .to_owned();
        Children {
            collection: Collection::Programs,
            rows: Rows::of::<super::Programs>(
                Condition::all().add(program::Column::HostCompanyId.eq(id.as_str())),
            ),
            descendants: vec![Rows::of::<super::Participations>(
                Condition::all().add(participation::Column::ProgramId.in_subquery(programs)),
            )],
        }
    }
}

impl EnterpriseEntity for sme::Entity {
    const COLLECTION: Collection = Collection::Smes;
    const ID: sme::Column = sme::Column::Id;
    const BUSINESS_NUMBER: sme::Column = sme::Column::BusinessNumber;

    fn column(field: Field) -> Option<sme::Column> {
        sme::column(field)
    }

    fn into_company(model: sme::Model) -> company::Model {
        enterprise_row!(model => company::Model)
    }

    fn from_company(row: company::ActiveModel) -> sme::ActiveModel {
        enterprise_row!(row => sme::ActiveModel)
    }

    /// An SME's participations.
    fn children(id: &ResourceId) -> Children {
        Children {
            collection: Collection::Participations,
            rows: Rows::of::<super::Participations>(
                Condition::all().add(participation::Column::SmeId.eq(id.as_str())),
            ),
            descendants: Vec::new(),
        }
    }
}

impl<E: EnterpriseEntity> Table for Enterprises<E> {
    type Entity = E;
    type Key = ResourceId;
    type Data = Enterprise;
    const COLLECTION: Collection = E::COLLECTION;

    fn column(field: Field) -> Option<Column<Self>> {
        E::column(field)
    }

    fn from_row(model: E::Model) -> Result<(ResourceId, Enterprise), StoreError> {
        let m = E::into_company(model);
        let revision = m.ksic_revision.unwrap_or(0);
        let data = Enterprise {
            display_name: valid(
                company::Column::DisplayName,
                DisplayName::parse(&m.display_name),
            )?,
            business_number: valid(
                company::Column::BusinessNumber,
                opt(&m.business_number, BusinessNumber::parse),
            )?,
            corporate_number: valid(
                company::Column::CorporateNumber,
                opt(&m.corporate_number, CorporateNumber::parse),
            )?,
            size: m.size.into(),
            ksic: valid(
                company::Column::KsicCode,
                opt(&m.ksic_code, |k| KsicCode::parse(k).map(|c| (c, revision))),
            )?,
            region: m.region.map(Into::into),
            employee_count: m.employee_count,
            annual_revenue_krw: valid(
                company::Column::AnnualRevenueKrw,
                m.annual_revenue_krw.map(Won::parse).transpose(),
            )?,
        };
        Ok((ResourceId::from_stored(m.id), data))
    }

    fn to_row(id: &ResourceId, d: &Enterprise) -> E::ActiveModel {
        E::from_company(company::ActiveModel {
            id: Set(id.to_string()),
            display_name: Set(d.display_name.to_string()),
            business_number: Set(d.business_number.map(|b| b.to_string())),
            corporate_number: Set(d.corporate_number.map(|c| c.to_string())),
            size: Set(d.size.into()),
            ksic_code: Set(d.ksic.as_ref().map(|(k, _)| k.to_string())),
            ksic_revision: Set(d.ksic.as_ref().map(|(_, r)| *r)),
            region: Set(d.region.map(Into::into)),
            employee_count: Set(d.employee_count),
            annual_revenue_krw: Set(d.annual_revenue_krw.map(Won::get)),
            ..Default::default()
        })
    }

    /// No other live enterprise of the table may hold the business number.
    async fn check_write(
        txn: &DatabaseTransaction,
        id: &ResourceId,
        data: &Enterprise,
        _before: Option<&Enterprise>,
    ) -> Result<(), StoreError> {
        let Some(number) = data.business_number else {
            return Ok(());
        };
        let holder = E::find()
            .select_only()
            .column(E::ID)
            .filter(
                live::<E>()
                    .add(E::BUSINESS_NUMBER.eq(number.to_string()))
                    .add(E::ID.ne(id.as_str())),
            )
            .into_tuple::<String>()
            .one(txn)
            .await?;
        match holder {
            Some(other) => Err(StoreError::BusinessNumberTaken {
                number: number.to_string(),
                holder: E::COLLECTION.name_of(&ResourceId::from_stored(other)),
            }),
            None => Ok(()),
        }
    }

    fn children(id: &ResourceId) -> Option<Children> {
        Some(E::children(id))
    }
}
