//! Aggregates for `InsightService`: program totals by group, and partners.
//! Every expression written as text here is the service's own (a column,
//! a cast); caller values are bound parameters, filters compile through
//! [`Compiler`].

use std::collections::BTreeMap;

use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, Func, JoinType, Order, Query};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult};

use super::compile::Compiler;
use super::count::COUNTED;
use super::entity::participation::{Column as Participation, Entity as Participations};
use super::entity::program::{Column as Program, Entity as Programs};
use super::entity::{Resource, company, sme};
use super::table::delete_time_of;
use super::{Store, StoreError};
use crate::domain::{
    Collection, Filter, GroupKey, MAX_GROUPS, PartnersOf, ProgramGroup, ResourceId, Summary,
};

/// A group's keys, its count and its sum, as one aggregate query returns them.
type GroupRow = (Vec<Option<String>>, i64, i64);

/// One partner and what was done together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    pub id: ResourceId,
    pub program_count: i64,
    pub total_support_krw: i64,
}

/// A column of `programs`, named with its table.
fn program(column: Program) -> Expr {
    Expr::col((Programs, column))
}

/// A column of `participations`, named with its table.
fn participation(column: Participation) -> Expr {
    Expr::col((Participations, column))
}

/// The aliases of an aggregate's outputs.
const TOTAL: &str = "total";
const PARTNER: &str = "partner";

/// `CAST(COALESCE(SUM(column), 0) AS BIGINT)`: a sum as a 64-bit integer on
/// every backend.
fn sum(backend: DbBackend, column: Expr) -> Expr {
    let integer = match backend {
        DbBackend::MySql => "SIGNED",
        _ => "BIGINT",
    };
    Func::cast_as(
        Func::coalesce([Func::sum(column).into(), Expr::cust("0")]),
        Alias::new(integer),
    )
    .into()
}

/// The expression of a group key over `programs`.
fn group_expr(backend: DbBackend, key: GroupKey) -> Expr {
    match key {
        GroupKey::Kind => program(Program::Kind),
        GroupKey::State => program(Program::State),
        GroupKey::Region => program(Program::Region),
        GroupKey::HostCompany => program(Program::HostCompanyId),
        // The placeholder of the date is `$1` on PostgreSQL, `?` elsewhere.
        GroupKey::StartYear => Expr::cust_with_exprs(
            match backend {
                DbBackend::Postgres => "CAST(EXTRACT(YEAR FROM $1) AS BIGINT)",
                DbBackend::MySql => "CAST(YEAR(?) AS SIGNED)",
                _ => "CAST(strftime('%Y', ?) AS INTEGER)",
            },
            [program(Program::StartDate)],
        ),
    }
}

/// A group key's value in a row, as `keys` shows it.
fn group_value(
    row: &QueryResult,
    key: GroupKey,
    alias: &str,
) -> Result<Option<String>, StoreError> {
    Ok(match key {
        GroupKey::StartYear => row
            .try_get::<Option<i64>>("", alias)?
            .map(|y| y.to_string()),
        GroupKey::HostCompany => row
            .try_get::<Option<String>>("", alias)?
            .map(|id| Collection::Companies.name_of(&ResourceId::from_stored(id))),
        _ => row.try_get::<Option<String>>("", alias)?,
    })
}

/// Whether the record `id` of `E` exists, deleted or not.
async fn exists<E: Resource>(db: &impl ConnectionTrait, id: &ResourceId) -> Result<bool, StoreError>
where
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<String>,
{
    Ok(delete_time_of::<E>(db, id).await?.is_some())
}

/// `participations` joined with their programs.
fn participations_in_programs() -> sea_orm::sea_query::SelectStatement {
    let mut stmt = Query::select();
    stmt.from(Participations).join(
        JoinType::InnerJoin,
        Programs,
        program(Program::Id).equals((Participations, Participation::ProgramId)),
    );
    stmt
}

