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
