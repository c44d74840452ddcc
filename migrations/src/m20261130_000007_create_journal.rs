//! The journal: one entry per changed record, written in the same
//! transaction as the change (the audit trail and the change feed read it),
//! and its one-row state: the MariaDB/MySQL commit clock and how far the
//! retention job has deleted.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Journal {
    Table,
    Sequence,
    Txid,
    CommitTime,
    Caller,
    Method,
    RequestId,
    Collection,
    Resource,
    Kind,
    Before,
    After,
}

#[derive(DeriveIden)]
enum JournalState {
    Table,
    Id,
    Clock,
    PurgedTxid,
    PurgedSequence,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let mut commit_time = ColumnDef::new(Journal::CommitTime);
        if backend == DbBackend::MySql {
            commit_time.custom(Alias::new("DATETIME(6)"));
        } else {
            commit_time.timestamp_with_time_zone();
        }
        // Record states: JSON of the row; MariaDB's TEXT holds 64 KiB, a
        // program with long texts may take more.
        let state = |col: Journal| {
            let mut def = ColumnDef::new(col);
            if backend == DbBackend::MySql {
                def.custom(Alias::new("MEDIUMTEXT"));
            } else {
                def.text();
            }
            def
        };
        manager
            .create_table(
                Table::create()
                    .table(Journal::Table)
                    .col(
                        ColumnDef::new(Journal::Sequence)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    // The feed's order: PostgreSQL's transaction id, the
                    // MariaDB/MySQL commit clock, 0 on SQLite.
                    .col(ColumnDef::new(Journal::Txid).big_integer().not_null())
                    .col(commit_time.not_null())
                    .col(ColumnDef::new(Journal::Caller).string_len(200).not_null())
                    .col(ColumnDef::new(Journal::Method).string_len(200).not_null())
                    .col(ColumnDef::new(Journal::RequestId).string_len(64).null())
                    .col(
                        ColumnDef::new(Journal::Collection)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Journal::Resource).string_len(200).not_null())
                    .col(ColumnDef::new(Journal::Kind).string_len(16).not_null())
                    .col(state(Journal::Before).null())
                    .col(state(Journal::After).not_null())
                    .to_owned(),
            )
            .await?;
        // The audit trail's order, and a record's history. A caller's events
        // are found along the time index (an index of their own would cost
        // every write more than the rare query it serves).
        for (name, cols) in [
            (
                "ix_journal_txid_sequence",
                &[Journal::Txid, Journal::Sequence][..],
            ),
            (
                "ix_journal_commit_time_sequence",
                &[Journal::CommitTime, Journal::Sequence][..],
            ),
            (
                "ix_journal_resource_commit_time",
                &[Journal::Resource, Journal::CommitTime][..],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Journal::Table);
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(JournalState::Table)
                    .col(
                        ColumnDef::new(JournalState::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(JournalState::Clock).big_integer().not_null())
                    .col(
                        ColumnDef::new(JournalState::PurgedTxid)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(JournalState::PurgedSequence)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        let mut first = Query::insert();
        first
            .into_table(JournalState::Table)
            .columns([
                JournalState::Id,
                JournalState::Clock,
                JournalState::PurgedTxid,
                JournalState::PurgedSequence,
            ])
            .values([1.into(), 0i64.into(), 0i64.into(), 0i64.into()])
            .map_err(|e| DbErr::Custom(e.to_string()))?;
        manager.exec_stmt(first).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(JournalState::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Journal::Table).to_owned())
            .await
    }
}
