//! Rows decoded by position, for the hot reads (Get, BatchGet, List pages,
//! Export).
//!
//! sea-orm's derived model reader finds every column by name (a string
//! lookup per column per row) and reads a NULL as an error whose message is
//! formatted, then discarded. Here each column is read from the driver's
//! row (sqlx) at its index, NULL as `None`, with the same decoders sea-orm
//! itself calls, so the values are the same; the statements select the
//! entity's columns in its declared order (`Entity::find()` does), and
//! [`Positional::COLUMNS`] is checked against that order by a test.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveEnum, ConnectionTrait, DbErr, EntityTrait, QueryResult, QuerySelect, QueryTrait, Select,
};

/// A model read from a row whose columns are the entity's, in order.
pub trait Positional: Sized {
    /// The column names, in the order [`Positional::from_row`] reads them.
    const COLUMNS: &'static [&'static str];

    fn from_row(row: &QueryResult) -> Result<Self, DbErr>;
}

/// A value read from column `index` of a row.
pub trait Cell: Sized {
    fn cell(row: &QueryResult, index: usize) -> Result<Self, DbErr>;
}

fn decode_error(index: usize, e: impl std::fmt::Display) -> DbErr {
    DbErr::Type(format!("column {index}: {e}"))
}

/// Column `index` as `T`, by the backend's own decoder.
fn sqlx_cell<T>(row: &QueryResult, index: usize) -> Result<T, DbErr>
where
    T: for<'r> sea_orm::sqlx::Decode<'r, sea_orm::sqlx::Postgres>
        + sea_orm::sqlx::Type<sea_orm::sqlx::Postgres>
        + for<'r> sea_orm::sqlx::Decode<'r, sea_orm::sqlx::MySql>
        + sea_orm::sqlx::Type<sea_orm::sqlx::MySql>
        + for<'r> sea_orm::sqlx::Decode<'r, sea_orm::sqlx::Sqlite>
        + sea_orm::sqlx::Type<sea_orm::sqlx::Sqlite>,
{
    use sea_orm::sqlx::Row;
    // Unchecked: the columns' types are the schema's, which the entity
    // declares (the test below reads every one both ways); the check
    // compares type names on every cell.
    let got = if let Some(r) = row.try_as_pg_row() {
        r.try_get_unchecked(index)
    } else if let Some(r) = row.try_as_mysql_row() {
        r.try_get_unchecked(index)
    } else if let Some(r) = row.try_as_sqlite_row() {
        r.try_get_unchecked(index)
    } else {
        return Err(DbErr::Type("a row of no supported database".to_owned()));
    };
    got.map_err(|e| decode_error(index, e))
}

macro_rules! sqlx_cells {
    ($($t:ty),+ $(,)?) => {$(
        impl Cell for $t {
            fn cell(row: &QueryResult, index: usize) -> Result<Self, DbErr> {
                sqlx_cell(row, index)
            }
        }
    )+};
}

sqlx_cells!(
    String,
    Option<String>,
    i32,
    Option<i32>,
    i64,
    Option<i64>,
    bool,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    NaiveDate,
    Option<NaiveDate>,
);

/// An enum stored as text: its text, then the variant.
pub(super) fn enum_cell<E: ActiveEnum<Value = String>>(
    row: &QueryResult,
    index: usize,
) -> Result<E, DbErr> {
    let text: String = sqlx_cell(row, index)?;
    E::try_from_value(&text)
}

/// An optional enum stored as text.
pub(super) fn optional_enum_cell<E: ActiveEnum<Value = String>>(
    row: &QueryResult,
    index: usize,
) -> Result<Option<E>, DbErr> {
    let text: Option<String> = sqlx_cell(row, index)?;
    text.map(|t| E::try_from_value(&t)).transpose()
}

/// Reads a row's columns one after another.
pub(super) struct Columns<'a> {
    row: &'a QueryResult,
    next: usize,
}

impl<'a> Columns<'a> {
    pub(super) fn of(row: &'a QueryResult) -> Self {
        Self { row, next: 0 }
    }

    /// The next column's value.
    pub(super) fn take<T: Cell>(&mut self) -> Result<T, DbErr> {
        let index = self.next;
        self.next += 1;
        T::cell(self.row, index)
    }
}

