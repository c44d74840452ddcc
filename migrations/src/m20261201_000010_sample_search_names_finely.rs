//! PostgreSQL: the planner samples each stored lower-cased name
//! (`search_name`) finely enough to tell how many names a search matches.
//!
//! A search's first page is read one of three ways (see
//! `store/count.rs`): fetched and sorted with its count when few names
//! match, walked in creation order when very many do, and, between the
//! two, as a probe of the trigram index decides. The planner estimates a
//! `LIKE '%…%'` pattern by testing it against the column's histogram,
//! blended with a rule of thumb while the histogram has fewer than 1,000
//! entries. With the default 101, at 10,000,000 SMEs a string matching
//! 433 names was put at 102,000 and its page walked through 1.1 million
//! index entries (172 ms); one matching 17,600 was put at 2,000 and
//! probed first; a two-letter one planned as a sequential scan (p99
//! 950 ms). With 10,001 entries those estimates were 2,000 (the floor),
//! 18,000 and close enough for an index (p99 22 ms). Planning a statement
//! that matches names costs about 1 ms more (the pattern is tested against
//! each entry); `ANALYZE` samples 3,000,000 rows instead of 30,000 (11 s
//! for the names of 10M SMEs, here and in autovacuum). Other backends do
//! not walk searches and are not changed.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables with a stored lower-cased name.
const TABLES: &[&str] = &["companies", "smes", "programs"];

/// Histogram entries (and rows sampled, times 300) for `search_name`:
/// PostgreSQL's maximum.
const STATISTICS: u32 = 10_000;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set(manager, Some(STATISTICS)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set(manager, None).await
    }
}

/// Sets the statistics target of each table's `search_name` (the
/// default with `None`) and gathers its statistics again.
async fn set(manager: &SchemaManager<'_>, target: Option<u32>) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let target = target.map_or(-1, i64::from);
    let db = manager.get_connection();
    for table in TABLES {
        db.execute_unprepared(&format!(
            "ALTER TABLE {table} ALTER COLUMN search_name SET STATISTICS {target}"
        ))
        .await?;
        db.execute_unprepared(&format!("ANALYZE {table} (search_name)"))
            .await?;
    }
    Ok(())
}
