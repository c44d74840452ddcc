//! Storage on sea-orm: one module per resource, every write of a resource in
//! one function and one transaction (so audit records and change events can
//! later join the same transaction).

pub mod backup;
mod coalesce;
mod compile;
mod count;
pub mod deadline;
mod enterprise;
mod entity;
mod error;
mod feed;
mod insight;
pub mod journal;
mod list;
mod outcome;
mod pages;
mod participation;
mod pool;
mod program;
mod replica;
mod request_id;
mod rollup;
mod statements;
mod table;

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::IntoIden;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseExecutor, DatabaseTransaction, DbBackend,
    EntityName, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::domain::{Cursor, etag_for};

pub use count::EXACT_COUNT_LIMIT;
pub use enterprise::{Companies, EnterpriseEntity, Enterprises, Smes};
pub use error::{Reference, StoreError};
pub use feed::{AuditQuery, Batch, Entry, RecordState};
pub use insight::Partner;
pub use journal::{CallInfo, JournalStats, Watcher};
pub use list::PageQuery;
pub use pages::PageReadStats;
pub use participation::Participations;
pub use pool::{OVERLOADED_RETRY_AFTER, QueueConfig, QueueStats};
pub use program::Programs;
pub use replica::ReplicaStats;
pub use request_id::{Created, CreatedMany, RequestKey};
pub use rollup::RollupStats;
pub use table::{Children, RecordKey, Table};

/// How long a create's `request_id` is remembered.
pub const REQUEST_ID_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// A stored resource with its bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<T> {
    /// The full resource name, e.g. `companies/acme`.
    pub name: String,
    pub data: T,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub delete_time: Option<DateTime<Utc>>,
    /// Incremented by every write; the etag is derived from it.
    pub revision: i64,
    /// Loaded by `partnership seed-demo` from public reporting.
    pub demo: bool,
}

impl<T> Stored<T> {
    /// A resource as first written at `t`.
    fn new(name: String, data: T, t: DateTime<Utc>, demo: bool) -> Self {
        Self {
            name,
            data,
            create_time: t,
            update_time: t,
            delete_time: None,
            revision: 1,
            demo,
        }
    }

    /// The next revision of this resource, holding `data`, written at `t`.
    fn revised(&self, data: T, t: DateTime<Utc>) -> Self {
        Self {
            name: self.name.clone(),
            data,
            create_time: self.create_time,
            update_time: t,
            delete_time: self.delete_time,
            revision: self.revision + 1,
            demo: self.demo,
        }
    }

    pub fn etag(&self) -> String {
        etag_for(&self.name, self.revision)
    }
}

/// The result of a list request.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<Stored<T>>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
    pub total_size: u64,
}

/// Use of one connection pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub role: &'static str,
    pub size: u32,
    pub idle: usize,
}

/// Database settings. Its `Debug` hides the URL's password.
#[derive(Clone)]
pub struct DbConfig {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// PostgreSQL: the longest any statement may run (the server's call
    /// timeout: no caller waits longer). Migrations run without it.
    pub statement_timeout: Option<Duration>,
    /// The queue of calls waiting for a connection.
    pub queue: QueueConfig,
    /// A PostgreSQL standby of `url` that reads go to (`--database-read-url`).
    pub read_url: Option<String>,
    /// How long a read waits for the standby to replay the primary's
    /// position before the primary answers it.
    pub read_wait: Duration,
}

impl std::fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("queue", &self.queue)
            .field("read_url", &self.read_url.as_deref().map(redact_url))
            .field("read_wait", &self.read_wait)
            .finish()
    }
}

