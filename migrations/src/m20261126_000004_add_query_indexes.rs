//! Indexes for filtered and ordered lists and for name search: each
//! documented order and the common filters lead an index that ends in the
//! tie-breaking key columns, so a page is an index range scan at any depth.
//! On PostgreSQL, trigram (pg_trgm) indexes serve case-insensitive substring
//! search on names and business numbers.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(name, table, columns)` of every b-tree index this migration adds.
const INDEXES: &[(&str, &str, &[&str])] = &[
    (
        "ix_companies_update_time_id",
        "companies",
        &["update_time", "id"],
    ),
    (
        "ix_companies_display_name_id",
        "companies",
        &["display_name", "id"],
    ),
    (
        "ix_companies_employee_count_id",
        "companies",
        &["employee_count", "id"],
    ),
    (
        "ix_companies_region_create_time_id",
        "companies",
        &["region", "create_time", "id"],
    ),
    ("ix_smes_update_time_id", "smes", &["update_time", "id"]),
    ("ix_smes_display_name_id", "smes", &["display_name", "id"]),
    (
        "ix_smes_employee_count_id",
        "smes",
        &["employee_count", "id"],
    ),
    (
        "ix_smes_region_create_time_id",
        "smes",
        &["region", "create_time", "id"],
    ),
    (
        "ix_smes_size_create_time_id",
        "smes",
        &["size", "create_time", "id"],
    ),
    (
        "ix_programs_host_create_time_id",
        "programs",
        &["host_company_id", "create_time", "id"],
    ),
    (
        "ix_programs_kind_create_time_id",
        "programs",
        &["kind", "create_time", "id"],
    ),
    (
        "ix_programs_state_create_time_id",
        "programs",
        &["state", "create_time", "id"],
    ),
    (
        "ix_programs_region_create_time_id",
        "programs",
        &["region", "create_time", "id"],
    ),
    (
        "ix_programs_start_date_id",
        "programs",
        &["start_date", "id"],
    ),
    ("ix_programs_end_date_id", "programs", &["end_date", "id"]),
    (
        "ix_programs_budget_krw_id",
        "programs",
        &["budget_krw", "id"],
    ),
    (
        "ix_programs_display_name_id",
        "programs",
        &["display_name", "id"],
    ),
    (
        "ix_programs_update_time_id",
        "programs",
        &["update_time", "id"],
    ),
    (
        "ix_participations_program_create_time",
        "participations",
        &["program_id", "create_time", "id"],
    ),
    (
        "ix_participations_sme_create_time",
        "participations",
        &["sme_id", "create_time", "program_id", "id"],
    ),
    (
        "ix_participations_update_time",
        "participations",
        &["update_time", "program_id", "id"],
    ),
];

/// Indexes the new ones make redundant: each is a prefix of one above.
const REPLACED: &[(&str, &str)] = &[
    ("ix_programs_host_company", "programs"),
    ("ix_participations_sme", "participations"),
];

/// PostgreSQL trigram indexes: `(name, table, expression)`.
pub(crate) const TRIGRAM: &[(&str, &str, &str)] = &[
    (
        "ix_companies_display_name_trgm",
        "companies",
        "display_name",
    ),
    ("ix_smes_display_name_trgm", "smes", "display_name"),
    ("ix_programs_display_name_trgm", "programs", "display_name"),
    (
        "ix_companies_business_digits_trgm",
        "companies",
        "(replace(business_number, '-', ''))",
    ),
    (
        "ix_smes_business_digits_trgm",
        "smes",
        "(replace(business_number, '-', ''))",
    ),
];

async fn create(
    manager: &SchemaManager<'_>,
    name: &str,
    table: &str,
    columns: &[&str],
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(Alias::new(table));
    for c in columns {
        index.col(Alias::new(*c));
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, columns) in INDEXES {
            create(manager, name, table, columns).await?;
        }
        for (name, table) in REPLACED {
            manager
                .drop_index(
                    Index::drop()
                        .name(*name)
                        .table(Alias::new(*table))
                        .to_owned(),
                )
                .await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                .await?;
            for (name, table, expression) in TRIGRAM {
                db.execute_unprepared(&format!(
                    "CREATE INDEX {name} ON {table} USING gin ({expression} gin_trgm_ops)"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            for (name, _, _) in TRIGRAM {
                manager
                    .get_connection()
                    .execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                    .await?;
            }
        }
        let restored: [(&str, &str, &[&str]); 2] = [
            ("ix_programs_host_company", "programs", &["host_company_id"]),
            ("ix_participations_sme", "participations", &["sme_id"]),
        ];
        for (name, table, columns) in restored {
            create(manager, name, table, columns).await?;
        }
        for (name, table, _) in INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(*name)
                        .table(Alias::new(*table))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
