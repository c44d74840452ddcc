//! How many rows a list matches (`total_size`): counted exactly where that
//! is cheap, else the query planner's estimate, remembered for a while; and
//! a search's first page sorted and counted in one statement.

use sea_orm::sea_query::{
    Alias, Asterisk, DynIden, Expr, ExprTrait, NullOrdering, Query, SelectStatement,
};
use sea_orm::{ConnectionTrait, DbBackend, Order as SqlOrder};

use super::StoreError;

/// Counted exactly up to this many rows; beyond it `total_size` is the
/// planner's estimate (PostgreSQL, MariaDB).
pub const EXACT_COUNT_LIMIT: u64 = 1000;
/// Above this estimate no count runs at all.
const TRUST_ESTIMATE_ABOVE: u64 = 10 * EXACT_COUNT_LIMIT;
/// A first page of a search on PostgreSQL reads at most this many matches
/// in one pass, counting them as it sorts them (see
/// [`first_page_in_one_pass`]); with more it is read in order instead.
const ONE_PASS_LIMIT: u64 = 4 * EXACT_COUNT_LIMIT;

/// How long a planner estimate is reused for the same query.
const ESTIMATE_TTL: std::time::Duration = std::time::Duration::from_secs(10);
/// Most estimates remembered; the memory is cleared when it fills.
const ESTIMATES_KEPT: usize = 4096;

/// Recent planner estimates by statement: a first page of a large list
/// then costs its own SELECT only.
#[derive(Debug, Clone, Default)]
pub struct Estimates(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, u64)>>>,
);

impl Estimates {
    fn get(&self, key: &str) -> Option<u64> {
        let map = self.0.lock().ok()?;
        map.get(key)
            .filter(|(at, _)| at.elapsed() < ESTIMATE_TTL)
            .map(|(_, n)| *n)
    }

    fn put(&self, key: String, n: u64) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= ESTIMATES_KEPT {
                map.clear();
            }
            map.insert(key, (std::time::Instant::now(), n));
        }
    }
}

/// How many rows `rows` (a `SELECT … FROM t WHERE …` of the list, without
/// order or limit) yields: exact on SQLite and up to
/// [`EXACT_COUNT_LIMIT`]; otherwise the query planner's estimate.
pub(super) async fn total_size(
    db: &impl ConnectionTrait,
    estimates: &Estimates,
    rows: SelectStatement,
) -> Result<u64, StoreError> {
    if db.get_database_backend() == DbBackend::Sqlite {
        return count(db, rows, None).await;
    }
    let estimate = planned_rows(db, estimates, &rows).await?;
    if estimate > TRUST_ESTIMATE_ABOVE {
        return Ok(estimate);
    }
    let n = count(db, rows, Some(EXACT_COUNT_LIMIT + 1)).await?;
    Ok(if n > EXACT_COUNT_LIMIT {
        Ord::max(estimate, n)
    } else {
        n
    })
}

/// The planner's estimate of how many rows `rows` yields, remembered for a
/// while (PostgreSQL, MariaDB).
async fn planned_rows(
    db: &impl ConnectionTrait,
    estimates: &Estimates,
    rows: &SelectStatement,
) -> Result<u64, StoreError> {
    let built = db.get_database_backend().build(rows);
    let key = format!("{}\n{:?}", built.sql, built.values);
    if let Some(n) = estimates.get(&key) {
        return Ok(n);
    }
    let n = estimate(db, rows).await?;
    estimates.put(key, n);
    Ok(n)
}

