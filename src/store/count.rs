//! How many rows a list matches (`total_size`): counted exactly where that
//! is cheap, else the query planner's estimate, remembered for a while; and
//! a search's first page sorted and counted in one statement.

use sea_orm::sea_query::{
    Alias, Asterisk, DynIden, Expr, ExprTrait, NullOrdering, Query, SelectStatement,
};
use sea_orm::{
    ConnectionTrait, DbBackend, Order as SqlOrder, TransactionSession, TransactionTrait,
};

use super::StoreError;

/// Counted exactly up to this many rows; beyond it `total_size` is the
/// planner's estimate (PostgreSQL, MariaDB).
pub const EXACT_COUNT_LIMIT: u64 = 1000;
/// Above this estimate no count runs at all.
const TRUST_ESTIMATE_ABOVE: u64 = 10 * EXACT_COUNT_LIMIT;
/// A first page of a search on PostgreSQL reads at most this many matches
/// in one pass, counting them as it sorts them (see
/// [`first_page_in_one_pass`]); with more it is read in order instead.
const ONE_PASS_LIMIT: u64 = EXACT_COUNT_LIMIT;
/// The first of those passes reads at most this many (and one more).
const PROBE_LIMIT: u64 = 256;

/// How long a planner estimate, or what a probe found, is reused for the
/// same query.
const ESTIMATE_TTL: std::time::Duration = std::time::Duration::from_secs(10);
/// Most estimates remembered; the memory is cleared when it fills.
const ESTIMATES_KEPT: usize = 4096;

/// What was recently learnt about how many rows a statement yields, by
/// statement: the planner's estimates (a first page of a large list then
/// costs its own SELECT only), and what a search's probe found when it
/// matched too many to sort (the same search soon after is walked at once).
#[derive(Debug, Clone, Default)]
pub struct Estimates {
    planned: Memo<u64>,
    probed: Memo<(u64, bool)>,
}

/// Values by statement, each reused for [`ESTIMATE_TTL`].
#[derive(Debug, Clone)]
struct Memo<V>(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, V)>>>,
);

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Self(Default::default())
    }
}

impl<V: Copy> Memo<V> {
    fn get(&self, key: &str) -> Option<V> {
        let map = self.0.lock().ok()?;
        map.get(key)
            .filter(|(at, _)| at.elapsed() < ESTIMATE_TTL)
            .map(|(_, v)| *v)
    }

    fn put(&self, key: String, v: V) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= ESTIMATES_KEPT {
                map.clear();
            }
            map.insert(key, (std::time::Instant::now(), v));
        }
    }
}

/// The key a statement's estimates are remembered by: its SQL and values.
fn statement_key(backend: DbBackend, rows: &SelectStatement) -> String {
    let built = backend.build(rows);
    format!("{}\n{:?}", built.sql, built.values)
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
    let key = statement_key(db.get_database_backend(), rows);
    planned_rows_by(db, estimates, rows, key).await
}

/// [`planned_rows`], remembered by `key` (the statement's own).
async fn planned_rows_by(
    db: &impl ConnectionTrait,
    estimates: &Estimates,
    rows: &SelectStatement,
    key: String,
) -> Result<u64, StoreError> {
    if let Some(n) = estimates.planned.get(&key) {
        return Ok(n);
    }
    let n = estimate(db, rows).await?;
    estimates.planned.put(key, n);
    Ok(n)
}

