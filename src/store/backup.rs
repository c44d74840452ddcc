//! Backups of the embedded SQLite database, taken while the service runs,
//! and their restore. A backup is `VACUUM INTO` (one read transaction: a
//! consistent copy of every table, the journal included, while writes go
//! on), written beside its name and renamed into place only once it has
//! passed SQLite's integrity check, so a backup file that exists is whole.
//! PostgreSQL and MariaDB/MySQL have their own tools (`pg_dump`,
//! `mariadb-dump`); see the README.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "backup and restore are for the embedded SQLite database; for PostgreSQL use pg_dump and pg_restore (or continuous archiving), for MariaDB/MySQL mariadb-dump (see the README)"
    )]
    NotSqlite,
    #[error("{0} does not exist")]
    Missing(PathBuf),
    #[error("{0} already exists; choose another name (a backup never overwrites a file)")]
    BackupExists(PathBuf),
    #[error("{0} already holds a database; stop the service, then add --force to replace it")]
    TargetExists(PathBuf),
    #[error("{0} is in use (a server has it open); stop the service first")]
    InUse(PathBuf),
    #[error("{path} is not a partnership backup: {why}")]
    NotABackup { path: PathBuf, why: String },
    #[error("{0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What a backup or restore wrote.
#[derive(Debug)]
pub struct Copied {
    pub path: PathBuf,
    pub bytes: u64,
    pub migrations: i64,
    pub took: Duration,
}

/// The file of a `sqlite:` URL.
fn sqlite_file(url: &str) -> Result<PathBuf, BackupError> {
    let rest = url.strip_prefix("sqlite:").ok_or(BackupError::NotSqlite)?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let file = rest.split('?').next().unwrap_or_default();
    Ok(PathBuf::from(file))
}

async fn open(path: &Path, mode: &str) -> Result<DatabaseConnection, BackupError> {
    let mut options = ConnectOptions::new(format!("sqlite://{}?mode={mode}", path.display()));
    options
        .max_connections(1)
        .min_connections(1)
        .sqlx_logging(false);
    Ok(Database::connect(options).await?)
}

/// The migrations a database has applied, once SQLite has found it whole.
async fn check(path: &Path) -> Result<i64, BackupError> {
    let not = |why: String| BackupError::NotABackup {
        path: path.to_owned(),
        why,
    };
    let db = open(path, "ro").await.map_err(|e| not(e.to_string()))?;
    let result = async {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA integrity_check",
            ))
            .await
            .map_err(|e| not(e.to_string()))?
            .ok_or_else(|| not("no answer to the integrity check".into()))?;
        let verdict: String = row.try_get_by_index(0).map_err(|e| not(e.to_string()))?;
        if verdict != "ok" {
            return Err(not(format!("integrity check: {verdict}")));
        }
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT COUNT(*) FROM seaql_migrations",
            ))
            .await
            .map_err(|_| not("it has no migrations table".into()))?
            .ok_or_else(|| not("it has no migrations table".into()))?;
        row.try_get_by_index::<i64>(0)
            .map_err(|e| not(e.to_string()))
    }
    .await;
    db.close().await?;
    result
}

/// `VACUUM INTO` from the database at `from` into `to` (which must not
/// exist), through a temporary file beside `to`, checked, then renamed.
async fn copy(from: &Path, to: &Path) -> Result<Copied, BackupError> {
    let started = Instant::now();
    let partial = beside(to, "partial")?;
    let db = open(from, "ro").await?;
    let vacuum = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "VACUUM INTO ?",
            [partial.to_string_lossy().into_owned().into()],
        ))
        .await;
    db.close().await?;
    let copied = match vacuum {
        Ok(_) => check(&partial).await,
        Err(e) => Err(e.into()),
    };
    let migrations = match copied {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::File::open(&partial)?.sync_all()?;
    rename_durably(&partial, to)?;
    Ok(Copied {
        path: to.to_owned(),
        bytes: std::fs::metadata(to)?.len(),
        migrations,
        took: started.elapsed(),
    })
}

/// A consistent copy of the SQLite database of `url` in the new file
/// `to`, taken while the service runs (writers wait only for the moments
/// SQLite needs; readers not at all).
pub async fn backup(url: &str, to: &Path) -> Result<Copied, BackupError> {
    let from = sqlite_file(url)?;
    if !from.exists() {
        return Err(BackupError::Missing(from));
    }
    if to.exists() {
        return Err(BackupError::BackupExists(to.to_owned()));
    }
    copy(&from, to).await
}

/// Puts the backup `from` in place as the SQLite database of `url`. A
/// database already there is replaced only with `force`, and never while
/// a process has it open.
pub async fn restore(from: &Path, url: &str, force: bool) -> Result<Copied, BackupError> {
    let target = sqlite_file(url)?;
    if !from.exists() {
        return Err(BackupError::Missing(from.to_owned()));
    }
    check(from).await?;
    let holds_data = std::fs::metadata(&target).is_ok_and(|m| m.len() > 0);
    if holds_data {
        if !force {
            return Err(BackupError::TargetExists(target));
        }
        ensure_unused(&target).await?;
    }
    let staged = beside(&target, "restore")?;
    let copied = copy(from, &staged).await?;
    // The old database's write-ahead log must not be replayed onto the
    // restored file.
    for suffix in ["-wal", "-shm", "-journal"] {
        let side = PathBuf::from(format!("{}{suffix}", target.display()));
        if side.exists() {
            std::fs::remove_file(side)?;
        }
    }
    rename_durably(&staged, &target)?;
    Ok(Copied {
        path: target,
        ..copied
    })
}

/// A hidden file beside `path` for `what` is being written there (an
/// earlier attempt's left behind is removed).
fn beside(path: &Path, what: &str) -> Result<PathBuf, BackupError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("db");
    let staged = path.with_file_name(format!(".{name}.{what}-{}", std::process::id()));
    if staged.exists() {
        std::fs::remove_file(&staged)?;
    }
    Ok(staged)
}

/// Renames `from` to `to` and makes the rename durable (the directory
/// synced).
fn rename_durably(from: &Path, to: &Path) -> Result<(), BackupError> {
    std::fs::rename(from, to)?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Refuses a database another connection has open: an exclusive lock in
/// SQLite's exclusive locking mode cannot be had while one does (in WAL
/// mode, even an idle one).
async fn ensure_unused(path: &Path) -> Result<(), BackupError> {
    let db = open(path, "rw").await?;
    let probe = async {
        db.execute_unprepared("PRAGMA busy_timeout = 200").await?;
        db.execute_unprepared("PRAGMA locking_mode = EXCLUSIVE")
            .await?;
        db.execute_unprepared("BEGIN EXCLUSIVE").await?;
        db.execute_unprepared("SELECT COUNT(*) FROM sqlite_master")
            .await?;
        db.execute_unprepared("COMMIT").await
    }
    .await;
    let _ = db.close().await;
    probe
        .map(|_| ())
        .map_err(|_| BackupError::InUse(path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://data/p.db?mode=rwc").unwrap(),
            PathBuf::from("data/p.db")
        );
        assert_eq!(sqlite_file("sqlite:p.db").unwrap(), PathBuf::from("p.db"));
        assert!(matches!(
            sqlite_file("postgres://x/y"),
            Err(BackupError::NotSqlite)
        ));
    }
}