/// The first `limit` rows of `rows` in `order`, and how many rows `rows`
/// yields, from one statement: the matches (at most [`ONE_PASS_LIMIT`] + 1
/// of them) are counted by a window over them while they are sorted.
/// `None`, and the caller reads the page in order instead, on backends
/// other than PostgreSQL, when the planner expects more than
/// [`TRUST_ESTIMATE_ABOVE`] rows, or when there are more than
/// [`ONE_PASS_LIMIT`].
///
/// For a search the planner expects few matches for, PostgreSQL fetches
/// every match from the trigram index to sort them anyway; counting them
/// in a second statement fetched the same heap pages again (a 3-character
/// string matching 1,600 SMEs: 6 ms for the page, 9 ms more for the
/// count).
pub(super) async fn first_page_in_one_pass(
    db: &impl ConnectionTrait,
    estimates: &Estimates,
    rows: SelectStatement,
    table: DynIden,
    order: Vec<(Expr, SqlOrder, Option<NullOrdering>)>,
    limit: u64,
) -> Result<Option<(Vec<sea_orm::QueryResult>, u64)>, StoreError> {
    if db.get_database_backend() != DbBackend::Postgres
        || planned_rows(db, estimates, &rows).await? > TRUST_ESTIMATE_ABOVE
    {
        return Ok(None);
    }
    let mut capped = rows;
    capped.limit(ONE_PASS_LIMIT + 1);
    let mut page = Query::select();
    page.column(Asterisk)
        .expr_as(Expr::cust("COUNT(*) OVER ()"), Alias::new(ONE_PASS_TOTAL))
        // Named as the table, so the order's unqualified columns resolve.
        .from_subquery(capped, table)
        .limit(limit);
    for (expr, dir, nulls) in order {
        match nulls {
            Some(nulls) => page.order_by_expr_with_nulls(expr, dir, nulls),
            None => page.order_by_expr(expr, dir),
        };
    }
    let found = db.query_all(&page).await?;
    let total = match found.first() {
        Some(row) => u64::try_from(row.try_get::<i64>("", ONE_PASS_TOTAL)?).unwrap_or(0),
        None => 0,
    };
    Ok((total <= ONE_PASS_LIMIT).then_some((found, total)))
}

/// The alias a count is read from.
pub(super) const COUNTED: &str = "n";

/// The column [`first_page_in_one_pass`] counts the matches in.
const ONE_PASS_TOTAL: &str = "partnership_matching_total";

async fn count(
    db: &impl ConnectionTrait,
    mut rows: SelectStatement,
    limit: Option<u64>,
) -> Result<u64, StoreError> {
    rows.clear_selects().expr(Expr::val(1));
    if let Some(limit) = limit {
        rows.limit(limit);
    }
    let stmt = Query::select()
        .expr_as(Expr::col(Asterisk).count(), Alias::new(COUNTED))
        .from_subquery(rows, Alias::new("matching"))
        .to_owned();
    let n: i64 = match db.query_one(&stmt).await? {
        Some(row) => row.try_get("", COUNTED)?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The planner's row estimate for `rows`.
async fn estimate(db: &impl ConnectionTrait, rows: &SelectStatement) -> Result<u64, StoreError> {
    let backend = db.get_database_backend();
    let mut stmt = backend.build(rows);
    match backend {
        DbBackend::Postgres => {
            stmt.sql = format!("EXPLAIN (FORMAT JSON) {}", stmt.sql);
            let Some(row) = db.query_one_raw(stmt).await? else {
                return Ok(0);
            };
            let plan: serde_json::Value = row.try_get("", "QUERY PLAN")?;
            let rows = plan
                .pointer("/0/Plan/Plan Rows")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0);
            Ok(rows.max(0.0) as u64)
        }
        _ => {
            stmt.sql = format!("EXPLAIN {}", stmt.sql);
            let Some(row) = db.query_one_raw(stmt).await? else {
                return Ok(0);
            };
            let rows = row
                .try_get::<Option<u64>>("", "rows")
                .ok()
                .flatten()
                .or_else(|| {
                    row.try_get::<Option<i64>>("", "rows")
                        .ok()
                        .flatten()
                        .and_then(|n| u64::try_from(n).ok())
                })
                .unwrap_or(0);
            Ok(rows)
        }
    }
}
