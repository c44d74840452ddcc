//! The journal read back: the audit trail's pages, the change feed's
//! batches in the order that cannot skip (see [`super::journal`]), and the
//! retention job.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entity::Resource;
use super::entity::journal::{self as entry, state};
use super::table::{self, Table};
use super::{Store, StoreError, Stored};
use crate::domain::{
    AuditCursor, AuditField, AuditFilter, ChangeKind, Collection, Enterprise, Op, Participation,
    Position, Program, Wildcard,
};

/// A record as it was before or after a change.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordState {
    Company(Stored<Enterprise>),
    Sme(Stored<Enterprise>),
    Program(Stored<Program>),
    Participation(Stored<Participation>),
}

impl RecordState {
    fn decode(collection: Collection, json: &str) -> Result<Self, StoreError> {
        use super::{Companies, Participations, Programs, Smes};
        Ok(match collection {
            Collection::Companies => Self::Company(decode_json::<Companies>(json)?),
            Collection::Smes => Self::Sme(decode_json::<Smes>(json)?),
            Collection::Programs => Self::Program(decode_json::<Programs>(json)?),
            Collection::Participations => Self::Participation(decode_json::<Participations>(json)?),
        })
    }
}

fn decode_json<T: Table>(json: &str) -> Result<Stored<T::Data>, StoreError> {
    let model = <T::Entity as Resource>::model_from_json(json)
        .map_err(|e| StoreError::corrupt("journal entry", e))?;
    Ok(table::decode::<T>(model)?.1)
}

/// A journal entry, read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub sequence: i64,
    pub position: Position,
    pub commit_time: DateTime<Utc>,
    pub caller: String,
    pub method: String,
    pub request_id: Option<String>,
    pub collection: Collection,
    pub resource: String,
    pub kind: ChangeKind,
    pub before: Option<RecordState>,
    pub after: RecordState,
}

impl Entry {
    fn decode(m: entry::Model) -> Result<Self, StoreError> {
        let collection = Collection::from_segment(&m.collection)
            .ok_or_else(|| StoreError::corrupt("journal collection", &m.collection))?;
        let kind = ChangeKind::from_stored(&m.kind)
            .ok_or_else(|| StoreError::corrupt("journal kind", &m.kind))?;
        Ok(Self {
            sequence: m.sequence,
            position: Position {
                txid: m.txid,
                sequence: m.sequence,
            },
            commit_time: m.commit_time,
            caller: m.caller,
            method: m.method,
            request_id: m.request_id,
            collection,
            resource: m.resource,
            kind,
            before: m
                .before
                .as_deref()
                .map(|b| RecordState::decode(collection, b))
                .transpose()?,
            after: RecordState::decode(collection, &m.after)?,
        })
    }
}

/// A filtered, ordered page of the audit trail.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub filter: Option<AuditFilter>,
    pub newest_first: bool,
    pub after: Option<AuditCursor>,
    pub size: u64,
}

/// The position a caller catches up to: everything at or before it has
/// committed (see the module's notes).
pub(super) async fn bound(db: &impl ConnectionTrait) -> Result<Position, StoreError> {
    let backend = db.get_database_backend();
    let one = |sql: &str| sea_orm::Statement::from_string(backend, sql.to_owned());
    let value = |row: Option<sea_orm::QueryResult>| -> Result<i64, StoreError> {
        let row = row.ok_or_else(|| StoreError::corrupt("journal bound", "no row"))?;
        Ok(row.try_get_by_index::<Option<i64>>(0)?.unwrap_or(0))
    };
    Ok(match backend {
        DbBackend::Postgres => {
            let xmin = value(
                db.query_one_raw(one(
                    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
                ))
                .await?,
            )?;
            Position {
                txid: xmin - 1,
                sequence: i64::MAX,
            }
        }
        DbBackend::MySql => {
            let clock = value(
                db.query_one_raw(one("SELECT clock FROM journal_state WHERE id = 1"))
                    .await?,
            )?;
            Position {
                txid: clock,
                sequence: i64::MAX,
            }
        }
        _ => {
            let last = value(
                db.query_one_raw(one("SELECT MAX(sequence) FROM journal"))
                    .await?,
            )?;
            Position {
                txid: 0,
                sequence: last,
            }
        }
    })
}

/// The entries after `from` up to `end` in the feed's order, as conditions
/// an index serves as a range: on PostgreSQL a row-value comparison on
/// (`txid`, `sequence`); on MariaDB/MySQL, whose optimizer does not range
/// over row values, `txid` first and then `sequence`; on SQLite `sequence`
/// alone (its `txid` is always 0). An end's `sequence` is the largest, so
/// it bounds `txid` alone.
fn between(backend: DbBackend, from: Position, end: Position) -> Condition {
    use entry::Column::{Sequence, Txid};
    match backend {
        DbBackend::Sqlite => Condition::all()
            .add(Sequence.gt(from.sequence))
            .add(Sequence.lte(end.sequence)),
        DbBackend::Postgres => Condition::all()
            .add(
                Expr::tuple([Expr::col(Txid), Expr::col(Sequence)]).gt(Expr::tuple([
                    Expr::val(from.txid),
                    Expr::val(from.sequence),
                ])),
            )
            .add(Txid.lte(end.txid)),
        _ => Condition::all()
            .add(Txid.gte(from.txid))
            .add(
                Condition::any()
                    .add(Txid.gt(from.txid))
                    .add(Sequence.gt(from.sequence)),
            )
            .add(Txid.lte(end.txid)),
    }
}

