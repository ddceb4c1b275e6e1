//! The Cassandra users table's migration ([`crate::sink::migrate`]): columns are only ever
//! added, because Cassandra never changes a column's type; a table an older eosflow made keeps its
//! `text` timestamps ([`InstantColumns`]).

use super::statements::cql_type;
use crate::model::FieldKind;
use crate::sink::migrate::{self, ColumnTypes, PresentColumn, Target, Wanted};

/// How a table stores the timestamp fields: `timestamp` columns (every table this eosflow
/// creates), or the `text` columns of a table an older eosflow created, which Cassandra cannot
/// convert (it never changes a column's type): eosflow goes on writing the canonical ISO-8601
/// text there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InstantColumns {
    #[default]
    Native,
    Text,
}

/// Cassandra's side of a migration plan: columns are only ever added.
struct Types;

impl ColumnTypes for Types {
    fn id_type(&self) -> &'static str {
        "uuid"
    }
    fn column_type(&self, kind: FieldKind) -> &'static str {
        cql_type(kind)
    }
    fn convertible(&self, target: Target<'_>, from: &str, to: &'static str) -> Result<(), String> {
        Err(format!(
            "Cassandra never changes a column's type ({from} to {to}); point the sink at a new \
             table (?table=NAME) and process the topic again into it (offsets are kept per \
             table, so it fills exactly once), or keep {} as it is",
            target.name()
        ))
    }
}

/// Whether `column` of type `ty` is a timestamp field's `text` column, which an older eosflow
/// made and Cassandra cannot convert (see [`InstantColumns`]).
fn text_instant(wanted: &[Wanted], column: &str, ty: &str) -> bool {
    ty == "text"
        && wanted
            .iter()
            .any(|w| w.kind == FieldKind::Timestamp && w.name == column)
}

/// How the table with `existing` `(column, type)` pairs stores this build's timestamps.
pub fn instant_columns(existing: &[(String, String)]) -> InstantColumns {
    let wanted = Wanted::user();
    if existing.iter().any(|(c, t)| text_instant(&wanted, c, t)) {
        InstantColumns::Text
    } else {
        InstantColumns::Native
    }
}

/// The plan ([`migrate::plan`]) that gives a table with `existing` `(column, type)` pairs the
/// `wanted` columns: columns are only added. A column present with another type is refused
/// (Cassandra cannot convert it), except a timestamp's `text` column, which is kept.
pub fn plan_columns<'a>(
    existing: &[(String, String)],
    wanted: &'a [Wanted],
) -> Result<Vec<migrate::Change<'a>>, migrate::Refusal> {
    let present: Vec<PresentColumn> = existing
        .iter()
        .map(|(c, t)| match text_instant(wanted, c, t) {
            true => PresentColumn::new(c, cql_type(FieldKind::Timestamp)),
            false => PresentColumn::new(c, t),
        })
        .collect();
    migrate::plan(&Types, &present, wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::cassandra::statements::user_column_types;

    /// The columns this build's plan adds to a table with `existing` columns.
    fn missing_columns(existing: &[(String, String)]) -> Result<Vec<(String, &str)>, String> {
        let wanted = Wanted::user();
        let changes = plan_columns(existing, &wanted).map_err(|e| e.to_string())?;
        Ok(changes
            .into_iter()
            .filter_map(|c| match c {
                migrate::Change::Add { column, ty } => Some((column.name.clone(), ty)),
                migrate::Change::Retype { .. } => None,
            })
            .collect())
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
        assert_eq!(instant_columns(&all), InstantColumns::Native);
        let without = |gone: &[&str]| -> Vec<(String, String)> {
            all.iter()
                .filter(|(c, _)| !gone.contains(&c.as_str()))
                .cloned()
                .collect()
        };
        assert_eq!(
            missing_columns(&without(&["nat", "cell"])),
            Ok(vec![
                ("nat".to_string(), "text"),
                ("cell".to_string(), "text")
            ])
        );
        let e = missing_columns(&without(&["picture"])).expect_err("required");
        assert!(e.contains("column picture is missing and required"), "{e}");
        // A table of an older eosflow keeps its text timestamps: nothing to add, written as text.
        let text_instants: Vec<(String, String)> = all
            .iter()
            .map(|(c, t)| match c.as_str() {
                "dob" | "registered_date" => (c.clone(), "text".to_string()),
                _ => (c.clone(), t.clone()),
            })
            .collect();
        assert_eq!(missing_columns(&text_instants), Ok(vec![]));
        assert_eq!(instant_columns(&text_instants), InstantColumns::Text);
        let mut retyped = all.clone();
        for (c, t) in &mut retyped {
            if c == "source_page" {
                *t = "int".into();
            }
        }
        let e = missing_columns(&retyped).expect_err("type change");
        assert!(
            e.contains("column source_page is int, and this sink cannot convert it to bigint"),
            "{e}"
        );
    }
}
