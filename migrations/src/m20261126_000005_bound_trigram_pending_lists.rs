//! PostgreSQL: bounds the pending list of each trigram index.
//!
//! A GIN index takes new entries into an unsorted pending list (4 MB by
//! default) and merges them into the index only when the list is full or
//! (auto)vacuum runs; every search reads the whole list meanwhile. After a
//! bulk load that made a three-character search over a million SMEs read
//! about 400 pages, some 20 ms, where the index itself answers in well under
//! a millisecond. A 256 kB limit keeps that read to a few pages while still
//! batching inserts. Other backends have no trigram indexes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

// The trigram indexes of migration 4: `(name, table, expression)`.
use crate::m20261126_000004_add_query_indexes::TRIGRAM;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The pending-list limit set here, in kB.
pub(crate) const PENDING_LIST_KB: u32 = 256;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (name, _, _) in TRIGRAM {
            db.execute_unprepared(&format!(
                "ALTER INDEX {name} SET (gin_pending_list_limit = {PENDING_LIST_KB})"
            ))
            .await?;
            // What is pending already is merged now.
            db.execute_unprepared(&format!("SELECT gin_clean_pending_list('{name}')"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (name, _, _) in TRIGRAM {
            db.execute_unprepared(&format!(
                "ALTER INDEX {name} RESET (gin_pending_list_limit)"
            ))
            .await?;
        }
        Ok(())
    }
}
