//! The life cycle every resource table shares, written once: create (with
//! idempotency), get, keyset pages, update, soft delete with its cascade, and
//! undelete. A table says only what is its own through [`Table`]: how rows
//! map to domain types, what its records point to, and what hangs below it.

use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, IntoIden, Query, SimpleExpr};
use sea_orm::{
    Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, Iterable, ModelTrait,
    PrimaryKeyToColumn, QueryFilter, QuerySelect, Value,
};

use super::count::COUNTED;
use super::entity::{KeepRow, Kept, KeptRow, Resource, row};
use super::error::Reference;
use super::journal::{self, Change};
use super::outcome::Settled;
use super::request_id::{self, Created, CreatedMany, RequestKey};
use super::{Store, StoreError, Stored, now};
use crate::domain::{ChangeKind, Collection, Field, Literal, Order, ResourceId};

/// How often a write runs again after colliding with a concurrent writer.
const MAX_ATTEMPTS: usize = 5;

/// What a resource table has of its own.
pub trait Table: Send + Sync + 'static {
    type Entity: Resource;
    /// What identifies a record: its id, or its parent's id and its own.
    type Key: RecordKey;
    /// The validated resource.
    type Data: Clone + Send + Sync;

    const COLLECTION: Collection;

    /// The column a field of [`Self::COLLECTION`] is kept in; `None` for a
    /// traversal to another table (and for other collections' fields).
    fn column(field: Field) -> Option<Column<Self>>;

    /// The key and data of a row (the bookkeeping columns are read by
    /// [`Table`]'s shared code).
    fn from_row(model: Model<Self>) -> Result<(Self::Key, Self::Data), StoreError>;
    /// The row of `data` under `key`, without the bookkeeping columns.
    fn to_row(key: &Self::Key, data: &Self::Data) -> Active<Self>;

    /// Checks, inside the write's transaction, that `data` may be stored
    /// under `key`: the records it points to are live and its unique values
    /// are free. `before` is the data now stored, on an update.
    fn check_write(
        txn: &DatabaseTransaction,
        key: &Self::Key,
        data: &Self::Data,
        before: Option<&Self::Data>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The records below `key`: a delete without `force` is refused while
    /// any is live, a forced delete takes them with it.
    fn children(key: &Self::Key) -> Option<Children>;
}

pub(super) type Model<T> = <<T as Table>::Entity as EntityTrait>::Model;
type Active<T> = <<T as Table>::Entity as EntityTrait>::ActiveModel;
/// A column of a table.
pub type Column<T> = <<T as Table>::Entity as EntityTrait>::Column;

/// The key of a record: the values of its row's primary key.
pub trait RecordKey: Clone + Send + Sync {
    /// The values of the table's primary key columns, in their order.
    fn values(&self) -> Vec<&ResourceId>;
    /// The full resource name.
    fn name(&self, collection: Collection) -> String;
}

impl RecordKey for ResourceId {
    fn values(&self) -> Vec<&ResourceId> {
        vec![self]
    }
    fn name(&self, collection: Collection) -> String {
        collection.name_of(self)
    }
}

impl RecordKey for crate::domain::ParticipationName {
    fn values(&self) -> Vec<&ResourceId> {
        vec![&self.program, &self.participation]
    }
    fn name(&self, _: Collection) -> String {
        self.to_string()
    }
}

fn name_of<T: Table>(key: &T::Key) -> String {
    key.name(T::COLLECTION)
}

/// The primary key columns of `T`'s table, in page order after the order's
/// own keys.
pub(super) fn key_columns<T: Table>() -> Vec<Column<T>> {
    <T::Entity as EntityTrait>::PrimaryKey::iter()
        .map(PrimaryKeyToColumn::into_column)
        .collect()
}

/// The column that identifies a record among its siblings (`id`).
pub(super) fn id_column<T: Table>() -> Column<T> {
    let mut keys = key_columns::<T>();
    // Every resource table has a primary key; its last column is the id.
    match keys.pop() {
        Some(id) => id,
        None => unreachable!("{:?} has no primary key", T::COLLECTION),
    }
}

