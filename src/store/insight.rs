//! Aggregates for `InsightService`: program totals by group, and partners.
//! Every expression written as text here is the service's own (a column,
//! a cast); caller values are bound parameters, filters compile through
//! [`Compiler`].

use std::collections::BTreeMap;

use sea_orm::sea_query::{
    Alias, Condition, Expr, ExprTrait, JoinType, Order, Query, SelectStatement,
};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult};

use super::query::{Compiler, qualified};
use super::{Store, StoreError, entity};
use crate::domain::{Collection, Filter, GroupKey, MAX_GROUPS, PartnersOf, ResourceId};
use sea_orm::{EntityTrait, QuerySelect};

/// The totals of one group of programs; `keys` in `group_by` order, `None`
/// for an unset value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramGroup {
    pub keys: Vec<Option<String>>,
    pub program_count: i64,
    pub sme_count: i64,
    pub total_budget_krw: i64,
    pub total_support_krw: i64,
}

/// A group's keys, its count and its sum, as one aggregate query returns them.
type GroupRow = (Vec<Option<String>>, i64, i64);

/// One partner and what was done together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    pub id: ResourceId,
    pub program_count: i64,
    pub total_support_krw: i64,
}

/// The SQL type a sum is cast to, so every backend returns a 64-bit integer.
fn integer_type(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::MySql => "SIGNED",
        _ => "BIGINT",
    }
}

/// `CAST(COALESCE(SUM(table.column), 0) AS BIGINT)`.
fn sum(backend: DbBackend, table: &str, column: &str) -> String {
    format!(
        "CAST(COALESCE(SUM({table}.{column}), 0) AS {})",
        integer_type(backend)
    )
}

/// The expression of a group key over `programs`.
fn group_expr(backend: DbBackend, key: GroupKey) -> Expr {
    match key {
        GroupKey::Kind => qualified("programs", "kind"),
        GroupKey::State => qualified("programs", "state"),
        GroupKey::Region => qualified("programs", "region"),
        GroupKey::HostCompany => qualified("programs", "host_company_id"),
        GroupKey::StartYear => Expr::cust(match backend {
            DbBackend::Postgres => "CAST(EXTRACT(YEAR FROM programs.start_date) AS BIGINT)",
            DbBackend::MySql => "CAST(YEAR(programs.start_date) AS SIGNED)",
            _ => "CAST(strftime('%Y', programs.start_date) AS INTEGER)",
        }),
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
            .map(|id| format!("companies/{id}")),
        _ => row.try_get::<Option<String>>("", alias)?,
    })
}

/// Whether the record `id` of `E` exists, deleted or not.
async fn exists<E: EntityTrait>(
    db: &impl ConnectionTrait,
    id: &ResourceId,
) -> Result<bool, StoreError>
where
    E::Model: Send + Sync,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<String>,
{
    let found = E::find_by_id(id.as_str().to_owned())
        .select_only()
        .column_as(super::table::col("id"), "id")
        .into_tuple::<String>()
        .one(db)
        .await?;
    Ok(found.is_some())
}

