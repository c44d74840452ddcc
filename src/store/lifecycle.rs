//! What every resource table shares: keyset pages, soft delete and undelete,
//! counting live children, and the retry of optimistic writes.

use std::future::Future;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::ExprTrait;
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{
    Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::{PageQuery, Rejection, Store, StoreError, Stored};
use crate::domain::Cursor;

/// How often an unconditional write is retried when another writer changed
/// the row between read and write.
const MAX_ATTEMPTS: usize = 8;

pub(super) fn col(name: &'static str) -> Expr {
    Expr::col(Alias::new(name))
}

pub(super) fn live() -> Condition {
    Condition::all().add(col("delete_time").is_null())
}

/// Rows strictly after `cursor` in the order (`create_time`, `keys`…).
fn after(cursor: &Cursor, keys: &[&'static str]) -> Result<Condition, StoreError> {
    let t = DateTime::<Utc>::from_timestamp_micros(cursor.create_time_micros)
        .ok_or_else(|| StoreError::Internal("page token time out of range".into()))?;
    if cursor.keys.len() != keys.len() {
        return Err(Rejection::new(
            super::RejectionKind::InvalidArgument,
            "INVALID_PAGE_TOKEN",
            "page_token does not belong to this collection",
        )
        .field("page_token")
        .into());
    }
    // Build from the innermost key outwards: k_n > v_n, then
    // k_i > v_i OR (k_i = v_i AND inner).
    let mut inner: Option<Condition> = None;
    for (key, value) in keys.iter().zip(&cursor.keys).rev() {
        let gt = Condition::all().add(col(key).gt(value.clone()));
        inner = Some(match inner {
            None => gt,
            Some(rest) => Condition::any()
                .add(gt)
                .add(Condition::all().add(col(key).eq(value.clone())).add(rest)),
        });
    }
    let mut cond = Condition::any().add(col("create_time").gt(t));
    let mut same_time = Condition::all().add(col("create_time").eq(t));
    if let Some(rest) = inner {
        same_time = same_time.add(rest);
    }
    cond = cond.add(same_time);
    Ok(cond)
}

/// One page of `E` rows matching `filter`, in list order, plus the number of
/// matching rows in all pages. Returns up to `size + 1` rows so the caller
/// can tell whether another page follows.
pub(super) async fn list_page<E: EntityTrait>(
    db: &impl ConnectionTrait,
    filter: Condition,
    page: &PageQuery,
    keys: &[&'static str],
) -> Result<(Vec<E::Model>, u64), StoreError>
where
    E::Model: Send + Sync,
{
    let mut filter = filter;
    if !page.show_deleted {
        filter = filter.add(live());
    }
    let total = E::find().filter(filter.clone()).count(db).await?;
    let mut select = E::find().filter(filter);
    if let Some(cursor) = &page.after {
        select = select.filter(after(cursor, keys)?);
    }
    select = select.order_by(col("create_time"), Order::Asc);
    for key in keys {
        select = select.order_by(col(key), Order::Asc);
    }
    let rows = select.limit(page.size + 1).all(db).await?;
    Ok((rows, total))
}

/// Sets (`Some`) or clears (`None`) the `delete_time` of `current`'s row,
/// matched by `key`, if it is still at `current`'s revision. Returns the
/// resource as now stored, or `None` when another writer got there first.
pub(super) async fn write_delete_time<T: Clone>(
    txn: &DatabaseTransaction,
    table: &'static str,
    key: Condition,
    current: &Stored<T>,
    delete_time: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<Stored<T>>, StoreError> {
    let written = set_deleted(txn, table, key, current.revision, delete_time, now).await?;
    Ok(written.then(|| Stored {
        delete_time,
        update_time: now,
        revision: current.revision + 1,
        ..current.clone()
    }))
}

impl<T> Stored<T> {
    /// Deleting a resource that is already deleted is NOT_FOUND (AIP-164).
    pub(super) fn check_deletable(&self) -> Result<(), StoreError> {
        if self.delete_time.is_some() {
            return Err(Rejection::not_found(&self.name)
                .reason(
                    "ALREADY_DELETED",
                    format!("{} is already deleted", self.name),
                )
                .into());
        }
        Ok(())
    }

    /// Undeleting a resource that is not deleted is ALREADY_EXISTS.
    pub(super) fn check_undeletable(&self) -> Result<(), StoreError> {
        if self.delete_time.is_none() {
            return Err(Rejection::new(
                super::RejectionKind::AlreadyExists,
                "NOT_DELETED",
                format!("{} is not deleted", self.name),
            )
            .field("name")
            .resource(self.name.clone())
            .into());
        }
        Ok(())
    }
}

async fn set_deleted(
    txn: &DatabaseTransaction,
    table: &'static str,
    key: Condition,
    revision: i64,
    delete_time: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let stmt = Query::update()
        .table(Alias::new(table))
        .value(Alias::new("delete_time"), delete_time)
        .value(Alias::new("update_time"), now)
        .value(Alias::new("revision"), col("revision").add(1))
        .cond_where(key.add(col("revision").eq(revision)))
        .to_owned();
    Ok(txn.execute(&stmt).await?.rows_affected() == 1)
}

/// Soft-deletes every live row of `table` matching `cond`.
pub(super) async fn cascade_delete(
    txn: &DatabaseTransaction,
    table: &'static str,
    cond: Condition,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let stmt = Query::update()
        .table(Alias::new(table))
        .value(Alias::new("delete_time"), now)
        .value(Alias::new("update_time"), now)
        .value(Alias::new("revision"), col("revision").add(1))
        .cond_where(cond.add(live()))
        .to_owned();
    Ok(txn.execute(&stmt).await?.rows_affected())
}

/// Number of live rows of `E` matching `cond`.
pub(super) async fn count_live<E: EntityTrait>(
    db: &impl ConnectionTrait,
    cond: Condition,
) -> Result<u64, StoreError>
where
    E::Model: Send + Sync,
{
    Ok(E::find().filter(cond.add(live())).count(db).await?)
}

impl Store {
    /// Runs `attempt` in write transactions until it commits. An attempt
    /// returns `None` when a concurrent writer changed the row it read; then
    /// the transaction is rolled back and, unless the caller pinned an etag
    /// (`conditional`), the attempt is repeated on fresh data.
    pub(super) async fn write_retrying<T, F, Fut>(
        &self,
        conditional: bool,
        mut attempt: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut(DatabaseTransaction) -> Fut,
        Fut: Future<Output = Result<(DatabaseTransaction, Option<T>), StoreError>>,
    {
        for _ in 0..MAX_ATTEMPTS {
            let txn = self.begin_write().await?;
            let (txn, outcome) = attempt(txn).await?;
            match outcome {
                Some(value) => {
                    txn.commit().await?;
                    return Ok(value);
                }
                None => {
                    txn.rollback().await?;
                    if conditional {
                        break;
                    }
                }
            }
        }
        Err(Rejection::aborted(
            "the resource was changed concurrently; read it again and retry".to_owned(),
        )
        .into())
    }
}
