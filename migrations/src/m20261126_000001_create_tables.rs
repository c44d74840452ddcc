//! Companies, SMEs, programs, participations and the idempotency records of
//! create calls.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Col {
    Id,
    DisplayName,
    BusinessNumber,
    CorporateNumber,
    Size,
    KsicCode,
    KsicRevision,
    Region,
    EmployeeCount,
    AnnualRevenueKrw,
    CreateTime,
    UpdateTime,
    DeleteTime,
    Revision,
    Description,
    HostCompanyId,
    Kind,
    State,
    StartDate,
    EndDate,
    BudgetKrw,
    ProgramId,
    SmeId,
    SupportAmountKrw,
    JoinedDate,
    Outcomes,
    RequestId,
    Method,
    Fingerprint,
    Response,
}

#[derive(DeriveIden)]
enum Companies {
    Table,
}
#[derive(DeriveIden)]
enum Smes {
    Table,
}
#[derive(DeriveIden)]
enum Programs {
    Table,
}
#[derive(DeriveIden)]
enum Participations {
    Table,
}
#[derive(DeriveIden)]
enum RequestIds {
    Table,
}

/// A timestamp with microsecond precision in UTC on every backend.
fn timestamp(backend: DbBackend, col: Col) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    if backend == DbBackend::MySql {
        def.custom(Alias::new("DATETIME(6)"));
    } else {
        def.timestamp_with_time_zone();
    }
    def
}

/// The columns every resource table has: id, times and revision.
fn with_common(table: &mut TableCreateStatement, backend: DbBackend) {
    table
        .col(timestamp(backend, Col::CreateTime).not_null())
        .col(timestamp(backend, Col::UpdateTime).not_null())
        .col(timestamp(backend, Col::DeleteTime).null())
        .col(ColumnDef::new(Col::Revision).big_integer().not_null());
}

fn enterprise_table<T: IntoIden + 'static>(table: T, backend: DbBackend) -> TableCreateStatement {
    let mut t = Table::create();
    t.table(table)
        .col(
            ColumnDef::new(Col::Id)
                .string_len(63)
                .not_null()
                .primary_key(),
        )
        .col(ColumnDef::new(Col::DisplayName).string_len(200).not_null())
        .col(ColumnDef::new(Col::BusinessNumber).string_len(12).null())
        .col(ColumnDef::new(Col::CorporateNumber).string_len(14).null())
        .col(ColumnDef::new(Col::Size).string_len(32).not_null())
        .col(ColumnDef::new(Col::KsicCode).string_len(6).null())
        .col(ColumnDef::new(Col::KsicRevision).integer().null())
        .col(ColumnDef::new(Col::Region).string_len(32).null())
        .col(ColumnDef::new(Col::EmployeeCount).integer().null())
        .col(ColumnDef::new(Col::AnnualRevenueKrw).big_integer().null());
    with_common(&mut t, backend);
    t
}