/// The row of `key`.
pub(super) fn key_condition<T: Table>(key: &T::Key) -> Condition {
    key_columns::<T>()
        .into_iter()
        .zip(key.values())
        .fold(Condition::all(), |c, (column, value)| {
            c.add(Expr::col(column).eq(value.as_str()))
        })
}

/// The values of `order`'s keys in a row, for the next page's cursor.
pub(super) fn order_values<T: Table>(
    model: &Model<T>,
    order: &Order,
) -> Result<Vec<Literal>, StoreError> {
    order
        .keys
        .iter()
        .map(|k| {
            let c = T::column(k.field)
                .ok_or_else(|| StoreError::corrupt("order_by", "orders by a traversal"))?;
            literal(model.get(c))
                .ok_or_else(|| StoreError::corrupt("order_by", "cannot order by it"))
        })
        .collect()
}

/// A column value as a cursor value.
fn literal(value: Value) -> Option<Literal> {
    Some(match value {
        Value::String(Some(s)) => Literal::Text(s),
        Value::BigInt(Some(n)) => Literal::Int(n),
        Value::Int(Some(n)) => Literal::Int(n.into()),
        Value::ChronoDate(Some(d)) => Literal::Date(d),
        Value::ChronoDateTimeUtc(Some(t)) => Literal::Time(t),
        Value::String(None)
        | Value::BigInt(None)
        | Value::Int(None)
        | Value::ChronoDate(None)
        | Value::ChronoDateTimeUtc(None) => Literal::Null,
        _ => return None,
    })
}

/// A row as a stored resource.
pub(super) fn decode<T: Table>(model: Model<T>) -> Result<(T::Key, Stored<T::Data>), StoreError> {
    let kept = model.kept();
    let (key, data) = T::from_row(model)?;
    let stored = Stored {
        name: name_of::<T>(&key),
        data,
        create_time: kept.create_time,
        update_time: kept.update_time,
        delete_time: kept.delete_time,
        revision: kept.revision,
        demo: kept.demo,
    };
    Ok((key, stored))
}

/// A stored resource as a row to write.
pub(super) fn encode<T: Table>(key: &T::Key, stored: &Stored<T::Data>) -> Active<T> {
    let mut row = T::to_row(key, &stored.data);
    row.keep(Kept {
        create_time: stored.create_time,
        update_time: stored.update_time,
        delete_time: stored.delete_time,
        revision: stored.revision,
        demo: stored.demo,
    });
    row
}

/// The records below a record.
pub struct Children {
    /// The direct children, which are counted.
    pub collection: Collection,
    pub rows: Rows,
    /// Deeper descendants, deleted first by a forced delete.
    pub descendants: Vec<Rows>,
}

/// The live rows of one resource table matching a condition, which a
/// forced delete of their parent soft-deletes (and journals) one by one.
pub struct Rows {
    condition: Condition,
    delete: DeleteRows,
    count: CountRows,
}

/// Soft-deletes (and journals) the live rows of one table matching a
/// condition, at a time.
type DeleteRows =
    for<'a> fn(&'a Tx, &'a Condition, DateTime<Utc>) -> BoxFuture<'a, Result<(), StoreError>>;
/// Counts the live rows of one table matching a condition.
type CountRows = for<'a> fn(&'a Tx, &'a Condition) -> BoxFuture<'a, Result<u64, StoreError>>;

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Rows {
    /// The rows of `T`'s table matching `condition`.
    pub fn of<T: Table>(condition: Condition) -> Self {
        Self {
            condition,
            delete: delete_rows::<T>,
            count: count_rows::<T>,
        }
    }
}

fn delete_rows<'a, T: Table>(
    tx: &'a Tx,
    condition: &'a Condition,
    t: DateTime<Utc>,
) -> BoxFuture<'a, Result<(), StoreError>> {
    Box::pin(cascade_delete::<T>(tx, condition, t))
}