impl Store {
    /// Program totals over the live programs matching `filter`, grouped by
    /// `group_by`; at most [`MAX_GROUPS`] + 1 groups, so a caller can tell
    /// there were too many. From the summary rollup once it is built (see
    /// [`super::rollup`]), otherwise counted in the database.
    pub async fn summarize_programs(
        &self,
        filter: Option<&Filter>,
        group_by: &[GroupKey],
    ) -> Result<Summary, StoreError> {
        if let Some(summary) = self.summarize_from_rollup(filter, group_by).await? {
            return Ok(summary);
        }
        Ok(Summary {
            groups: self.count_programs(filter, group_by).await?,
            position: None,
        })
    }

    /// [`Store::summarize_programs`] counted in the database, every time.
    pub async fn count_programs(
        &self,
        filter: Option<&Filter>,
        group_by: &[GroupKey],
    ) -> Result<Vec<ProgramGroup>, StoreError> {
        let backend = self.backend();
        let compiler = Compiler::<super::Programs>::qualified(backend);
        let mut condition = Condition::all().add(program(Program::DeleteTime).is_null());
        if let Some(f) = filter {
            condition = condition.add(compiler.filter(f));
        }
        let grouped = |stmt: &mut sea_orm::sea_query::SelectStatement| {
            for (i, key) in group_by.iter().enumerate() {
                stmt.expr_as(group_expr(backend, *key), Alias::new(format!("k{i}")));
            }
            stmt.add_group_by(group_by.iter().map(|k| group_expr(backend, *k)));
            stmt.limit(MAX_GROUPS as u64 + 1);
        };

        let mut programs = Query::select();
        grouped(&mut programs);
        programs
            .expr_as(Expr::cust("COUNT(*)"), Alias::new(COUNTED))
            .expr_as(sum(backend, program(Program::BudgetKrw)), Alias::new(TOTAL))
            .from(Programs)
            .cond_where(condition.clone());

        let mut participations = participations_in_programs();
        grouped(&mut participations);
        participations
            .expr_as(
                Func::count_distinct(participation(Participation::SmeId)),
                Alias::new(COUNTED),
            )
            .expr_as(
                sum(backend, participation(Participation::SupportAmountKrw)),
                Alias::new(TOTAL),
            )
            .cond_where(condition.add(participation(Participation::DeleteTime).is_null()));

        let read = |rows: Vec<QueryResult>| -> Result<Vec<GroupRow>, StoreError> {
            rows.iter()
                .map(|row| {
                    let keys = group_by
                        .iter()
                        .enumerate()
                        .map(|(i, k)| group_value(row, *k, &format!("k{i}")))
                        .collect::<Result<Vec<_>, _>>()?;
                    let n: i64 = row.try_get("", COUNTED)?;
                    let total: i64 = row.try_get("", TOTAL)?;
                    Ok((keys, n, total))
                })
                .collect()
        };
        let mut groups: BTreeMap<Vec<(bool, String)>, ProgramGroup> = BTreeMap::new();
        // Unset values sort last.
        let order = |keys: &[Option<String>]| -> Vec<(bool, String)> {
            keys.iter()
                .map(|k| (k.is_none(), k.clone().unwrap_or_default()))
                .collect()
        };
        let lease = self.reading().await?.pool.one().await?;
        let (programs, participations) = self
            .read_in(&lease, async |reader| {
                Ok((
                    reader.query_all(&programs).await?,
                    reader.query_all(&participations).await?,
                ))
            })
            .await?;
        drop(lease);
        for (keys, n, total) in read(programs)? {
            groups.insert(
                order(&keys),
                ProgramGroup {
                    keys,
                    program_count: n,
                    sme_count: 0,
                    total_budget_krw: total,
                    total_support_krw: 0,
                },
            );
        }
        for (keys, n, total) in read(participations)? {
            if let Some(g) = groups.get_mut(&order(&keys)) {
                g.sme_count = n;
                g.total_support_krw = total;
            }
        }
        Ok(groups.into_values().collect())
    }

