//! Opening the database: connection settings, migrations and the shared
//! connection behind [`SqliteState`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rayo_core::function::FunctionRecord;
use rayo_core::store::StoreError;
use rusqlite::{Connection, TransactionBehavior};
use thiserror::Error;

use crate::log_writer::LogWriter;
use crate::queues::QueueCache;
use crate::schema::{MIGRATIONS, SCHEMA_VERSION};

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// WAL pages written between automatic checkpoints.
const WAL_AUTOCHECKPOINT: i64 = 4000;

/// Prepared statements kept per connection: every store caches its
/// statements, about a hundred in all with the log queries' variants, and a
/// statement pushed out of the cache is parsed again on its next use.
const STATEMENT_CACHE_CAPACITY: usize = 256;

/// rayo's state in one SQLite database: functions and logs.
///
/// One connection behind a mutex: every call is a short statement or
/// transaction, so callers on async tasks hold the lock briefly. Log events
/// go through [`LogWriter`], which commits them in batches off the callers'
/// threads; log reads wait for it to catch up.
#[derive(Debug)]
pub struct SqliteState {
    connection: Arc<Mutex<Connection>>,
    log_writer: LogWriter,
    pub(crate) function_cache: FunctionCache,
    pub(crate) trigger_cache: crate::http_triggers::TriggerCache,
    pub(crate) queue_cache: QueueCache,
}

/// Function records as last read, by name: every invocation resolves its
/// function, and the record changes only through this store. A name is
/// forgotten, under the connection's lock, by every write to it.
#[derive(Debug, Default)]
pub(crate) struct FunctionCache {
    records: Mutex<HashMap<String, FunctionRecord>>,
}

impl FunctionCache {
    pub(crate) fn get(&self, name: &str) -> Option<FunctionRecord> {
        self.lock().get(name).cloned()
    }

    pub(crate) fn put(&self, record: &FunctionRecord) {
        self.lock()
            .insert(record.config.name.clone(), record.clone());
    }