fn count_rows<'a, T: Table>(
    tx: &'a Tx,
    condition: &'a Condition,
) -> BoxFuture<'a, Result<u64, StoreError>> {
    Box::pin(count_live::<T>(tx, condition))
}

/// The live rows of `E`.
pub(super) fn live<E: Resource>() -> Condition {
    Condition::all().add(Expr::col(E::DELETE_TIME).is_null())
}

/// Whether the record `id` of `E` exists (`None`), and if so when it was
/// deleted: `Some(None)` for a live one.
pub(super) async fn delete_time_of<E: Resource>(
    db: &impl ConnectionTrait,
    id: &ResourceId,
) -> Result<Option<Option<DateTime<Utc>>>, StoreError>
where
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<String>,
{
    Ok(E::find_by_id(id.as_str().to_owned())
        .select_only()
        .column(E::DELETE_TIME)
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(db)
        .await?)
}

/// The record `id` of `E`, which `reference` points to, must exist and be
/// live.
pub(super) async fn check_reference<E: Resource>(
    db: &impl ConnectionTrait,
    reference: Reference,
    name: String,
    id: &ResourceId,
) -> Result<(), StoreError>
where
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<String>,
{
    match delete_time_of::<E>(db, id).await? {
        None => Err(StoreError::ReferenceMissing { reference, name }),
        Some(Some(_)) => Err(StoreError::ReferenceDeleted { reference, name }),
        Some(None) => Ok(()),
    }
}

async fn find<T: Table>(
    db: &impl ConnectionTrait,
    key: &T::Key,
) -> Result<Option<Stored<T::Data>>, StoreError> {
    let row = row::one(db, T::Entity::find().filter(key_condition::<T>(key))).await?;
    Ok(row.map(decode::<T>).transpose()?.map(|(_, stored)| stored))
}

/// The record of `key`, locked for the rest of the transaction so that
/// concurrent writers of one row queue instead of colliding (SQLite needs no
/// lock: its writes are serialised by `BEGIN IMMEDIATE`).
async fn find_for_write<T: Table>(
    txn: &DatabaseTransaction,
    key: &T::Key,
    etag: Option<&str>,
) -> Result<Stored<T::Data>, StoreError> {
    let row = row::one(
        txn,
        T::Entity::find()
            .filter(key_condition::<T>(key))
            .lock_exclusive(),
    )
    .await?;
    let (_, current) = row
        .map(decode::<T>)
        .transpose()?
        .ok_or_else(|| StoreError::NotFound {
            name: name_of::<T>(key),
        })?;
    if let Some(given) = etag
        && given != current.etag()
    {
        return Err(StoreError::StaleRevision {
            name: current.name,
            given: given.to_owned(),
        });
    }
    Ok(current)
}

/// Writes `next` over the row of `key` that is at `current`'s revision.
async fn write_revision<T: Table>(
    txn: &DatabaseTransaction,
    key: &T::Key,
    current: &Stored<T::Data>,
    next: &Stored<T::Data>,
) -> Result<(), StoreError> {
    let res = T::Entity::update_many()
        .set(encode::<T>(key, next))
        .filter(
            key_condition::<T>(key)
                .add(Expr::col(<T::Entity as Resource>::REVISION).eq(current.revision)),
        )
        .exec(txn)
        .await?;
    if res.rows_affected == 1 {
        Ok(())
    } else {
        // The row is locked, so this means it changed under the lock: a bug,
        // not a race; never write blindly over it.
        Err(StoreError::corrupt(
            "write",
            format!("{} changed while locked", current.name),
        ))
    }
}

