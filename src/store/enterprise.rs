//! Companies and SMEs: two tables of the same shape, one implementation.
//! Rows of both pass through `company::Model`.

use sea_orm::sea_query::{ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseTransaction, EntityTrait, IntoActiveModel,
    QueryFilter, QuerySelect,
};

use super::entity::{company, enterprise_row, participation, program, sme};
use super::table::{Children, Table, col, live};
use super::{StoreError, Stored};
use crate::domain::{
    BusinessNumber, Collection, CorporateNumber, DisplayName, Enterprise, EnterpriseSize, KsicCode,
    Region, ResourceId, Won,
};

/// The `companies` table.
pub struct Companies;
/// The `smes` table.
pub struct Smes;

fn decode(collection: Collection, m: company::Model) -> Result<Stored<Enterprise>, StoreError> {
    let data = Enterprise {
        display_name: DisplayName::parse(&m.display_name)
            .map_err(|e| StoreError::corrupt("display_name", e))?,
        business_number: m
            .business_number
            .as_deref()
            .map(BusinessNumber::parse)
            .transpose()
            .map_err(|e| StoreError::corrupt("business_number", e))?,
        corporate_number: m
            .corporate_number
            .as_deref()
            .map(CorporateNumber::parse)
            .transpose()
            .map_err(|e| StoreError::corrupt("corporate_number", e))?,
        size: EnterpriseSize::from_stored(&m.size)
            .ok_or_else(|| StoreError::corrupt("size", &m.size))?,
        ksic: m
            .ksic_code
            .as_deref()
            .map(|k| KsicCode::parse(k).map(|code| (code, m.ksic_revision.unwrap_or(0))))
            .transpose()
            .map_err(|e| StoreError::corrupt("ksic_code", e))?,
        region: m
            .region
            .as_deref()
            .map(|r| Region::from_stored(r).ok_or_else(|| StoreError::corrupt("region", r)))
            .transpose()?,
        employee_count: m.employee_count,
        annual_revenue_krw: m
            .annual_revenue_krw
            .map(Won::parse)
            .transpose()
            .map_err(|e| StoreError::corrupt("annual_revenue_krw", e))?,
    };
    Ok(Stored {
        name: collection.name_of(&ResourceId::from_stored(m.id)),
        data,
        create_time: m.create_time,
        update_time: m.update_time,
        delete_time: m.delete_time,
        revision: m.revision,
        demo: m.demo,
    })
}

fn encode(id: &ResourceId, s: &Stored<Enterprise>) -> company::Model {
    let d = &s.data;
    company::Model {
        id: id.to_string(),
        display_name: d.display_name.to_string(),
        business_number: d.business_number.map(|b| b.to_string()),
        corporate_number: d.corporate_number.map(|c| c.to_string()),
        size: d.size.as_str().to_owned(),
        ksic_code: d.ksic.as_ref().map(|(k, _)| k.to_string()),
        ksic_revision: d.ksic.as_ref().map(|(_, r)| *r),
        region: d.region.map(|r| r.as_str().to_owned()),
        employee_count: d.employee_count,
        annual_revenue_krw: d.annual_revenue_krw.map(Won::get),
        create_time: s.create_time,
        update_time: s.update_time,
        delete_time: s.delete_time,
        revision: s.revision,
        demo: s.demo,
    }
}

fn id_is(id: &ResourceId) -> Condition {
    Condition::all().add(col("id").eq(id.as_str()))
}

/// A live enterprise of table `E` other than `id` may not hold `data`'s
/// business number.
async fn check_business_number<E: EntityTrait>(
    txn: &DatabaseTransaction,
    collection: Collection,
    id: &ResourceId,
    data: &Enterprise,
) -> Result<(), StoreError>
where
    E::Model: Send + Sync,
{
    let Some(number) = data.business_number else {
        return Ok(());
    };
    let holder = E::find()
        .select_only()
        .column_as(col("id"), "id")
        .filter(
            live()
                .add(col("business_number").eq(number.to_string()))
                .add(col("id").ne(id.as_str())),
        )
        .into_tuple::<String>()
        .one(txn)
        .await?;
    match holder {
        Some(other) => Err(StoreError::BusinessNumberTaken {
            number: number.to_string(),
            holder: collection.name_of(&ResourceId::from_stored(other)),
        }),
        None => Ok(()),
    }
}

impl Table for Companies {
    type Entity = company::Entity;
    type Key = ResourceId;
    type Data = Enterprise;
    const COLLECTION: Collection = Collection::Companies;
    const TABLE: &'static str = "companies";
    const KEY_COLUMNS: &'static [&'static str] = &["id"];

    fn name(key: &ResourceId) -> String {
        Self::COLLECTION.name_of(key)
    }

    fn key_condition(key: &ResourceId) -> Condition {
        id_is(key)
    }

    fn from_row(m: company::Model) -> Result<Stored<Enterprise>, StoreError> {
        decode(Self::COLLECTION, m)
    }

    fn to_row(key: &ResourceId, s: &Stored<Enterprise>) -> company::ActiveModel {
        encode(key, s).into_active_model().reset_all()
    }

    async fn check_write(
        txn: &DatabaseTransaction,
        key: &ResourceId,
        data: &Enterprise,
        _before: Option<&Enterprise>,
    ) -> Result<(), StoreError> {
        check_business_number::<Self::Entity>(txn, Self::COLLECTION, key, data).await
    }

    /// A company's programs, and their participations.
    fn children(key: &ResourceId) -> Option<Children> {
        let hosted = Condition::all().add(program::Column::HostCompanyId.eq(key.as_str()));
        let programs = Query::select()
            .column(program::Column::Id)
            .from(program::Entity)
            .and_where(program::Column::HostCompanyId.eq(key.as_str()))
            .to_owned();
        Some(Children {
            collection: Collection::Programs,
            table: "programs",
            condition: hosted,
            descendants: vec![(
                "participations",
                Condition::all().add(participation::Column::ProgramId.in_subquery(programs)),
            )],
        })
    }
}

impl Table for Smes {
    type Entity = sme::Entity;
    type Key = ResourceId;
    type Data = Enterprise;
    const COLLECTION: Collection = Collection::Smes;
    const TABLE: &'static str = "smes";
    const KEY_COLUMNS: &'static [&'static str] = &["id"];

    fn name(key: &ResourceId) -> String {
        Self::COLLECTION.name_of(key)
    }

    fn key_condition(key: &ResourceId) -> Condition {
        id_is(key)
    }

    fn from_row(m: sme::Model) -> Result<Stored<Enterprise>, StoreError> {
        decode(Self::COLLECTION, enterprise_row!(m => company::Model))
    }

    fn to_row(key: &ResourceId, s: &Stored<Enterprise>) -> sme::ActiveModel {
        enterprise_row!(encode(key, s) => sme::Model)
            .into_active_model()
            .reset_all()
    }

    async fn check_write(
        txn: &DatabaseTransaction,
        key: &ResourceId,
        data: &Enterprise,
        _before: Option<&Enterprise>,
    ) -> Result<(), StoreError> {
        check_business_number::<Self::Entity>(txn, Self::COLLECTION, key, data).await
    }

    /// An SME's participations.
    fn children(key: &ResourceId) -> Option<Children> {
        Some(Children {
            collection: Collection::Participations,
            table: "participations",
            condition: Condition::all().add(participation::Column::SmeId.eq(key.as_str())),
            descendants: Vec::new(),
        })
    }
}