    pub(crate) fn forget(&self, name: &str) {
        self.lock().remove(name);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, FunctionRecord>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Opening or migrating the database failed.
#[derive(Debug, Error)]
pub enum StateError {
    /// The file could not be opened or created.
    #[error("opening the database {} failed", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// A connection setting (WAL, busy timeout, foreign keys) was refused.
    #[error("configuring the database connection failed")]
    Configure(#[source] rusqlite::Error),
    /// The database was written by a newer rayo whose schema this one does not know.
    #[error(
        "the database schema is version {found}, newer than the version {supported} this rayo understands"
    )]
    SchemaTooNew {
        /// The version in the file.
        found: usize,
        /// The newest version this build knows.
        supported: usize,
    },
    /// Applying the schema migrations failed.
    #[error("migrating the database schema failed")]
    Migrate(#[source] rusqlite_migration::Error),
}

impl SqliteState {
    /// Opens the database at `path`, creating the file if needed, and brings
    /// its schema up to date. The parent directory must exist.
    pub fn open(path: &Path) -> Result<SqliteState, StateError> {
        let connection = Connection::open(path).map_err(|source| StateError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        SqliteState::from_connection(connection)
    }

    /// A private database in memory, for tests.
    pub fn open_in_memory() -> Result<SqliteState, StateError> {
        let connection = Connection::open_in_memory().map_err(|source| StateError::Open {
            path: PathBuf::from(":memory:"),
            source,
        })?;
        SqliteState::from_connection(connection)
    }

    fn from_connection(mut connection: Connection) -> Result<SqliteState, StateError> {
        configure(&mut connection).map_err(StateError::Configure)?;
        migrate(&mut connection)?;
        let connection = Arc::new(Mutex::new(connection));
        Ok(SqliteState {
            log_writer: LogWriter::start(Arc::clone(&connection)),
            connection,
            function_cache: FunctionCache::default(),
            trigger_cache: crate::http_triggers::TriggerCache::default(),
            queue_cache: QueueCache::default(),
        })
    }

    /// The connection, once every log event appended so far is committed:
    /// what reads or changes logs uses this.
    pub(crate) fn logs_connection(&self) -> MutexGuard<'_, Connection> {
        self.log_writer.sync();
        self.connection()
    }

    /// Hands events to the log writer.
    pub(crate) fn queue_log_events(
        &self,
        group: &str,
        stream: &str,
        events: Vec<rayo_core::logs::LogEvent>,
        ingestion_ms: i64,
    ) {
        self.log_writer.append(group, stream, events, ingestion_ms);
    }

    /// The connection, held until the guard drops.
    pub(crate) fn connection(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held cannot leave the connection
        // half-written: an unfinished transaction rolls back when dropped.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Turns any backend error into the store's catch-all.
pub(crate) fn backend(error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(error.to_string())
}

/// A write transaction begun and ended by cached statements. rusqlite's own
/// `transaction()` and `commit()` parse `BEGIN` and `COMMIT` anew every time,
/// which on the paths that run for every invocation or message (the async
/// queue, queue sends and receives, the log writer) cost about as much as
/// the statements in between. It derefs to the connection; dropped without
/// [`WriteTransaction::commit`], it rolls back.
pub(crate) struct WriteTransaction<'c> {
    connection: &'c Connection,
    committed: bool,
}

impl<'c> WriteTransaction<'c> {
    /// Begins an immediate transaction: it holds the write lock from the
    /// start, as every transaction of this connection does (`configure`).
    pub(crate) fn begin(connection: &'c Connection) -> rusqlite::Result<WriteTransaction<'c>> {
        run_cached(connection, "BEGIN IMMEDIATE")?;
        Ok(WriteTransaction {
            connection,
            committed: false,
        })
    }

    /// Commits; on failure the transaction rolls back when dropped.
    pub(crate) fn commit(mut self) -> rusqlite::Result<()> {
        run_cached(self.connection, "COMMIT")?;
        self.committed = true;
        Ok(())
    }

    /// Runs `write` under a savepoint: when it fails, what it wrote is
    /// undone and the rest of the transaction stays. The outer error is
    /// the savepoint's own (the transaction is then lost).
    pub(crate) fn savepoint<T, E>(
        &self,
        write: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> rusqlite::Result<Result<T, E>> {
        run_cached(self.connection, "SAVEPOINT item")?;
        let result = write(self.connection);
        if result.is_err() {
            run_cached(self.connection, "ROLLBACK TO item")?;
        }
        run_cached(self.connection, "RELEASE item")?;
        Ok(result)
    }
}

impl std::ops::Deref for WriteTransaction<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.connection
    }
}

impl Drop for WriteTransaction<'_> {
    fn drop(&mut self) {
        // SQLite may have rolled back already (after an I/O error or a full
        // disk); then there is nothing left to undo.
        if !self.committed
            && !self.connection.is_autocommit()
            && let Err(error) = run_cached(self.connection, "ROLLBACK")
        {
            tracing::error!(%error, "could not roll back a transaction");
        }
    }
}

impl std::fmt::Debug for WriteTransaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTransaction")
            .field("committed", &self.committed)
            .finish()
    }
}

/// Runs a statement that returns no rows through the statement cache.
fn run_cached(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// A `usize` limit as SQLite's integer; larger than any table.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn configure(connection: &mut Connection) -> rusqlite::Result<()> {
    // WAL lets readers in other processes (`sqlite3`, backups) work during
    // writes. Synchronous NORMAL is durable against a crash of rayo and only
    // loses the last commits on power loss, without an fsync per log batch.
    // An in-memory database answers "memory" and stays so.
    let _journal_mode: String =
        connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    // A checkpoint copies every page the WAL holds into the database and
    // syncs it. The queues' and logs' pages are written again by nearly
    // every commit, so checkpointing every WAL_AUTOCHECKPOINT pages rather
    // than SQLite's 1,000 copies each of them once for four times as many
    // commits; the WAL grows to about 16 MB between checkpoints.
    connection.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT)?;
    connection.pragma_update(None, "foreign_keys", true)?;
    // Statement journals (a statement inside a transaction that may have to
    // roll back alone) and sorts stay in memory rather than in temporary
    // files written on every batch of log events.
    connection.pragma_update(None, "temp_store", "MEMORY")?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    // Transactions that read and then write must hold the write lock from
    // the start: a deferred one fails with SQLITE_BUSY, without waiting, when
    // another process wrote in between.
    connection.set_transaction_behavior(TransactionBehavior::Immediate);
    Ok(())
}