/// Decodes `rows`, each of whose columns are `M`'s in order.
pub(crate) fn decode_all<M: Positional>(rows: &[QueryResult]) -> Result<Vec<M>, DbErr> {
    rows.iter().map(M::from_row).collect()
}

/// Every row `select` finds, decoded by position.
pub(crate) async fn all<E>(
    db: &impl ConnectionTrait,
    select: Select<E>,
) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: Positional,
{
    let rows = db.query_all(&select.into_query()).await?;
    decode_all(&rows)
}

/// The first row `select` finds, decoded by position.
pub(crate) async fn one<E>(
    db: &impl ConnectionTrait,
    select: Select<E>,
) -> Result<Option<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: Positional,
{
    let row = db.query_one(&select.limit(1).into_query()).await?;
    row.as_ref().map(E::Model::from_row).transpose()
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};
    use sea_orm::{
        ColumnTrait, Database, DatabaseConnection, EntityTrait, IntoActiveModel, Iterable,
        QueryFilter, QueryOrder,
    };
    use sea_orm_migration::MigratorTrait;

    use super::super::value::{EnterpriseSize, ProgramKind, ProgramState, Region};
    use super::super::{participation, program, sme};
    use super::*;

    /// The columns a model reads are the entity's, in the order
    /// `Entity::find()` selects them.
    #[test]
    fn columns_are_read_in_the_entitys_order() {
        fn names<E: EntityTrait>() -> Vec<String> {
            use sea_orm::IdenStatic;
            E::Column::iter().map(|c| c.as_str().to_owned()).collect()
        }
        assert_eq!(names::<sme::Entity>(), sme::Model::COLUMNS);
        assert_eq!(
            names::<super::super::company::Entity>(),
            super::super::company::Model::COLUMNS
        );
        assert_eq!(names::<program::Entity>(), program::Model::COLUMNS);
        assert_eq!(
            names::<participation::Entity>(),
            participation::Model::COLUMNS
        );
    }

    fn time(seconds: i64) -> chrono::DateTime<Utc> {
        Utc.timestamp_opt(seconds, 123_456_000)
            .single()
            .unwrap_or_default()
    }

    fn smes() -> Vec<sme::Model> {
        let bare = sme::Model {
            id: "a-bare".into(),
            display_name: "x".into(),
            business_number: None,
            corporate_number: None,
            size: EnterpriseSize::Micro,
            ksic_code: None,
            ksic_revision: None,
            region: None,
            employee_count: None,
            annual_revenue_krw: None,
            create_time: time(0),
            update_time: time(0),
            delete_time: None,
            revision: 1,
            demo: false,
        };
        let full = sme::Model {
            id: "b-full".into(),
            display_name: "대원정밀 (주) — 부산광역시 강서구 녹산산업중로 ".repeat(4),
            business_number: Some("123-45-67890".into()),
            corporate_number: Some("110111-1234567".into()),
            size: EnterpriseSize::Medium,
            ksic_code: Some("C29299".into()),
            ksic_revision: Some(i32::MAX),
            region: Some(Region::Busan),
            employee_count: Some(i32::MAX),
            annual_revenue_krw: Some(i64::MAX),
            create_time: time(1_700_000_000),
            update_time: time(2_000_000_000),
            delete_time: Some(time(2_100_000_000)),
            revision: i64::MAX,
            demo: true,
        };
        vec![bare, full]
    }

    fn programs() -> Vec<program::Model> {
        let bare = program::Model {
            id: "a-bare".into(),
            display_name: "p".into(),
            description: String::new(),
            host_company_id: "a-bare".into(),
            kind: ProgramKind::SmartFactory,
            region: None,
            state: ProgramState::Planned,
            start_date: None,
            end_date: None,
            budget_krw: None,
            co_hosts: None,
            funders: None,
            create_time: time(0),
            update_time: time(0),
            delete_time: None,
            revision: 1,
            demo: false,
        };
        let full = program::Model {
            id: "b-full".into(),
            display_name: "스마트공장 구축 지원 사업".into(),
            description: "동반성장 — 협력사 생산성 향상\n둘째 줄".repeat(50),
            host_company_id: "b-full".into(),
            kind: ProgramKind::EsgSupplyChain,
            region: Some(Region::Gyeonggi),
            state: ProgramState::Completed,
            start_date: NaiveDate::from_ymd_opt(1, 1, 1),
            end_date: NaiveDate::from_ymd_opt(9999, 12, 31),
            budget_krw: Some(i64::MAX),
            co_hosts: Some("[\"companies/lg\"]".into()),
            funders: Some("[]".into()),
            create_time: time(1_700_000_000),
            update_time: time(1_700_000_001),
            delete_time: Some(time(1_700_000_002)),
            revision: i64::MAX,
            demo: true,
        };
        vec![bare, full]
    }

    fn participations() -> Vec<participation::Model> {
        let bare = participation::Model {
            program_id: "a-bare".into(),
            id: "1".into(),
            sme_id: "a-bare".into(),
            support_amount_krw: None,
            joined_date: None,
            outcomes: "[]".into(),
            create_time: time(0),
            update_time: time(0),
            delete_time: None,
            revision: 1,
            demo: false,
        };
        let full = participation::Model {
            program_id: "b-full".into(),
            id: "참여-2".into(),
            sme_id: "b-full".into(),
            support_amount_krw: Some(i64::MAX),
            joined_date: NaiveDate::from_ymd_opt(2026, 2, 28),
            outcomes: "[{\"metric\":\"불량률\",\"baseline\":1.5}]".into(),
            create_time: time(1_700_000_000),
            update_time: time(1_700_000_000),
            delete_time: Some(time(1_800_000_000)),
            revision: i64::MAX,
            demo: true,
        };
        vec![bare, full]
    }

    /// Inserts `models`, then reads them back with sea-orm's model reader
    /// and by position: the same values, field for field.
    async fn same_both_ways<E>(db: &DatabaseConnection, models: Vec<E::Model>, order: E::Column)
    where
        E: EntityTrait,
        E::Model: Positional + IntoActiveModel<E::ActiveModel> + PartialEq + std::fmt::Debug,
    {
        E::insert_many(models.into_iter().map(IntoActiveModel::into_active_model))
            .exec_without_returning(db)
            .await
            .expect("insert");
        let by_name = E::find()
            .order_by_asc(order)
            .all(db)
            .await
            .expect("by name");
        let by_position = all(db, E::find().order_by_asc(order))
            .await
            .expect("by position");
        assert_eq!(by_name.len(), 2);
        assert_eq!(by_position, by_name);
        let first = one(db, E::find().filter(order.eq("b-full")))
            .await
            .expect("one");
        assert_eq!(first.as_ref(), by_name.get(1));
    }

    async fn check(url: &str) {
        let db = Database::connect(url).await.expect("connect");
        migration::Migrator::up(&db, None).await.expect("migrate");
        let companies = smes()
            .into_iter()
            .map(|m| super::super::enterprise_row!(m => super::super::company::Model))
            .collect();
        same_both_ways::<super::super::company::Entity>(
            &db,
            companies,
            super::super::company::Column::Id,
        )
        .await;
        same_both_ways::<sme::Entity>(&db, smes(), sme::Column::Id).await;
        same_both_ways::<program::Entity>(&db, programs(), program::Column::Id).await;
        same_both_ways::<participation::Entity>(
            &db,
            participations(),
            participation::Column::ProgramId,
        )
        .await;
        let _ = db.close().await;
    }

    /// Every backend: SQLite always, PostgreSQL and MariaDB/MySQL when the
    /// test URLs are set (a database of the test's own, dropped after).
    #[tokio::test]
    async fn positional_rows_equal_sea_orms_on_every_backend() {
        let dir = tempfile::tempdir().expect("temp dir");
        check(&format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("rows.db").display()
        ))
        .await;
        for var in [
            "PARTNERSHIP_TEST_POSTGRES_URL",
            "PARTNERSHIP_TEST_MYSQL_URL",
        ] {
            let Ok(admin_url) = std::env::var(var) else {
                eprintln!("{var} is not set: positional rows checked on SQLite only");
                continue;
            };
            let name = format!("partnership_rows_{}", uuid::Uuid::new_v4().simple());
            let base = admin_url
                .rsplit_once('/')
                .map_or(admin_url.as_str(), |(b, _)| b);
            let admin = Database::connect(&admin_url).await.expect("connect admin");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create database");
            check(&format!("{base}/{name}")).await;
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE {name}"))
                .await;
            let _ = admin.close().await;
        }
    }
}