/// `url` with the password of its user info, if any, replaced by `***`.
/// `url` with the password of its user info, and of a `password=` query
/// parameter, replaced by `***`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Handle to the database: a pool for reads and one for writes, each behind
/// the queue of [`pool`] (on PostgreSQL and MariaDB both are one pool and
/// one queue). On SQLite the write pool has a single connection and every
/// write transaction starts with `BEGIN IMMEDIATE`, so concurrent writers
/// queue instead of failing with "database is locked"; readers use WAL
/// snapshots and never block them.
#[derive(Clone)]
pub struct Store {
    config: DbConfig,
    read: pool::Pool,
    write: pool::Pool,
    /// Recent planner estimates of `total_size`, by query.
    estimates: count::Estimates,
    /// Point reads arriving together, batched into one statement.
    coalescer: std::sync::Arc<coalesce::Coalescer>,
    /// Reads of the same page at once, shared.
    pages: std::sync::Arc<pages::SharedPages>,
    /// What this process journals, and its watchers.
    journal: std::sync::Arc<journal::Journal>,
    /// How the writes whose commit failed were settled.
    settlements: std::sync::Arc<outcome::Settlements>,
    /// Program totals kept in memory for `SummarizePrograms`.
    rollup: std::sync::Arc<rollup::Keeper>,
    /// The standby reads go to, if any.
    replica: Option<std::sync::Arc<replica::Replica>>,
}

