//! Companies and SMEs: two tables of the same shape, one implementation.

use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
};

use super::entity::{company, participation, program, sme};
use super::lifecycle::{cascade_delete, col, count_live, list_page, live, write_delete_time};
use super::request_id::{Created, RequestKey, record};
use super::{Page, PageQuery, Rejection, RejectionKind, Store, StoreError, Stored, now, stored_id};
use crate::domain::{
    BusinessNumber, Collection, CorporateNumber, Cursor, DisplayName, Enterprise, EnterpriseClass,
    EnterpriseSize, KsicCode, Region, ResourceId, Violations, Won,
};

/// A row of either enterprise table.
#[derive(Debug, Clone)]
pub struct EnterpriseRow {
    pub id: String,
    pub display_name: String,
    pub business_number: Option<String>,
    pub corporate_number: Option<String>,
    pub size: String,
    pub ksic_code: Option<String>,
    pub ksic_revision: Option<i32>,
    pub region: Option<String>,
    pub employee_count: Option<i32>,
    pub annual_revenue_krw: Option<i64>,
    pub create_time: chrono::DateTime<chrono::Utc>,
    pub update_time: chrono::DateTime<chrono::Utc>,
    pub delete_time: Option<chrono::DateTime<chrono::Utc>>,
    pub revision: i64,
    pub demo: bool,
}

/// A table of enterprises: `companies` or `smes`.
pub trait EnterpriseTable: EntityTrait
where
    Self::Model: Send + Sync,
    Self::ActiveModel: Send,
{
    const COLLECTION: Collection;
    const CLASS: EnterpriseClass;
    const TABLE: &'static str;
    /// Field of the create request that carries the id, e.g. `company_id`.
    const ID_FIELD: &'static str;
    fn into_row(model: Self::Model) -> EnterpriseRow;
    fn active(row: EnterpriseRow) -> Self::ActiveModel;
}

macro_rules! enterprise_table {
    ($module:ident, $collection:expr, $class:expr, $table:literal, $id_field:literal) => {
        impl EnterpriseTable for $module::Entity {
            const COLLECTION: Collection = $collection;
            const CLASS: EnterpriseClass = $class;
            const TABLE: &'static str = $table;
            const ID_FIELD: &'static str = $id_field;

            fn into_row(m: $module::Model) -> EnterpriseRow {
                EnterpriseRow {
                    id: m.id,
                    display_name: m.display_name,
                    business_number: m.business_number,
                    corporate_number: m.corporate_number,
                    size: m.size,
                    ksic_code: m.ksic_code,
                    ksic_revision: m.ksic_revision,
                    region: m.region,
                    employee_count: m.employee_count,
                    annual_revenue_krw: m.annual_revenue_krw,
                    create_time: m.create_time,
                    update_time: m.update_time,
                    delete_time: m.delete_time,
                    revision: m.revision,
                    demo: m.demo,
                }
            }

            fn active(r: EnterpriseRow) -> $module::ActiveModel {
                $module::ActiveModel {
                    id: Set(r.id),
                    display_name: Set(r.display_name),
                    business_number: Set(r.business_number),
                    corporate_number: Set(r.corporate_number),
                    size: Set(r.size),
                    ksic_code: Set(r.ksic_code),
                    ksic_revision: Set(r.ksic_revision),
                    region: Set(r.region),
                    employee_count: Set(r.employee_count),
                    annual_revenue_krw: Set(r.annual_revenue_krw),
                    create_time: Set(r.create_time),
                    update_time: Set(r.update_time),
                    delete_time: Set(r.delete_time),
                    revision: Set(r.revision),
                    demo: Set(r.demo),
                }
            }
        }
    };
}

/// The `companies` table.
pub type Companies = company::Entity;
/// The `smes` table.
pub type Smes = sme::Entity;

enterprise_table!(
    company,
    Collection::Companies,
    EnterpriseClass::Company,
    "companies",
    "company_id"
);
enterprise_table!(
    sme,
    Collection::Smes,
    EnterpriseClass::Sme,
    "smes",
    "sme_id"
);

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Internal(format!("stored {what} {value:?} is not valid"))
}