/// Soft-deletes every live row of `T` matching `condition`, one revision
/// each, journaling each.
async fn cascade_delete<T: Table>(
    tx: &Tx,
    condition: &Condition,
    t: DateTime<Utc>,
) -> Result<(), StoreError> {
    let rows = T::Entity::find()
        .filter(
            condition
                .clone()
                .add(Expr::col(<T::Entity as Resource>::DELETE_TIME).is_null()),
        )
        .lock_exclusive()
        .all(&**tx)
        .await?;
    for row in rows {
        let (key, current) = decode::<T>(row)?;
        let mut next = current.revised(current.data.clone(), t);
        next.delete_time = Some(t);
        write_revision::<T>(tx, &key, &current, &next).await?;
        tx.record(change::<T>(
            &key,
            ChangeKind::Deleted,
            Some(&current),
            &next,
        )?);
    }
    Ok(())
}

/// Number of live rows of `T` matching `condition`.
async fn count_live<T: Table>(tx: &Tx, condition: &Condition) -> Result<u64, StoreError> {
    let count: SimpleExpr = Expr::col(Asterisk).count();
    let stmt = Query::select()
        .expr_as(count, Alias::new(COUNTED))
        .from(T::Entity::default().into_iden())
        .cond_where(
            condition
                .clone()
                .add(Expr::col(<T::Entity as Resource>::DELETE_TIME).is_null()),
        )
        .to_owned();
    let row = tx.query_one(&stmt).await?;
    let n: i64 = match row {
        Some(row) => row.try_get("", COUNTED)?,
        None => 0,
    };
    Ok(<u64 as TryFrom<i64>>::try_from(n).unwrap_or(0))
}

/// The journal's entry for the change of the record of `key` from
/// `before` to `after`.
fn change<T: Table>(
    key: &T::Key,
    kind: ChangeKind,
    before: Option<&Stored<T::Data>>,
    after: &Stored<T::Data>,
) -> Result<Change, StoreError> {
    let json = |stored: &Stored<T::Data>| encode::<T>(key, stored).into_json();
    Ok(Change::new(
        T::COLLECTION,
        after.name.clone(),
        kind,
        before.map(json).transpose()?,
        json(after)?,
    ))
}

/// A write's transaction, and the changes it journals when it commits.
pub(super) struct Tx {
    txn: DatabaseTransaction,
    changes: Mutex<Vec<Change>>,
    request_id: Mutex<Option<String>>,
}

impl std::ops::Deref for Tx {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl Tx {
    /// Journals `change` when the write commits.
    pub(super) fn record(&self, change: Change) {
        if let Ok(mut changes) = self.changes.lock() {
            changes.push(change);
        }
    }