/// The first `limit` rows of `rows` in `order`, and how many rows `rows`
/// yields, from one statement: the matches (at most [`ONE_PASS_LIMIT`] + 1
/// of them, or all of those to be fetched and sorted anyway) are counted
/// by a window over them while they are sorted. Not tried on backends
/// other than PostgreSQL; [`OnePass::TooMany`] when there are more.
///
/// For a search the planner expects few matches for, PostgreSQL fetches
/// every match from the trigram index to sort them anyway; counting them
/// in a second statement fetched the same heap pages again (a 3-character
/// string matching 1,600 SMEs: 6 ms for the page, 9 ms more for the
/// count).
///
/// A first, smaller pass reads at most [`PROBE_LIMIT`] + 1 matches: all of
/// them for a rare string; for a common one, enough to tell from how much
/// of the table they came how many match in all. A full pass follows
/// when that is about [`ONE_PASS_LIMIT`] or fewer, or when the matches are
/// few enough to fetch and sort rather than walk, then reading them all
/// ([`full_pass_cap`]): a string matching 16,000 of 10,000,000 SMEs no
/// longer fetches 4,001 of them (80–120 ms) to learn that it matches too
/// many to sort.
///
/// When the planner expects more than [`TRUST_ESTIMATE_ABOVE`] matches, the
/// page is walked, as the planner itself would walk it but reading the
/// order's index alone where it carries what a search tests (a string
/// matching 63,000 of 10,000,000 SMEs: 4 ms, where a probe's bitmap of
/// them all took 22–27 ms), and the estimate is the total. Otherwise the
/// passes of a search the trigram index serves (`trigrams`) are kept to
/// that index's bitmap, which bounds them by the matches. What the passes
/// found for a search matching too many is remembered for
/// [`ESTIMATE_TTL`]: the same search in that time skips them (5.5 ms of a
/// 16,000-match search's 9 ms in the database at 10M), its total the one
/// found then.
pub(super) async fn first_page_in_one_pass(
    db: &(impl ConnectionTrait + TransactionTrait),
    estimates: &Estimates,
    rows: SelectStatement,
    table: DynIden,
    order: OrderBy,
    limit: u64,
    trigrams: bool,
) -> Result<OnePass, StoreError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(OnePass::NotTried);
    }
    // One key for both memos: the statement's SQL is built once.
    let key = statement_key(DbBackend::Postgres, &rows);
    let estimate = planned_rows_by(db, estimates, &rows, key.clone()).await?;
    if estimate > TRUST_ESTIMATE_ABOVE {
        return Ok(OnePass::TooMany {
            about: estimate,
            walk: true,
        });
    }
    if let Some((about, walk)) = estimates.probed.get(&key) {
        return Ok(OnePass::TooMany { about, walk });
    }
    // The passes in a transaction (or savepoint) of their own, so what it
    // sets stays with them.
    let txn = db.begin().await?;
    txn.execute_unprepared(if trigrams { BITMAP_ONLY } else { SERIAL })
        .await?;
    let pass = |cap| one_pass(&txn, rows.clone(), table.clone(), order.clone(), limit, cap);
    let outcome = match pass(PROBE_LIMIT).await? {
        Pass::All(found, total) => OnePass::Page(found, total),
        Pass::More(sample) => match full_pass_cap(&sample, estimate) {
            Err(decided) => decided,
            Ok(cap) => match pass(cap).await? {
                Pass::All(found, total) => OnePass::Page(found, total),
                Pass::More(larger) => too_many(&larger, estimate),
            },
        },
    };
    txn.commit().await?;
    if let OnePass::TooMany { about, walk } = outcome {
        estimates.probed.put(key, (about, walk));
    }
    Ok(outcome)
}

/// A pass without parallel workers: it stops at its cap.
const SERIAL: &str = "SET LOCAL max_parallel_workers_per_gather = 0";
/// A pass of a search the trigram index serves reads the matches it finds
/// there (a bitmap scan, which also gives them in the table's order), never
/// a walk of the whole table or of another index, however few matches the
/// planner expects.
const BITMAP_ONLY: &str = "SET LOCAL max_parallel_workers_per_gather = 0; \
     SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off; \
     SET LOCAL enable_indexonlyscan = off; SET LOCAL plan_cache_mode = force_generic_plan";

/// The full pass after a probe reads up to this many times the matches
/// the probe's sample puts there, the sample being a sample.
const SAMPLE_MARGIN: f64 = 1.25;

/// The probe's sample puts the matches at most this many: a full pass
/// counts them, exactly, if [`ONE_PASS_LIMIT`] or fewer.
const FULL_PASS_UP_TO: f64 = SAMPLE_MARGIN * ONE_PASS_LIMIT as f64;