    /// One page of the partners of `of`, largest total support first, then
    /// by id: those after `(total, id)` when given; `size` + 1 at most, so a
    /// caller can tell there are more.
    pub async fn list_partners(
        &self,
        of: &PartnersOf,
        after: Option<(i64, &ResourceId)>,
        size: u64,
    ) -> Result<Vec<Partner>, StoreError> {
        let backend = self.backend();
        let (partner, own) = match of {
            PartnersOf::Company(_) => (
                participation(Participation::SmeId),
                program(Program::HostCompanyId),
            ),
            PartnersOf::Sme(_) => (
                program(Program::HostCompanyId),
                participation(Participation::SmeId),
            ),
        };
        let total = sum(backend, participation(Participation::SupportAmountKrw));
        let mut stmt = participations_in_programs();
        stmt.expr_as(partner.clone(), Alias::new(PARTNER))
            .expr_as(
                Func::count_distinct(participation(Participation::ProgramId)),
                Alias::new(COUNTED),
            )
            .expr_as(total.clone(), Alias::new(TOTAL))
            .and_where(participation(Participation::DeleteTime).is_null())
            .and_where(program(Program::DeleteTime).is_null())
            .and_where(own.eq(of.id().as_str()))
            .add_group_by([partner.clone()])
            .order_by(Alias::new(TOTAL), Order::Desc)
            .order_by(Alias::new(PARTNER), Order::Asc)
            .limit(size + 1);
        if let Some((t, id)) = after {
            stmt.cond_having(
                Condition::any().add(total.clone().lt(t)).add(
                    Condition::all()
                        .add(total.eq(t))
                        .add(partner.gt(id.as_str())),
                ),
            );
        }
        let lease = self.reading().await?.pool.one().await?;
        let rows = self
            .read_in(&lease, async |reader| {
                let exists = match of {
                    PartnersOf::Company(id) => exists::<company::Entity>(reader, id).await?,
                    PartnersOf::Sme(id) => exists::<sme::Entity>(reader, id).await?,
                };
                if exists {
                    Ok(Some(reader.query_all(&stmt).await?))
                } else {
                    Ok(None)
                }
            })
            .await?;
        drop(lease);
        let Some(rows) = rows else {
            return Err(StoreError::NotFound {
                name: of.collection().name_of(of.id()),
            });
        };
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("", PARTNER)?;
                Ok(Partner {
                    id: ResourceId::from_stored(id),
                    program_count: row.try_get("", COUNTED)?,
                    total_support_krw: row.try_get("", TOTAL)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::Query;

    use super::*;

    /// `SELECT expr` as `backend` writes it, identifier quotes removed.
    fn text(backend: DbBackend, expr: Expr) -> String {
        let stmt = Query::select().expr(expr).to_owned();
        backend.build(&stmt).to_string().replace(['"', '`'], "")
    }

    /// A start year and a sum are 64-bit integers in each dialect.
    #[test]
    fn years_and_sums_per_dialect() {
        for (backend, year, integer) in [
            (
                DbBackend::Postgres,
                "CAST(EXTRACT(YEAR FROM programs.start_date) AS BIGINT)",
                "BIGINT",
            ),
            (
                DbBackend::MySql,
                "CAST(YEAR(programs.start_date) AS SIGNED)",
                "SIGNED",
            ),
            (
                DbBackend::Sqlite,
                "CAST(strftime('%Y', programs.start_date) AS INTEGER)",
                "BIGINT",
            ),
        ] {
            assert_eq!(
                text(backend, group_expr(backend, GroupKey::StartYear)),
                format!("SELECT {year}")
            );
            assert_eq!(
                text(backend, sum(backend, program(Program::BudgetKrw))),
                format!("SELECT CAST(COALESCE(SUM(programs.budget_krw), 0) AS {integer})")
            );
        }
    }
}