    /// The request whose `request_id` the changes are journaled under.
    fn request(&self, request: &RequestKey) {
        if let Ok(mut id) = self.request_id.lock() {
            *id = Some(request.request_id.to_string());
        }
    }
}

impl Store {
    /// Runs `attempt` in a write transaction and commits it. A collision
    /// with a concurrent writer (a unique index taken meanwhile, a deadlock)
    /// rolls back and runs it again on fresh data, so its checks then see
    /// the other writer's row and answer precisely.
    ///
    /// When the commit itself fails (the connection lost as COMMIT went
    /// out), the write is settled before anything is answered (see
    /// `outcome`): landed, its answer stands; not landed, it runs once more;
    /// not known in time, [`StoreError::OutcomeUnknown`]. So an
    /// [`StoreError::Unavailable`] always means nothing was written.
    pub(super) async fn write<R, F, Fut>(&self, mut attempt: F) -> Result<R, StoreError>
    where
        F: FnMut(Arc<Tx>) -> Fut,
        Fut: Future<Output = Result<R, StoreError>>,
    {
        // Room for the one connection every attempt uses, taken once.
        let lease = self.write.one().await?;
        // The id this write's journal entries carry, the same in every
        // attempt: only one of them can commit.
        let write_id = uuid::Uuid::new_v4().to_string();
        let mut tries = 0;
        let mut reran = false;
        loop {
            tries += 1;
            let tx = match self.begin_write(&lease).await {
                Ok(txn) => Arc::new(Tx {
                    txn,
                    changes: Mutex::default(),
                    request_id: Mutex::default(),
                }),
                Err(e) if e.is_retryable() && tries < MAX_ATTEMPTS => continue,
                Err(e) => return Err(e),
            };
            let result = attempt(tx.clone()).await;
            let Ok(Tx {
                txn,
                changes,
                request_id,
            }) = Arc::try_unwrap(tx)
            else {
                return Err(StoreError::corrupt(
                    "transaction",
                    "still borrowed after its work",
                ));
            };
            let changes = changes.into_inner().unwrap_or_default();
            let request_id = request_id.into_inner().unwrap_or_default();
            // The journal's entries are the transaction's last statements.
            let result = match result {
                Ok(value) => journal::append(&txn, &changes, request_id.as_deref(), &write_id)
                    .await
                    .map(|mark| (value, mark)),
                Err(e) => Err(e),
            };
            let err = match result {
                Ok((value, mark)) => match txn.commit().await {
                    Ok(()) => {
                        self.journal.committed(&changes);
                        return Ok(value);
                    }
                    Err(e) => match (StoreError::from(e), mark) {
                        // The database refused the commit: it rolled back.
                        (err, _) if err.is_retryable() => err,
                        (err, Some(mark)) => match self.settle(&lease, &mark, err).await? {
                            Settled::Landed => {
                                self.journal.committed(&changes);
                                return Ok(value);
                            }
                            // Once, and only with time for it: a run cut off
                            // at the deadline would leave its outcome unknown.
                            Settled::NotLanded(_) if !reran && time_for_another_run() => {
                                reran = true;
                                tracing::info!("running the write again");
                                continue;
                            }
                            Settled::NotLanded(err) => return Err(err),
                        },
                        (err, None) => err,
                    },
                },
                Err(e) => {
                    // A rollback that fails leaves nothing behind: the
                    // transaction ends with its connection either way.
                    let _ = txn.rollback().await;
                    e
                }
            };
            if !err.is_retryable() || tries >= MAX_ATTEMPTS {
                return Err(err);
            }
            tracing::debug!(tries, error = %err, "write collided; running it again");
        }
    }

    /// Creates a record; with `request`, at most once: a repeat of the same
    /// request returns the first response.
    pub async fn create<T: Table>(
        &self,
        key: T::Key,
        data: T::Data,
        demo: bool,
        request: Option<&RequestKey>,
        response: impl Fn(&Stored<T::Data>) -> Vec<u8>,
    ) -> Result<Created<T::Data>, StoreError> {
        let (key, data, response) = (&key, &data, &response);
        self.write(|txn| async move {
            if let Some(request) = request
                && let Some(first) = request_id::find(&**txn, request).await?
            {
                return Ok(Created::Replayed(first));
            }
            if find::<T>(&**txn, key).await?.is_some() {
                return Err(StoreError::AlreadyExists {
                    name: name_of::<T>(key),
                });
            }
            T::check_write(&txn, key, data, None).await?;
            let t = now();
            let stored = Stored::new(name_of::<T>(key), data.clone(), t, demo);
            if let Some(request) = request {
                request_id::record(&txn, request, response(&stored), t).await?;
                txn.request(request);
            }
            T::Entity::insert(encode::<T>(key, &stored))
                .exec_without_returning(&**txn)
                .await?;
            txn.record(change::<T>(key, ChangeKind::Created, None, &stored)?);
            Ok(Created::New(stored))
        })
        .await
    }

