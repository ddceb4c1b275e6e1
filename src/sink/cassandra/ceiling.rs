//! The bench's ceiling for this sink: what the node accepts from a plain loop of the prepared row
//! INSERT over the same rows, with the sink's concurrency, and nothing else (no retries, no
//! de-duplication, no offsets).

use std::time::{Duration, Instant};

use futures::stream::{self, TryStreamExt};

use super::ops::Stmt;
use super::statements::row_values;
use super::CassandraSink;
use crate::sink::{Row, SinkError};

impl CassandraSink {
    /// Write `rows` with the prepared INSERT, `concurrency` at a time (the URL's), in slices of
    /// `batch` (as the processor's batches); the wall time of the writes.
    pub fn insert_loop(&mut self, rows: &[Row], batch: usize) -> Result<Duration, SinkError> {
        let insert = self.statement("ceiling", Stmt::InsertRow)?;
        let concurrency = self.config.concurrency.max(1);
        let session = &self.session;
        // Bound values are made before the clock starts: the ceiling is the writes alone.
        let values = rows
            .iter()
            .map(|r| row_values(r.id, &r.user, self.instants))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.op_err("ceiling INSERT loop", e.to_string()))?;
        let started = Instant::now();
        let result = self.runtime.block_on(async {
            for slice in values.chunks(batch.max(1)) {
                stream::iter(slice.iter().map(Ok))
                    .try_for_each_concurrent(concurrency, |values| {
                        let insert = &insert;
                        async move { session.execute_unpaged(insert, values).await.map(drop) }
                    })
                    .await?;
            }
            Ok::<_, scylla::errors::ExecutionError>(())
        });
        result.map_err(|e| self.op_err("ceiling INSERT loop", e.to_string()))?;
        Ok(started.elapsed())
    }
}