/// Up to `limit` entries of `collections` after `from` in the feed's order,
/// every one that has committed, past the feed's end too (the summary
/// rollup applies those once each, see [`super::rollup`]).
pub(super) async fn entries_after(
    db: &impl ConnectionTrait,
    from: Position,
    collections: &[Collection],
    limit: u64,
) -> Result<Vec<entry::Model>, StoreError> {
    let last = Position {
        txid: i64::MAX,
        sequence: i64::MAX,
    };
    Ok(entries_between(db, from, last, collections)
        .limit(limit)
        .all(db)
        .await?)
}

/// The entries after `from` up to `end` of `collections` (all when empty),
/// in the feed's order.
fn entries_between(
    db: &impl ConnectionTrait,
    from: Position,
    end: Position,
    collections: &[Collection],
) -> sea_orm::Select<entry::Entity> {
    let backend = db.get_database_backend();
    let mut condition = between(backend, from, end);
    if !collections.is_empty() {
        condition =
            condition.add(entry::Column::Collection.is_in(collections.iter().map(|c| c.segment())));
    }
    let mut select = entry::Entity::find().filter(condition);
    // SQLite's txid is always 0: its order is the primary key's.
    if backend != DbBackend::Sqlite {
        select = select.order_by_asc(entry::Column::Txid);
    }
    select.order_by_asc(entry::Column::Sequence)
}

/// A batch of the feed.
#[derive(Debug, Clone)]
pub struct Batch {
    pub entries: Vec<Entry>,
    /// Where the next batch starts.
    pub next: Position,
    /// The feed's end as read for this batch.
    pub end: Position,
}

impl Store {
    /// The feed's current end: watching from it sees every change that
    /// commits after this call began.
    pub async fn feed_position(&self) -> Result<Position, StoreError> {
        let lease = self.read.one().await?;
        bound(lease.conn()).await
    }

    /// The oldest position a watcher may resume from: where the retention
    /// job has deleted up to.
    pub async fn feed_horizon(&self) -> Result<Position, StoreError> {
        let lease = self.read.one().await?;
        let row: Option<(i64, i64)> = state::Entity::find_by_id(1)
            .select_only()
            .column(state::Column::PurgedTxid)
            .column(state::Column::PurgedSequence)
            .into_tuple()
            .one(lease.conn())
            .await?;
        let (txid, sequence) = row.ok_or_else(|| StoreError::corrupt("journal_state", "no row"))?;
        Ok(Position { txid, sequence })
    }

    /// Up to `limit` committed entries after `from` in the feed's order, of
    /// `collections` (all when empty); the position to continue from (the
    /// last entry's, or the feed's end when there were fewer); and the end
    /// read. `known_end`, an end read before (ends only move forward), saves
    /// reading it again while a watcher catches up.
    pub async fn feed_after(
        &self,
        from: Position,
        known_end: Option<Position>,
        collections: &[Collection],
        limit: u64,
    ) -> Result<Batch, StoreError> {
        let lease = self.read.one().await?;
        let db = lease.conn();
        let end = match known_end {
            Some(end) if end > from => end,
            _ => bound(db).await?,
        };
        if end <= from {
            return Ok(Batch {
                entries: Vec::new(),
                next: from,
                end,
            });
        }
        let rows = entries_between(db, from, end, collections)
            .limit(limit)
            .all(db)
            .await?;
        drop(lease);
        let full = rows.len() as u64 >= limit;
        let entries = rows
            .into_iter()
            .map(Entry::decode)
            .collect::<Result<Vec<_>, _>>()?;
        let next = match entries.last() {
            Some(last) if full => last.position,
            _ => end,
        };
        Ok(Batch { entries, next, end })
    }

    /// A page of the audit trail, and where the next starts.
    pub async fn audit_events(
        &self,
        query: &AuditQuery,
    ) -> Result<(Vec<Entry>, Option<AuditCursor>), StoreError> {
        let backend = self.backend();
        let mut condition = Condition::all();
        if let Some(filter) = &query.filter {
            condition = condition.add(audit_condition(backend, filter));
        }
        if let Some(after) = query.after {
            use entry::Column::{CommitTime, Sequence};
            let (t, n) = (after.commit_time, after.sequence);
            // (commit_time, sequence) past the cursor, as an index range.
            condition = condition.add(if query.newest_first {
                Condition::all()
                    .add(CommitTime.lte(t))
                    .add(Condition::any().add(CommitTime.lt(t)).add(Sequence.lt(n)))
            } else {
                Condition::all()
                    .add(CommitTime.gte(t))
                    .add(Condition::any().add(CommitTime.gt(t)).add(Sequence.gt(n)))
            });
        }
        let order = if query.newest_first {
            sea_orm::Order::Desc
        } else {
            sea_orm::Order::Asc
        };
        let lease = self.read.one().await?;
        let rows = self
            .read_in(&lease, async |reader| {
                Ok(entry::Entity::find()
                    .filter(condition)
                    .order_by(entry::Column::CommitTime, order.clone())
                    .order_by(entry::Column::Sequence, order)
                    .limit(query.size + 1)
                    .all(reader)
                    .await?)
            })
            .await?;
        drop(lease);
        let mut entries = rows
            .into_iter()
            .map(Entry::decode)
            .collect::<Result<Vec<_>, _>>()?;
        let next = if entries.len() as u64 > query.size {
            entries.truncate(query.size as usize);
            entries.last().map(|e| AuditCursor {
                commit_time: e.commit_time,
                sequence: e.sequence,
            })
        } else {
            None
        };
        Ok((entries, next))
    }

