//! The statements a sink runs, as async functions over a driver session (each with bounded
//! retries; see the parent module for why retrying is safe).

use std::collections::BTreeMap;

use futures::StreamExt;
use scylla::client::session::Session;
use scylla::errors::PrepareError;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::config::CassandraConfig;
use super::driver::{attempt_error, next_row_attempt_error, pager_attempt_error, permanent};
use super::statements::Cql;
use super::write::{offsets_to_advance, with_retries, Failed, Retry};
use super::ID_PAGE_SIZE;
use crate::sink::{IdCounts, SinkBatch};

/// A statement of this sink. Each is prepared on its first use ([`Prepared`]), so an operation
/// needs only the tables it touches: counting and reading rows (`verify`) works without the
/// offsets table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stmt {
    InsertRow,
    SelectRow,
    SelectIds,
    SelectOffsets,
    InsertOffset,
    DeleteOffsets,
}

impl Stmt {
    pub const ALL: [Stmt; 6] = [
        Stmt::InsertRow,
        Stmt::SelectRow,
        Stmt::SelectIds,
        Stmt::SelectOffsets,
        Stmt::InsertOffset,
        Stmt::DeleteOffsets,
    ];

    fn text(self, cql: &Cql) -> String {
        match self {
            Stmt::InsertRow => cql.insert_row(),
            Stmt::SelectRow => cql.select_row(),
            Stmt::SelectIds => cql.select_ids(),
            Stmt::SelectOffsets => cql.select_offsets(),
            Stmt::InsertOffset => cql.insert_offset(),
            Stmt::DeleteOffsets => cql.delete_offsets(),
        }
    }

    /// What it is, for error messages.
    pub fn what(self) -> &'static str {
        match self {
            Stmt::InsertRow => "the row INSERT",
            Stmt::SelectRow => "the row SELECT",
            Stmt::SelectIds => "the id scan",
            Stmt::SelectOffsets => "the offsets SELECT",
            Stmt::InsertOffset => "the offsets INSERT",
            Stmt::DeleteOffsets => "the offsets DELETE",
        }
    }

    fn reads(self) -> bool {
        matches!(
            self,
            Stmt::SelectRow | Stmt::SelectIds | Stmt::SelectOffsets
        )
    }
}

/// The statements prepared so far (cheap to clone out: a prepared statement is shared).
#[derive(Default)]
pub struct Prepared([Option<PreparedStatement>; Stmt::ALL.len()]);

impl Prepared {
    pub fn get(&self, which: Stmt) -> Option<&PreparedStatement> {
        self.0[which as usize].as_ref()
    }

    pub fn insert(&mut self, which: Stmt, statement: PreparedStatement) {
        self.0[which as usize] = Some(statement);
    }

    /// Forget them all (after a schema change they may describe the old tables).
    pub fn clear(&mut self) {
        *self = Prepared::default();
    }
}

/// Prepare one statement: idempotent, at the write or read consistency.
pub async fn prepare(
    session: &Session,
    cql: &Cql,
    config: &CassandraConfig,
    which: Stmt,
) -> Result<PreparedStatement, PrepareError> {
    let mut statement = session.prepare(which.text(cql)).await?;
    statement.set_is_idempotent(true);
    statement.set_consistency(if which.reads() {
        config.read_consistency()
    } else {
        config.consistency
    });
    if which == Stmt::SelectIds {
        statement.set_page_size(ID_PAGE_SIZE);
    }
    Ok(statement)
}

/// The stored next offsets of (group, topic).
pub async fn read_offsets(
    session: &Session,
    select_offsets: &PreparedStatement,
    retry: &Retry,
    group: &str,
    topic: &str,
) -> Result<BTreeMap<i32, i64>, Failed> {
    let (offsets, _) = with_retries(retry, 0, || async {
        let result = session
            .execute_unpaged(select_offsets, (group, topic))
            .await
            .map_err(|e| attempt_error(&e))?;
        let rows = result.into_rows_result().map_err(permanent)?;
        rows.rows::<(i32, i64)>()
            .map_err(permanent)?
            .collect::<Result<BTreeMap<_, _>, _>>()
            .map_err(permanent)
    })
    .await?;
    Ok(offsets)
}

/// Keep every stored offset at `max(stored, next)`: read, then write the partitions that move
/// forward in one single-partition unlogged batch. Returns how many partitions moved.
pub async fn advance_offsets(
    session: &Session,
    (select_offsets, insert_offset): (&PreparedStatement, &PreparedStatement),
    retry: &Retry,
    batch: &SinkBatch,
) -> Result<usize, String> {
    let stored = read_offsets(session, select_offsets, retry, &batch.group, &batch.topic)
        .await
        .map_err(|e| format!("reading offsets: {e}"))?;
    let advance = offsets_to_advance(&stored, &batch.next_offsets);
    if advance.is_empty() {
        return Ok(0);
    }
    let mut cql_batch = Batch::new(BatchType::Unlogged);
    for _ in 0..advance.len() {
        cql_batch.append_statement(insert_offset.clone());
    }
    cql_batch.set_is_idempotent(true);
    let values: Vec<(&str, &str, i32, i64)> = advance
        .iter()
        .map(|(partition, offset)| {
            (
                batch.group.as_str(),
                batch.topic.as_str(),
                *partition,
                *offset,
            )
        })
        .collect();
    with_retries(retry, 0, || async {
        session
            .batch(&cql_batch, &values)
            .await
            .map(drop)
            .map_err(|e| attempt_error(&e))
    })
    .await
    .map_err(|e| format!("writing offsets: {e}"))?;
    Ok(advance.len())
}

/// Every id of the users table, paging through it; a failed page restarts the scan.
pub async fn scan_ids(
    session: &Session,
    select_ids: &PreparedStatement,
    retry: &Retry,
) -> Result<IdCounts, Failed> {
    let (counts, _) = with_retries(retry, 0, || async {
        let pager = session
            .execute_iter(select_ids.clone(), ())
            .await
            .map_err(|e| pager_attempt_error(&e))?;
        let mut rows = pager.rows_stream::<(Uuid,)>().map_err(permanent)?;
        let mut counts = IdCounts::new();
        while let Some(row) = rows.next().await {
            let (id,) = row.map_err(|e| next_row_attempt_error(&e))?;
            *counts.entry(id).or_insert(0) += 1;
        }
        Ok(counts)
    })
    .await?;
    Ok(counts)
}