impl Store {
    /// Connects to `sqlite://…`, `postgres://…` or `mysql://…`.
    pub async fn connect(config: &DbConfig) -> Result<Self, StoreError> {
        let backend = backend_of(&config.url)?;
        let statement_timeout = config.statement_timeout;
        let options_for = |url: &str, max: u32| {
            let mut o = ConnectOptions::new(url.to_owned());
            o.max_connections(max)
                .min_connections(0)
                .acquire_timeout(config.acquire_timeout)
                .connect_timeout(Duration::from_secs(10))
                .sqlx_logging(false)
                // No ping before every statement: a broken connection fails
                // its statement (UNAVAILABLE, safe to retry) and is dropped,
                // and the health watcher pings once a second anyway.
                .test_before_acquire(false)
                // A connection handed back inside a transaction the driver
                // still counts (a call cancelled mid-transaction) is closed,
                // not reused: the next transaction on it would fail.
                .map_sqlx_mysql_pool_opts(|o| {
                    o.after_release(|conn, _| {
                        let clean = !sea_orm::sqlx::Connection::is_in_transaction(conn);
                        Box::pin(async move { Ok(clean) })
                    })
                })
                .map_sqlx_postgres_opts(move |o| match statement_timeout {
                    Some(t) => o.options([("statement_timeout", t.as_millis().max(1).to_string())]),
                    None => o,
                })
                .map_sqlx_postgres_pool_opts(|o| {
                    o.after_release(|conn, _| {
                        let clean = !sea_orm::sqlx::Connection::is_in_transaction(conn);
                        Box::pin(async move { Ok(clean) })
                    })
                })
                .map_sqlx_sqlite_opts(|o| {
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Full)
                        .busy_timeout(Duration::from_secs(30))
                        .foreign_keys(true)
                        .create_if_missing(true)
                });
            o
        };
        let options = |max: u32| options_for(&config.url, max);
        // Calls hold at most `connections` at once (see `pool`); the read
        // pool has one more, for the health probe.
        let connect_error = |e: sea_orm::DbErr| match database_name(&config.url) {
            Some(name) if error::is_database_missing(&e) => StoreError::DatabaseMissing {
                name: name.to_owned(),
            },
            _ => StoreError::from(e),
        };
        // Every pool's statements are spans of their calls when spans are
        // exported.
        let connect = |options: ConnectOptions| async move {
            let mut conn = Database::connect(options).await.map_err(connect_error)?;
            statements::trace(&mut conn);
            Ok::<_, StoreError>(conn)
        };
        let (read, write) = if backend == DbBackend::Sqlite {
            let connections = config.max_connections.max(1);
            let write = connect(options(1)).await?;
            let read = connect(options(connections + 1)).await?;
            (
                pool::Pool::new(read, pool::Room::new(connections, config.queue), "read"),
                pool::Pool::new(write, pool::Room::new(1, config.queue), "write"),
            )
        } else {
            let connections = config.max_connections.max(2);
            let shared = connect(options(connections + 1)).await?;
            let pool =
                pool::Pool::new(shared, pool::Room::new(connections, config.queue), "shared");
            (pool.clone(), pool)
        };
        let replica = match &config.read_url {
            None => None,
            Some(_) if backend != DbBackend::Postgres => {
                return Err(StoreError::UnsupportedUrl(
                    "--database-read-url takes a PostgreSQL standby of a PostgreSQL primary"
                        .to_owned(),
                ));
            }
            Some(url) if backend_of(url)? != DbBackend::Postgres => {
                return Err(StoreError::UnsupportedUrl(
                    "--database-read-url must be a postgres:// URL".to_owned(),
                ));
            }
            Some(url) => {
                let connections = config.max_connections.max(2);
                let conn = connect(options_for(url, connections + 1)).await?;
                let pool =
                    pool::Pool::new(conn, pool::Room::new(connections, config.queue), "replica");
                Some(std::sync::Arc::new(replica::Replica::new(
                    pool,
                    config.read_wait,
                )))
            }
        };
        Ok(Self {
            config: config.clone(),
            read,
            write,
            estimates: count::Estimates::default(),
            coalescer: Default::default(),
            pages: Default::default(),
            journal: Default::default(),
            settlements: Default::default(),
            rollup: Default::default(),
            replica,
        })
    }

    /// Whether the read and write pools are one (PostgreSQL, MariaDB).
    fn shared_pool(&self) -> bool {
        self.backend() != DbBackend::Sqlite
    }

    /// Applies every pending migration.
    ///
    /// Replicas starting together on one database take turns: on PostgreSQL
    /// and MariaDB/MySQL the migrations run under a database lock held by a
    /// transaction of their own (SQLite files are not shared by replicas).
    /// A database migrated by a newer version is refused.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        if self.backend() == DbBackend::Postgres && self.config.statement_timeout.is_some() {
            // Building an index on a large table may take longer than any
            // call may: migrate over connections without the limit.
            let unlimited = Store::connect(&DbConfig {
                statement_timeout: None,
                max_connections: 2,
                read_url: None,
                ..self.config.clone()
            })
            .await?;
            let result = Box::pin(unlimited.migrate()).await;
            unlimited.close().await;
            return result;
        }
        let lock = match self.backend() {
            DbBackend::Postgres => Some(("SELECT pg_advisory_xact_lock(7226310481)", None)),
            DbBackend::MySql => Some((
                "SELECT GET_LOCK('partnership_migrations', 600)",
                Some("SELECT RELEASE_LOCK('partnership_migrations')"),
            )),
            _ => None,
        };
        let Some((take, release)) = lock else {
            return self.migrate_unlocked().await;
        };
        let holder = self.write.unqueued().begin().await?;
        holder.execute_unprepared(take).await?;
        let result = self.migrate_unlocked().await;
        if let Some(release) = release {
            holder.execute_unprepared(release).await?;
        }
        holder.commit().await?;
        result
    }

    async fn migrate_unlocked(&self) -> Result<(), StoreError> {
        use migration::Migrator;
        let known: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        let unknown: Vec<String> = Migrator::get_migration_models(self.write.unqueued())
            .await?
            .into_iter()
            .map(|m| m.version)
            .filter(|v| !known.contains(v))
            .collect();
        if !unknown.is_empty() {
            return Err(StoreError::SchemaTooNew(unknown));
        }
        Ok(Migrator::up(self.write.unqueued(), None).await?)
    }

    /// Checks the database answers within `timeout`, on the connection
    /// kept aside for this probe (a pool full of calls does not fail it),
    /// and tells the queues: while the database is out of reach, calls that
    /// would wait for a connection are answered UNAVAILABLE at once.
    pub async fn ping(&self, timeout: Duration) -> Result<(), StoreError> {
        let answer = self.ping_once(timeout).await;
        self.read.room().set_reachable(answer.is_ok());
        self.write.room().set_reachable(answer.is_ok());
        answer
    }

    /// Pings the read replica, if there is one, and tells reads whether to
    /// use it: `None` without `--database-read-url`.
    pub async fn ping_replica(&self, timeout: Duration) -> Option<bool> {
        let replica = self.replica.as_ref()?;
        let conn = replica.pool.unqueued().clone();
        let ping = tokio::spawn(async move { conn.ping().await });
        let up = matches!(tokio::time::timeout(timeout, ping).await, Ok(Ok(Ok(()))));
        replica.set_up(up);
        Some(up)
    }

    /// The ping itself runs to its end in a task of its own even when the
    /// answer comes too late: the MySQL driver's ping is not cancel-safe (a
    /// ping dropped between request and answer leaves the answer on the
    /// connection, where the next statement would take it for its own).
    async fn ping_once(&self, timeout: Duration) -> Result<(), StoreError> {
        let read = self.read.unqueued().clone();
        let ping = tokio::spawn(async move { read.ping().await });
        match tokio::time::timeout(timeout, ping).await {
            Ok(Ok(answer)) => Ok(answer?),
            Ok(Err(e)) => Err(StoreError::Unavailable(sea_orm::DbErr::Custom(format!(
                "the ping task failed: {e}"
            )))),
            Err(_) => Err(StoreError::Unavailable(sea_orm::DbErr::Custom(format!(
                "no answer to a ping within {timeout:?}"
            )))),
        }
    }

    /// How many migrations the database has, and the latest one's name.
    pub async fn migrations_applied(&self) -> Result<(usize, Option<String>), StoreError> {
        let applied = migration::Migrator::get_applied_migrations(self.write.unqueued()).await?;
        Ok((applied.len(), applied.last().map(|m| m.name().to_owned())))
    }

    /// The database URL, its password hidden: for logs.
    pub fn url_redacted(&self) -> String {
        redact_url(&self.config.url)
    }

    pub fn backend(&self) -> DbBackend {
        self.write.unqueued().get_database_backend()
    }

    /// Each pool: the read and write pools, or the one they share.
    fn pools(&self) -> Vec<&pool::Pool> {
        let mut pools = if self.shared_pool() {
            vec![&self.read]
        } else {
            vec![&self.read, &self.write]
        };
        pools.extend(self.replica.as_ref().map(|r| &r.pool));
        pools
    }

    /// The queue in front of each pool: calls waiting, and refused.
    pub fn queue_stats(&self) -> Vec<QueueStats> {
        self.pools().into_iter().map(pool::Pool::stats).collect()
    }

    /// Current size and idle count of each connection pool.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        let mut out = Vec::new();
        for pool in self.pools() {
            let role = pool.stats().role;
            let conn = pool.unqueued();
            let (size, idle) = match self.backend() {
                DbBackend::Sqlite => {
                    let p = conn.get_sqlite_connection_pool();
                    (p.size(), p.num_idle())
                }
                DbBackend::Postgres => {
                    let p = conn.get_postgres_connection_pool();
                    (p.size(), p.num_idle())
                }
                _ => {
                    let p = conn.get_mysql_connection_pool();
                    (p.size(), p.num_idle())
                }
            };
            out.push(PoolStats { role, size, idle });
        }
        out
    }

    /// Whether any company, SME or program is stored, deleted or not.
    pub async fn has_records(&self) -> Result<bool, StoreError> {
        use sea_orm::sea_query::{Expr, Query};
        let tables = [
            entity::company::Entity.into_iden(),
            entity::sme::Entity.into_iden(),
            entity::program::Entity.into_iden(),
        ];
        for table in tables {
            let any = Query::select()
                .expr(Expr::val(1))
                .from(table)
                .limit(1)
                .to_owned();
            if self.read.unqueued().query_one(&any).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Readies the tables for queries after a bulk load: refreshes the
    /// planner's statistics (MariaDB `ANALYZE TABLE`, SQLite `ANALYZE`), and
    /// on PostgreSQL also vacuums (`VACUUM ANALYZE`): that marks the loaded
    /// pages all-visible, so index-only scans skip the heap, and merges the
    /// trigram indexes' pending entries, which every search would otherwise
    /// read through until autovacuum comes by.
    pub async fn analyze(&self) -> Result<(), StoreError> {
        let sql = match self.backend() {
            DbBackend::MySql => {
                let tables = [
                    entity::company::Entity.table_name(),
                    entity::sme::Entity.table_name(),
                    entity::program::Entity.table_name(),
                    entity::participation::Entity.table_name(),
                ];
                format!("ANALYZE TABLE {}", tables.join(", "))
            }
            DbBackend::Postgres => "VACUUM ANALYZE".to_owned(),
            _ => "ANALYZE".to_owned(),
        };
        self.write.unqueued().execute_unprepared(&sql).await?;
        Ok(())
    }

    pub async fn close(self) {
        let _ = self.read.unqueued().clone().close().await;
        let _ = self.write.unqueued().clone().close().await;
        if let Some(replica) = &self.replica {
            let _ = replica.pool.unqueued().clone().close().await;
        }
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite) on the
    /// write pool, within `lease`; on PostgreSQL its statements stop at the
    /// call's deadline.
    async fn begin_write(&self, lease: &pool::Lease) -> Result<DatabaseTransaction, StoreError> {
        let options = TransactionOptions {
            isolation_level: None,
            access_mode: None,
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        };
        let txn = lease.conn().begin_with_options(options).await?;
        if let Some(set) = self.deadline_limit() {
            txn.execute_unprepared(&set).await?;
        }
        Ok(txn)
    }

    /// On PostgreSQL within a call with a deadline, the statement that makes
    /// a transaction's statements stop at it.
    fn deadline_limit(&self) -> Option<String> {
        (self.backend() == DbBackend::Postgres)
            .then(deadline::postgres_timeout)
            .flatten()
    }

    /// Where one read of a call runs, within `lease` (taken from the read
    /// pool): on PostgreSQL, when the caller's deadline comes before the
    /// server's call timeout, a transaction whose statements stop at that
    /// deadline; otherwise the pool. Hand it back through [`finish_read`].
    async fn reader<'a>(&self, lease: &'a pool::Lease) -> Result<DatabaseExecutor<'a>, StoreError> {
        if let Some(set) = self.deadline_limit() {
            let txn = lease.conn().begin().await?;
            txn.execute_unprepared(&set).await?;
            return Ok(DatabaseExecutor::OwnedTransaction(txn));
        }
        Ok(DatabaseExecutor::Connection(lease.conn()))
    }

    /// Deletes request ids older than the retention window.
    pub async fn purge_request_ids(&self) -> Result<u64, StoreError> {
        let lease = self.write.one().await?;
        request_id::purge(lease.conn(), now() - REQUEST_ID_RETENTION).await
    }
}

