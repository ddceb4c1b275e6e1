//! What a sink does to a users table an older eosflow created, planned as data before anything
//! runs: [`plan`] compares the columns a table has with the ones this build's User field table
//! wants and lists the [`Change`]s. `ensure_schema` applies the plan; `eosflow schema plan` shows
//! it (each sink renders a change as its own DDL). Every sink shares these rules:
//!
//! - a missing optional field's column is added, nullable (old rows read back `None`);
//! - a missing required field's column is refused: old rows would have no value for it;
//! - a column of another type is converted in place when the sink can convert every value it may
//!   hold without changing it (text holding ISO-8601 instants → a native timestamp, text holding
//!   UUIDs → a native UUID), and refused otherwise.

use crate::model::{Field, FieldKind, USER_FIELDS};

/// A column as the database's catalogue describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentColumn {
    pub name: String,
    /// The sink's own name for its type (lower case), as the sink's `column_type` writes it.
    pub ty: String,
}

impl PresentColumn {
    pub fn new(name: impl Into<String>, ty: impl Into<String>) -> Self {
        PresentColumn {
            name: name.into(),
            ty: ty.into().to_ascii_lowercase(),
        }
    }
}

/// The column a change is about: the key (`id`) or a User field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Id,
    Field(&'static Field),
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Id => "id",
            Target::Field(f) => f.name,
        }
    }
}

/// One step of a users-table migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An optional field without a column: added, nullable.
    Add {
        field: &'static Field,
        ty: &'static str,
    },
    /// A column of an older type, converted in place to `to`.
    Retype {
        target: Target,
        from: String,
        to: &'static str,
    },
}

/// A change a sink cannot make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "column {field} is missing and required: rows already in the table have no value for it \
         (create a new table, or make the field optional in a new schema version)"
    )]
    RequiredMissing { field: &'static str },
    #[error("column {column} is {from}, and this sink cannot convert it to {to}: {why}")]
    Unconvertible {
        column: &'static str,
        from: String,
        to: &'static str,
        why: String,
    },
}

/// What one sink's column types are, for [`plan`].
pub trait ColumnTypes {
    /// The type of the key column (`id`).
    fn id_type(&self) -> &'static str;
    /// The type of a field kind's column, as the sink's DDL writes it and its catalogue reads it
    /// back (lower case).
    fn column_type(&self, kind: FieldKind) -> &'static str;
    /// Whether a column of type `from` can become `to` in place with every value unchanged;
    /// `Err` says why not.
    fn convertible(&self, target: Target, from: &str, to: &'static str) -> Result<(), String>;
}

/// The changes that bring a table with columns `present` to this build's columns; an empty
/// plan for an up-to-date table.
pub fn plan(types: &dyn ColumnTypes, present: &[PresentColumn]) -> Result<Vec<Change>, Refusal> {
    let find = |name: &str| present.iter().find(|c| c.name.eq_ignore_ascii_case(name));
    let mut changes = Vec::new();
    let retype = |target: Target, to: &'static str, column: &PresentColumn| {
        if column.ty == to {
            return Ok(None);
        }
        types
            .convertible(target, &column.ty, to)
            .map_err(|why| Refusal::Unconvertible {
                column: target.name(),
                from: column.ty.clone(),
                to,
                why,
            })?;
        Ok(Some(Change::Retype {
            target,
            from: column.ty.clone(),
            to,
        }))
    };
    if let Some(id) = find("id") {
        changes.extend(retype(Target::Id, types.id_type(), id)?);
    }
    // Every present column's type first (a wrong type says more than a missing column), then
    // the missing ones.
    for field in &USER_FIELDS {
        if let Some(column) = find(field.name) {
            changes.extend(retype(
                Target::Field(field),
                types.column_type(field.kind),
                column,
            )?);
        }
    }
    for field in &USER_FIELDS {
        let ty = types.column_type(field.kind);
        match find(field.name) {
            Some(_) => {}
            None if field.optional => changes.push(Change::Add { field, ty }),
            None => return Err(Refusal::RequiredMissing { field: field.name }),
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Toy;
    impl ColumnTypes for Toy {
        fn id_type(&self) -> &'static str {
            "uuid"
        }
        fn column_type(&self, kind: FieldKind) -> &'static str {
            match kind {
                FieldKind::Text => "text",
                FieldKind::Timestamp => "timestamp",
                _ => "int",
            }
        }
        fn convertible(&self, _: Target, from: &str, to: &'static str) -> Result<(), String> {
            if from == "text" && to == "timestamp" {
                Ok(())
            } else {
                Err("no".into())
            }
        }
    }

    fn table(skip: &[&str], retyped: &[(&str, &str)]) -> Vec<PresentColumn> {
        let mut cols = vec![PresentColumn::new("id", "uuid")];
        for f in USER_FIELDS.iter().filter(|f| !skip.contains(&f.name)) {
            let ty = retyped
                .iter()
                .find(|(n, _)| *n == f.name)
                .map_or(Toy.column_type(f.kind), |(_, t)| *t);
            cols.push(PresentColumn::new(f.name, ty));
        }
        cols
    }

    #[test]
    fn an_up_to_date_table_needs_nothing() {
        assert_eq!(plan(&Toy, &table(&[], &[])), Ok(vec![]));
    }

    #[test]
    fn old_tables_get_columns_added_and_converted() {
        let old = table(&["nat", "cell"], &[("dob", "TEXT")]);
        let changes = plan(&Toy, &old).unwrap();
        let names: Vec<String> = changes
            .iter()
            .map(|c| match c {
                Change::Add { field, .. } => format!("+{}", field.name),
                Change::Retype { target, from, to } => format!("{}:{from}->{to}", target.name()),
            })
            .collect();
        assert_eq!(names, ["dob:text->timestamp", "+nat", "+cell"]);
    }

    #[test]
    fn what_cannot_be_done_is_refused_by_name() {
        assert_eq!(
            plan(&Toy, &table(&["email"], &[])),
            Err(Refusal::RequiredMissing { field: "email" })
        );
        let e = plan(&Toy, &table(&[], &[("age", "text")])).unwrap_err();
        assert!(e.to_string().starts_with("column age is text"), "{e}");
    }
}
