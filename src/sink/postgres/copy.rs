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

use super::types::{column_type, Instant};
use crate::model::{FieldKind, FieldValue, USER_FIELDS};
use crate::sink::{sql, Row};

/// The staging table's name (session-local, in `pg_temp`).
const STAGE: &str = "eosflow_stage";

/// The statements of the staged write for users table `t`.
#[derive(Debug, Clone)]
pub(super) struct Staged {
    /// Creates the session's staging table unless it exists (run in every batch's transaction).
    create: String,
    copy: String,
    upsert: String,
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
                .chain(USER_FIELDS.iter().map(|f| column_type(f.kind).0))
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
        for row in rows {
            let cells: Vec<Cell<'_>> = USER_FIELDS
                .iter()
                .zip(row.user.values())
                .map(|(field, value)| Cell::of(field.kind, value))
                .collect();
            let params: Vec<&(dyn ToSql + Sync)> = std::iter::once(&row.id as _)
                .chain(cells.iter().map(Cell::param))
                .collect();
            writer.write(&params)?;
        }
        writer.finish()?;
        tx.execute(&self.upsert, &[])?;
        Ok(())
    }
}

/// One user value as binary `COPY` writes it: typed by its field's kind (a null too).
enum Cell<'a> {
    Text(Option<&'a str>),
    Long(Option<i64>),
    Int(Option<i32>),
    Timestamp(Option<Instant<'a>>),
}

impl<'a> Cell<'a> {
    fn of(kind: FieldKind, value: FieldValue<'a>) -> Self {
        match (kind, value) {
            (FieldKind::Text, FieldValue::Text(s)) => Cell::Text(Some(s)),
            (FieldKind::Text, _) => Cell::Text(None),
            (FieldKind::Long, FieldValue::Long(v)) => Cell::Long(Some(v)),
            (FieldKind::Long, _) => Cell::Long(None),
            (FieldKind::Int, FieldValue::Int(v)) => Cell::Int(Some(v)),
            (FieldKind::Int, _) => Cell::Int(None),
            (FieldKind::Timestamp, FieldValue::Text(s)) => Cell::Timestamp(Some(Instant(s))),
            (FieldKind::Timestamp, _) => Cell::Timestamp(None),
        }
    }

    fn param(&self) -> &(dyn ToSql + Sync) {
        match self {
            Cell::Text(v) => v,
            Cell::Long(v) => v,
            Cell::Int(v) => v,
            Cell::Timestamp(v) => v,
        }
    }
}