impl Store {
    /// Runs `read` on a reader within `lease` (see [`Store::reader`]) and
    /// ends the read.
    async fn read_in<R>(
        &self,
        lease: &pool::Lease,
        read: impl AsyncFnOnce(&DatabaseExecutor<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let reader = self.reader(lease).await?;
        let out = read(&reader).await?;
        finish_read(reader).await?;
        Ok(out)
    }
}

/// Ends a read begun by [`Store::reader`].
async fn finish_read(reader: DatabaseExecutor<'_>) -> Result<(), StoreError> {
    if let DatabaseExecutor::OwnedTransaction(txn) = reader {
        txn.commit().await?;
    }
    Ok(())
}

/// Creates the database `url` names on its server when it is not there
/// (PostgreSQL, MariaDB/MySQL; SQLite creates its file anyway, with
/// `mode=rwc`). Returns whether it was created.
pub async fn create_database(url: &str) -> Result<bool, StoreError> {
    let backend = backend_of(url)?;
    if backend == DbBackend::Sqlite {
        return Ok(false);
    }
    let name = database_name(url)
        .ok_or_else(|| StoreError::UnsupportedUrl("it names no database to create".to_owned()))?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(StoreError::UnsupportedUrl(format!(
            "--create-database makes databases named with letters, digits, '_' and '-' only, not {name:?}"
        )));
    }
    // The server's own database: the one every PostgreSQL server has, none
    // on MariaDB/MySQL.
    let (before, after) = url.split_at(url.len() - url_tail(url).len());
    let query = after.find('?').map_or("", |i| &after[i..]);
    let admin = match backend {
        DbBackend::Postgres => format!("{before}postgres{query}"),
        _ => format!("{before}{query}"),
    };
    let mut options = ConnectOptions::new(admin);
    options
        .max_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    let server = Database::connect(options).await?;
    let created = match backend {
        DbBackend::Postgres => {
            let exists = server
                .query_one_raw(sea_orm::Statement::from_sql_and_values(
                    backend,
                    "SELECT 1 FROM pg_database WHERE datname = $1",
                    [name.into()],
                ))
                .await?
                .is_some();
            match exists {
                true => false,
                false => match server
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                {
                    Ok(_) => true,
                    // Another replica created it meanwhile (42P04).
                    Err(e) if error::is_duplicate_database(&e) => false,
                    Err(e) => return Err(e.into()),
                },
            }
        }
        _ => {
            let done = server
                .execute_unprepared(&format!("CREATE DATABASE IF NOT EXISTS `{name}`"))
                .await?;
            done.rows_affected() > 0
        }
    };
    let _ = server.close().await;
    Ok(created)
}