/// Whether a full pass follows a probe that read `sample`, and how many
/// matches it reads at most. When the page is to be fetched and sorted
/// rather than walked, all of them by the sample (and at least
/// [`ONE_PASS_LIMIT`]): the page and its exact count then come from that
/// one pass (a string matching 4,500 of 10,000,000 SMEs had a full pass
/// stop at 4,001 and the page fetch every match again, 30–48 ms). When it
/// is to be walked, [`ONE_PASS_LIMIT`] if the sample or the planner's
/// `estimate` puts the matches near that or below, so a count that can be
/// exact is; else none (at 1M SMEs a full pass that stopped at 4,001 of
/// 5,400 digit matches, to count exactly any string matching 4,000 or
/// fewer, took 10 of a search's 18 ms, the walk after it 4; one that read
/// all 1,600 matches of a syllable and a trade, 9 ms, where a walk tests
/// 32,000 index entries in about 5). Without the table's sizes, the
/// planner's `estimate` decides. With no full pass, what [`too_many`]
/// decided from the sample.
fn full_pass_cap(sample: &Sample, estimate: u64) -> Result<u64, OnePass> {
    let expected = sample.matches();
    match too_many(sample, estimate) {
        OnePass::TooMany { walk: false, .. } => {
            let all = SAMPLE_MARGIN * expected.unwrap_or(estimate as f64);
            Ok(Ord::max(ONE_PASS_LIMIT, all.ceil() as u64))
        }
        // The planner's estimate, from names across the table, as a second
        // opinion: matches crowded at the table's start (a batch imported
        // at once) lead the sample to put them too high.
        _ if expected.is_some_and(|n| n.min(estimate as f64) <= FULL_PASS_UP_TO) => {
            Ok(ONE_PASS_LIMIT)
        }
        decided => Err(decided),
    }
}

/// What one capped pass over the matches read.
enum Pass {
    /// Every match: the page's rows, and how many match.
    All(Vec<sea_orm::QueryResult>, u64),
    /// More than the cap.
    More(Sample),
}

/// One pass over at most `cap` + 1 of the matches, sorted and counted: the
/// first `limit` of them in `order`, with where in the table they lie.
async fn one_pass(
    db: &impl ConnectionTrait,
    rows: SelectStatement,
    table: DynIden,
    order: OrderBy,
    limit: u64,
    cap: u64,
) -> Result<Pass, StoreError> {
    let relation = table.to_string();
    let mut capped = rows;
    capped
        .expr_as(
            Expr::cust("(ctid::text::point)[0]"),
            Alias::new(ONE_PASS_BLOCK),
        )
        .limit(cap + 1);
    let mut page = Query::select();
    page.column(Asterisk)
        .expr_as(Expr::cust("COUNT(*) OVER ()"), Alias::new(ONE_PASS_TOTAL))
        .expr_as(
            Expr::cust(format!("MAX({ONE_PASS_BLOCK}) OVER ()")),
            Alias::new(ONE_PASS_LAST_BLOCK),
        )
        // The table's size now, and its rows as of its last analysis (our
        // own table's name, no caller's text).
        .expr_as(
            Expr::cust(format!(
                "(SELECT pg_relation_size('{relation}') / current_setting('block_size')::int)::float8"
            )),
            Alias::new(ONE_PASS_PAGES),
        )
        .expr_as(
            Expr::cust(format!(
                "(SELECT reltuples FROM pg_class WHERE oid = '{relation}'::regclass)::float8"
            )),
            Alias::new(ONE_PASS_TUPLES),
        )
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
    let Some(first) = found.first() else {
        return Ok(Pass::All(found, 0));
    };
    let total = u64::try_from(first.try_get::<i64>("", ONE_PASS_TOTAL)?).unwrap_or(0);
    if total <= cap {
        return Ok(Pass::All(found, total));
    }
    Ok(Pass::More(Sample {
        seen: total,
        last_block: first.try_get::<Option<f64>>("", ONE_PASS_LAST_BLOCK)?,
        pages: first.try_get::<Option<f64>>("", ONE_PASS_PAGES)?,
        tuples: first.try_get::<Option<f64>>("", ONE_PASS_TUPLES)?,
    }))
}

