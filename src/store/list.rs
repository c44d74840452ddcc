//! One page of a list: its statements compiled, the connections it needs
//! taken, its rows read (with the count beside them when a second
//! connection is free), decoded, and the next page's cursor made.

use std::sync::Arc;

use sea_orm::sea_query::{Condition, Expr, ExprTrait, IntoIden, SelectStatement};
use sea_orm::{
    ConnectionTrait, DatabaseExecutor, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select, TransactionTrait,
};

use super::compile::Compiler;
use super::count::{OnePass, OrderBy, first_page_in_one_pass, total_size};
use super::entity::row;
use super::pool::Lease;
use super::table::{Model, RecordKey, Table, decode, key_columns, live, order_values};
use super::{Page, Store, StoreError, Stored};
use crate::domain::{Cursor, Filter, Literal, Order, Search};

/// One page of a list request, with its query.
#[derive(Debug, Clone)]
pub struct PageQuery {
    pub size: u64,
    pub after: Option<Cursor>,
    pub show_deleted: bool,
    pub filter: Option<Filter>,
    pub order: Order,
    pub search: Option<Search>,
    /// Find `total_size` (List); an export does not need it.
    pub want_total: bool,
}

impl PageQuery {
    /// A first page of a filtered list or a search, whose total is
    /// counted (a whole collection's first page is counted as it pages).
    fn counts_first_page(&self) -> bool {
        self.after.is_none() && self.want_total && (self.filter.is_some() || self.search.is_some())
    }

    /// `total_size` when the page itself tells it: carried in the cursor,
    /// a first page that is also the last, or not wanted.
    fn known_total(&self, found: usize, more: bool) -> Option<u64> {
        match (&self.after, more) {
            (
                Some(Cursor {
                    total_size: Some(n),
                    ..
                }),
                _,
            ) => Some(*n),
            (None, false) => Some(found as u64),
            _ if !self.want_total => Some(0),
            _ => None,
        }
    }
}

/// The statements of one page.
struct Statements<T: Table> {
    /// The page's rows, in order, after the cursor, one more than the page.
    rows: Select<T::Entity>,
    /// Every matching row, unordered and unlimited: what is counted.
    matching: SelectStatement,
    order: OrderBy,
}

impl<T: Table> Statements<T> {
    /// What decides a page's answer: its SQL with its values, and what the
    /// page token carries beside them. Two reads of one key at the same
    /// moment answer the same.
    fn key(&self, backend: DbBackend, page: &PageQuery) -> String {
        let built = self.rows.build(backend);
        format!(
            "{}\u{1f}{:?}\u{1f}{}\u{1f}{:?}",
            built.sql,
            built.values,
            page.want_total,
            page.after.as_ref().and_then(|c| c.total_size),
        )
    }

    fn compile(backend: DbBackend, scope: Condition, page: &PageQuery) -> Self {
        let (rows, matching, order) = Self::rows(&Compiler::new(backend), scope, page);
        Self {
            rows,
            matching,
            order,
        }
    }

    /// The page's rows found by walking the order's index and testing each
    /// row (see [`walked`]), selecting the keys alone: in creation order the
    /// index carries what a search tests (migration 9), so the walk reads
    /// it alone, and the page's rows are then fetched by key.
    fn walked(&self) -> Select<T::Entity> {
        let keys = key_columns::<T>();
        let mut walk = self.rows.clone().into_query();
        walk.clear_selects();
        for key in &keys {
            walk.column(*key);
        }
        let keys = Expr::tuple(keys.into_iter().map(Expr::col));
        ordered(
            T::Entity::find().filter(keys.in_subquery(walk)),
            self.order.clone(),
        )
    }