/// The part of a database URL from its database name on (the path after
/// the authority, with the query): empty when the URL has no path.
fn url_tail(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let query = rest.find('?').unwrap_or(rest.len());
    rest[..query].find('/').map_or("", |i| &rest[i + 1..])
}

/// The name of the database a server URL names in its path, if any.
fn database_name(url: &str) -> Option<&str> {
    let name = url_tail(url).split('?').next().unwrap_or_default();
    (!name.is_empty() && !url.starts_with("sqlite:")).then_some(name)
}

fn backend_of(url: &str) -> Result<DbBackend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(DbBackend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(DbBackend::Postgres)
    } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        Ok(DbBackend::MySql)
    } else {
        Err(StoreError::UnsupportedUrl(
            "it must start with sqlite:, postgres:// or mysql://".to_owned(),
        ))
    }
}

/// A value read back from the database, which must parse: one that does not
/// was changed by hand, outside this service.
fn valid<T, E: std::fmt::Display>(
    column: impl sea_orm::IdenStatic,
    parsed: Result<T, E>,
) -> Result<T, StoreError> {
    parsed.map_err(|e| StoreError::corrupt(column.as_str(), e))
}

/// Parses an optional stored text.
fn opt<'a, T, E>(
    text: &'a Option<String>,
    parse: impl FnOnce(&'a str) -> Result<T, E>,
) -> Result<Option<T>, E> {
    text.as_deref().map(parse).transpose()
}