/// A unique index over `columns` that only covers live rows (`delete_time IS
/// NULL`). PostgreSQL and SQLite have partial indexes; MariaDB/MySQL get a
/// generated column that is NULL for deleted rows, and NULLs never collide.
async fn unique_among_live(
    manager: &SchemaManager<'_>,
    table: &str,
    index: &str,
    shared: &[&str],
    live_col: &str,
    col_type: &str,
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let sql = match manager.get_database_backend() {
        DbBackend::MySql => {
            let generated = format!("live_{live_col}");
            db.execute_unprepared(&format!(
                "ALTER TABLE {table} ADD COLUMN {generated} {col_type} \
                 AS (IF(delete_time IS NULL, {live_col}, NULL)) STORED"
            ))
            .await?;
            let mut cols: Vec<String> = shared.iter().map(|c| (*c).to_owned()).collect();
            cols.push(generated);
            format!(
                "CREATE UNIQUE INDEX {index} ON {table} ({})",
                cols.join(", ")
            )
        }
        _ => {
            let mut cols: Vec<&str> = shared.to_vec();
            cols.push(live_col);
            format!(
                "CREATE UNIQUE INDEX {index} ON {table} ({}) WHERE delete_time IS NULL",
                cols.join(", ")
            )
        }
    };
    db.execute_unprepared(&sql).await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();

        manager
            .create_table(enterprise_table(Companies::Table, backend))
            .await?;
        manager
            .create_table(enterprise_table(Smes::Table, backend))
            .await?;
        for (table, name) in [("companies", "companies"), ("smes", "smes")] {
            manager
                .create_index(
                    Index::create()
                        .name(format!("ix_{name}_create_time_id"))
                        .table(Alias::new(table))
                        .col(Col::CreateTime)
                        .col(Col::Id)
                        .to_owned(),
                )
                .await?;
            unique_among_live(
                manager,
                table,
                &format!("ux_{name}_live_business_number"),
                &[],
                "business_number",
                "VARCHAR(12)",
            )
            .await?;
        }

        let mut programs = Table::create();
        programs
            .table(Programs::Table)
            .col(
                ColumnDef::new(Col::Id)
                    .string_len(63)
                    .not_null()
                    .primary_key(),
            )
            .col(ColumnDef::new(Col::DisplayName).string_len(200).not_null())
            .col(ColumnDef::new(Col::Description).text().not_null())
            .col(ColumnDef::new(Col::HostCompanyId).string_len(63).not_null())
            .col(ColumnDef::new(Col::Kind).string_len(32).not_null())
            .col(ColumnDef::new(Col::Region).string_len(32).null())
            .col(ColumnDef::new(Col::State).string_len(32).not_null())
            .col(ColumnDef::new(Col::StartDate).date().null())
            .col(ColumnDef::new(Col::EndDate).date().null())
            .col(ColumnDef::new(Col::BudgetKrw).big_integer().null());
        with_common(&mut programs, backend);
        programs.foreign_key(
            ForeignKey::create()
                .name("fk_programs_host_company")
                .from(Programs::Table, Col::HostCompanyId)
                .to(Companies::Table, Col::Id)
                .on_delete(ForeignKeyAction::Restrict)
                .on_update(ForeignKeyAction::Restrict),
        );
        manager.create_table(programs).await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_programs_create_time_id")
                    .table(Programs::Table)
                    .col(Col::CreateTime)
                    .col(Col::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_programs_host_company")
                    .table(Programs::Table)
                    .col(Col::HostCompanyId)
                    .to_owned(),
            )
            .await?;

        let mut participations = Table::create();
        participations
            .table(Participations::Table)
            .col(ColumnDef::new(Col::ProgramId).string_len(63).not_null())
            .col(ColumnDef::new(Col::Id).string_len(63).not_null())
            .col(ColumnDef::new(Col::SmeId).string_len(63).not_null())
            .col(ColumnDef::new(Col::SupportAmountKrw).big_integer().null())
            .col(ColumnDef::new(Col::JoinedDate).date().null())
            .col(ColumnDef::new(Col::Outcomes).text().not_null());
        with_common(&mut participations, backend);
        participations
            .primary_key(Index::create().col(Col::ProgramId).col(Col::Id))
            .foreign_key(
                ForeignKey::create()
                    .name("fk_participations_program")
                    .from(Participations::Table, Col::ProgramId)
                    .to(Programs::Table, Col::Id)
                    .on_delete(ForeignKeyAction::Restrict)
                    .on_update(ForeignKeyAction::Restrict),
            )
            .foreign_key(
                ForeignKey::create()
                    .name("fk_participations_sme")
                    .from(Participations::Table, Col::SmeId)
                    .to(Smes::Table, Col::Id)
                    .on_delete(ForeignKeyAction::Restrict)
                    .on_update(ForeignKeyAction::Restrict),
            );
        manager.create_table(participations).await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_participations_create_time")
                    .table(Participations::Table)
                    .col(Col::CreateTime)
                    .col(Col::ProgramId)
                    .col(Col::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_participations_sme")
                    .table(Participations::Table)
                    .col(Col::SmeId)
                    .to_owned(),
            )
            .await?;
        unique_among_live(
            manager,
            "participations",
            "ux_participations_live_program_sme",
            &["program_id"],
            "sme_id",
            "VARCHAR(63)",
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(RequestIds::Table)
                    .col(
                        ColumnDef::new(Col::RequestId)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Col::Method).string_len(100).not_null())
                    .col(ColumnDef::new(Col::Fingerprint).string_len(64).not_null())
                    .col(ColumnDef::new(Col::Response).blob().not_null())
                    .col(timestamp(backend, Col::CreateTime).not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_request_ids_create_time")
                    .table(RequestIds::Table)
                    .col(Col::CreateTime)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "request_ids",
            "participations",
            "programs",
            "smes",
            "companies",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
