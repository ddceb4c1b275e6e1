//! CQL text and the one list of user columns.
//!
//! The `user_columns!` macro is the single place that maps [`User`] fields to columns: the column
//! names, their CQL types (from the Rust field types, see [`CqlField`]), the INSERT values and the
//! `User` read back by `get` all come from it. Adding a field to `User` is adding its name to the
//! list (the struct literal in `user_from_values` stops compiling until one does), and
//! `ensure_schema` adds the new column to an existing table.

use scylla::value::CqlValue;
use uuid::Uuid;

use super::config::Replication;
use crate::model::User;

/// A Rust field type that has a CQL column type. Every non-key Cassandra column is nullable;
/// a `None` is written as `null` (so an update from `Some` to `None` really clears the value).
pub trait CqlField: Sized {
    /// The CQL type of the column.
    const CQL_TYPE: &'static str;
    fn to_cql(&self) -> Option<CqlValue>;
    /// The field from a stored value; the error says what was found instead.
    fn from_cql(value: Option<CqlValue>) -> Result<Self, String>;
}

fn unexpected(expected: &str, found: Option<CqlValue>) -> String {
    match found {
        None => format!("expected {expected}, found null"),
        Some(v) => format!("expected {expected}, found {v:?}"),
    }
}

impl CqlField for String {
    const CQL_TYPE: &'static str = "text";
    fn to_cql(&self) -> Option<CqlValue> {
        Some(CqlValue::Text(self.clone()))
    }
    fn from_cql(value: Option<CqlValue>) -> Result<Self, String> {
        match value {
            Some(CqlValue::Text(s)) | Some(CqlValue::Ascii(s)) => Ok(s),
            other => Err(unexpected("text", other)),
        }
    }
}

impl CqlField for i64 {
    const CQL_TYPE: &'static str = "bigint";
    fn to_cql(&self) -> Option<CqlValue> {
        Some(CqlValue::BigInt(*self))
    }
    fn from_cql(value: Option<CqlValue>) -> Result<Self, String> {
        match value {
            Some(CqlValue::BigInt(n)) => Ok(n),
            other => Err(unexpected("bigint", other)),
        }
    }
}

impl CqlField for i32 {
    const CQL_TYPE: &'static str = "int";
    fn to_cql(&self) -> Option<CqlValue> {
        Some(CqlValue::Int(*self))
    }
    fn from_cql(value: Option<CqlValue>) -> Result<Self, String> {
        match value {
            Some(CqlValue::Int(n)) => Ok(n),
            other => Err(unexpected("int", other)),
        }
    }
}

impl<T: CqlField> CqlField for Option<T> {
    const CQL_TYPE: &'static str = T::CQL_TYPE;
    fn to_cql(&self) -> Option<CqlValue> {
        self.as_ref().and_then(T::to_cql)
    }
    fn from_cql(value: Option<CqlValue>) -> Result<Self, String> {
        match value {
            None => Ok(None),
            v => T::from_cql(v).map(Some),
        }
    }
}

/// The CQL type of the field a closure reads (type inference picks the [`CqlField`] impl).
fn cql_type_of<T: CqlField>(_field: impl Fn(&User) -> &T) -> &'static str {
    T::CQL_TYPE
}

/// A stored row that does not fit [`User`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("column {column}: {detail}")]
pub struct ColumnError {
    pub column: &'static str,
    pub detail: String,
}