/// The current time at the microsecond precision every backend stores.
pub(crate) fn now() -> DateTime<Utc> {
    let t = Utc::now();
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::{database_name, redact_url};

    #[test]
    fn database_names_come_from_the_url_path() {
        assert_eq!(
            database_name("postgres://u:p@h:5432/newcomer_pg?sslmode=disable"),
            Some("newcomer_pg")
        );
        assert_eq!(database_name("mysql://root@127.0.0.1:3306/db"), Some("db"));
        assert_eq!(database_name("postgres://h:5432/"), None);
        assert_eq!(database_name("postgres://h:5432"), None);
        assert_eq!(database_name("sqlite://partnership.db?mode=rwc"), None);
        // A slash in the query is not a path.
        assert_eq!(
            database_name("postgres://app@db?sslrootcert=/etc/ssl/ca.pem"),
            None
        );
        assert_eq!(
            database_name("postgres://app@db/app?sslrootcert=/etc/ca.pem"),
            Some("app")
        );
    }

    #[test]
    fn passwords_are_hidden_wherever_they_are() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/app?sslmode=require"),
            "postgres://app:***@db:5432/app?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://app@db/app?password=s3cret&sslmode=require"),
            "postgres://app@db/app?password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("sqlite://partnership.db?mode=rwc"),
            "sqlite://partnership.db?mode=rwc"
        );
    }
}