    /// Creates every record or none, in one transaction; with `request`,
    /// at most once. An error names the item at fault by its index.
    pub async fn create_many<T: Table>(
        &self,
        items: Vec<(T::Key, T::Data)>,
        request: Option<&RequestKey>,
        response: impl Fn(&[Stored<T::Data>]) -> Vec<u8>,
    ) -> Result<CreatedMany<T::Data>, StoreError> {
        let (items, response) = (&items, &response);
        self.write(|txn| async move {
            if let Some(request) = request
                && let Some(first) = request_id::find(&**txn, request).await?
            {
                return Ok(CreatedMany::Replayed(first));
            }
            let t = now();
            let mut created = Vec::with_capacity(items.len());
            for (index, (key, data)) in items.iter().enumerate() {
                let item = |error| StoreError::Item {
                    index,
                    error: Box::new(error),
                };
                if find::<T>(&**txn, key).await?.is_some() {
                    return Err(item(StoreError::AlreadyExists {
                        name: name_of::<T>(key),
                    }));
                }
                T::check_write(&txn, key, data, None)
                    .await
                    .map_err(|e| if e.is_retryable() { e } else { item(e) })?;
                let stored = Stored::new(name_of::<T>(key), data.clone(), t, false);
                T::Entity::insert(encode::<T>(key, &stored))
                    .exec_without_returning(&**txn)
                    .await?;
                txn.record(change::<T>(key, ChangeKind::Created, None, &stored)?);
                created.push(stored);
            }
            if let Some(request) = request {
                request_id::record(&txn, request, response(&created), t).await?;
                txn.request(request);
            }
            Ok(CreatedMany::New(created))
        })
        .await
    }

    /// The records of `keys`, in their order; the first missing one is
    /// [`StoreError::NotFound`].
    pub async fn get_many<T: Table>(
        &self,
        keys: &[T::Key],
    ) -> Result<Vec<Stored<T::Data>>, StoreError> {
        let condition = keys
            .iter()
            .fold(Condition::any(), |c, k| c.add(key_condition::<T>(k)));
        let lease = self.reading().await?.pool.one().await?;
        let reader = self.reader(&lease).await?;
        let rows = row::all(&reader, T::Entity::find().filter(condition)).await?;
        super::finish_read(reader).await?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for row in rows {
            let (_, stored) = decode::<T>(row)?;
            found.insert(stored.name.clone(), stored);
        }
        keys.iter()
            .map(|k| {
                let name = name_of::<T>(k);
                found
                    .get(&name)
                    .cloned()
                    .ok_or(StoreError::NotFound { name })
            })
            .collect()
    }

    /// Loads prepared records straight into the table, many rows per
    /// statement, without the checks of a create: for generated datasets
    /// whose references and unique values are right by construction. Each
    /// record is created at its given time.
    pub async fn load<T: Table>(
        &self,
        rows: Vec<(T::Key, T::Data, DateTime<Utc>)>,
    ) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let n = rows.len() as u64;
        let models = rows.into_iter().map(|(key, data, t)| {
            let stored = Stored::new(name_of::<T>(&key), data, t, false);
            encode::<T>(&key, &stored)
        });
        T::Entity::insert_many(models)
            .exec_without_returning(self.write.unqueued())
            .await?;
        Ok(n)
    }

    /// The record of `key`, in a statement shared with the reads of the same
    /// table that arrive meanwhile (see [`super::coalesce`]); given up with
    /// [`StoreError::WaitTimedOut`] when the call's deadline passes first.
    pub async fn get<T: Table>(&self, key: &T::Key) -> Result<Stored<T::Data>, StoreError> {
        let read = async {
            let reading = self.reading().await?;
            match reading.coalescer.get::<T>(reading.pool, key).await {
                Some(found) => found,
                None => {
                    let lease = reading.pool.one().await?;
                    let reader = self.reader(&lease).await?;
                    let found = find::<T>(&reader, key).await?;
                    super::finish_read(reader).await?;
                    Ok(found)
                }
            }
        };
        let started = std::time::Instant::now();
        let found =
            match super::deadline::left_to_work() {
                Some(left) => tokio::time::timeout(left, read).await.map_err(|_| {
                    StoreError::WaitTimedOut {
                        waited: started.elapsed(),
                    }
                })?,
                None => read.await,
            }?;
        found.ok_or_else(|| StoreError::NotFound {
            name: name_of::<T>(key),
        })
    }