fn to_stored<E: EnterpriseTable>(row: EnterpriseRow) -> Result<Stored<Enterprise>, StoreError>
where
    E::Model: Send + Sync,
    E::ActiveModel: Send,
{
    let data = Enterprise {
        display_name: DisplayName::parse(&row.display_name)
            .map_err(|_| corrupt("display_name", &row.display_name))?,
        business_number: row
            .business_number
            .as_deref()
            .map(|b| BusinessNumber::parse(b).map_err(|_| corrupt("business_number", b)))
            .transpose()?,
        corporate_number: row
            .corporate_number
            .as_deref()
            .map(|c| CorporateNumber::parse(c).map_err(|_| corrupt("corporate_number", c)))
            .transpose()?,
        size: EnterpriseSize::from_stored(&row.size).ok_or_else(|| corrupt("size", &row.size))?,
        ksic: row
            .ksic_code
            .as_deref()
            .map(|k| {
                KsicCode::parse(k)
                    .map(|code| (code, row.ksic_revision.unwrap_or(0)))
                    .map_err(|_| corrupt("ksic_code", k))
            })
            .transpose()?,
        region: row
            .region
            .as_deref()
            .map(|r| Region::from_stored(r).ok_or_else(|| corrupt("region", r)))
            .transpose()?,
        employee_count: row.employee_count,
        annual_revenue_krw: row
            .annual_revenue_krw
            .map(|w| Won::parse(w).map_err(|_| corrupt("annual_revenue_krw", &w.to_string())))
            .transpose()?,
    };
    Ok(Stored {
        name: E::COLLECTION.name_of(&stored_id(row.id)),
        data,
        create_time: row.create_time,
        update_time: row.update_time,
        delete_time: row.delete_time,
        revision: row.revision,
        demo: row.demo,
    })
}

fn to_row(id: &ResourceId, data: &Enterprise, meta: &Stored<()>) -> EnterpriseRow {
    EnterpriseRow {
        id: id.to_string(),
        display_name: data.display_name.to_string(),
        business_number: data.business_number.map(|b| b.to_string()),
        corporate_number: data.corporate_number.map(|c| c.to_string()),
        size: data.size.as_str().to_owned(),
        ksic_code: data.ksic.as_ref().map(|(k, _)| k.to_string()),
        ksic_revision: data.ksic.as_ref().map(|(_, r)| *r),
        region: data.region.map(|r| r.as_str().to_owned()),
        employee_count: data.employee_count,
        annual_revenue_krw: data.annual_revenue_krw.map(Won::get),
        create_time: meta.create_time,
        update_time: meta.update_time,
        delete_time: meta.delete_time,
        revision: meta.revision,
        demo: meta.demo,
    }
}

fn id_is(id: &ResourceId) -> Condition {
    Condition::all().add(col("id").eq(id.as_str()))
}

async fn find<E: EnterpriseTable>(
    db: &impl ConnectionTrait,
    id: &ResourceId,
) -> Result<Option<Stored<Enterprise>>, StoreError>
where
    E::Model: Send + Sync,
    E::ActiveModel: Send,
{
    E::find()
        .filter(id_is(id))
        .one(db)
        .await?
        .map(|m| to_stored::<E>(E::into_row(m)))
        .transpose()
}

async fn find_existing<E: EnterpriseTable>(
    db: &impl ConnectionTrait,
    id: &ResourceId,
) -> Result<Stored<Enterprise>, StoreError>
where
    E::Model: Send + Sync,
    E::ActiveModel: Send,
{
    find::<E>(db, id)
        .await?
        .ok_or_else(|| Rejection::not_found(&E::COLLECTION.name_of(id)).into())
}

/// Fails with ALREADY_EXISTS when another live enterprise of the table has
/// `data`'s business number.
async fn check_business_number<E: EnterpriseTable>(
    db: &impl ConnectionTrait,
    data: &Enterprise,
    except: Option<&ResourceId>,
    field: &str,
) -> Result<(), StoreError>
where
    E::Model: Send + Sync,
    E::ActiveModel: Send,
{
    let Some(bn) = data.business_number else {
        return Ok(());
    };
    let mut cond = live().add(col("business_number").eq(bn.to_string()));
    if let Some(id) = except {
        cond = cond.add(col("id").ne(id.as_str()));
    }
    if let Some(other) = E::find().filter(cond).one(db).await? {
        let other = E::into_row(other);
        let name = E::COLLECTION.name_of(&stored_id(other.id));
        return Err(Rejection::new(
            RejectionKind::AlreadyExists,
            "BUSINESS_NUMBER_TAKEN",
            format!("business number {bn} already belongs to live {name}"),
        )
        .field(field)
        .resource(name)
        .into());
    }
    Ok(())
}

