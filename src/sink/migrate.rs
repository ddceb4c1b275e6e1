//! What a sink does to a users table an older eosflow created, planned as data before anything
//! runs: [`plan`] compares the columns a table has with the ones wanted (this build's User field
//! table, [`Wanted::user`], or a candidate schema's, for `eosflow schema plan`) and lists the
//! [`Change`]s. `ensure_schema` applies the plan; `eosflow schema plan` shows it (each sink
//! renders a change as its own DDL, see [`super::Sink::plan_schema`]). Every sink shares these
//! rules:
//!
//! - a missing optional field's column is added, nullable (old rows read back `None`);
//! - a missing required field's column is refused: old rows would have no value for it;
//! - a column of another type is converted in place when the sink can convert every value it may
//!   hold without changing it (text holding ISO-8601 instants → a native timestamp, text holding
//!   UUIDs → a native UUID), and refused otherwise.

use crate::model::{FieldKind, USER_FIELDS};

/// A column a table should have (after `id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
    pub kind: FieldKind,
    /// Nullable: may be added to a table that has rows.
    pub optional: bool,
}

impl Wanted {
    /// The columns of this build's User field table, in order.
    pub fn user() -> Vec<Wanted> {
        USER_FIELDS
            .iter()
            .map(|f| Wanted {
                name: f.name.to_string(),
                kind: f.kind,
                optional: f.optional,
            })
            .collect()
    }
}

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

/// The column a change is about: the key (`id`) or a wanted column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    Id,
    Column(&'a Wanted),
}

impl<'a> Target<'a> {
    pub fn name(self) -> &'a str {
        match self {
            Target::Id => "id",
            Target::Column(w) => &w.name,
        }
    }

    /// The field kind of a wanted column (None for the key).
    pub fn kind(self) -> Option<FieldKind> {
        match self {
            Target::Id => None,
            Target::Column(w) => Some(w.kind),
        }
    }
}

/// One step of a users-table migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<'a> {
    /// An optional column that is missing: added, nullable.
    Add {
        column: &'a Wanted,
        ty: &'static str,
    },
    /// A column of an older type, converted in place to `to`.
    Retype {
        target: Target<'a>,
        from: String,
        to: &'static str,
    },
}

/// A change a sink cannot make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "column {column} is missing and required: rows already in the table have no value for \
         it (create a new table, or make the field optional in a new schema version)"
    )]
    RequiredMissing { column: String },
    #[error("column {column} is {from}, and this sink cannot convert it to {to}: {why}")]
    Unconvertible {
        column: String,
        from: String,
        to: &'static str,
        why: String,
    },
}

/// Why a sink could not bring its users table up to date: its database failed (`E`), or the
/// plan refused.
#[derive(Debug)]
pub enum Failed<E> {
    Db(E),
    Refused(Refusal),
}

impl<E> From<E> for Failed<E> {
    fn from(e: E) -> Self {
        Failed::Db(e)
    }
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
    fn convertible(&self, target: Target<'_>, from: &str, to: &'static str) -> Result<(), String>;
    /// SQL selecting, as text, the id and value of the first row of `table` whose `column` the
    /// conversion to `to` would not keep as it is (None: every value it accepts converts
    /// unchanged). Run by [`check_values`] before the conversion.
    fn changed_values(&self, _table: &str, _column: &str, _to: &'static str) -> Option<String> {
        None
    }
}

/// The changes that bring a table with columns `present` to the `wanted` ones; an empty plan
/// for an up-to-date table. Columns the table has and nobody wants are left alone.
pub fn plan<'a>(
    types: &dyn ColumnTypes,
    present: &[PresentColumn],
    wanted: &'a [Wanted],
) -> Result<Vec<Change<'a>>, Refusal> {
    let find = |name: &str| present.iter().find(|c| c.name.eq_ignore_ascii_case(name));
    let mut changes = Vec::new();
    let retype = |target: Target<'a>, to: &'static str, column: &PresentColumn| {
        if column.ty == to {
            return Ok(None);
        }
        types
            .convertible(target, &column.ty, to)
            .map_err(|why| Refusal::Unconvertible {
                column: target.name().to_string(),
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
    for w in wanted {
        if let Some(column) = find(&w.name) {
            changes.extend(retype(
                Target::Column(w),
                types.column_type(w.kind),
                column,
            )?);
        }
    }
    for w in wanted {
        let ty = types.column_type(w.kind);
        match find(&w.name) {
            Some(_) => {}
            None if w.optional => changes.push(Change::Add { column: w, ty }),
            None => {
                return Err(Refusal::RequiredMissing {
                    column: w.name.clone(),
                })
            }
        }
    }
    Ok(changes)
}

/// Refuses `changes` when a row holds a value one of its conversions would change, naming the
/// row: runs each conversion's [`ColumnTypes::changed_values`] query through `first_row`.
pub fn check_values<E>(
    types: &dyn ColumnTypes,
    table: &str,
    changes: &[Change<'_>],
    mut first_row: impl FnMut(&str) -> Result<Option<(String, String)>, E>,
) -> Result<(), Failed<E>> {
    for change in changes {
        let Change::Retype { target, from, to } = change else {
            continue;
        };
        let Some(sql) = types.changed_values(table, target.name(), to) else {
            continue;
        };
        if let Some((id, value)) = first_row(&sql)? {
            return Err(Failed::Refused(Refusal::Unconvertible {
                column: target.name().to_string(),
                from: from.clone(),
                to,
                why: format!("row {id} holds {value:?}, which {to} would not keep as it is"),
            }));
        }
    }
    Ok(())
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
        assert_eq!(plan(&Toy, &table(&[], &[]), &Wanted::user()), Ok(vec![]));
    }

    #[test]
    fn old_tables_get_columns_added_and_converted() {
        let old = table(&["nat", "cell"], &[("dob", "TEXT")]);
        let wanted = Wanted::user();
        let changes = plan(&Toy, &old, &wanted).unwrap();
        let names: Vec<String> = changes
            .iter()
            .map(|c| match c {
                Change::Add { column, .. } => format!("+{}", column.name),
                Change::Retype { target, from, to } => format!("{}:{from}->{to}", target.name()),
            })
            .collect();
        assert_eq!(names, ["dob:text->timestamp", "+nat", "+cell"]);
    }

    #[test]
    fn what_cannot_be_done_is_refused_by_name() {
        let wanted = Wanted::user();
        assert_eq!(
            plan(&Toy, &table(&["email"], &[]), &wanted),
            Err(Refusal::RequiredMissing {
                column: "email".into()
            })
        );
        let e = plan(&Toy, &table(&[], &[("age", "text")]), &wanted).unwrap_err();
        assert!(e.to_string().starts_with("column age is text"), "{e}");
    }
}
