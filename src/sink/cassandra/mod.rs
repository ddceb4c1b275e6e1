//! Cassandra / ScyllaDB sink (the async `scylla` driver behind the synchronous [`Sink`] trait):
//! **idempotent exactly-once** — effectively-once rows, not transactional.
//!
//! # URL
//!
//! ```text
//! cassandra://[USER[:PASS]@]HOST[:PORT][,HOST[:PORT]…]/KEYSPACE[?OPTION=VALUE&…]
//! ```
//!
//! Hosts are contact points (port 9042 by default, IPv6 literals in brackets: `[::1]:9042`); the
//! driver discovers the rest of the cluster. The keyspace is required. Values are
//! percent-decoded (`%40` → `@`; a `+` stays a `+`, write a space as `%20`), so any user name,
//! password or path can be given. Names (keyspace, table) are unquoted CQL identifiers — a letter,
//! then letters, digits and `_` — and are lower-cased, as CQL does.
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `table` | the `--table` / config table (`users`) | users table; progress goes to `{table}_offsets`. At most 40 characters (`{table}_offsets` must fit Cassandra's 48). Overrides `--table` |
//! | `consistency` | `local_quorum` | consistency of every write: `one`, `two`, `three`, `quorum`, `all`, `local_quorum`, `each_quorum`, `local_one` (`any` and the serial levels are refused). Reads use the same level, except that `each_quorum` reads at `local_quorum` |
//! | `replication` | `1` | replication of a keyspace this sink creates: `N` → `SimpleStrategy` with factor N; `dc1:3,dc2:3` → `NetworkTopologyStrategy` with a factor per data center. An existing keyspace is left as it is |
//! | `durable_writes` | `true` | `durable_writes` of a keyspace this sink creates |
//! | `username`, `password` | none | plain-text authentication (also `USER:PASS@` before the hosts, not both). Never printed: [`Sink::describe`], errors and `Debug` leave the password out |
//! | `tls` | `false` | TLS to every node (OpenSSL) |
//! | `tls_ca` | system store | PEM file of the CA(s) to trust instead of the system store; implies `tls=true` |
//! | `tls_verify` | `true` | verify the node certificate chain; `false` accepts any certificate (tests only). The host name is not checked: the driver connects to the node addresses it discovers, not to the URL's names |
//! | `concurrency` | `64` | row INSERTs in flight per commit (1–1024) |
//! | `retries` | `3` | retries of one statement after a transient failure (0–20), with backoff 100 ms doubling to 2 s |
//! | `connect_timeout` | `10` | seconds, per connection attempt |
//! | `request_timeout` | `12` | seconds, client-side timeout of one request attempt |
//!
//! Example: `cassandra://db1:9042,db2:9042/eosflow?table=users&consistency=local_quorum&replication=dc1:3&username=eosflow&password=p%40ss&tls_ca=/etc/eosflow/ca.pem`.
//!
//! # Schema
//!
//! [`Sink::ensure_schema`] creates what `system_schema` shows missing (and still says
//! `IF NOT EXISTS`, for concurrent starts). Checking first matters: Cassandra checks the
//! `CREATE` permission before `IF NOT EXISTS`, so a user without it can still run against a
//! keyspace and tables provisioned by an administrator.
//!
//! ```sql
//! CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {…} AND durable_writes = true;
//! CREATE TABLE IF NOT EXISTS {keyspace}.{table} (id uuid PRIMARY KEY,
//!     source_name text, source_seed text, source_page bigint, source_index int, external_id text,
//!     first_name text, …, picture text, nat text, age int, cell text);  -- one per User field
//! CREATE TABLE IF NOT EXISTS {keyspace}.{table}_offsets (consumer_group text, topic text,
//!     "partition" int, next_offset bigint, PRIMARY KEY ((consumer_group, topic), "partition"));
//! ```
//!
//! The user columns come from one list ([`statements`]); a column that an older table lacks is
//! added with `ALTER TABLE … ADD`, a column with another type is an error. Run it from one process
//! first (the processor does, at start): concurrent schema changes on a multi-node cluster are
//! best avoided.
//!
//! Statements are prepared on first use, each by the operation that runs it, so an operation
//! needs only the tables it touches: `id_counts` and `get` (what `verify` reads) work without the
//! offsets table. An operation on a missing keyspace or table fails with the node's message
//! (Cassandra 5: "table … does not exist"; older nodes: "unconfigured table …") and a hint to
//! create the schema. A refused login names the hosts and the user, never the password.
//!
//! # Commit: rows first, then offsets
//!
//! Cassandra has no multi-row transactions, and a logged batch of thousands of rows across
//! partitions is an anti-pattern. So [`Sink::commit`]:
//!
//! 1. de-duplicates the batch by id (last version wins: concurrent writes of one id would land in
//!    any order);
//! 2. writes every row with a prepared `INSERT` **marked idempotent**, `concurrency` of them in
//!    flight (`buffer_unordered`), at the configured consistency; each INSERT writes every column
//!    (a `None` as `null`), so a row is a pure function of the user and rewriting it is harmless;
//! 3. only when **every** row write succeeded, advances the offsets.
//!
//! After a crash or a failed commit, rows may therefore be **ahead** of the stored offsets, never
//! behind: the processor resumes from the stored offsets and replays records whose rows are
//! already there, which rewrites identical rows under the same UUIDv5 keys. The end state is
//! exactly one row per user with the right contents (effectively-once), but a reader may see the
//! rows of a batch before its offsets, and a failed commit may leave some of its rows written.
//! This is weaker than the SQL sinks' contract (rows and offsets in one transaction) and is what
//! the contract suite checks for this sink.
//!
//! **Offsets are kept at the maximum by read-then-write**: one `SELECT` of the (group, topic)
//! partition, then one single-partition `UNLOGGED BATCH` of the partitions that move forward
//! (atomic and isolated, since all rows of a (group, topic) share one partition). This is safe
//! because one processor owns a Kafka partition at a time; if a zombie processor ever raced the new
//! owner and wrote a smaller offset, the effect is a replay of idempotent rows, never a lost or
//! duplicated row. A lightweight transaction (`UPDATE … IF next_offset < ?`) was not chosen: it
//! costs four Paxos round trips per commit, needs an `INSERT … IF NOT EXISTS` first for new
//! partitions, and mixing LWT and plain writes (the `DELETE` of `reset_offsets`) on one partition
//! is unsafe — all to protect against a case whose worst outcome is already harmless.
//!
//! # Retries and timestamps
//!
//! Every statement is prepared idempotent and run with the driver's default retry policy (which
//! retries idempotent statements on broken connections and overloaded nodes). On top of that the
//! sink retries each statement itself, up to `retries` times with backoff, on client timeouts,
//! write/read timeouts, unavailable and overloaded nodes and broken connections — the cases the
//! driver's policy gives up on. That is safe only because the writes are idempotent. Errors such
//! as an invalid request are not retried.
//!
//! Writes carry client-side timestamps from one monotonic generator per sink, so a later commit
//! of this process always wins over an earlier one, whatever the nodes' clocks. Across processes
//! (a processor, then a `--reset-offsets` elsewhere) the client machines' clocks decide, as
//! always with Cassandra: keep them synchronised (NTP).
//!
//! # Threads
//!
//! The sink owns a small Tokio runtime (one worker thread, which runs the driver's connection
//! tasks) and `block_on`s it for each call. Call it from a plain thread (the processor's main
//! thread) or from `tokio::task::spawn_blocking`; **never from inside an async context** (a
//! `block_on` or a task of another runtime): Tokio refuses to start a runtime there and panics.
//! The same holds for dropping the sink.

mod ceiling;
mod config;
mod driver;
mod ops;
mod probe;
mod schema;
pub mod statements;
mod write;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::retry::DefaultRetryPolicy;
use scylla::policies::timestamp_generator::MonotonicTimestampGenerator;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Statement;
use tokio::runtime::Runtime;
use uuid::Uuid;

pub use config::{
    consistency_name, CassandraConfig, Replication, Tls, UrlError, DEFAULT_CONCURRENCY,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_PORT, DEFAULT_REPLICATION_FACTOR, DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_RETRIES, MAX_CONCURRENCY, MAX_TABLE_LEN,
};
use driver::{attempt_error, error_chain, permanent, prepare_attempt_error, tls_context};
use ops::{advance_offsets, prepare, read_offsets, scan_ids, Prepared, Stmt};
pub use schema::InstantColumns;
use schema::{instant_columns, plan_columns};
use statements::{row_values, user_from_values, Cql};
use write::{with_retries, write_all, Failed, Retry, WriteStats};

use super::migrate::{Change, PresentColumn, Wanted};
use super::{IdCounts, Row, SchemaPlan, Sink, SinkBatch, SinkError, SkippedRange, Tables};
use crate::core::processor::Skipped;
use crate::model::User;
use crate::secret::{redact_url, scrub_with, Secret};

/// Ids fetched per page by [`Sink::id_counts`].
pub const ID_PAGE_SIZE: i32 = 5000;

/// Client timeout of schema statements (schema agreement can take a while).
const DDL_TIMEOUT: Duration = Duration::from_secs(60);

/// A [`Sink`] over one driver session (see the module docs).
pub struct CassandraSink {
    // Field order is drop order: the session goes before the runtime that runs its tasks.
    session: Session,
    /// Each statement prepared on first use (after the schema exists), by the operation that
    /// runs it: an operation never needs a table it does not touch.
    prepared: Prepared,
    config: CassandraConfig,
    cql: Cql,
    /// The URL without password.
    describe: String,
    retry: Retry,
    /// How the users table stores timestamps (known after [`Sink::ensure_schema`]).
    instants: InstantColumns,
    runtime: Runtime,
}

impl CassandraSink {
    /// Connect to the cluster of `url` (see the module docs); `table` is used when the URL has no
    /// `table=` option. Does not touch the keyspace: [`Sink::ensure_schema`] creates it.
    pub fn connect(url: &str, table: &str) -> Result<Box<CassandraSink>, SinkError> {
        let config = CassandraConfig::parse(url, table).map_err(|e| SinkError::BadUrl {
            url: redact_url(url),
            detail: e.to_string(),
        })?;
        Self::connect_with(config)
    }

    /// Connect with an already parsed configuration.
    pub fn connect_with(config: CassandraConfig) -> Result<Box<CassandraSink>, SinkError> {
        let describe = config.describe();
        let secrets = config.secrets();
        let connect_err = |detail: String| SinkError::Connect {
            sink: describe.clone(),
            detail: scrub_with(
                &format!(
                    "hosts {}, keyspace {}: {detail}",
                    config.hosts.join(","),
                    config.keyspace
                ),
                &secrets,
            ),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("eosflow-cassandra")
            .enable_all()
            .build()
            .map_err(|e| connect_err(format!("cannot start the driver's runtime: {e}")))?;
        let profile = ExecutionProfile::builder()
            .consistency(config.consistency)
            .serial_consistency(None)
            .request_timeout(Some(config.request_timeout))
            .retry_policy(Arc::new(DefaultRetryPolicy::new()))
            .build();
        let mut builder = SessionBuilder::new()
            .known_nodes(&config.hosts)
            .connection_timeout(config.connect_timeout)
            .default_execution_profile_handle(profile.into_handle())
            .timestamp_generator(Arc::new(MonotonicTimestampGenerator::new()));
        if let Some(user) = &config.username {
            let password = config.password.as_ref().map(Secret::expose);
            builder = builder.user(user, password.unwrap_or(""));
        }
        if let Some(tls) = &config.tls {
            builder = builder.tls_context(Some(tls_context(tls).map_err(&connect_err)?));
        }
        // The driver bounds each connection; this bounds the whole start (all contact points,
        // the first metadata fetch).
        let overall = config.connect_timeout + Duration::from_secs(5);
        let session = runtime
            .block_on(async { tokio::time::timeout(overall, builder.build()).await })
            .map_err(|_| connect_err(format!("no session within {overall:?}")))?
            .map_err(|e| {
                let detail = error_chain(&e);
                let hint = auth_hint(&detail, config.username.as_deref());
                connect_err(format!("{detail}{hint}"))
            })?;
        tracing::debug!(sink = %describe, "cassandra: connected");
        Ok(Box::new(CassandraSink {
            session,
            prepared: Prepared::default(),
            cql: Cql::new(&config.keyspace, &config.table),
            retry: Retry::new(config.retries),
            instants: InstantColumns::Native,
            config,
            describe,
            runtime,
        }))
    }

    /// The parsed configuration (the password stays hidden in `Debug`).
    pub fn config(&self) -> &CassandraConfig {
        &self.config
    }

    fn op_err(&self, operation: &'static str, detail: impl Into<String>) -> SinkError {
        let mut detail = detail.into();
        if operation != "ensure_schema" && schema_missing(&detail) {
            detail.push_str(
                " (has the schema been created? run ensure_schema / the processor first)",
            );
        }
        if permission_missing(&detail) {
            let user = self.config.username.as_deref().unwrap_or("the role");
            detail.push_str(&format!(
                " (the Cassandra role {user} lacks that permission: GRANT it, e.g. `GRANT CREATE ON ALL \
                 KEYSPACES TO {user}`, or have an administrator create the keyspace and tables; \
                 eosflow then needs only SELECT and MODIFY on them)"
            ));
        }
        SinkError::Operation {
            sink: self.describe.clone(),
            operation,
            detail: scrub_with(&detail, &self.config.secrets()),
        }
    }

    /// One prepared statement, preparing it on first use.
    fn statement(
        &mut self,
        operation: &'static str,
        which: Stmt,
    ) -> Result<PreparedStatement, SinkError> {
        if let Some(p) = self.prepared.get(which) {
            return Ok(p.clone());
        }
        let (statement, _) = self
            .runtime
            .block_on(with_retries(&self.retry, 0, || async {
                prepare(&self.session, &self.cql, &self.config, which)
                    .await
                    .map_err(|e| prepare_attempt_error(&e))
            }))
            .map_err(|e| self.op_err(operation, format!("preparing {}: {e}", which.what())))?;
        self.prepared.insert(which, statement.clone());
        Ok(statement)
    }

    /// Run one idempotent statement that is not prepared (rare ones), retrying transient failures.
    async fn simple(
        &self,
        text: String,
        values: impl scylla::serialize::row::SerializeRow + Clone,
    ) -> Result<scylla::response::query_result::QueryResult, Failed> {
        let mut statement = Statement::new(text);
        statement.set_is_idempotent(true);
        statement.set_consistency(self.config.consistency);
        let (result, _) = with_retries(&self.retry, 0, || async {
            self.session
                .query_unpaged(statement.clone(), values.clone())
                .await
                .map_err(|e| attempt_error(&e))
        })
        .await?;
        Ok(result)
    }

    /// Run one schema statement, retrying transient failures (they are all `IF NOT EXISTS`).
    async fn ddl(&self, text: String) -> Result<(), Failed> {
        let mut statement = Statement::new(text);
        statement.set_request_timeout(Some(DDL_TIMEOUT));
        statement.set_is_idempotent(true);
        with_retries(&self.retry, 0, || async {
            self.session
                .query_unpaged(statement.clone(), ())
                .await
                .map(drop)
                .map_err(|e| attempt_error(&e))
        })
        .await
        .map(drop)
    }

    async fn keyspace_exists(&self) -> Result<bool, Failed> {
        let mut statement = Statement::new(self.cql.keyspace_exists());
        statement.set_is_idempotent(true);
        let (rows, _) = with_retries(&self.retry, 0, || async {
            let result = self
                .session
                .query_unpaged(statement.clone(), (&self.cql.keyspace,))
                .await
                .map_err(|e| attempt_error(&e))?;
            let rows = result.into_rows_result().map_err(permanent)?;
            Ok(rows.rows_num())
        })
        .await?;
        Ok(rows > 0)
    }

    /// Create what is missing, then add the user columns an existing table lacks.
    async fn create_schema(&self) -> Result<(Vec<String>, InstantColumns), String> {
        let (cql, config) = (&self.cql, &self.config);
        let failed = |what: &str, e: Failed| format!("{what}: {e}");
        if !self
            .keyspace_exists()
            .await
            .map_err(|e| failed("reading system_schema.keyspaces", e))?
        {
            let text = cql.create_keyspace(&config.replication, config.durable_writes);
            self.ddl(text.clone()).await.map_err(|e| failed(&text, e))?;
        }
        for (table, text) in [
            (cql.table.clone(), cql.create_users()),
            (cql.offsets_table(), cql.create_offsets()),
            (cql.skipped_table(), cql.create_skipped()),
        ] {
            let columns = self
                .columns_of(&table)
                .await
                .map_err(|e| failed("reading system_schema.columns", e))?;
            if columns.is_empty() {
                self.ddl(text.clone()).await.map_err(|e| failed(&text, e))?;
            }
        }
        self.add_missing_columns().await
    }

    /// `(column, type)` of a table of this sink's keyspace.
    async fn columns_of(&self, table: &str) -> Result<Vec<(String, String)>, Failed> {
        let mut statement = Statement::new(self.cql.table_columns());
        statement.set_is_idempotent(true);
        let (columns, _) = with_retries(&self.retry, 0, || async {
            let result = self
                .session
                .query_unpaged(statement.clone(), (&self.cql.keyspace, table))
                .await
                .map_err(|e| attempt_error(&e))?;
            let rows = result.into_rows_result().map_err(permanent)?;
            rows.rows::<(String, String)>()
                .map_err(permanent)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(permanent)
        })
        .await?;
        Ok(columns)
    }

    /// Add the user columns an existing table lacks. Another session adding the same column at
    /// the same time makes our `ALTER` fail: then the column is simply there on a second look.
    async fn add_missing_columns(&self) -> Result<(Vec<String>, InstantColumns), String> {
        let existing = self
            .columns_of(&self.cql.table)
            .await
            .map_err(|e| e.to_string())?;
        let wanted = Wanted::user();
        let changes = plan_columns(&existing, &wanted).map_err(|e| e.to_string())?;
        let mut added = Vec::new();
        for change in changes {
            let Change::Add { column, ty } = change else {
                continue; // a Cassandra plan only adds
            };
            let column = column.name.as_str();
            if let Err(e) = self.ddl(self.cql.add_column(column, ty)).await {
                let now = self
                    .columns_of(&self.cql.table)
                    .await
                    .map_err(|e| e.to_string())?;
                if !now.iter().any(|(c, _)| c == column) {
                    return Err(format!("adding column {column} {ty}: {e}"));
                }
            }
            added.push(column.to_string());
        }
        Ok((added, instant_columns(&existing)))
    }
}

/// Whether a node's error says the role lacks a permission ("User U has no CREATE permission
/// on <all keyspaces> or any of its parents").
fn permission_missing(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    lower
        .find(" has no ")
        .is_some_and(|at| lower[at..].contains(" permission"))
}

/// Whether a node's error says that the keyspace or a table is missing: Cassandra 5 writes
/// "table T does not exist" (and "keyspace K does not exist"), Cassandra 4 and ScyllaDB
/// "unconfigured table T".
fn schema_missing(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    lower.contains("unconfigured table")
        || lower.match_indices(" does not exist").any(|(at, _)| {
            let mut words = lower[..at].split_whitespace().rev();
            let _name = words.next();
            words
                .next()
                .is_some_and(|w| w.ends_with("table") || w.ends_with("keyspace"))
        })
}

/// What to check when the node refused the login, or asked for one the URL does not give (the
/// driver's texts: "Authentication failed - bad credentials", "Authentication is required").
fn auth_hint(detail: &str, username: Option<&str>) -> String {
    let lower = detail.to_ascii_lowercase();
    if lower.contains("authentication failed") || lower.contains("bad credentials") {
        let user = username.map(|u| format!(" (user {u})")).unwrap_or_default();
        format!(
            "; the node refused the login{user}: check the username and password of the URL, \
             and that the role exists and has LOGIN"
        )
    } else if lower.contains("authentication is required") {
        "; the node requires authentication: give a username and password \
         (cassandra://USER:PASS@HOST/KEYSPACE, or username=…&password=…)"
            .to_string()
    } else {
        String::new()
    }
}

impl Sink for CassandraSink {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn ensure_schema(&mut self) -> Result<(), SinkError> {
        let result = self.runtime.block_on(self.create_schema());
        // Statements prepared before a schema change may describe the old table.
        self.prepared.clear();
        let (added, instants) = result.map_err(|e| self.op_err("ensure_schema", e))?;
        if instants == InstantColumns::Text {
            tracing::warn!(sink = %self.describe, table = %self.cql.table,
                "cassandra: this table (made by an older eosflow) stores dob and registered_date \
                 as text, and Cassandra cannot change a column's type: eosflow keeps writing the \
                 canonical ISO-8601 text there; for timestamp columns, point the sink at a new \
                 table and process the topic again into it");
        }
        self.instants = instants;
        tracing::debug!(sink = %self.describe, ?added, ?instants, "cassandra: schema ready");
        Ok(())
    }

    fn load_offsets(&mut self, group: &str, topic: &str) -> Result<BTreeMap<i32, i64>, SinkError> {
        let select = self.statement("load_offsets", Stmt::SelectOffsets)?;
        self.runtime
            .block_on(read_offsets(
                &self.session,
                &select,
                &self.retry,
                group,
                topic,
            ))
            .map_err(|e| self.op_err("load_offsets", e.to_string()))
    }

    fn commit(&mut self, batch: &SinkBatch) -> Result<(), SinkError> {
        if batch.rows.is_empty() && batch.next_offsets.is_empty() && batch.skipped.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        // Only what this batch runs: an offsets-only batch needs no users table, rows alone no
        // offsets table. Prepared before anything is written, so a missing table fails the commit
        // at once.
        let insert_row = if batch.rows.is_empty() {
            None
        } else {
            Some(self.statement("commit", Stmt::InsertRow)?)
        };
        let offsets = if batch.next_offsets.is_empty() {
            None
        } else {
            Some((
                self.statement("commit", Stmt::SelectOffsets)?,
                self.statement("commit", Stmt::InsertOffset)?,
            ))
        };
        let rows: Vec<&Row> = batch.rows_last_wins();
        let (session, instants) = (&self.session, self.instants);
        let result = self.runtime.block_on(async {
            let stats = match &insert_row {
                None => WriteStats::default(),
                Some(insert) => write_all(&rows, self.config.concurrency, &self.retry, |row| {
                    let values = row_values(row.id, &row.user, instants);
                    async move {
                        session
                            .execute_unpaged(insert, values.map_err(permanent)?)
                            .await
                            .map(drop)
                            .map_err(|e| attempt_error(&e))
                    }
                })
                .await
                .map_err(|f| {
                    let id = rows.get(f.index).map(|r| r.id).unwrap_or_default();
                    format!(
                        "{} of {} rows written, then row {id} failed: {}; offsets not advanced \
                         (a replay rewrites the same rows)",
                        f.written, f.total, f.failed
                    )
                })?,
            };
            // Skipped ranges before the offsets that move past them (idempotent inserts).
            for skip in &batch.skipped {
                let values = (
                    &batch.group,
                    &batch.topic,
                    skip.partition,
                    skip.from,
                    skip.to,
                );
                self.simple(self.cql.insert_skipped(), values)
                    .await
                    .map_err(|e| format!("recording skipped range {skip:?}: {e}"))?;
            }
            let advanced = match &offsets {
                None => 0,
                Some((select, insert)) => {
                    advance_offsets(session, (select, insert), &self.retry, batch)
                        .await
                        .map_err(|e| {
                            format!(
                                "all {} rows written, but {e} (a replay rewrites the same rows)",
                                rows.len()
                            )
                        })?
                }
            };
            Ok::<_, String>((stats, advanced))
        });
        let (stats, advanced) = result.map_err(|e| self.op_err("commit", e))?;
        tracing::debug!(
            sink = %self.describe,
            rows = stats.written,
            retries = stats.retries,
            partitions = advanced,
            group = %batch.group,
            topic = %batch.topic,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "cassandra: committed batch"
        );
        Ok(())
    }

    fn reset_offsets(&mut self, group: &str, topic: &str) -> Result<(), SinkError> {
        let delete = self.statement("reset_offsets", Stmt::DeleteOffsets)?;
        self.runtime
            .block_on(with_retries(&self.retry, 0, || async {
                self.session
                    .execute_unpaged(&delete, (group, topic))
                    .await
                    .map(drop)
                    .map_err(|e| attempt_error(&e))
            }))
            .map_err(|e| self.op_err("reset_offsets", e.to_string()))?;
        tracing::info!(sink = %self.describe, group, topic, "cassandra: offsets reset");
        Ok(())
    }

    fn skipped(&mut self, topic: &str) -> Result<Vec<SkippedRange>, SinkError> {
        let result = self.runtime.block_on(async {
            let result = self
                .simple(self.cql.select_skipped(), ())
                .await
                .map_err(|e| e.to_string())?;
            let rows = result.into_rows_result().map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            for row in rows
                .rows::<(String, String, i32, i64, i64)>()
                .map_err(|e| e.to_string())?
            {
                let (group, t, partition, from, to) = row.map_err(|e| e.to_string())?;
                if t == topic {
                    out.push(SkippedRange {
                        group,
                        range: Skipped {
                            partition,
                            from,
                            to,
                        },
                    });
                }
            }
            out.sort_by(|a, b| {
                (&a.group, a.range.partition, a.range.from).cmp(&(
                    &b.group,
                    b.range.partition,
                    b.range.from,
                ))
            });
            Ok::<_, String>(out)
        });
        result.map_err(|e| self.op_err("skipped", e))
    }

    fn id_counts(&mut self) -> Result<IdCounts, SinkError> {
        let select = self.statement("id_counts", Stmt::SelectIds)?;
        self.runtime
            .block_on(scan_ids(&self.session, &select, &self.retry))
            .map_err(|e| self.op_err("id_counts", e.to_string()))
    }

    fn get(&mut self, id: Uuid) -> Result<Option<User>, SinkError> {
        let select = self.statement("get", Stmt::SelectRow)?;
        let (row, _) = self
            .runtime
            .block_on(with_retries(&self.retry, 0, || async {
                let result = self
                    .session
                    .execute_unpaged(&select, (id,))
                    .await
                    .map_err(|e| attempt_error(&e))?;
                let rows = result.into_rows_result().map_err(permanent)?;
                rows.maybe_first_row::<scylla::value::Row>()
                    .map_err(permanent)
            }))
            .map_err(|e| self.op_err("get", e.to_string()))?;
        row.map(|r| user_from_values(r.columns))
            .transpose()
            .map_err(|e| self.op_err("get", format!("row {id}: {e}")))
    }

    fn plan_schema(&mut self, wanted: &[Wanted]) -> Result<SchemaPlan, SinkError> {
        let cql = self.cql.clone();
        let existing = self
            .runtime
            .block_on(self.columns_of(&cql.table))
            .map_err(|e| self.op_err("plan_schema", e.to_string()))?;
        let present: Vec<PresentColumn> = existing
            .iter()
            .map(|(c, t)| PresentColumn::new(c, t))
            .collect();
        Ok(SchemaPlan::of(
            &cql.users(),
            &present,
            plan_columns(&existing, wanted),
            || vec![cql.create_users_with(wanted)],
            |changes| {
                changes
                    .iter()
                    .filter_map(|c| match c {
                        Change::Add { column, ty } => Some(cql.add_column(&column.name, ty)),
                        Change::Retype { .. } => None,
                    })
                    .collect()
            },
        ))
    }

    fn tables(&mut self) -> Result<Tables, SinkError> {
        let result = self.runtime.block_on(self.present_tables());
        result.map_err(|e| self.op_err("tables", e))
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_are_bad_url_errors_without_password() {
        let err = CassandraSink::connect(
            "cassandra://u:s3cr3t@h/ks?password=s3cr3t&consistency=sometimes",
            "users",
        )
        .err()
        .expect("bad URL");
        let msg = err.to_string();
        assert!(matches!(err, SinkError::BadUrl { .. }), "{msg}");
        assert!(!msg.contains("s3cr3t"), "{msg}");
        let err = CassandraSink::connect(
            "cassandra://u@h/ks?password=s3cr3t&consistency=sometimes",
            "users",
        )
        .err()
        .expect("bad URL");
        let msg = err.to_string();
        assert!(msg.contains("option consistency: unknown level"), "{msg}");
        assert!(msg.contains("password=***"), "{msg}");
        assert!(!msg.contains("s3cr3t"), "{msg}");
    }

    /// Nothing listens on port 1: the connect error names hosts and keyspace, not the password,
    /// and the runtime inside works from a plain thread and from `spawn_blocking`.
    #[test]
    fn unreachable_cluster_is_a_connect_error() {
        let url = "cassandra://127.0.0.1:1,[::1]:1/eosflow_ks?username=me&password=s3cr3t\
                   &connect_timeout=2";
        let check = |err: SinkError| {
            let msg = err.to_string();
            assert!(matches!(err, SinkError::Connect { .. }), "{msg}");
            assert!(msg.contains("127.0.0.1:1,[::1]:1"), "hosts: {msg}");
            assert!(msg.contains("keyspace eosflow_ks"), "keyspace: {msg}");
            assert!(
                msg.contains("cassandra://me@127.0.0.1:1,[::1]:1/eosflow_ks"),
                "{msg}"
            );
            assert!(!msg.contains("s3cr3t"), "password leaked: {msg}");
            assert!(!format!("{err:?}").contains("s3cr3t"));
        };
        check(CassandraSink::connect(url, "users").err().expect("refused"));
        let other = tokio::runtime::Runtime::new().expect("runtime");
        let err = other
            .block_on(async {
                tokio::task::spawn_blocking(move || CassandraSink::connect(url, "users").err())
                    .await
            })
            .expect("join")
            .expect("refused");
        check(err);
    }

    #[test]
    fn missing_permissions_are_recognised() {
        assert!(permission_missing(
            "Error message: User eosflow has no SELECT permission on <table ks.t>"
        ));
        assert!(permission_missing(
            "Error message: User x has no CREATE permission on <all keyspaces> or any of its parents"
        ));
        assert!(!permission_missing(
            "Error message: unconfigured table users"
        ));
    }

    /// The texts of Cassandra 5.0.9 (seen on a real node), Cassandra 4 / ScyllaDB, and others.
    #[test]
    fn missing_keyspace_or_table_is_recognised_in_every_wording() {
        for text in [
            "Preparation failed on every connection from the selected pool. First attempt \
             error: Database returned an error: The query is syntactically correct but invalid, \
             Error message: table ct_x_123_offsets does not exist (after 1 attempt)",
            "Error message: unconfigured table users",
            "Error message: Keyspace eosflow_test does not exist",
            "Error message: keyspace 'ks' does not exist",
        ] {
            assert!(schema_missing(text), "{text}");
        }
        for text in [
            "Error message: Role eosflow does not exist",
            "Error message: User eosflow has no SELECT permission on <table ks.t>",
            "Error message: Undefined column name nat in table ks.users",
            "does not exist",
        ] {
            assert!(!schema_missing(text), "{text}");
        }
    }

    /// The driver's texts for a refused login and for a node asking for one.
    #[test]
    fn auth_failures_say_what_to_check() {
        let refused = "Request: AUTH_RESPONSE, reason: Database returned an error: \
                       Authentication failed - bad credentials, Error message: Provided username \
                       eosflow and/or password are incorrect";
        let hint = auth_hint(refused, Some("eosflow"));
        assert!(hint.contains("(user eosflow)"), "{hint}");
        assert!(hint.contains("check the username and password"), "{hint}");
        let missing = "Request: AUTH_RESPONSE, reason: Authentication is required. You can use \
                       SessionBuilder::user(\"user\", \"pass\") to provide credentials";
        assert!(auth_hint(missing, None).contains("requires authentication"));
        assert_eq!(auth_hint("Connection refused (os error 111)", None), "");
    }

    #[test]
    fn tls_ca_problems_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.pem");
        let err = tls_context(&Tls {
            ca: Some(missing.clone()),
            verify: true,
        })
        .err()
        .expect("missing file");
        assert!(err.contains("cannot read tls_ca file") && err.contains("nope.pem"));
        let not_pem = dir.path().join("x.pem");
        std::fs::write(&not_pem, "hello").expect("write");
        let err = tls_context(&Tls {
            ca: Some(not_pem),
            verify: true,
        })
        .err()
        .expect("not PEM");
        assert!(err.contains("x.pem"), "{err}");
        assert!(tls_context(&Tls {
            ca: None,
            verify: false
        })
        .is_ok());
        let url = format!(
            "cassandra://127.0.0.1:1/ks?tls_ca={}&password=pw&username=u",
            missing.display()
        );
        let err = CassandraSink::connect(&url, "users")
            .err()
            .expect("no CA file");
        assert!(matches!(err, SinkError::Connect { .. }), "{err}");
        assert!(err.to_string().contains("nope.pem"), "{err}");
    }
}