/// Matches read in the table's physical order (a bitmap scan): `seen` of
/// them, up to block `last_block` of `pages`, in a table of about `tuples`
/// rows.
struct Sample {
    seen: u64,
    last_block: Option<f64>,
    pages: Option<f64>,
    tuples: Option<f64>,
}

impl Sample {
    /// How many rows match in all, about: matches spread evenly over the
    /// table number `seen / fraction read`. None without the table's size.
    fn matches(&self) -> Option<f64> {
        let (last_block, pages) = (self.last_block?, self.pages?);
        let read = ((last_block + 1.0) / pages.max(1.0)).clamp(f64::MIN_POSITIVE, 1.0);
        Some(self.seen as f64 / read)
    }
}

/// Rows tested per match fetched, about, in the time the two take. On the
/// benchmark databases, with PostgreSQL's default 128 MB of buffers (a
/// match's heap page read from the operating system's cache): at 1M,
/// fetching and sorting 1,555 matches took 9.3 ms (6 µs a match) and a
/// walk tested 17,400 entries in 3.2 ms (0.2 µs an entry); at 10M, walks
/// tested 29,000–37,000 rows in 9–18 ms and 16,000 matches took 27–81 ms
/// (the figure was 7 then; 20 measured better: strings of sampled names at
/// 8 callers, p99 45–48 ms at 1M against 55–62 ms, and 110 against
/// 114–120 ms at 10M).
const WALKED_ROWS_PER_FETCH: f64 = 20.0;

/// What to do about a search with more matches than a pass read, `sample`
/// being what it read. A page walked in the order's index tests `page
/// size / share of rows that match` rows, and fetching every match costs
/// each one's heap page. The walk is chosen when it tests fewer rows than
/// [`WALKED_ROWS_PER_FETCH`] times the matches: a search matching 16,000 of
/// 10,000,000 SMEs walks about 32,000 rows instead of fetching 16,000 heap
/// pages; one matching 4,000 is fetched and sorted. Without the table's
/// sizes, the planner's `estimate` stands for the total and the page is
/// walked.
fn too_many(sample: &Sample, estimate: u64) -> OnePass {
    let (Some(matches), Some(tuples)) = (sample.matches(), sample.tuples) else {
        return OnePass::TooMany {
            about: Ord::max(estimate, sample.seen),
            walk: true,
        };
    };
    let walked = FIRST_PAGE_ROWS * tuples.max(matches) / matches;
    OnePass::TooMany {
        about: matches as u64,
        walk: walked < WALKED_ROWS_PER_FETCH * matches,
    }
}

/// The rows of a first page the walk's cost is reckoned for.
const FIRST_PAGE_ROWS: f64 = 51.0;

/// What [`first_page_in_one_pass`] found.
pub(super) enum OnePass {
    /// The page's rows, and how many rows match in all.
    Page(Vec<sea_orm::QueryResult>, u64),
    /// More than [`ONE_PASS_LIMIT`] rows match, `about` this many in all:
    /// read the page by walking its order (`walk`), or by fetching and
    /// sorting every match.
    TooMany { about: u64, walk: bool },
    /// Not tried: not PostgreSQL.
    NotTried,
}

/// An ORDER BY: each expression, its direction and where NULLs go.
pub(super) type OrderBy = Vec<(Expr, SqlOrder, Option<NullOrdering>)>;

/// The alias a count is read from.
pub(super) const COUNTED: &str = "n";

