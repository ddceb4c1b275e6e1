//! The PostgreSQL users table: its `CREATE`, and the migration of a table an older eosflow
//! created ([`crate::sink::migrate`]), planned from the catalogue and applied in one locked
//! transaction.

use postgres::{Client, GenericClient};

use super::types::{self, column_type};
use crate::sink::migrate::{self, Change, PresentColumn, Wanted};
use crate::sink::{sql, SchemaPlan};

/// Why a users table could not be brought up to date.
pub(super) type Migration = migrate::Failed<postgres::Error>;

/// `CREATE TABLE IF NOT EXISTS` of users table `t` with the `wanted` columns.
pub(super) fn create_users(t: &str, wanted: &[Wanted]) -> String {
    let columns = sql::column_definitions(wanted, |w| column_type(w.kind).1.to_string());
    format!("CREATE TABLE IF NOT EXISTS {t} (id uuid PRIMARY KEY, {columns})")
}

/// The columns of `table` as the catalogue names their types (none when it does not exist).
fn present_columns(
    client: &mut impl GenericClient,
    table: &str,
) -> Result<Vec<PresentColumn>, postgres::Error> {
    client
        .query(
            "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
            &[&table],
        )?
        .iter()
        .map(|r| {
            Ok(PresentColumn::new(
                r.try_get::<_, String>(0)?,
                r.try_get::<_, String>(1)?,
            ))
        })
        .collect()
}

/// The changes as one `ALTER TABLE`.
fn alter(t: &str, changes: &[Change<'_>]) -> String {
    let clauses: Vec<String> = changes
        .iter()
        .map(|change| match change {
            Change::Add { column, ty } => {
                format!("ADD COLUMN IF NOT EXISTS {} {ty}", column.name)
            }
            Change::Retype { target, to, .. } => {
                let c = target.name();
                format!("ALTER COLUMN {c} TYPE {to} USING {c}::{to}")
            }
        })
        .collect();
    format!("ALTER TABLE {t} {}", clauses.join(", "))
}

/// What `ensure_schema` would run for `wanted` (see [`crate::sink::Sink::plan_schema`]).
pub(super) fn plan(
    client: &mut Client,
    t: &str,
    wanted: &[Wanted],
) -> Result<SchemaPlan, postgres::Error> {
    let present = present_columns(client, t)?;
    Ok(SchemaPlan::of(
        t,
        &present,
        migrate::plan(&types::Types, &present, wanted),
        || vec![create_users(t, wanted)],
        |changes| vec![alter(t, changes)],
    ))
}

/// Creates the tables (`create_sql`), then brings a users table of an older eosflow to this
/// build's columns. The columns are looked up first, so an up-to-date table is never `ALTER`ed
/// (which would take an exclusive lock on every start); a table to migrate is locked, looked up
/// again and migrated in one transaction, so two processors starting at once migrate it once.
/// Before a text column becomes a timestamp or a UUID, every value is checked to convert
/// unchanged ([`migrate::check_values`]); one that would not stops the migration, named.
pub(super) fn create_and_migrate(
    client: &mut Client,
    t: &str,
    create_sql: &str,
    describe: &str,
) -> Result<(), Migration> {
    client.batch_execute(create_sql)?;
    let wanted = Wanted::user();
    let present = present_columns(client, t)?;
    if migrate::plan(&types::Types, &present, &wanted)
        .map_err(Migration::Refused)?
        .is_empty()
    {
        return Ok(());
    }
    let mut tx = client.transaction()?;
    tx.batch_execute(&format!("LOCK TABLE {t} IN ACCESS EXCLUSIVE MODE"))?;
    let present = present_columns(&mut tx, t)?;
    let changes = migrate::plan(&types::Types, &present, &wanted).map_err(Migration::Refused)?;
    if changes.is_empty() {
        // Another processor migrated it while this one waited for the lock.
        return Ok(tx.commit()?);
    }
    migrate::check_values(&types::Types, t, &changes, |sql| {
        tx.query_opt(sql, &[])?
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .transpose()
    })?;
    let statement = alter(t, &changes);
    tracing::info!(sink = %describe, table = %t, %statement,
        "postgres: migrating the users table to this eosflow's columns");
    tx.batch_execute(&statement)?;
    tx.commit()?;
    Ok(())
}
