//! List queries compiled to SQL: a typed [`Filter`] becomes a sea-query
//! condition (every caller value is a bound parameter), an [`Order`]
//! becomes `ORDER BY` and a keyset condition, a [`Search`] becomes an
//! indexed substring match, and `total_size` is counted only where that is
//! cheap.

use sea_orm::sea_query::extension::postgres::PgExpr;
use sea_orm::sea_query::{
    Alias, Asterisk, BinOper, Condition, Expr, ExprTrait, Func, IntoIden, JoinType, LikeExpr,
    NullOrdering, Query, SelectStatement,
};
use sea_orm::{ConnectionTrait, DbBackend, Order as SqlOrder, Value};

use super::StoreError;
use super::table::col;
use crate::domain::{Collection, Cursor, Field, Filter, Literal, Op, Order, Search, Wildcard};

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

/// The column of a field that lives in the listed table itself; `None` for
/// a traversal.
pub(super) fn column(field: Field) -> Option<&'static str> {
    Some(match field {
        Field::DisplayName => "display_name",
        Field::BusinessNumber => "business_number",
        Field::Size => "size",
        Field::Region => "region",
        Field::KsicCode => "ksic_code",
        Field::EmployeeCount => "employee_count",
        Field::CreateTime => "create_time",
        Field::UpdateTime => "update_time",
        Field::Kind => "kind",
        Field::State => "state",
        Field::HostCompany => "host_company_id",
        Field::StartDate => "start_date",
        Field::EndDate => "end_date",
        Field::BudgetKrw => "budget_krw",
        Field::Sme => "sme_id",
        Field::SupportAmountKrw => "support_amount_krw",
        Field::JoinedDate => "joined_date",
        Field::ProgramsKind | Field::ProgramsHostCompany | Field::ParticipationsSme => {
            return None;
        }
    })
}

fn nullable(collection: Collection, field: Field) -> bool {
    crate::domain::fields_of(collection)
        .iter()
        .any(|s| s.field == field && s.nullable)
}

fn value(literal: &Literal) -> Value {
    match literal {
        Literal::Text(s) => s.clone().into(),
        Literal::Int(n) => (*n).into(),
        Literal::Date(d) => (*d).into(),
        Literal::Time(t) => (*t).into(),
        Literal::Null => Value::String(None),
    }
}

pub(super) fn qualified(table: &'static str, column: &'static str) -> Expr {
    Expr::col((
        Alias::new(table).into_iden(),
        Alias::new(column).into_iden(),
    ))
}

/// A LIKE pattern matching `text` literally, with `wildcard`. The LIKE
/// metacharacters in caller text are escaped: with `\`, PostgreSQL's
/// default escape (its `ILIKE … ESCAPE` does not render), elsewhere with
/// `!` and an explicit `ESCAPE`.
fn like(backend: DbBackend, wildcard: Option<Wildcard>, text: &str) -> LikeExpr {
    let like = LikeExpr::new(like_pattern(backend, wildcard, text));
    if backend == DbBackend::Postgres {
        like
    } else {
        like.escape(ESCAPE_ELSEWHERE)
    }
}

/// The escape character of LIKE patterns other than PostgreSQL's.
const ESCAPE_ELSEWHERE: char = '!';

/// The text of [`like`]'s pattern.
fn like_pattern(backend: DbBackend, wildcard: Option<Wildcard>, text: &str) -> String {
    let escape = if backend == DbBackend::Postgres {
        '\\'
    } else {
        ESCAPE_ELSEWHERE
    };
    let mut escaped = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if c == escape || matches!(c, '%' | '_') {
            escaped.push(escape);
        }
        escaped.push(c);
    }
    match wildcard {
        Some(Wildcard::Prefix) => format!("{escaped}%"),
        Some(Wildcard::Suffix) => format!("%{escaped}"),
        Some(Wildcard::Contains) | None => format!("%{escaped}%"),
    }
}

/// A case-insensitive LIKE: `ILIKE` on PostgreSQL; MariaDB's collation and
/// SQLite's LIKE ignore case already.
fn like_ci(backend: DbBackend, expr: Expr, pattern: LikeExpr) -> Expr {
    match backend {
        DbBackend::Postgres => expr.ilike(pattern),
        _ => expr.like(pattern),
    }
}

/// Compiles filters, orders and searches of one listed table.
pub(super) struct Compiler {
    pub backend: DbBackend,
    pub collection: Collection,
    pub table: &'static str,
    /// Name columns with their table, for queries that join another.
    pub qualify: bool,
}

impl Compiler {
    /// A column of the listed table.
    fn col(&self, name: &'static str) -> Expr {
        if self.qualify {
            qualified(self.table, name)
        } else {
            col(name)
        }
    }

