//! The SQLite users table: its column types, the `CHECK`s that make `TEXT` hold only what a native
//! type would (a canonical ISO-8601 instant, a lowercase hyphenated UUID), and the migration of a
//! table an older eosflow created ([`crate::sink::migrate`]).
//!
//! SQLite cannot change a column's type or add a `CHECK` to an existing column, so a table whose
//! `id` or timestamp columns lack their `CHECK` is rebuilt: in one `BEGIN IMMEDIATE` transaction
//! a new table is created, every row copied (timestamps in their canonical form, the same
//! instant), the old table dropped and the new one renamed. Optional columns alone are added
//! with `ALTER TABLE … ADD COLUMN`.

use rusqlite::{OptionalExtension, Transaction};

use crate::model::FieldKind;
use crate::sink::migrate::{self, Change, ColumnTypes, PresentColumn, Target, Wanted};
use crate::sink::{sql, SchemaPlan};

/// `strftime`'s form of the canonical instant: the same text for a canonical value.
const CANONICAL: &str = "%Y-%m-%dT%H:%M:%fZ";

/// The catalogue names [`migrate::plan`] compares: a `TEXT` column with the `CHECK` of a
/// timestamp or a UUID is one of these; a plain one is `text`.
const TIMESTAMP_TEXT: &str = "text check timestamp";
const UUID_TEXT: &str = "text check uuid";

/// The type name of a kind's column.
fn type_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "text",
        FieldKind::Long | FieldKind::Int => "integer",
        FieldKind::Timestamp => TIMESTAMP_TEXT,
    }
}

/// The `CHECK` a column of type `name` carries (None for plain columns).
fn check(column: &str, name: &str) -> Option<String> {
    match name {
        TIMESTAMP_TEXT => Some(format!(
            "CHECK (strftime('{CANONICAL}', {column}) IS {column})"
        )),
        UUID_TEXT => {
            let hex = |n: usize| "[0-9a-f]".repeat(n);
            let pattern = [8, 4, 4, 4, 12].map(hex).join("-");
            Some(format!("CHECK ({column} GLOB '{pattern}')"))
        }
        _ => None,
    }
}

/// A column's DDL type with its `CHECK`: `TEXT CHECK (…)`, `INTEGER`.
fn ddl_type(column: &str, name: &str) -> String {
    let base = if name == "integer" { "INTEGER" } else { "TEXT" };
    match check(column, name) {
        Some(c) => format!("{base} {c}"),
        None => base.to_string(),
    }
}

/// SQLite's side of a migration plan.
struct Types;

impl ColumnTypes for Types {
    fn id_type(&self) -> &'static str {
        UUID_TEXT
    }
    fn column_type(&self, kind: FieldKind) -> &'static str {
        type_name(kind)
    }
    fn convertible(&self, target: Target, from: &str, to: &'static str) -> Result<(), String> {
        match (from, to) {
            // Every row is copied through the CHECK: a value it refuses stops the migration.
            ("text", TIMESTAMP_TEXT | UUID_TEXT) => Ok(()),
            _ => Err(format!(
                "eosflow converts only unchecked text to checked timestamp or UUID text; {} \
                 would need a new table",
                target.name()
            )),
        }
    }

    /// A timestamp finer than a millisecond: its canonical form would change it. (Text the
    /// `CHECK` refuses stops the copy with SQLite's error.)
    fn changed_values(&self, table: &str, column: &str, to: &'static str) -> Option<String> {
        (to == TIMESTAMP_TEXT).then(|| {
            format!(
                "SELECT id, {column} FROM {table} \
                 WHERE {column} GLOB '*.[0-9][0-9][0-9][0-9]*' LIMIT 1"
            )
        })
    }
}

/// `CREATE TABLE IF NOT EXISTS` of the users table `t` (or another name, for a rebuild) with the
/// `wanted` columns.
pub(super) fn create_users(t: &str, wanted: &[Wanted]) -> String {
    let user_cols = sql::column_definitions(wanted, |w| ddl_type(&w.name, type_name(w.kind)));
    format!(
        "CREATE TABLE IF NOT EXISTS {t} (id {} PRIMARY KEY NOT NULL, {user_cols}) STRICT;",
        ddl_type("id", UUID_TEXT)
    )
}

/// The users table's columns, typed as [`Types`] names them (none when it does not exist).
fn present_columns(tx: &Transaction<'_>, t: &str) -> rusqlite::Result<Vec<PresentColumn>> {
    let create: Option<String> = tx
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [t],
            |r| r.get(0),
        )
        .optional()?;
    let Some(create) = create else {
        return Ok(Vec::new());
    };
    let mut stmt = tx.prepare("SELECT name, type FROM pragma_table_info(?1)")?;
    let columns = stmt.query_map([t], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    columns
        .map(|c| {
            let (name, ty) = c?;
            let checked = [TIMESTAMP_TEXT, UUID_TEXT]
                .into_iter()
                .find(|n| check(&name, n).is_some_and(|c| create.contains(&c)));
            Ok(PresentColumn::new(name, checked.unwrap_or(&ty)))
        })
        .collect()
}