/// Maps a unique violation that slipped past the checks (a race) to the
/// right ALREADY_EXISTS.
fn on_unique<E: EnterpriseTable>(err: sea_orm::DbErr, id: &ResourceId) -> StoreError
where
    E::Model: Send + Sync,
    E::ActiveModel: Send,
{
    match StoreError::unique_violation(&err) {
        Some(msg) if msg.contains("business_number") => Rejection::new(
            RejectionKind::AlreadyExists,
            "BUSINESS_NUMBER_TAKEN",
            "the business number already belongs to a live record",
        )
        .field(format!("{}.business_number", E::COLLECTION.singular()))
        .into(),
        Some(_) => already_exists::<E>(id),
        None => err.into(),
    }
}

fn already_exists<E: EnterpriseTable>(id: &ResourceId) -> StoreError
where
    E::Model: Send + Sync,
    E::ActiveModel: Send,
{
    let name = E::COLLECTION.name_of(id);
    Rejection::new(
        RejectionKind::AlreadyExists,
        "RESOURCE_ALREADY_EXISTS",
        format!("{name} already exists"),
    )
    .field(E::ID_FIELD)
    .resource(name)
    .into()
}

impl Store {
    pub async fn create_enterprise<E: EnterpriseTable>(
        &self,
        id: Option<ResourceId>,
        data: Enterprise,
        demo: bool,
        key: Option<&RequestKey>,
        encode: impl Fn(&Stored<Enterprise>) -> Vec<u8>,
    ) -> Result<Created<Enterprise>, StoreError>
    where
        E::Model: Send + Sync,
        E::ActiveModel: Send,
    {
        let id = id.unwrap_or_else(|| ResourceId::generate(E::COLLECTION));
        self.idempotent(key, || async {
            let txn = self.begin_write().await?;
            if find::<E>(&txn, &id).await?.is_some() {
                return Err(already_exists::<E>(&id));
            }
            let field = format!("{}.business_number", E::COLLECTION.singular());
            check_business_number::<E>(&txn, &data, None, &field).await?;
            let t = now();
            let stored = Stored::new(E::COLLECTION.name_of(&id), data, t, demo);
            if let Some(key) = key {
                record(&txn, key, encode(&stored), t).await?;
            }
            let row = to_row(&id, &stored.data, &stored.meta());
            E::insert(E::active(row))
                .exec_without_returning(&txn)
                .await
                .map_err(|e| on_unique::<E>(e, &id))?;
            txn.commit().await?;
            Ok(stored)
        })
        .await
    }

    pub async fn get_enterprise<E: EnterpriseTable>(
        &self,
        id: &ResourceId,
    ) -> Result<Stored<Enterprise>, StoreError>
    where
        E::Model: Send + Sync,
        E::ActiveModel: Send,
    {
        find_existing::<E>(&self.read, id).await
    }