    /// Deletes the entries committed before `before`, a batch at a time,
    /// and moves the feed's horizon past them; returns how many went.
    pub async fn purge_journal(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        const BATCH: u64 = 5000;
        let mut purged = 0;
        loop {
            let removed = self
                .write(|txn| async move {
                    let rows: Vec<(i64, i64)> = entry::Entity::find()
                        .select_only()
                        .column(entry::Column::Txid)
                        .column(entry::Column::Sequence)
                        .filter(entry::Column::CommitTime.lt(before))
                        .order_by_asc(entry::Column::Sequence)
                        .limit(BATCH)
                        .into_tuple()
                        .all(&**txn)
                        .await?;
                    let Some(newest) = rows
                        .iter()
                        .map(|(t, s)| Position {
                            txid: *t,
                            sequence: *s,
                        })
                        .max()
                    else {
                        return Ok(0);
                    };
                    let sequences: Vec<i64> = rows.iter().map(|(_, s)| *s).collect();
                    entry::Entity::delete_many()
                        .filter(entry::Column::Sequence.is_in(sequences))
                        .exec(&**txn)
                        .await?;
                    // The horizon only moves forward (the row is locked
                    // against another replica's purge).
                    let current: Option<(i64, i64)> = state::Entity::find_by_id(1)
                        .select_only()
                        .column(state::Column::PurgedTxid)
                        .column(state::Column::PurgedSequence)
                        .lock_exclusive()
                        .into_tuple()
                        .one(&**txn)
                        .await?;
                    let current = current.map_or(Position::START, |(txid, sequence)| Position {
                        txid,
                        sequence,
                    });
                    let horizon = newest.max(current);
                    let horizon = Query::update()
                        .table(state::Entity)
                        .value(state::Column::PurgedTxid, horizon.txid)
                        .value(state::Column::PurgedSequence, horizon.sequence)
                        .and_where(state::Column::Id.eq(1))
                        .to_owned();
                    txn.execute(&horizon).await?;
                    Ok(rows.len() as u64)
                })
                .await?;
            purged += removed;
            if removed < BATCH {
                return Ok(purged);
            }
        }
    }
}

fn audit_column(field: AuditField) -> entry::Column {
    match field {
        AuditField::Resource => entry::Column::Resource,
        AuditField::Caller => entry::Column::Caller,
        AuditField::Method => entry::Column::Method,
        AuditField::Kind => entry::Column::Kind,
        AuditField::RequestId => entry::Column::RequestId,
        AuditField::CommitTime => entry::Column::CommitTime,
    }
}

fn audit_condition(backend: DbBackend, filter: &AuditFilter) -> Condition {
    match filter {
        AuditFilter::All(all) => all
            .iter()
            .fold(Condition::all(), |c, f| c.add(audit_condition(backend, f))),
        AuditFilter::Any(any) => any
            .iter()
            .fold(Condition::any(), |c, f| c.add(audit_condition(backend, f))),
        AuditFilter::Not(inner) => audit_condition(backend, inner).not(),
        AuditFilter::Present(field) => Condition::all().add(audit_column(*field).is_not_null()),
        AuditFilter::Text {
            field,
            wildcard: None,
            text,
        } => Condition::all().add(audit_column(*field).eq(text.as_str())),
        AuditFilter::Text {
            field,
            wildcard: Some(wildcard),
            text,
        } => Condition::all()
            .add(Expr::col(audit_column(*field)).like(like(backend, *wildcard, text))),
        AuditFilter::Time { op, time } => {
            let c = Expr::col(entry::Column::CommitTime);
            let v = Expr::val(*time);
            Condition::all().add(match op {
                Op::Eq => c.eq(v),
                Op::Ne => c.ne(v),
                Op::Lt => c.lt(v),
                Op::Le => c.lte(v),
                Op::Gt => c.gt(v),
                Op::Ge => c.gte(v),
            })
        }
    }
}

/// A LIKE of caller text, its metacharacters escaped (as the Lists'
/// filters do), matching case-sensitively: names, methods and ids are
/// compared as written.
fn like(backend: DbBackend, wildcard: Wildcard, text: &str) -> LikeExpr {
    super::compile::like(backend, Some(wildcard), text)
}