/// Why the users table could not be brought up to date.
pub(super) type Migration = migrate::Failed<rusqlite::Error>;

/// What `ensure_schema` would run for `wanted` (see [`crate::sink::Sink::plan_schema`]).
pub(super) fn plan(
    tx: &Transaction<'_>,
    t: &str,
    wanted: &[Wanted],
) -> rusqlite::Result<SchemaPlan> {
    let present = present_columns(tx, t)?;
    Ok(SchemaPlan::of(
        t,
        &present,
        migrate::plan(&Types, &present, wanted),
        || vec![create_users(t, wanted)],
        |changes| ddl(t, changes, wanted),
    ))
}

/// The statements that apply `changes` to table `t`, whose columns become `wanted`.
fn ddl(t: &str, changes: &[Change<'_>], wanted: &[Wanted]) -> Vec<String> {
    if changes.iter().all(|c| matches!(c, Change::Add { .. })) {
        return changes
            .iter()
            .filter_map(|c| match c {
                Change::Add { column, ty } => Some(format!(
                    "ALTER TABLE {t} ADD COLUMN {} {}",
                    column.name,
                    ddl_type(&column.name, ty)
                )),
                Change::Retype { .. } => None,
            })
            .collect();
    }
    // A rebuild: every column of the new table from the old one (canonical instants), or NULL
    // when the old table lacks it.
    let added = |name: &str| {
        changes
            .iter()
            .any(|c| matches!(c, Change::Add { column, .. } if column.name == name))
    };
    let values: Vec<String> = wanted
        .iter()
        .map(|w| match w.kind {
            _ if added(&w.name) => "NULL".to_string(),
            FieldKind::Timestamp => format!("strftime('{CANONICAL}', {0})", w.name),
            _ => w.name.clone(),
        })
        .collect();
    let names: Vec<&str> = wanted.iter().map(|w| w.name.as_str()).collect();
    let next = format!("{t}_migrating");
    vec![
        create_users(&next, wanted),
        format!(
            "INSERT INTO {next} (id, {}) SELECT id, {} FROM {t}",
            names.join(", "),
            values.join(", ")
        ),
        format!("DROP TABLE {t}"),
        format!("ALTER TABLE {next} RENAME TO {t}"),
    ]
}

/// Apply the migration of `t` to this build's columns inside `tx`; before a rebuild, refuse a
/// table holding a value the rebuild would change ([`migrate::check_values`]), naming the row.
pub(super) fn migrate(tx: &Transaction<'_>, t: &str) -> Result<Vec<String>, Migration> {
    let present = present_columns(tx, t)?;
    if present.is_empty() {
        return Ok(Vec::new());
    }
    let wanted = Wanted::user();
    let changes = migrate::plan(&Types, &present, &wanted).map_err(Migration::Refused)?;
    migrate::check_values(&Types, t, &changes, |sql| {
        tx.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
    })?;
    let steps = ddl(t, &changes, &wanted);
    for step in &steps {
        tx.execute_batch(step)?;
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_accept_canonical_values_only() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(&create_users("u", &Wanted::user()))
            .unwrap();
        let cols = sql::columns();
        let insert = |id: &str, dob: &str| {
            let values: Vec<String> = crate::model::USER_FIELDS
                .iter()
                .map(|f| match (f.name, f.kind) {
                    ("dob", _) => format!("'{dob}'"),
                    (_, FieldKind::Timestamp) => "'2020-01-01T00:00:00.000Z'".into(),
                    (_, FieldKind::Text) => "'x'".into(),
                    _ => "1".into(),
                })
                .collect();
            conn.execute(
                &format!(
                    "INSERT INTO u (id, {cols}) VALUES ('{id}', {})",
                    values.join(", ")
                ),
                [],
            )
        };
        let id = "9d9faead-e24d-588e-8d49-a1bd25871db7";
        assert!(insert(id, "1990-01-02T03:04:05.678Z").is_ok());
        for bad in [
            "1990-01-02T03:04:05Z",
            "1990-02-30T03:04:05.678Z",
            "yesterday",
        ] {
            let e = insert("9d9faead-e24d-588e-8d49-a1bd25871db8", bad).unwrap_err();
            assert!(
                e.to_string().contains("CHECK constraint failed"),
                "{bad}: {e}"
            );
        }
        let e = insert(
            "9D9FAEAD-E24D-588E-8D49-A1BD25871DB9",
            "1990-01-02T03:04:05.678Z",
        );
        assert!(e.unwrap_err().to_string().contains("CHECK"));
    }
}