fn migrate(connection: &mut Connection) -> Result<(), StateError> {
    let found: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(StateError::Configure)?;
    let found = usize::try_from(found).unwrap_or(usize::MAX);
    if found > SCHEMA_VERSION {
        return Err(StateError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    MIGRATIONS
        .to_latest(connection)
        .map_err(StateError::Migrate)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rayo_core::logs::{LogEvent, LogQuery};
    use rayo_core::store::{FunctionStore, LogStore};

    use super::*;
    use crate::functions::tests::record;

    fn pragma(state: &SqliteState, name: &str) -> String {
        state
            .connection()
            .pragma_query_value(None, name, |row| row.get::<_, rusqlite::types::Value>(0))
            .map(|value| match value {
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Text(s) => s,
                other => format!("{other:?}"),
            })
            .unwrap()
    }

    #[test]
    fn file_database_settings() {
        let dir = tempfile::tempdir().unwrap();
        let state = SqliteState::open(&dir.path().join("state.db")).unwrap();
        assert_eq!(pragma(&state, "journal_mode"), "wal");
        assert_eq!(pragma(&state, "foreign_keys"), "1");
        assert_eq!(pragma(&state, "busy_timeout"), "5000");
        assert_eq!(pragma(&state, "temp_store"), "2");
        assert_eq!(pragma(&state, "wal_autocheckpoint"), "4000");
        assert_eq!(pragma(&state, "user_version"), SCHEMA_VERSION.to_string());
    }

    #[test]
    fn reopening_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut function = record("kept");
        function.tags = BTreeMap::from([("team".to_string(), "a".to_string())]);
        {
            let state = SqliteState::open(&path).unwrap();
            state.create_function(&function).unwrap();
            let events = [LogEvent {
                timestamp_ms: 1_000,
                message: "hello".to_string(),
            }];
            state
                .put_log_events("/aws/lambda/kept", "s1", events.to_vec())
                .unwrap();
            state
                .put_retention_policy("/aws/lambda/kept", Some(7))
                .unwrap();
        }
        let state = SqliteState::open(&path).unwrap();
        assert_eq!(state.get_function("kept").unwrap(), Some(function));
        let query = LogQuery {
            limit: 10,
            ..LogQuery::default()
        };
        let events = state.query_log_events("/aws/lambda/kept", &query).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].message, "hello");
        let groups = state.describe_log_groups(None, None, 10).unwrap();
        assert_eq!(groups[0].retention_days, Some(7));
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        drop(SqliteState::open(&path).unwrap());
        let connection = Connection::open(&path).unwrap();
        connection
            .pragma_update(
                None,
                "user_version",
                i64::try_from(SCHEMA_VERSION).unwrap() + 1,
            )
            .unwrap();
        drop(connection);
        let error = SqliteState::open(&path).unwrap_err();
        assert!(
            matches!(error, StateError::SchemaTooNew { found, supported }
                if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
            "{error:?}"
        );
    }

    fn count_rows(connection: &Connection) -> i64 {
        connection
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn write_transactions_commit_or_roll_back() {
        let state = SqliteState::open_in_memory().unwrap();
        let connection = state.connection();
        connection.execute_batch("CREATE TABLE t (x)").unwrap();
        {
            let transaction = WriteTransaction::begin(&connection).unwrap();
            transaction.execute("INSERT INTO t VALUES (1)", []).unwrap();
        }
        assert!(connection.is_autocommit());
        assert_eq!(count_rows(&connection), 0);
        let transaction = WriteTransaction::begin(&connection).unwrap();
        transaction.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let failed = transaction.savepoint(|connection| {
            connection.execute("INSERT INTO t VALUES (2)", [])?;
            connection.execute("INSERT INTO nowhere VALUES (3)", [])
        });
        assert!(failed.unwrap().is_err());
        let kept =
            transaction.savepoint(|connection| connection.execute("INSERT INTO t VALUES (4)", []));
        assert_eq!(kept.unwrap().unwrap(), 1);
        transaction.commit().unwrap();
        assert!(connection.is_autocommit());
        let values: Vec<i64> = connection
            .prepare("SELECT x FROM t ORDER BY x")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(values, [1, 4]);
    }

    #[test]
    fn missing_directory_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent").join("state.db");
        let error = SqliteState::open(&path).unwrap_err();
        assert!(error.to_string().contains("absent"), "{error}");
    }
}
