//! The rows of a batch as binary `COPY` into a staging table, then one upsert from it.
//!
//! The staging table is a session-local `TEMPORARY` table shaped like the users table, `ON COMMIT
//! DELETE ROWS`: it writes no WAL, is invisible to other sessions, and is empty again after each
//! transaction. Its name is fixed ([`STAGE`], in `pg_temp`), so no users table name, however
//! long, can make it collide with the sink's real tables. It is created (`IF NOT EXISTS`: a
//! catalog lookup once it exists) inside every batch's transaction, so a pooler that hands the
//! next transaction another server session (PgBouncer's transaction mode) or resets the session
//! (`DISCARD TEMP`) cannot leave a batch without it. A batch is then
//! `COPY pg_temp.eosflow_stage FROM STDIN (FORMAT binary)` and
//! `INSERT INTO {t} SELECT … FROM pg_temp.eosflow_stage ON CONFLICT (id) DO UPDATE`, inside the
//! same transaction as the offsets: one upsert statement however large the batch. The database
//! role needs `TEMPORARY` on the database (granted to `PUBLIC` by default).

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::Transaction;

use crate::model::{FieldKind, FieldValue, USER_FIELDS};
use crate::sink::{sql, Row};

/// The staging table's name (session-local, in `pg_temp`).
pub(super) const STAGE: &str = "eosflow_stage";

/// The statements of the staged write for users table `t`.
#[derive(Debug, Clone)]
pub(super) struct Staged {
    /// Creates the session's staging table unless it exists (run in every batch's transaction).
    create: String,
    pub(super) copy: String,
    pub(super) upsert: String,
    types: Vec<Type>,
}

impl Staged {
    pub(super) fn new(t: &str) -> Staged {
        let cols = sql::columns();
        let updates = sql::update_all_from("EXCLUDED");
        Staged {
            create: format!(
                "CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} \
                 (LIKE {t} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            ),
            copy: format!("COPY pg_temp.{STAGE} (id, {cols}) FROM STDIN (FORMAT binary)"),
            upsert: format!(
                "INSERT INTO {t} (id, {cols}) SELECT id, {cols} FROM pg_temp.{STAGE} \
                 ON CONFLICT (id) DO UPDATE SET {updates}"
            ),
            types: std::iter::once(Type::UUID)
                .chain(USER_FIELDS.iter().map(|f| super::column_type(f.kind).0))
                .collect(),
        }
    }

    /// Stage `rows` (one per id: PostgreSQL refuses to upsert a row twice in one statement)
    /// and upsert them, inside `tx`.
    pub(super) fn write(
        &self,
        tx: &mut Transaction<'_>,
        rows: &[&Row],
    ) -> Result<(), postgres::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        tx.batch_execute(&self.create)?;
        let sink = tx.copy_in(&self.copy)?;
        let mut writer = BinaryCopyInWriter::new(sink, &self.types);
        let (mut texts, mut longs, mut ints) = (Vec::new(), Vec::new(), Vec::new());
        for row in rows {
            texts.clear();
            longs.clear();
            ints.clear();
            let values = row.user.values();
            for (field, value) in USER_FIELDS.iter().zip(values.iter()) {
                match (field.kind, *value) {
                    (FieldKind::Text, FieldValue::Text(s)) => texts.push(Some(s)),
                    (FieldKind::Text, _) => texts.push(None),
                    (FieldKind::Long, FieldValue::Long(v)) => longs.push(Some(v)),
                    (FieldKind::Long, _) => longs.push(None),
                    (FieldKind::Int, FieldValue::Int(v)) => ints.push(Some(v)),
                    (FieldKind::Int, _) => ints.push(None),
                }
            }
            let (mut t, mut l, mut i) = (texts.iter(), longs.iter(), ints.iter());
            let mut cells: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(self.types.len());
            cells.push(&row.id);
            for field in USER_FIELDS.iter() {
                let cell: Option<&(dyn ToSql + Sync)> = match field.kind {
                    FieldKind::Text => t.next().map(|v| v as _),
                    FieldKind::Long => l.next().map(|v| v as _),
                    FieldKind::Int => i.next().map(|v| v as _),
                };
                cells.extend(cell);
            }
            writer.write(&cells)?;
        }
        writer.finish()?;
        tx.execute(&self.upsert, &[])?;
        Ok(())
    }
}