    /// A case-insensitive match of the text column `name` against
    /// `pattern`. On PostgreSQL a display name is matched through its stored
    /// lower-cased copy, `search_name LIKE lower(…)` (migration 6): its
    /// trigram index serves the match, and a walk in another index's order
    /// tests rows with a plain LIKE instead of an ILIKE that lower-cases
    /// every row it tests (four times slower on Korean text).
    fn matches(&self, name: &'static str, wildcard: Option<Wildcard>, text: &str) -> Expr {
        if self.backend == DbBackend::Postgres && name == "display_name" {
            // The pattern is lower-cased by PostgreSQL's own `lower`, as the
            // column is; its escape character `\` has no case.
            let pattern = like_pattern(self.backend, wildcard, text);
            self.col("search_name")
                .binary(BinOper::Like, Func::lower(Expr::val(pattern)))
        } else {
            like_ci(
                self.backend,
                self.col(name),
                like(self.backend, wildcard, text),
            )
        }
    }

    /// The condition of `filter`. Every part is two-valued (never NULL), so
    /// `NOT` means exactly "does not match".
    pub fn filter(&self, filter: &Filter) -> Condition {
        match filter {
            Filter::All(parts) => parts
                .iter()
                .fold(Condition::all(), |c, p| c.add(self.filter(p))),
            Filter::Any(parts) => parts
                .iter()
                .fold(Condition::any(), |c, p| c.add(self.filter(p))),
            Filter::Not(inner) => self.filter(inner).not(),
            Filter::Present(field) => match column(*field) {
                Some(c) => Condition::all().add(self.col(c).is_not_null()),
                None => self.traversal(*field, None),
            },
            Filter::Matches {
                field,
                wildcard,
                text,
            } => match column(*field) {
                Some(c) => self.set(*field, self.matches(c, Some(*wildcard), text)),
                None => Condition::all().add(Expr::val(false)),
            },
            Filter::Compare { field, op, value } => match column(*field) {
                Some(c) => self.compare(*field, c, *op, value),
                None => {
                    let inner = self.traversal_compare(*field, Op::Eq, value);
                    match op {
                        Op::Ne => self.traversal(*field, Some(inner.not())),
                        _ => self.traversal(*field, Some(inner)),
                    }
                }
            },
        }
    }

    /// `expr`, false where `field` is unset rather than NULL.
    fn set(&self, field: Field, expr: Expr) -> Condition {
        let mut c = Condition::all().add(expr);
        if nullable(self.collection, field)
            && let Some(name) = column(field)
        {
            c = c.add(self.col(name).is_not_null());
        }
        c
    }

    fn compare(&self, field: Field, name: &'static str, op: Op, literal: &Literal) -> Condition {
        if *literal == Literal::Null {
            return Condition::all().add(match op {
                Op::Ne => self.col(name).is_not_null(),
                _ => self.col(name).is_null(),
            });
        }
        let v = value(literal);
        let e = self.col(name);
        match op {
            Op::Eq => self.set(field, e.eq(v)),
            // "Not equal" includes unset values.
            Op::Ne => self.set(field, self.col(name).eq(v)).not(),
            Op::Lt => self.set(field, e.lt(v)),
            Op::Le => self.set(field, e.lte(v)),
            Op::Gt => self.set(field, e.gt(v)),
            Op::Ge => self.set(field, e.gte(v)),
        }
    }

    /// The condition on the related row of a traversal.
    fn traversal_compare(&self, field: Field, op: Op, literal: &Literal) -> Condition {
        let (table, name) = match field {
            Field::ProgramsKind => ("tg", "kind"),
            Field::ProgramsHostCompany => ("tg", "host_company_id"),
            _ => ("tp", "sme_id"),
        };
        let e = qualified(table, name);
        Condition::all().add(match op {
            Op::Ne => e.ne(value(literal)),
            _ => e.eq(value(literal)),
        })
    }

    /// Rows related through `field` to a live row matching `inner` (any
    /// live related row without it): `id IN (SELECT …)`.
    fn traversal(&self, field: Field, inner: Option<Condition>) -> Condition {
        let mut sub = Query::select();
        let related = match field {
            // SMEs through their live participations in live programs.
            Field::ProgramsKind | Field::ProgramsHostCompany => {
                sub.column((Alias::new("tp"), Alias::new("sme_id")))
                    .from_as(Alias::new("participations"), Alias::new("tp"))
                    .join_as(
                        JoinType::InnerJoin,
                        Alias::new("programs"),
                        Alias::new("tg"),
                        qualified("tg", "id").equals((Alias::new("tp"), Alias::new("program_id"))),
                    )
                    .and_where(qualified("tp", "delete_time").is_null())
                    .and_where(qualified("tg", "delete_time").is_null());
                "id"
            }
            // Programs through their live participations.
            _ => {
                sub.column((Alias::new("tp"), Alias::new("program_id")))
                    .from_as(Alias::new("participations"), Alias::new("tp"))
                    .and_where(qualified("tp", "delete_time").is_null());
                "id"
            }
        };
        if let Some(inner) = inner {
            sub.cond_where(inner);
        }
        Condition::all().add(qualified(self.table, related).in_subquery(sub.to_owned()))
    }