    /// The page's rows, every matching row, and the order.
    fn rows(
        compiler: &Compiler<T>,
        scope: Condition,
        page: &PageQuery,
    ) -> (Select<T::Entity>, SelectStatement, OrderBy) {
        let mut filter = scope;
        if !page.show_deleted {
            filter = filter.add(live::<T::Entity>());
        }
        if let Some(f) = &page.filter {
            filter = filter.add(compiler.filter(f));
        }
        if let Some(s) = &page.search {
            filter = filter.add(compiler.search(s));
        }
        let mut rows = T::Entity::find().filter(filter);
        let matching = rows.clone().into_query();
        if let Some(cursor) = &page.after {
            rows = rows.filter(compiler.after(&page.order, cursor));
        }
        let order = compiler.order_by(&page.order);
        let rows = ordered(rows, order.clone());
        (rows.limit(page.size + 1), matching, order)
    }
}

/// The rows of a walked page (PostgreSQL), read in a transaction (or
/// savepoint) of their own that keeps the planner to the walk:
/// - no sequential scan and sort: expecting few matches (100 of 1,000,000
///   for a string that no name in its statistics holds), the planner read
///   and sorted every row of the 1M benchmark database instead (186–199 ms
///   where the walk takes 3.5 ms);
/// - no bitmap scan, which would fetch every match;
/// - no parallel workers: expecting to test much of the index, the planner
///   gathered the walk from two, and they made a 10 ms walk take 55–63 ms.
async fn walked<T: Table>(
    reader: &DatabaseExecutor<'_>,
    rows: Select<T::Entity>,
) -> Result<Vec<Model<T>>, StoreError> {
    let txn = reader.begin().await?;
    txn.execute_unprepared(WALK_ONLY).await?;
    let rows = row::all(&txn, rows).await?;
    txn.commit().await?;
    Ok(rows)
}

const WALK_ONLY: &str = "SET LOCAL max_parallel_workers_per_gather = 0; \
     SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off";

/// `rows` in `order`.
fn ordered<E: EntityTrait>(mut rows: Select<E>, order: OrderBy) -> Select<E> {
    for (expr, dir, nulls) in order {
        rows = match nulls {
            Some(nulls) => rows.order_by_with_nulls(expr, dir, nulls),
            None => rows.order_by(expr, dir),
        };
    }
    rows
}

/// A page's decoded rows.
struct Found<T: Table> {
    records: Vec<(T::Key, Stored<T::Data>)>,
    /// The last record's values of the order's keys, when more follow.
    last_values: Option<Vec<Literal>>,
}

impl<T: Table> Found<T> {
    /// The first `size` of `rows` (one more was read to tell whether more
    /// follow).
    fn decode(rows: Vec<Model<T>>, page: &PageQuery) -> Result<Self, StoreError> {
        let size = usize::try_from(page.size).unwrap_or(usize::MAX);
        let more = rows.len() > size;
        let mut last_values = None;
        let mut records = Vec::with_capacity(rows.len().min(size));
        for (i, row) in rows.into_iter().enumerate().take(size) {
            if more && i + 1 == size {
                last_values = Some(order_values::<T>(&row, &page.order)?);
            }
            records.push(decode::<T>(row)?);
        }
        Ok(Self {
            records,
            last_values,
        })
    }

    fn more(&self) -> bool {
        self.last_values.is_some()
    }

    fn into_page(self, total_size: u64) -> Page<T::Data> {
        let next = match (self.last_values, self.records.last()) {
            (Some(values), Some((key, _))) => Some(Cursor {
                values,
                keys: key.values().into_iter().cloned().collect(),
                total_size: Some(total_size),
            }),
            _ => None,
        };
        Page {
            items: self.records.into_iter().map(|(_, stored)| stored).collect(),
            next,
            total_size,
        }
    }
}

impl Store {
    /// Pages read, and the calls they answered, since the start.
    pub fn page_read_stats(&self) -> super::PageReadStats {
        self.pages.stats()
    }

    /// One page of a whole collection.
    pub async fn list<T: Table>(&self, page: &PageQuery) -> Result<Page<T::Data>, StoreError> {
        self.list_in::<T>(Condition::all(), page).await
    }