impl Store {
    /// Program totals over the live programs matching `filter`, grouped by
    /// `group_by`; at most [`MAX_GROUPS`] + 1 groups, so a caller can tell
    /// there were too many.
    pub async fn summarize_programs(
        &self,
        filter: Option<&Filter>,
        group_by: &[GroupKey],
    ) -> Result<Vec<ProgramGroup>, StoreError> {
        let backend = self.backend();
        let compiler = Compiler {
            backend,
            collection: Collection::Programs,
            table: "programs",
            qualify: true,
        };
        let mut condition = Condition::all().add(qualified("programs", "delete_time").is_null());
        if let Some(f) = filter {
            condition = condition.add(compiler.filter(f));
        }
        let grouped = |stmt: &mut SelectStatement| {
            for (i, key) in group_by.iter().enumerate() {
                stmt.expr_as(group_expr(backend, *key), Alias::new(format!("k{i}")));
            }
            stmt.add_group_by(group_by.iter().map(|k| group_expr(backend, *k)));
            stmt.limit(MAX_GROUPS as u64 + 1);
        };

        let mut programs = Query::select();
        grouped(&mut programs);
        programs
            .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
            .expr_as(
                Expr::cust(sum(backend, "programs", "budget_krw")),
                Alias::new("total"),
            )
            .from(Alias::new("programs"))
            .cond_where(condition.clone());

        let mut participations = Query::select();
        grouped(&mut participations);
        participations
            .expr_as(
                Expr::cust("COUNT(DISTINCT participations.sme_id)"),
                Alias::new("n"),
            )
            .expr_as(
                Expr::cust(sum(backend, "participations", "support_amount_krw")),
                Alias::new("total"),
            )
            .from(Alias::new("participations"))
            .join(
                JoinType::InnerJoin,
                Alias::new("programs"),
                qualified("programs", "id")
                    .equals((Alias::new("participations"), Alias::new("program_id"))),
            )
            .cond_where(condition.add(qualified("participations", "delete_time").is_null()));

        let read = |rows: Vec<QueryResult>| -> Result<Vec<GroupRow>, StoreError> {
            rows.iter()
                .map(|row| {
                    let keys = group_by
                        .iter()
                        .enumerate()
                        .map(|(i, k)| group_value(row, *k, &format!("k{i}")))
                        .collect::<Result<Vec<_>, _>>()?;
                    let n: i64 = row.try_get("", "n")?;
                    let total: i64 = row.try_get("", "total")?;
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
        let lease = self.read.one().await?;
        let reader = self.reader(&lease).await?;
        for (keys, n, total) in read(reader.query_all(&programs).await?)? {
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
        for (keys, n, total) in read(reader.query_all(&participations).await?)? {
            if let Some(g) = groups.get_mut(&order(&keys)) {
                g.sme_count = n;
                g.total_support_krw = total;
            }
        }
        super::finish_read(reader).await?;
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
        let lease = self.read.one().await?;
        let reader = self.reader(&lease).await?;
        let exists = match of {
            PartnersOf::Company(id) => exists::<entity::company::Entity>(&reader, id).await?,
            PartnersOf::Sme(id) => exists::<entity::sme::Entity>(&reader, id).await?,
        };
        if !exists {
            super::finish_read(reader).await?;
            return Err(StoreError::NotFound {
                name: of.collection().name_of(of.id()),
            });
        }
        let backend = self.backend();
        let (partner, own) = match of {
            PartnersOf::Company(_) => (
                "participations.sme_id",
                qualified("programs", "host_company_id"),
            ),
            PartnersOf::Sme(_) => (
                "programs.host_company_id",
                qualified("participations", "sme_id"),
            ),
        };
        let total = sum(backend, "participations", "support_amount_krw");
        let mut stmt = Query::select();
        stmt.expr_as(Expr::cust(partner), Alias::new("partner"))
            .expr_as(
                Expr::cust("COUNT(DISTINCT participations.program_id)"),
                Alias::new("n"),
            )
            .expr_as(Expr::cust(total.clone()), Alias::new("total"))
            .from(Alias::new("participations"))
            .join(
                JoinType::InnerJoin,
                Alias::new("programs"),
                qualified("programs", "id")
                    .equals((Alias::new("participations"), Alias::new("program_id"))),
            )
            .and_where(qualified("participations", "delete_time").is_null())
            .and_where(qualified("programs", "delete_time").is_null())
            .and_where(own.eq(of.id().as_str()))
            .add_group_by([Expr::cust(partner)])
            .order_by(Alias::new("total"), Order::Desc)
            .order_by(Alias::new("partner"), Order::Asc)
            .limit(size + 1);
        if let Some((t, id)) = after {
            stmt.cond_having(
                Condition::any().add(Expr::cust(total.clone()).lt(t)).add(
                    Condition::all()
                        .add(Expr::cust(total).eq(t))
                        .add(Expr::cust(partner).gt(id.as_str())),
                ),
            );
        }
        let partners = reader
            .query_all(&stmt)
            .await?
            .iter()
            .map(|row| {
                let id: String = row.try_get("", "partner")?;
                Ok(Partner {
                    id: ResourceId::from_stored(id),
                    program_count: row.try_get("", "n")?,
                    total_support_krw: row.try_get("", "total")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        super::finish_read(reader).await?;
        Ok(partners)
    }
}