    /// A search over the display name, and the business number's digits
    /// for enterprises.
    pub fn search(&self, search: &Search) -> Condition {
        let mut c = Condition::any().add(self.matches("display_name", None, &search.text));
        if let Some(digits) = &search.digits
            && matches!(self.collection, Collection::Companies | Collection::Smes)
        {
            // A fixed expression of ours (no caller text), the one the
            // PostgreSQL trigram index is built on.
            let number = Expr::cust("replace(business_number, '-', '')");
            c = c.add(
                Condition::all()
                    .add(number.like(like(self.backend, None, digits)))
                    .add(self.col("business_number").is_not_null()),
            );
        }
        c
    }

    /// The ORDER BY of `order`, then `keys` to break ties.
    pub fn order_by(
        &self,
        order: &Order,
        keys: &[&'static str],
    ) -> Vec<(Expr, SqlOrder, Option<NullOrdering>)> {
        let mut out = Vec::new();
        for k in &order.keys {
            let Some(name) = column(k.field) else {
                continue;
            };
            let (dir, nulls) = direction(k.descending);
            out.push((self.col(name), dir, k.nullable.then_some(nulls)));
        }
        let (dir, _) = direction(order.ties_descending());
        for key in keys {
            out.push((self.col(key), dir.clone(), None));
        }
        out
    }

    /// Rows strictly after `cursor` in `order` then `keys`:
    /// `k1 > v1 OR (k1 = v1 AND (k2 > v2 OR …))`, where "after" follows each
    /// key's direction and unset values sort last ascending (first
    /// descending, the exact reverse).
    pub fn after(&self, order: &Order, keys: &[&'static str], cursor: &Cursor) -> Condition {
        struct Key {
            column: &'static str,
            descending: bool,
            nullable: bool,
            value: Literal,
        }
        let mut all: Vec<Key> = order
            .keys
            .iter()
            .zip(&cursor.values)
            .filter_map(|(k, v)| {
                Some(Key {
                    column: column(k.field)?,
                    descending: k.descending,
                    nullable: k.nullable,
                    value: v.clone(),
                })
            })
            .collect();
        for (key, id) in keys.iter().zip(&cursor.keys) {
            all.push(Key {
                column: key,
                descending: order.ties_descending(),
                nullable: false,
                value: Literal::Text(id.as_str().to_owned()),
            });
        }
        // A bound on the leading key lets the database start its index
        // range at the cursor instead of filtering every row before it.
        let mut bound = Condition::all();
        if let Some(first) = all.first()
            && !first.nullable
            && first.value != Literal::Null
        {
            let c = self.col(first.column);
            bound = bound.add(if first.descending {
                c.lte(value(&first.value))
            } else {
                c.gte(value(&first.value))
            });
        }
        // Every key set and running one way: a row comparison, which every
        // backend evaluates as one index range.
        let uniform = all
            .iter()
            .all(|k| !k.nullable && k.value != Literal::Null && k.descending == all[0].descending);
        if uniform && !all.is_empty() {
            let columns = Expr::tuple(all.iter().map(|k| self.col(k.column)));
            let values = Expr::tuple(all.iter().map(|k| Expr::val(value(&k.value))));
            return bound.add(if all[0].descending {
                columns.lt(values)
            } else {
                columns.gt(values)
            });
        }
        let mut rest: Option<Condition> = None;
        for k in all.iter().rev() {
            let c = self.col(k.column);
            let (equal, beyond): (Expr, Option<Condition>) = match (&k.value, k.descending) {
                (Literal::Null, false) => (c.is_null(), None),
                (Literal::Null, true) => (
                    c.is_null(),
                    Some(Condition::all().add(self.col(k.column).is_not_null())),
                ),
                (v, false) => {
                    let gt = self.col(k.column).gt(value(v));
                    let beyond = if k.nullable {
                        Condition::any().add(gt).add(self.col(k.column).is_null())
                    } else {
                        Condition::all().add(gt)
                    };
                    (c.eq(value(v)), Some(beyond))
                }
                (v, true) => (
                    c.eq(value(v)),
                    Some(Condition::all().add(self.col(k.column).lt(value(v)))),
                ),
            };
            let mut level = Condition::any();
            if let Some(beyond) = beyond {
                level = level.add(beyond);
            }
            if let Some(rest) = rest {
                level = level.add(Condition::all().add(equal).add(rest));
            }
            rest = Some(level);
        }
        match rest {
            Some(rest) => bound.add(rest),
            None => Condition::all().add(Expr::val(false)),
        }
    }
}

fn direction(descending: bool) -> (SqlOrder, NullOrdering) {
    if descending {
        (SqlOrder::Desc, NullOrdering::First)
    } else {
        (SqlOrder::Asc, NullOrdering::Last)
    }
}

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
    table: &'static str,
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
        .from_subquery(capped, Alias::new(table))
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
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
        .from_subquery(rows, Alias::new("matching"))
        .to_owned();
    let n: i64 = match db.query_one(&stmt).await? {
        Some(row) => row.try_get("", "n")?,
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