    pub async fn list_enterprises<E: EnterpriseTable>(
        &self,
        page: &PageQuery,
    ) -> Result<Page<Enterprise>, StoreError>
    where
        E::Model: Send + Sync,
        E::ActiveModel: Send,
    {
        let (rows, total) = list_page::<E>(&self.read, Condition::all(), page, &["id"]).await?;
        let mut items = rows
            .into_iter()
            .map(|m| to_stored::<E>(E::into_row(m)))
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

    /// Applies `patch` to the current enterprise and stores the result.
    pub async fn update_enterprise<E: EnterpriseTable>(
        &self,
        id: &ResourceId,
        etag: Option<&str>,
        patch: impl Fn(&Stored<Enterprise>) -> Result<Enterprise, Violations>,
    ) -> Result<Stored<Enterprise>, StoreError>
    where
        E::Model: Send + Sync,
        E::ActiveModel: Send,
    {
        let patch = &patch;
        self.write_retrying(etag.is_some(), |txn| async move {
            let current = find_existing::<E>(&txn, id).await?;
            current.check_etag(etag)?;
            reject_deleted(&current)?;
            let data = patch(&current)?;
            let field = format!("{}.business_number", E::COLLECTION.singular());
            check_business_number::<E>(&txn, &data, Some(id), &field).await?;
            let next = current.revised(data, now());
            let row = to_row(id, &next.data, &next.meta());
            let res = E::update_many()
                .set(E::active(row))
                .filter(id_is(id).add(col("revision").eq(current.revision)))
                .exec(&txn)
                .await
                .map_err(|e| on_unique::<E>(e, id))?;
            let done = (res.rows_affected == 1).then_some(next);
            Ok((txn, done))
        })
        .await
    }

    /// Soft-deletes an enterprise; with `force` its live children too.
    pub async fn delete_enterprise<E: EnterpriseTable>(
        &self,
        id: &ResourceId,
        etag: Option<&str>,
        force: bool,
    ) -> Result<Stored<Enterprise>, StoreError>
    where
        E::Model: Send + Sync,
        E::ActiveModel: Send,
    {
        self.write_retrying(etag.is_some(), |txn| async move {
            let current = find_existing::<E>(&txn, id).await?;
            current.check_etag(etag)?;
            current.check_deletable()?;
            let t = now();
            delete_children::<E>(&txn, id, force, &current.name, t).await?;
            let done = write_delete_time(&txn, E::TABLE, id_is(id), &current, Some(t), t).await?;
            Ok((txn, done))
        })
        .await
    }

    pub async fn undelete_enterprise<E: EnterpriseTable>(
        &self,
        id: &ResourceId,
        etag: Option<&str>,
    ) -> Result<Stored<Enterprise>, StoreError>
    where
        E::Model: Send + Sync,
        E::ActiveModel: Send,
    {
        self.write_retrying(etag.is_some(), |txn| async move {
            let current = find_existing::<E>(&txn, id).await?;
            current.check_etag(etag)?;
            current.check_undeletable()?;
            check_business_number::<E>(&txn, &current.data, Some(id), "name").await?;
            let t = now();
            let done = write_delete_time(&txn, E::TABLE, id_is(id), &current, None, t).await?;
            Ok((txn, done))
        })
        .await
    }
}

/// The children of an enterprise: a company's programs (and their
/// participations), an SME's participations.
async fn delete_children<E: EnterpriseTable>(
    txn: &DatabaseTransaction,
    id: &ResourceId,
    force: bool,
    name: &str,
    t: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError>
where
    E::Model: Send + Sync,
    E::ActiveModel: Send,
{
    let (children, what) = match E::CLASS {
        EnterpriseClass::Company => (
            count_live::<program::Entity>(
                txn,
                Condition::all().add(program::Column::HostCompanyId.eq(id.as_str())),
            )
            .await?,
            "programs",
        ),
        EnterpriseClass::Sme => (
            count_live::<participation::Entity>(
                txn,
                Condition::all().add(participation::Column::SmeId.eq(id.as_str())),
            )
            .await?,
            "participations",
        ),
    };
    if children == 0 {
        return Ok(());
    }
    if !force {
        return Err(Rejection::new(
            RejectionKind::FailedPrecondition,
            "HAS_LIVE_CHILDREN",
            format!("{name} has {children} live {what}; delete them first or set force"),
        )
        .field("force")
        .resource(name)
        .into());
    }
    match E::CLASS {
        EnterpriseClass::Company => {
            let programs = sea_orm::sea_query::Query::select()
                .column(program::Column::Id)
                .from(program::Entity)
                .and_where(program::Column::HostCompanyId.eq(id.as_str()))
                .to_owned();
            cascade_delete(
                txn,
                "participations",
                Condition::all().add(participation::Column::ProgramId.in_subquery(programs)),
                t,
            )
            .await?;
            cascade_delete(
                txn,
                "programs",
                Condition::all().add(program::Column::HostCompanyId.eq(id.as_str())),
                t,
            )
            .await?;
        }
        EnterpriseClass::Sme => {
            cascade_delete(
                txn,
                "participations",
                Condition::all().add(participation::Column::SmeId.eq(id.as_str())),
                t,
            )
            .await?;
        }
    }
    Ok(())
}

/// Updating a deleted resource is refused: undelete it first.
pub(super) fn reject_deleted<T>(current: &Stored<T>) -> Result<(), StoreError> {
    if current.delete_time.is_some() {
        return Err(Rejection::new(
            RejectionKind::FailedPrecondition,
            "RESOURCE_DELETED",
            format!("{} is deleted; undelete it first", current.name),
        )
        .resource(current.name.clone())
        .into());
    }
    Ok(())
}

/// Trims the extra row a page query fetched and returns the cursor of the
/// next page, if there is one.
pub(super) fn page_next<T>(
    items: &mut Vec<Stored<T>>,
    size: u64,
    keys: impl Fn(&Stored<T>) -> Vec<String>,
) -> Option<Cursor> {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if items.len() <= size {
        return None;
    }
    items.truncate(size);
    items.last().map(|last| Cursor {
        create_time_micros: last.create_time.timestamp_micros(),
        keys: keys(last),
    })
}
