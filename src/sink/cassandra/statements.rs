//! CQL text, and the user columns derived from the User field table
//! ([`crate::model::USER_FIELDS`]): the column names, their CQL types ([`cql_type`] of each
//! field's kind), the INSERT values and the `User` read back by `get`. `ensure_schema` adds a new
//! field's column to an existing table.

use scylla::value::{CqlTimestamp, CqlValue};
use uuid::Uuid;

use super::config::Replication;
use super::schema::InstantColumns;
use crate::model::instant::{format_millis, to_millis};
use crate::model::{
    FieldData, FieldError, FieldKind, FieldValue, User, USER_FIELDS, USER_FIELD_COUNT,
};
use crate::sink::migrate::Wanted;

/// The CQL type of a field kind. Every non-key Cassandra column is nullable; a null is written
/// as `null` (so an update from a value to none really clears it).
pub fn cql_type(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "text",
        FieldKind::Long => "bigint",
        FieldKind::Int => "int",
        FieldKind::Timestamp => "timestamp",
    }
}

/// The user columns after `id`: the User field table's names, in order.
pub fn user_columns() -> String {
    USER_FIELDS.map(|f| f.name).join(", ")
}

/// `(column, CQL type)` of every user column, in field-table order.
pub fn user_column_types() -> Vec<(&'static str, &'static str)> {
    USER_FIELDS
        .iter()
        .map(|f| (f.name, cql_type(f.kind)))
        .collect()
}

/// A field value as a CQL value (`None` = null); a timestamp that does not convert says why.
fn to_cql(
    kind: FieldKind,
    value: FieldValue<'_>,
    instants: InstantColumns,
) -> Result<Option<CqlValue>, String> {
    Ok(match value {
        FieldValue::Null => None,
        FieldValue::Text(s)
            if kind == FieldKind::Timestamp && instants == InstantColumns::Native =>
        {
            Some(CqlValue::Timestamp(CqlTimestamp(
                to_millis(s).map_err(|e| e.about(s))?,
            )))
        }
        FieldValue::Text(s) => Some(CqlValue::Text(s.to_string())),
        FieldValue::Long(v) => Some(CqlValue::BigInt(v)),
        FieldValue::Int(v) => Some(CqlValue::Int(v)),
    })
}

/// A stored CQL value as field data; the error says what was found instead.
fn from_cql(kind: FieldKind, value: Option<CqlValue>) -> Result<FieldData, String> {
    Ok(match (kind, value) {
        (_, None) => FieldData::Null,
        (FieldKind::Text | FieldKind::Timestamp, Some(CqlValue::Text(s) | CqlValue::Ascii(s))) => {
            FieldData::Text(s)
        }
        (FieldKind::Timestamp, Some(CqlValue::Timestamp(t))) => FieldData::Text(format_millis(t.0)),
        (FieldKind::Long, Some(CqlValue::BigInt(n))) => FieldData::Long(n),
        (FieldKind::Int, Some(CqlValue::Int(n))) => FieldData::Int(n),
        (kind, Some(v)) => return Err(format!("expected {}, found {v:?}", cql_type(kind))),
    })
}

/// A stored row that does not fit [`User`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("column {column}: {detail}")]
pub struct ColumnError {
    pub column: &'static str,
    pub detail: String,
}

/// The values of the user columns for `user`, in order (`None` = null).
pub fn user_values(
    user: &User,
    instants: InstantColumns,
) -> Result<Vec<Option<CqlValue>>, ColumnError> {
    USER_FIELDS
        .iter()
        .zip(user.values())
        .map(|(f, v)| {
            to_cql(f.kind, v, instants).map_err(|detail| ColumnError {
                column: f.name,
                detail,
            })
        })
        .collect()
}

/// A [`User`] from the values of the user columns, in order.
pub fn user_from_values(values: Vec<Option<CqlValue>>) -> Result<User, ColumnError> {
    let mut values = values.into_iter();
    User::from_fields(|field| {
        let value = values.next().ok_or_else(|| FieldError {
            field: field.name,
            detail: "missing from the result".into(),
        })?;
        from_cql(field.kind, value).map_err(|detail| FieldError {
            field: field.name,
            detail,
        })
    })
    .map_err(|e| ColumnError {
        column: e.field,
        detail: e.detail,
    })
}

