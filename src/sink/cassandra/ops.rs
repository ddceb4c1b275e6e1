//! The statements a sink runs, as async functions over a driver session (each with bounded
//! retries; see the parent module for why retrying is safe).

use std::collections::BTreeMap;

use futures::StreamExt;
use scylla::client::session::Session;
use scylla::errors::PrepareError;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;
use uuid::Uuid;

use super::config::CassandraConfig;
use super::driver::{attempt_error, next_row_attempt_error, pager_attempt_error, permanent};
use super::statements::Cql;
use super::write::{offsets_to_advance, with_retries, Failed, Retry};
use super::ID_PAGE_SIZE;
use crate::sink::{IdCounts, SinkBatch};

/// The statements of this sink, prepared once per session (cheap to clone).
#[derive(Clone)]
pub struct Prepared {
    pub insert_row: PreparedStatement,
    pub select_row: PreparedStatement,
    pub select_ids: PreparedStatement,
    pub select_offsets: PreparedStatement,
    pub insert_offset: PreparedStatement,
    pub delete_offsets: PreparedStatement,
}

/// Prepare every statement: idempotent, at the write or read consistency.
pub async fn prepare_all(
    session: &Session,
    cql: &Cql,
    config: &CassandraConfig,
) -> Result<Prepared, PrepareError> {
    let (write_cl, read_cl) = (config.consistency, config.read_consistency());
    let prepare = |text: String, consistency: Consistency| async move {
        let mut statement = session.prepare(text).await?;
        statement.set_is_idempotent(true);
        statement.set_consistency(consistency);
        Ok::<_, PrepareError>(statement)
    };
    let mut select_ids = prepare(cql.select_ids(), read_cl).await?;
    select_ids.set_page_size(ID_PAGE_SIZE);
    Ok(Prepared {
        insert_row: prepare(cql.insert_row(), write_cl).await?,
        select_row: prepare(cql.select_row(), read_cl).await?,
        select_ids,
        select_offsets: prepare(cql.select_offsets(), read_cl).await?,
        insert_offset: prepare(cql.insert_offset(), write_cl).await?,
        delete_offsets: prepare(cql.delete_offsets(), write_cl).await?,
    })
}

/// The stored next offsets of (group, topic).
pub async fn read_offsets(
    session: &Session,
    p: &Prepared,
    retry: &Retry,
    group: &str,
    topic: &str,
) -> Result<BTreeMap<i32, i64>, Failed> {
    let (offsets, _) = with_retries(retry, 0, || async {
        let result = session
            .execute_unpaged(&p.select_offsets, (group, topic))
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
    p: &Prepared,
    retry: &Retry,
    batch: &SinkBatch,
) -> Result<usize, String> {
    let stored = read_offsets(session, p, retry, &batch.group, &batch.topic)
        .await
        .map_err(|e| format!("reading offsets: {e}"))?;
    let advance = offsets_to_advance(&stored, &batch.next_offsets);
    if advance.is_empty() {
        return Ok(0);
    }
    let mut cql_batch = Batch::new(BatchType::Unlogged);
    for _ in 0..advance.len() {
        cql_batch.append_statement(p.insert_offset.clone());
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
pub async fn scan_ids(session: &Session, p: &Prepared, retry: &Retry) -> Result<IdCounts, Failed> {
    let (counts, _) = with_retries(retry, 0, || async {
        let pager = session
            .execute_iter(p.select_ids.clone(), ())
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
