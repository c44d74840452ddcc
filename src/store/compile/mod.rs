//! The SQL of a list: a typed [`Filter`] becomes a sea-query condition
//! (every caller value is a bound parameter), an [`Order`] becomes
//! `ORDER BY` and a keyset condition, a [`Search`] becomes an indexed
//! substring match. Columns are the tables' typed columns (see
//! [`Table::column`]); a traversal to a related table is a [`Traversal`].

use std::marker::PhantomData;

use sea_orm::sea_query::extension::postgres::PgExpr;
use sea_orm::sea_query::{
    BinOper, Condition, Expr, ExprTrait, Func, JoinType, LikeExpr, NullOrdering, Query,
};
use sea_orm::{DbBackend, DeriveIden, IdenStatic, Order as SqlOrder, Value};

use super::entity::{Derived, Resource, participation, program};
use super::table::{Column, Table, id_column, key_columns};
use crate::domain::{Collection, Cursor, Field, Filter, Literal, Op, Order, Search, Wildcard};

/// A field whose value is in a related table, reached through live rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Traversal {
    /// An SME's programs' kind, through its participations.
    ProgramsKind,
    /// An SME's programs' host company, through its participations.
    ProgramsHostCompany,
    /// A program's participating SMEs.
    ParticipationsSme,
}

impl Traversal {
    /// The traversal `field` is, if it is one.
    pub fn of(field: Field) -> Option<Self> {
        match field {
            Field::ProgramsKind => Some(Self::ProgramsKind),
            Field::ProgramsHostCompany => Some(Self::ProgramsHostCompany),
            Field::ParticipationsSme => Some(Self::ParticipationsSme),
            Field::DisplayName
            | Field::BusinessNumber
            | Field::Size
            | Field::Region
            | Field::KsicCode
            | Field::EmployeeCount
            | Field::CreateTime
            | Field::UpdateTime
            | Field::Kind
            | Field::State
            | Field::HostCompany
            | Field::StartDate
            | Field::EndDate
            | Field::BudgetKrw
            | Field::Sme
            | Field::SupportAmountKrw
            | Field::JoinedDate => None,
        }
    }

    /// The compared column of the related row.
    fn column(self) -> Expr {
        match self {
            Self::ProgramsKind => Expr::col((Via::Program, program::Column::Kind)),
            Self::ProgramsHostCompany => Expr::col((Via::Program, program::Column::HostCompanyId)),
            Self::ParticipationsSme => {
                Expr::col((Via::Participation, participation::Column::SmeId))
            }
        }
    }
}

/// The aliases of the related tables in a traversal's subquery.
#[derive(DeriveIden)]
enum Via {
    Participation,
    Program,
}