/// The INSERT values of one row: `id`, then [`user_values`].
pub fn row_values(
    id: Uuid,
    user: &User,
    instants: InstantColumns,
) -> Result<Vec<Option<CqlValue>>, ColumnError> {
    let mut values = Vec::with_capacity(USER_FIELD_COUNT + 1);
    values.push(Some(CqlValue::Uuid(id)));
    values.extend(user_values(user, instants)?);
    Ok(values)
}

/// The CQL of one keyspace and table pair. Names are checked by the URL parser (unquoted CQL
/// identifiers, lower case), so they are spliced into the text as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cql {
    pub keyspace: String,
    pub table: String,
}

impl Cql {
    pub fn new(keyspace: &str, table: &str) -> Self {
        Cql {
            keyspace: keyspace.to_string(),
            table: table.to_string(),
        }
    }

    /// `keyspace.table`
    pub fn users(&self) -> String {
        format!("{}.{}", self.keyspace, self.table)
    }

    /// `keyspace.table_offsets`
    pub fn offsets(&self) -> String {
        format!("{}.{}_offsets", self.keyspace, self.table)
    }

    /// The offsets table's name without keyspace (for `system_schema` look-ups).
    pub fn offsets_table(&self) -> String {
        format!("{}_offsets", self.table)
    }

    pub fn create_keyspace(&self, replication: &Replication, durable_writes: bool) -> String {
        let replication = match replication {
            Replication::Simple(n) => {
                format!("{{'class': 'SimpleStrategy', 'replication_factor': {n}}}")
            }
            Replication::Network(dcs) => {
                let dcs: Vec<String> = dcs.iter().map(|(dc, n)| format!("'{dc}': {n}")).collect();
                format!("{{'class': 'NetworkTopologyStrategy', {}}}", dcs.join(", "))
            }
        };
        format!(
            "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {replication} \
             AND durable_writes = {durable_writes}",
            self.keyspace
        )
    }

    pub fn create_users(&self) -> String {
        self.create_users_with(&Wanted::user())
    }

    /// The users table with the `wanted` columns (every non-key column nullable).
    pub fn create_users_with(&self, wanted: &[Wanted]) -> String {
        let columns: Vec<String> = wanted
            .iter()
            .map(|w| format!("{} {}", w.name, cql_type(w.kind)))
            .collect();
        format!(
            "CREATE TABLE IF NOT EXISTS {} (id uuid PRIMARY KEY, {})",
            self.users(),
            columns.join(", ")
        )
    }

    pub fn create_offsets(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (consumer_group text, topic text, \"partition\" int, \
             next_offset bigint, PRIMARY KEY ((consumer_group, topic), \"partition\"))",
            self.offsets()
        )
    }

    /// `keyspace.table_skipped`
    pub fn skipped(&self) -> String {
        format!("{}.{}_skipped", self.keyspace, self.table)
    }

    /// The skipped table's name without keyspace (for `system_schema` look-ups).
    pub fn skipped_table(&self) -> String {
        format!("{}_skipped", self.table)
    }

    pub fn create_skipped(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (consumer_group text, topic text, \"partition\" int, \
             from_offset bigint, to_offset bigint, \
             PRIMARY KEY ((consumer_group, topic), \"partition\", from_offset))",
            self.skipped()
        )
    }

    /// Bind group, topic, partition, from, to.
    pub fn insert_skipped(&self) -> String {
        format!(
            "INSERT INTO {} (consumer_group, topic, \"partition\", from_offset, to_offset) \
             VALUES (?, ?, ?, ?, ?)",
            self.skipped()
        )
    }

    /// Every skipped range (a small table: scanned whole, filtered by topic by the caller).
    pub fn select_skipped(&self) -> String {
        format!(
            "SELECT consumer_group, topic, \"partition\", from_offset, to_offset FROM {}",
            self.skipped()
        )
    }