/// Generates, from one list of `User` field names (= column names, in `User` order):
/// [`USER_COLUMNS`], [`user_column_types`], [`user_values`] and [`user_from_values`].
macro_rules! user_columns {
    ($($field:ident),+ $(,)?) => {
        /// The user columns after `id`, in [`User`] field order.
        pub const USER_COLUMNS: &[&str] = &[$(stringify!($field)),+];

        /// `(column, CQL type)` of every user column, in [`USER_COLUMNS`] order.
        pub fn user_column_types() -> Vec<(&'static str, &'static str)> {
            vec![$((stringify!($field), cql_type_of(|u: &User| &u.$field))),+]
        }

        /// The values of [`USER_COLUMNS`] for `user`, in order (`None` = null).
        pub fn user_values(user: &User) -> Vec<Option<CqlValue>> {
            vec![$(CqlField::to_cql(&user.$field)),+]
        }

        /// A [`User`] from the values of [`USER_COLUMNS`], in order.
        pub fn user_from_values(values: Vec<Option<CqlValue>>) -> Result<User, ColumnError> {
            let mut values = values.into_iter();
            Ok(User {
                $($field: {
                    let column = stringify!($field);
                    let value = values.next().ok_or_else(|| ColumnError {
                        column,
                        detail: "missing from the result".into(),
                    })?;
                    CqlField::from_cql(value).map_err(|detail| ColumnError { column, detail })?
                },)+
            })
        }
    };
}

user_columns!(
    source_name,
    source_seed,
    source_page,
    source_index,
    external_id,
    first_name,
    last_name,
    gender,
    address,
    post_code,
    email,
    username,
    dob,
    registered_date,
    phone,
    picture,
    nat,
    age,
    cell,
);