/// The live-row condition of `E`'s table under `alias`.
fn live_as<E: Resource>(alias: Via) -> Expr {
    Expr::col((alias, E::DELETE_TIME)).is_null()
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

/// A LIKE pattern matching `text` literally, with `wildcard`. The LIKE
/// metacharacters in caller text are escaped: with `\`, PostgreSQL's
/// default escape (its `ILIKE … ESCAPE` does not render), elsewhere with
/// `!` and an explicit `ESCAPE`.
pub(super) fn like(backend: DbBackend, wildcard: Option<Wildcard>, text: &str) -> LikeExpr {
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
pub(super) struct Compiler<T> {
    backend: DbBackend,
    /// Name columns with their table, for queries that join another.
    qualify: bool,
    table: PhantomData<fn() -> T>,
}

impl<T: Table> Compiler<T> {
    /// For a query of `T`'s table alone.
    pub fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            qualify: false,
            table: PhantomData,
        }
    }

    /// For a query that joins `T`'s table with another.
    pub fn qualified(backend: DbBackend) -> Self {
        Self {
            qualify: true,
            ..Self::new(backend)
        }
    }

    /// A column of the listed table.
    pub fn col(&self, column: Column<T>) -> Expr {
        if self.qualify {
            Expr::col((T::Entity::default(), column))
        } else {
            Expr::col(column)
        }
    }

    /// The column of `field`, if the listed table keeps it.
    fn field(&self, field: Field) -> Option<Expr> {
        T::column(field).map(|c| self.col(c))
    }

    /// A case-insensitive match of the text field `field` against
    /// `pattern`. On PostgreSQL a display name is matched through its stored
    /// lower-cased copy, `search_name LIKE lower(…)` (migration 6): its
    /// trigram index serves the match, and a walk in another index's order
    /// tests rows with a plain LIKE instead of an ILIKE that lower-cases
    /// every row it tests (four times slower on Korean text).
    fn matches(&self, field: Field, wildcard: Option<Wildcard>, text: &str) -> Option<Expr> {
        let column = self.field(field)?;
        Some(
            if self.backend == DbBackend::Postgres && field == Field::DisplayName {
                // The pattern is lower-cased by PostgreSQL's own `lower`, as
                // the column is; its escape character `\` has no case.
                let pattern = like_pattern(self.backend, wildcard, text);
                let search_name = if self.qualify {
                    Expr::col((T::Entity::default(), Derived::SearchName))
                } else {
                    Expr::col(Derived::SearchName)
                };
                search_name.binary(BinOper::Like, Func::lower(Expr::val(pattern)))
            } else {
                like_ci(self.backend, column, like(self.backend, wildcard, text))
            },
        )
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
            Filter::Present(field) => match (self.field(*field), Traversal::of(*field)) {
                (Some(c), _) => Condition::all().add(c.is_not_null()),
                (None, Some(t)) => self.traversal(t, None),
                (None, None) => never(),
            },
            Filter::Matches {
                field,
                wildcard,
                text,
            } => match self.matches(*field, Some(*wildcard), text) {
                Some(e) => self.set(*field, e),
                None => never(),
            },
            Filter::Compare { field, op, value } => {
                match (self.field(*field), Traversal::of(*field)) {
                    (Some(_), _) => self.compare(*field, *op, value),
                    (None, Some(t)) => {
                        let inner = Condition::all().add(t.column().eq(self::value(value)));
                        match op {
                            Op::Ne => self.traversal(t, Some(inner.not())),
                            _ => self.traversal(t, Some(inner)),
                        }
                    }
                    (None, None) => never(),
                }
            }
        }
    }

    /// `expr`, false where `field` is unset rather than NULL.
    fn set(&self, field: Field, expr: Expr) -> Condition {
        let mut c = Condition::all().add(expr);
        if nullable(T::COLLECTION, field)
            && let Some(column) = self.field(field)
        {
            c = c.add(column.is_not_null());
        }
        c
    }

    fn compare(&self, field: Field, op: Op, literal: &Literal) -> Condition {
        let Some(e) = self.field(field) else {
            return never();
        };
        if *literal == Literal::Null {
            return Condition::all().add(match op {
                Op::Ne => e.is_not_null(),
                _ => e.is_null(),
            });
        }
        let v = value(literal);
        match op {
            Op::Eq => self.set(field, e.eq(v)),
            // "Not equal" includes unset values.
            Op::Ne => self.set(field, e.eq(v)).not(),
            Op::Lt => self.set(field, e.lt(v)),
            Op::Le => self.set(field, e.lte(v)),
            Op::Gt => self.set(field, e.gt(v)),
            Op::Ge => self.set(field, e.gte(v)),
        }
    }

    /// Rows related through `traversal` to a live row matching `inner` (any
    /// live related row without it): `id IN (SELECT …)`.
    fn traversal(&self, traversal: Traversal, inner: Option<Condition>) -> Condition {
        let mut sub = Query::select();
        let participations = (participation::Entity, Via::Participation);
        match traversal {
            // SMEs through their live participations in live programs.
            Traversal::ProgramsKind | Traversal::ProgramsHostCompany => {
                sub.column((Via::Participation, participation::Column::SmeId))
                    .from_as(participations.0, participations.1)
                    .join_as(
                        JoinType::InnerJoin,
                        program::Entity,
                        Via::Program,
                        Expr::col((Via::Program, program::Column::Id))
                            .equals((Via::Participation, participation::Column::ProgramId)),
                    )
                    .and_where(live_as::<participation::Entity>(Via::Participation))
                    .and_where(live_as::<program::Entity>(Via::Program));
            }
            // Programs through their live participations.
            Traversal::ParticipationsSme => {
                sub.column((Via::Participation, participation::Column::ProgramId))
                    .from_as(participations.0, participations.1)
                    .and_where(live_as::<participation::Entity>(Via::Participation));
            }
        }
        if let Some(inner) = inner {
            sub.cond_where(inner);
        }
        let id = Expr::col((T::Entity::default(), id_column::<T>()));
        Condition::all().add(id.in_subquery(sub.to_owned()))
    }

    /// Whether PostgreSQL's trigram indexes serve `search`: it holds a word
    /// of three letters or digits or more. pg_trgm takes trigrams from the
    /// words of a pattern, and from a shorter word next to a wildcard none;
    /// such a pattern is answered by reading the whole index. Its digits
    /// (a business number's) then hold three in a row too.
    pub fn served_by_trigrams(search: &Search) -> bool {
        search
            .text
            .split(|c: char| !c.is_alphanumeric())
            .any(|word| word.chars().count() >= 3)
    }

    /// A search over the display name, and the business number's digits
    /// for enterprises.
    pub fn search(&self, search: &Search) -> Condition {
        let mut c = Condition::any();
        if let Some(name) = self.matches(Field::DisplayName, None, &search.text) {
            c = c.add(name);
        }
        if let Some(digits) = &search.digits
            && let Some(number) = T::column(Field::BusinessNumber)
        {
            // A fixed expression of ours (no caller text), the one the
            // PostgreSQL trigram index is built on.
            let digits_only = Expr::cust(format!("replace({}, '-', '')", number.as_str()));
            c = c.add(
                Condition::all()
                    .add(digits_only.like(like(self.backend, None, digits)))
                    .add(self.col(number).is_not_null()),
            );
        }
        c
    }

    /// The ORDER BY of `order`, then the table's key columns to break ties.
    pub fn order_by(&self, order: &Order) -> Vec<(Expr, SqlOrder, Option<NullOrdering>)> {
        let mut out = Vec::new();
        for k in &order.keys {
            let Some(column) = self.field(k.field) else {
                continue;
            };
            let (dir, nulls) = direction(k.descending);
            out.push((column, dir, k.nullable.then_some(nulls)));
        }
        let (dir, _) = direction(order.ties_descending());
        for key in key_columns::<T>() {
            out.push((self.col(key), dir.clone(), None));
        }
        out
    }

    /// Rows strictly after `cursor` in `order` then the key columns:
    /// `k1 > v1 OR (k1 = v1 AND (k2 > v2 OR …))`, where "after" follows each
    /// key's direction and unset values sort last ascending (first
    /// descending, the exact reverse).
    pub fn after(&self, order: &Order, cursor: &Cursor) -> Condition {
        struct Key {
            column: Expr,
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
                    column: self.field(k.field)?,
                    descending: k.descending,
                    nullable: k.nullable,
                    value: v.clone(),
                })
            })
            .collect();
        for (key, id) in key_columns::<T>().into_iter().zip(&cursor.keys) {
            all.push(Key {
                column: self.col(key),
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
            let c = first.column.clone();
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
            let columns = Expr::tuple(all.iter().map(|k| k.column.clone()));
            let values = Expr::tuple(all.iter().map(|k| Expr::val(value(&k.value))));
            return bound.add(if all[0].descending {
                columns.lt(values)
            } else {
                columns.gt(values)
            });
        }
        let mut rest: Option<Condition> = None;
        for k in all.iter().rev() {
            let c = || k.column.clone();
            let (equal, beyond): (Expr, Option<Condition>) = match (&k.value, k.descending) {
                (Literal::Null, false) => (c().is_null(), None),
                (Literal::Null, true) => {
                    (c().is_null(), Some(Condition::all().add(c().is_not_null())))
                }
                (v, false) => {
                    let gt = c().gt(value(v));
                    let beyond = if k.nullable {
                        Condition::any().add(gt).add(c().is_null())
                    } else {
                        Condition::all().add(gt)
                    };
                    (c().eq(value(v)), Some(beyond))
                }
                (v, true) => (
                    c().eq(value(v)),
                    Some(Condition::all().add(c().lt(value(v)))),
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
            None => never(),
        }
    }
}

/// A condition no row meets.
fn never() -> Condition {
    Condition::all().add(Expr::val(false))
}

fn direction(descending: bool) -> (SqlOrder, NullOrdering) {
    if descending {
        (SqlOrder::Desc, NullOrdering::First)
    } else {
        (SqlOrder::Asc, NullOrdering::Last)
    }
}

#[cfg(test)]
mod tests;