    /// `ALTER TABLE … ADD` for a column the users table lacks.
    pub fn add_column(&self, column: &str, cql_type: &str) -> String {
        format!("ALTER TABLE {} ADD {column} {cql_type}", self.users())
    }

    /// Whether a keyspace exists: bind its name.
    pub fn keyspace_exists(&self) -> &'static str {
        "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?"
    }

    /// Columns and types of a table: bind keyspace and table name.
    pub fn table_columns(&self) -> &'static str {
        "SELECT column_name, type FROM system_schema.columns \
         WHERE keyspace_name = ? AND table_name = ?"
    }

    /// Bind `id`, then the user columns (see [`row_values`]).
    pub fn insert_row(&self) -> String {
        let marks = vec!["?"; USER_FIELD_COUNT + 1].join(", ");
        format!(
            "INSERT INTO {} (id, {}) VALUES ({marks})",
            self.users(),
            user_columns()
        )
    }

    /// Bind `id`; returns the user columns.
    pub fn select_row(&self) -> String {
        format!(
            "SELECT {} FROM {} WHERE id = ?",
            user_columns(),
            self.users()
        )
    }

    pub fn select_ids(&self) -> String {
        format!("SELECT id FROM {}", self.users())
    }

    /// Bind group and topic; returns `(partition, next_offset)`.
    pub fn select_offsets(&self) -> String {
        format!(
            "SELECT \"partition\", next_offset FROM {} WHERE consumer_group = ? AND topic = ?",
            self.offsets()
        )
    }

    /// Bind group, topic, partition, next offset.
    pub fn insert_offset(&self) -> String {
        format!(
            "INSERT INTO {} (consumer_group, topic, \"partition\", next_offset) \
             VALUES (?, ?, ?, ?)",
            self.offsets()
        )
    }

    /// Bind group and topic: deletes the whole (group, topic) partition.
    pub fn delete_offsets(&self) -> String {
        format!(
            "DELETE FROM {} WHERE consumer_group = ? AND topic = ?",
            self.offsets()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        crate::model::sample::user(8)
    }

    #[test]
    fn column_types_follow_field_types() {
        let types = user_column_types();
        let ty = |c: &str| types.iter().find(|(n, _)| *n == c).map(|(_, t)| *t);
        assert_eq!(ty("source_page"), Some("bigint"));
        assert_eq!(ty("source_index"), Some("int"));
        assert_eq!(ty("external_id"), Some("text"));
        assert_eq!(ty("picture"), Some("text"));
        assert_eq!(ty("dob"), Some("timestamp"));
        assert!(types
            .iter()
            .all(|(_, t)| ["text", "bigint", "int", "timestamp"].contains(t)));
    }

    fn native(u: &User) -> Vec<Option<CqlValue>> {
        user_values(u, InstantColumns::Native).expect("convertible")
    }

    #[test]
    fn values_round_trip() {
        let mut u = user();
        for instants in [InstantColumns::Native, InstantColumns::Text] {
            let v = user_values(&u, instants).expect("convertible");
            assert_eq!(user_from_values(v).expect("round trip"), u);
        }
        let dob = USER_FIELDS
            .iter()
            .position(|f| f.name == "dob")
            .expect("dob");
        assert_eq!(
            native(&u)[dob],
            Some(CqlValue::Timestamp(CqlTimestamp(
                to_millis(&u.dob).expect("sample dob")
            )))
        );
        u.external_id = Some("ext-1".into());
        assert_eq!(user_from_values(native(&u)).expect("round trip"), u);
        u.dob = "1990-01-02T03:04:05.6789Z".into();
        let e = user_values(&u, InstantColumns::Native).expect_err("sub-millisecond");
        assert_eq!(e.column, "dob");
        let values = native(&User {
            external_id: None,
            ..user()
        });
        let i = USER_FIELDS
            .iter()
            .position(|f| f.name == "external_id")
            .expect("column");
        assert_eq!(values[i], None, "None is written as null");
        let row = row_values(Uuid::nil(), &user(), InstantColumns::Native).expect("row");
        assert_eq!(row.len(), USER_FIELD_COUNT + 1);
        assert_eq!(row[0], Some(CqlValue::Uuid(Uuid::nil())));
    }

    #[test]
    fn bad_stored_values_name_the_column() {
        let mut values = native(&user());
        values[0] = None;
        assert_eq!(
            user_from_values(values.clone()),
            Err(ColumnError {
                column: "source_name",
                detail: "expected string, found Null".into()
            })
        );
        values[0] = Some(CqlValue::Int(1));
        let e = user_from_values(values).expect_err("wrong type");
        assert_eq!(e.column, "source_name");
        assert!(e.to_string().contains("expected text, found Int(1)"), "{e}");
        let mut short = native(&user());
        short.pop();
        assert_eq!(
            user_from_values(short).map_err(|e| e.column),
            Err(USER_FIELDS[USER_FIELD_COUNT - 1].name)
        );
    }

    #[test]
    fn create_keyspace_both_strategies() {
        let cql = Cql::new("eosflow", "users");
        assert_eq!(
            cql.create_keyspace(&Replication::Simple(1), true),
            "CREATE KEYSPACE IF NOT EXISTS eosflow WITH replication = \
             {'class': 'SimpleStrategy', 'replication_factor': 1} AND durable_writes = true"
        );
        assert_eq!(
            cql.create_keyspace(
                &Replication::Network(vec![("dc1".into(), 3), ("us-east-1".into(), 2)]),
                false
            ),
            "CREATE KEYSPACE IF NOT EXISTS eosflow WITH replication = \
             {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'us-east-1': 2} \
             AND durable_writes = false"
        );
    }

    #[test]
    fn create_tables() {
        let cql = Cql::new("ks", "people");
        let users = cql.create_users();
        assert!(
            users.starts_with("CREATE TABLE IF NOT EXISTS ks.people (id uuid PRIMARY KEY, "),
            "{users}"
        );
        assert!(users.contains(", source_page bigint, source_index int, external_id text, "));
        assert!(
            users.contains(", picture text, nat text, age int, cell text"),
            "the User v2 fields, nullable: {users}"
        );
        for (column, ty) in user_column_types() {
            assert!(users.contains(&format!(" {column} {ty}")), "{column}");
        }
        assert_eq!(
            cql.create_offsets(),
            "CREATE TABLE IF NOT EXISTS ks.people_offsets (consumer_group text, topic text, \
             \"partition\" int, next_offset bigint, \
             PRIMARY KEY ((consumer_group, topic), \"partition\"))"
        );
        assert_eq!(
            cql.add_column("nat", "text"),
            "ALTER TABLE ks.people ADD nat text"
        );
    }

    #[test]
    fn insert_and_select_columns_match_user_fields() {
        let cql = Cql::new("ks", "users");
        let insert = cql.insert_row();
        let (columns, marks) = insert
            .strip_prefix("INSERT INTO ks.users (")
            .and_then(|s| s.split_once(") VALUES ("))
            .expect("shape");
        let columns: Vec<&str> = columns.split(", ").collect();
        assert_eq!(columns[0], "id");
        assert_eq!(columns[1..].join(", "), user_columns());
        assert_eq!(
            marks.trim_end_matches(')').split(", ").count(),
            columns.len()
        );
        assert_eq!(
            cql.select_row(),
            format!("SELECT {} FROM ks.users WHERE id = ?", user_columns())
        );
        assert_eq!(cql.select_ids(), "SELECT id FROM ks.users");
        assert!(cql
            .keyspace_exists()
            .contains("FROM system_schema.keyspaces"));
        assert!(cql.table_columns().contains("FROM system_schema.columns"));
        assert_eq!(
            cql.insert_offset(),
            "INSERT INTO ks.users_offsets (consumer_group, topic, \"partition\", next_offset) \
             VALUES (?, ?, ?, ?)"
        );
        assert_eq!(
            cql.select_offsets(),
            "SELECT \"partition\", next_offset FROM ks.users_offsets \
             WHERE consumer_group = ? AND topic = ?"
        );
        assert_eq!(
            cql.delete_offsets(),
            "DELETE FROM ks.users_offsets WHERE consumer_group = ? AND topic = ?"
        );
    }
}
