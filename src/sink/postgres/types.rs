//! PostgreSQL's column types for the User field kinds, in one table: the wire type binary `COPY`
//! writes, the DDL/catalogue name, and which older column types convert in place
//! ([`crate::sink::migrate`]). A timestamp field is a `timestamp with time zone`, written and read
//! in binary as microseconds since 2000-01-01 UTC ([`Instant`]).

use std::error::Error;

use bytes::BytesMut;
use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

use crate::model::instant::{format_millis, to_millis};
use crate::model::FieldKind;
use crate::sink::migrate::{ColumnTypes, Target};

/// The PostgreSQL type of a field kind: its wire type (binary `COPY`) and its name (DDL and
/// `format_type` in the catalogue).
pub(super) fn column_type(kind: FieldKind) -> (Type, &'static str) {
    match kind {
        FieldKind::Text => (Type::TEXT, "text"),
        FieldKind::Long => (Type::INT8, "bigint"),
        FieldKind::Int => (Type::INT4, "integer"),
        FieldKind::Timestamp => (Type::TIMESTAMPTZ, "timestamp with time zone"),
    }
}

/// PostgreSQL's side of a migration plan.
pub(super) struct Types;

impl ColumnTypes for Types {
    fn id_type(&self) -> &'static str {
        "uuid"
    }
    fn column_type(&self, kind: FieldKind) -> &'static str {
        column_type(kind).1
    }
    fn convertible(&self, target: Target, from: &str, to: &'static str) -> Result<(), String> {
        match (from, to) {
            // Every value is checked first (see `retype_check`): the cast keeps each one.
            ("text", "timestamp with time zone" | "uuid") => Ok(()),
            ("integer", "bigint") => Ok(()),
            _ => Err(format!(
                "eosflow converts only text to timestamp/uuid and integer to bigint; \
                 {} would need a new table",
                target.name()
            )),
        }
    }

    /// Text that is not canonical up to milliseconds (the sink stores, and reads back,
    /// milliseconds) or not a lowercase UUID.
    fn changed_values(&self, table: &str, column: &str, to: &'static str) -> Option<String> {
        let canonical = match to {
            "timestamp with time zone" => {
                r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,3})?Z$"
            }
            "uuid" => "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            _ => return None,
        };
        Some(format!(
            "SELECT id::text, {column}::text FROM {table} WHERE {column} !~ '{canonical}' LIMIT 1"
        ))
    }
}

/// Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01 UTC.
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// A timestamp field's value as a `timestamptz`: its canonical ISO-8601 text in the User,
/// converted on the wire.
#[derive(Debug)]
pub(super) struct Instant<'a>(pub &'a str);

impl ToSql for Instant<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        let ms = to_millis(self.0).map_err(|e| e.about(self.0))?;
        let us = ms
            .checked_mul(1000)
            .and_then(|us| us.checked_sub(PG_EPOCH_US))
            .ok_or_else(|| format!("{:?} is out of PostgreSQL's range", self.0))?;
        out.extend_from_slice(&us.to_be_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ
    }

    to_sql_checked!();
}

/// A `timestamptz` read back as the User's canonical text.
#[derive(Debug)]
pub(super) struct Text(pub String);

impl<'a> FromSql<'a> for Text {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        let bytes: [u8; 8] = raw.try_into()?;
        let us = i64::from_be_bytes(bytes) + PG_EPOCH_US;
        if us % 1000 != 0 {
            return Err(format!("a timestamp of {us} µs is finer than a millisecond").into());
        }
        Ok(Text(format_millis(us / 1000)))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ
    }
}