    /// One page of the records matching `scope`, the page's filter and
    /// search, in the page's order.
    pub(super) async fn list_in<T: Table>(
        &self,
        scope: Condition,
        page: &PageQuery,
    ) -> Result<Page<T::Data>, StoreError> {
        let statements = Statements::<T>::compile(self.backend(), scope, page);
        // Callers asking for the same page at once share one read of it.
        let key = statements.key(self.backend(), page);
        let work = Arc::new((statements, page.clone()));
        let read = {
            let (store, work) = (self.clone(), work.clone());
            move || {
                let (store, work) = (store.clone(), work.clone());
                async move { store.list_alone::<T>(&work.0, &work.1).await }
            }
        };
        match self
            .pages
            .read(std::any::TypeId::of::<T>(), key, read)
            .await
        {
            Some(found) => found,
            None => self.list_alone::<T>(&work.0, page).await,
        }
    }

    /// One page, read by this call alone.
    async fn list_alone<T: Table>(
        &self,
        statements: &Statements<T>,
        page: &PageQuery,
    ) -> Result<Page<T::Data>, StoreError> {
        // A counted first page takes a second connection for its count only
        // when one is free now, together with the first: a call never waits
        // for a connection while it holds one.
        let pool = self.reading().await?.pool;
        let lease = if page.counts_first_page() {
            pool.up_to_two().await?
        } else {
            pool.one().await?
        };
        self.read_in(&lease, async |reader| {
            let (rows, counted) = self.page_rows(statements, page, &lease, reader).await?;
            let found = Found::<T>::decode(rows, page)?;
            let total_size = match (page.known_total(found.records.len(), found.more()), counted) {
                (Some(n), _) | (None, Some(n)) => n,
                (None, None) => {
                    total_size(reader, &self.estimates, statements.matching.clone()).await?
                }
            };
            Ok(found.into_page(total_size))
        })
        .await
    }

    /// The rows of a page, and on a counted first page, when that is cheap,
    /// the count of every match.
    async fn page_rows<T: Table>(
        &self,
        statements: &Statements<T>,
        page: &PageQuery,
        lease: &Lease,
        reader: &DatabaseExecutor<'_>,
    ) -> Result<(Vec<Model<T>>, Option<u64>), StoreError> {
        let counting = page.counts_first_page();
        // A search's first page is probed, then sorted and counted in one
        // statement, or walked (PostgreSQL).
        if counting && let Some(search) = &page.search {
            let one_pass = first_page_in_one_pass(
                reader,
                &self.estimates,
                statements.matching.clone(),
                T::Entity::default().into_iden(),
                statements.order.clone(),
                page.size + 1,
                Compiler::<T>::served_by_trigrams(search),
            )
            .await?;
            match one_pass {
                OnePass::Page(found, total) => {
                    let models = row::decode_all::<Model<T>>(&found)?;
                    return Ok((models, Some(total)));
                }
                // More matches than one pass reads, or than the planner
                // expects to be few: in creation order, the page is read by
                // walking the order's index when that tests fewer rows than
                // fetching every match would cost (the planner, thinking
                // them few, would fetch them all); in other orders, whose
                // indexes carry no search, as the planner sees fit. The
                // count is known well enough already.
                OnePass::TooMany { about, walk } => {
                    let rows = if walk && page.order.is_creation() {
                        walked::<T>(reader, statements.walked()).await?
                    } else {
                        row::all(reader, statements.rows.clone()).await?
                    };
                    return Ok((rows, Some(about)));
                }
                OnePass::NotTried => {}
            }
        }
        let rows = statements.rows.clone();
        if counting && lease.connections() > 1 {
            // The first page of a filtered list or a search counts alongside
            // its SELECT, on its second connection: a full page needs the
            // count, and waiting for one before starting the other doubles
            // the latency. Without a second connection free, the count
            // follows the page on the first.
            let count = self.read_in(lease, async |counter| {
                total_size(counter, &self.estimates, statements.matching.clone()).await
            });
            let (rows, total) = tokio::join!(row::all(reader, rows), count);
            return Ok((rows?, Some(total?)));
        }
        Ok((row::all(reader, rows).await?, None))
    }
}