/// The column [`first_page_in_one_pass`] counts the matches in.
const ONE_PASS_TOTAL: &str = "partnership_matching_total";
/// The heap block of each match [`first_page_in_one_pass`] reads, the last
/// of them, the table's blocks and its rows.
const ONE_PASS_BLOCK: &str = "partnership_block";
const ONE_PASS_LAST_BLOCK: &str = "partnership_last_block";
const ONE_PASS_PAGES: &str = "partnership_pages";
const ONE_PASS_TUPLES: &str = "partnership_tuples";

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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seen: u64, last_block: f64, pages: f64, tuples: f64) -> Sample {
        Sample {
            seen,
            last_block: Some(last_block),
            pages: Some(pages),
            tuples: Some(tuples),
        }
    }

    fn walks(seen: u64, last_block: f64, pages: f64, tuples: f64) -> (u64, bool) {
        match too_many(&sample(seen, last_block, pages, tuples), 0) {
            OnePass::TooMany { about, walk } => (about, walk),
            _ => panic!("too many"),
        }
    }

    /// Many matches spread thin are walked; a few more than one pass reads
    /// at national size are fetched and sorted; without the table's sizes,
    /// walked.
    #[test]
    fn walks_where_testing_rows_costs_less_than_fetching_matches() {
        // 4,001 of about 16,000 matches in the first quarter of 10M rows.
        let (about, walk) = walks(4_001, 99_999.0, 400_000.0, 1e7);
        assert!((15_900..16_100).contains(&about), "{about}");
        assert!(walk);
        // The probe's 257 of them, in the first 1/62 of the table.
        let (about, walk) = walks(257, 6_399.0, 400_000.0, 1e7);
        assert!((15_900..16_200).contains(&about), "{about}");
        assert!(walk);
        // 4,001 of about 5,000 in the first 80%.
        let (about, walk) = walks(4_001, 319_999.0, 400_000.0, 1e7);
        assert!((4_900..5_100).contains(&about), "{about}");
        assert!(!walk);
        // At 1M rows, 4,000 matches and more are always walked.
        assert!(walks(4_001, 39_999.0, 40_000.0, 1e6).1);
        let no_size = Sample {
            seen: 4_001,
            last_block: None,
            pages: Some(1.0),
            tuples: Some(1.0),
        };
        assert!(no_size.matches().is_none());
        assert!(matches!(
            too_many(&no_size, 9_000),
            OnePass::TooMany {
                about: 9_000,
                walk: true
            }
        ));
    }

    /// The full pass runs when the probe's sample, or the planner, puts the
    /// matches near the one pass's limit or below, reading them all when
    /// they are to be fetched and sorted anyway; not for a string to be
    /// walked.
    #[test]
    fn the_probe_decides_whether_a_full_pass_runs() {
        let cap = |sample: &Sample, estimate| full_pass_cap(sample, estimate).ok();
        // 257 in the first 1/62 of 10M rows: about 16,000, walked.
        assert_eq!(cap(&sample(257, 6_399.0, 400_000.0, 1e7), 18_000), None);
        // About 3,000 of 10M: fewer than a walk pays for, all read with a
        // margin.
        let found = cap(&sample(257, 34_266.0, 400_000.0, 1e7), 3_000);
        assert!(
            found.is_some_and(|c| (3_700..3_800).contains(&c)),
            "{found:?}"
        );
        // About 2,570 of 1M: walked, no full pass; about 1,100: read.
        assert_eq!(cap(&sample(257, 3_999.0, 40_000.0, 1e6), 2_600), None);
        let found = cap(&sample(257, 9_345.0, 40_000.0, 1e6), 1_100);
        assert!(
            found.is_some_and(|c| (1_360..1_390).contains(&c)),
            "{found:?}"
        );
        // Matches crowded at the start of 4,100 rows: the sample puts them
        // at 1,430, the planner at 900, so a pass counts up to 1,000; with
        // the planner at 2,000 too, walked.
        let crowded = sample(257, 17.0, 100.0, 4_100.0);
        assert_eq!(cap(&crowded, 900), Some(ONE_PASS_LIMIT));
        assert_eq!(cap(&crowded, 2_000), None);
        // Without the table's sizes, walked.
        let no_size = Sample {
            seen: 257,
            last_block: None,
            pages: None,
            tuples: None,
        };
        assert_eq!(cap(&no_size, 9_000), None);
    }
}
