//! PostgreSQL: a stored, lower-cased copy of each display name, with the
//! trigram index moved onto it.
//!
//! Name search and wildcard filters on names matched `display_name ILIKE
//! …`. On Korean text PostgreSQL's ILIKE lower-cases every row it tests, so
//! a search the planner answers by walking the `(create_time, id)` index and
//! filtering (strings matching a few thousand names) spent about 1 µs a row
//! on it: 40–55 ms for a page, four times the same walk with LIKE. The
//! service now matches `search_name LIKE lower(…)`, and the trigram index
//! that serves the other plan is on `search_name`. The column is generated
//! by the database, so every writer keeps it right. Adding it rewrites each
//! table once (about a minute for a million SMEs). Other backends match
//! names case-insensitively with LIKE already and are not changed.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

// The trigram indexes' pending-list limit, as migration 5 set it.
use crate::m20261126_000005_bound_trigram_pending_lists::PENDING_LIST_KB;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables with a display name.
const TABLES: &[&str] = &["companies", "smes", "programs"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for table in TABLES {
            db.execute_unprepared(&format!(
                "ALTER TABLE {table} ADD COLUMN search_name text \
                 GENERATED ALWAYS AS (lower(display_name)) STORED"
            ))
            .await?;
            db.execute_unprepared(&format!(
                "DROP INDEX IF EXISTS ix_{table}_display_name_trgm"
            ))
            .await?;
            db.execute_unprepared(&format!(
                "CREATE INDEX ix_{table}_search_name_trgm ON {table} \
                 USING gin (search_name gin_trgm_ops) \
                 WITH (gin_pending_list_limit = {PENDING_LIST_KB})"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for table in TABLES {
            db.execute_unprepared(&format!(
                "CREATE INDEX ix_{table}_display_name_trgm ON {table} \
                 USING gin (display_name gin_trgm_ops) \
                 WITH (gin_pending_list_limit = {PENDING_LIST_KB})"
            ))
            .await?;
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS ix_{table}_search_name_trgm"))
                .await?;
            db.execute_unprepared(&format!("ALTER TABLE {table} DROP COLUMN search_name"))
                .await?;
        }
        Ok(())
    }
}