/// The INSERT values of one row: `id`, then [`user_values`].
pub fn row_values(id: Uuid, user: &User) -> Vec<Option<CqlValue>> {
    let mut values = Vec::with_capacity(USER_COLUMNS.len() + 1);
    values.push(Some(CqlValue::Uuid(id)));
    values.extend(user_values(user));
    values
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
        let columns: Vec<String> = user_column_types()
            .into_iter()
            .map(|(c, ty)| format!("{c} {ty}"))
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

    /// Bind `id`, then [`USER_COLUMNS`] (see [`row_values`]).
    pub fn insert_row(&self) -> String {
        let marks = vec!["?"; USER_COLUMNS.len() + 1].join(", ");
        format!(
            "INSERT INTO {} (id, {}) VALUES ({marks})",
            self.users(),
            USER_COLUMNS.join(", ")
        )
    }

    /// Bind `id`; returns [`USER_COLUMNS`].
    pub fn select_row(&self) -> String {
        format!(
            "SELECT {} FROM {} WHERE id = ?",
            USER_COLUMNS.join(", "),
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

/// The user columns missing from a table that has `existing` `(column, type)` pairs; a column
/// present with another type is an error (no automatic conversion).
pub fn missing_columns(
    existing: &[(String, String)],
) -> Result<Vec<(&'static str, &'static str)>, String> {
    let mut missing = Vec::new();
    for (column, ty) in user_column_types() {
        match existing.iter().find(|(c, _)| c == column) {
            None => missing.push((column, ty)),
            Some((_, found)) if found.eq_ignore_ascii_case(ty) => {}
            Some((_, found)) => {
                return Err(format!(
                    "column {column} has type {found}, expected {ty} (migrate it by hand)"
                ))
            }
        }
    }
    Ok(missing)
}

/// A test user built from JSON, so that fields added to `User` later (nullable ones) need no
/// change here.
#[cfg(test)]
pub(super) fn sample_user(i: u32) -> User {
    serde_json::from_value(serde_json::json!({
        "source_name": "generator",
        "source_seed": "demo",
        "source_page": 1 + i64::from(i / 100),
        "source_index": i % 100,
        "external_id": null,
        "first_name": "Zoë",
        "last_name": "O'Brien",
        "gender": "female",
        "address": format!("{i} Main St"),
        "post_code": "01234",
        "email": format!("user{i}@example.com"),
        "username": format!("user{i}"),
        "dob": "1990-01-02T03:04:05.678Z",
        "registered_date": "2015-06-07T08:09:10.000Z",
        "phone": "+1 555",
        "picture": "https://example.com/p.jpg",
    }))
    .expect("a User from JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        sample_user(7)
    }

    /// The field names of `User`, read from its serde form (the same order as the struct).
    fn user_field_names() -> Vec<String> {
        let json = serde_json::to_value(user()).expect("serialize");
        let mut names: Vec<String> = json.as_object().expect("object").keys().cloned().collect();
        names.sort();
        names
    }

    #[test]
    fn columns_are_exactly_the_user_fields() {
        let mut columns: Vec<String> = USER_COLUMNS.iter().map(|c| c.to_string()).collect();
        columns.sort();
        assert_eq!(columns, user_field_names());
    }

    #[test]
    fn column_types_follow_field_types() {
        let types = user_column_types();
        let ty = |c: &str| types.iter().find(|(n, _)| *n == c).map(|(_, t)| *t);
        assert_eq!(ty("source_page"), Some("bigint"));
        assert_eq!(ty("source_index"), Some("int"));
        assert_eq!(ty("external_id"), Some("text"));
        assert_eq!(ty("picture"), Some("text"));
        assert!(types
            .iter()
            .all(|(_, t)| ["text", "bigint", "int"].contains(t)));
    }

    #[test]
    fn values_round_trip() {
        let mut u = user();
        let back = user_from_values(user_values(&u)).expect("round trip");
        assert_eq!(back, u);
        u.external_id = Some("ext-1".into());
        assert_eq!(user_from_values(user_values(&u)).expect("round trip"), u);
        let values = user_values(&User {
            external_id: None,
            ..user()
        });
        let i = USER_COLUMNS
            .iter()
            .position(|c| *c == "external_id")
            .expect("column");
        assert_eq!(values[i], None, "None is written as null");
        let row = row_values(Uuid::nil(), &u);
        assert_eq!(row.len(), USER_COLUMNS.len() + 1);
        assert_eq!(row[0], Some(CqlValue::Uuid(Uuid::nil())));
    }

    #[test]
    fn bad_stored_values_name_the_column() {
        let mut values = user_values(&user());
        values[0] = None;
        assert_eq!(
            user_from_values(values.clone()),
            Err(ColumnError {
                column: "source_name",
                detail: "expected text, found null".into()
            })
        );
        values[0] = Some(CqlValue::Int(1));
        let e = user_from_values(values).expect_err("wrong type");
        assert_eq!(e.column, "source_name");
        assert!(e.to_string().contains("expected text, found Int(1)"), "{e}");
        let mut short = user_values(&user());
        short.pop();
        assert_eq!(
            user_from_values(short).map_err(|e| e.column),
            Err(*USER_COLUMNS.last().expect("columns"))
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
        assert_eq!(&columns[1..], USER_COLUMNS);
        assert_eq!(
            marks.trim_end_matches(')').split(", ").count(),
            columns.len()
        );
        assert_eq!(
            cql.select_row(),
            format!(
                "SELECT {} FROM ks.users WHERE id = ?",
                USER_COLUMNS.join(", ")
            )
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

    #[test]
    fn missing_columns_are_found_and_type_changes_refused() {
        let all: Vec<(String, String)> = std::iter::once(("id".to_string(), "uuid".to_string()))
            .chain(
                user_column_types()
                    .into_iter()
                    .map(|(c, t)| (c.to_string(), t.to_string())),
            )
            .collect();
        assert_eq!(missing_columns(&all), Ok(vec![]));
        let without_two: Vec<(String, String)> = all
            .iter()
            .filter(|(c, _)| c != "picture" && c != "source_index")
            .cloned()
            .collect();
        assert_eq!(
            missing_columns(&without_two),
            Ok(vec![("source_index", "int"), ("picture", "text")])
        );
        let mut retyped = all.clone();
        for (c, t) in &mut retyped {
            if c == "source_page" {
                *t = "int".into();
            }
        }
        let e = missing_columns(&retyped).expect_err("type change");
        assert!(
            e.contains("source_page has type int, expected bigint"),
            "{e}"
        );
    }
}