    /// Applies `patch` to the current record and stores the result. The row
    /// is locked while this runs, so an update without an etag never fails
    /// because others write the same record; with an etag, a stale one is
    /// [`StoreError::StaleRevision`].
    pub async fn update<T: Table>(
        &self,
        key: &T::Key,
        etag: Option<&str>,
        patch: impl Fn(&Stored<T::Data>) -> Result<T::Data, crate::domain::Violations>,
    ) -> Result<Stored<T::Data>, StoreError> {
        let patch = &patch;
        self.write(|txn| async move {
            let current = find_for_write::<T>(&txn, key, etag).await?;
            if current.delete_time.is_some() {
                return Err(StoreError::Deleted { name: current.name });
            }
            let data = patch(&current)?;
            T::check_write(&txn, key, &data, Some(&current.data)).await?;
            let next = current.revised(data, now());
            write_revision::<T>(&txn, key, &current, &next).await?;
            txn.record(change::<T>(
                key,
                ChangeKind::Updated,
                Some(&current),
                &next,
            )?);
            Ok(next)
        })
        .await
    }

    /// Soft-deletes a record; with `force` its live children too.
    pub async fn delete<T: Table>(
        &self,
        key: &T::Key,
        etag: Option<&str>,
        force: bool,
    ) -> Result<Stored<T::Data>, StoreError> {
        self.set_deleted::<T>(key, etag, Some(force)).await
    }

    /// Brings back a soft-deleted record, if what it points to is live and
    /// its unique values are still free.
    pub async fn undelete<T: Table>(
        &self,
        key: &T::Key,
        etag: Option<&str>,
    ) -> Result<Stored<T::Data>, StoreError> {
        self.set_deleted::<T>(key, etag, None).await
    }

    /// Soft-deletes (`Some(force)`) or brings back (`None`) a record.
    async fn set_deleted<T: Table>(
        &self,
        key: &T::Key,
        etag: Option<&str>,
        delete: Option<bool>,
    ) -> Result<Stored<T::Data>, StoreError> {
        self.write(|txn| async move {
            let current = find_for_write::<T>(&txn, key, etag).await?;
            let t = now();
            match (delete, current.delete_time) {
                (Some(_), Some(_)) => {
                    return Err(StoreError::AlreadyDeleted { name: current.name });
                }
                (None, None) => return Err(StoreError::NotDeleted { name: current.name }),
                (Some(force), None) => {
                    delete_children::<T>(&txn, key, &current.name, force, t).await?;
                }
                (None, Some(_)) => T::check_write(&txn, key, &current.data, None).await?,
            }
            let mut next = current.revised(current.data.clone(), t);
            next.delete_time = delete.map(|_| t);
            write_revision::<T>(&txn, key, &current, &next).await?;
            let kind = match delete {
                Some(_) => ChangeKind::Deleted,
                None => ChangeKind::Undeleted,
            };
            txn.record(change::<T>(key, kind, Some(&current), &next)?);
            Ok(next)
        })
        .await
    }
}

/// Refuses to delete `name` while it has live children, unless `force`;
/// with `force`, soft-deletes them (deepest first), journaling each.
async fn delete_children<T: Table>(
    tx: &Tx,
    key: &T::Key,
    name: &str,
    force: bool,
    t: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(children) = T::children(key) else {
        return Ok(());
    };
    let count = (children.rows.count)(tx, &children.rows.condition).await?;
    if count == 0 {
        return Ok(());
    }
    if !force {
        return Err(StoreError::LiveChildren {
            name: name.to_owned(),
            count,
            children: children.collection,
        });
    }
    for rows in &children.descendants {
        (rows.delete)(tx, &rows.condition, t).await?;
    }
    (children.rows.delete)(tx, &children.rows.condition, t).await?;
    Ok(())
}

/// Whether the current call has time left to run a write once more (at
/// least [`RERUN_TIME`] before it must answer); always outside a call.
fn time_for_another_run() -> bool {
    super::deadline::left_to_answer().is_none_or(|left| left >= RERUN_TIME)
}

/// The least time a call must have left for a write that did not land to
/// run again.
const RERUN_TIME: std::time::Duration = std::time::Duration::from_millis(250);
