//! What `doctor` asks of a Cassandra sink: which tables exist, read from `system_schema`, creating
//! nothing.

use super::CassandraSink;
use crate::sink::Tables;

impl CassandraSink {
    /// Whether the users and offsets tables exist (both absent when the keyspace is).
    pub(super) async fn present_tables(&self) -> Result<Tables, String> {
        let (keyspace, users, offsets) = (
            &self.cql.keyspace,
            &self.cql.table,
            self.cql.offsets_table(),
        );
        let name = |table: &str| format!("{keyspace}.{table}");
        let keyspace_present = self
            .keyspace_exists()
            .await
            .map_err(|e| format!("reading system_schema.keyspaces: {e}"))?;
        if !keyspace_present {
            return Ok(Tables::new(&name(users), false, &name(&offsets), false));
        }
        let present = |table: String| async move {
            self.columns_of(&table)
                .await
                .map(|columns| !columns.is_empty())
                .map_err(|e| format!("reading system_schema.columns: {e}"))
        };
        let users_present = present(users.clone()).await?;
        let offsets_present = present(offsets.clone()).await?;
        Ok(Tables::new(
            &name(users),
            users_present,
            &name(&offsets),
            offsets_present,
        ))
    }
}
