//! `eosflow schema plan`: what a candidate User schema would do, before it is registered.
//!
//! 1. **Compatibility**: the candidate against the previous versions (files, or the history in
//!    `avro/`) under a level, with the engine's path-precise reasons ([`crate::schema`]).
//! 2. **This eosflow's reader**: whether the processor (reading into the newest User schema of
//!    its history) can read records written with the candidate, and which candidate fields it does
//!    not store. A record it cannot read goes to the dead-letter topic (`schema-mismatch`) with
//!    the same reasons; it never stops the processor.
//! 3. **Each sink**: the columns the candidate's fields need (string → text, long, int, a
//!    timestamp field → the sink's native timestamp; a `timestamp-millis` companion `x_ms` of a
//!    string field `x` is carried by `x`'s column), compared with the sink's users table as it is
//!    now ([`crate::sink::Sink::plan_schema`]): the DDL the sink would run, or why it cannot.
//!
//! Exit codes as the other `schema` commands: 0 when the candidate is compatible, readable and
//! every sink can apply it; 1 otherwise (each reason on stdout); 2 for input that cannot be used
//! (a file, a sink that cannot be reached).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use apache_avro::Schema;

use super::schema::{load, Outcome, COMPATIBLE, INCOMPATIBLE, INVALID_INPUT};
use crate::avro::history::newest_parsed;
use crate::avro::{newest_user_schema, user_schema_history};
use crate::model::{FieldKind, INSTANT_SUFFIX, USER_FIELDS};
use crate::schema::{check, check_level, Level};
use crate::sink::migrate::Wanted;

/// What the sinks would do with one field of the candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldUse {
    /// Stored in a column of its own.
    Column(Wanted),
    /// The `timestamp-millis` companion of string field `of`: the same instant, in `of`'s column.
    Companion { of: String },
    /// No sink column type holds it.
    Unsupported { avro: String },
}

/// Each field of the candidate record and its use, in order; None when it is not a record.
pub fn field_uses(candidate: &Schema) -> Option<Vec<(String, FieldUse)>> {
    let Schema::Record(record) = candidate else {
        return None;
    };
    let is_string = |name: &str| {
        record
            .fields
            .iter()
            .any(|f| f.name == name && base(&f.schema).0 == &Schema::String)
    };
    let timestamp_field = |name: &str| {
        USER_FIELDS
            .iter()
            .any(|f| f.name == name && f.kind == FieldKind::Timestamp)
    };
    Some(
        record
            .fields
            .iter()
            .map(|f| {
                let (schema, optional) = base(&f.schema);
                let column = |kind| {
                    FieldUse::Column(Wanted {
                        name: f.name.clone(),
                        kind,
                        optional,
                    })
                };
                let of = f
                    .name
                    .strip_suffix(INSTANT_SUFFIX)
                    .filter(|of| is_string(of));
                let using = match (schema, of) {
                    (Schema::TimestampMillis, Some(of)) => FieldUse::Companion { of: of.into() },
                    (Schema::TimestampMillis, None) => column(FieldKind::Timestamp),
                    (Schema::String, _) if timestamp_field(&f.name) => column(FieldKind::Timestamp),
                    (Schema::String, _) => column(FieldKind::Text),
                    (Schema::Long, _) => column(FieldKind::Long),
                    (Schema::Int, _) => column(FieldKind::Int),
                    (other, _) => FieldUse::Unsupported {
                        avro: serde_json::to_string(other).unwrap_or_default(),
                    },
                };
                (f.name.clone(), using)
            })
            .collect(),
    )
}

/// A field's type without its null branch, and whether it had one.
fn base(schema: &Schema) -> (&Schema, bool) {
    if let Schema::Union(u) = schema {
        let others: Vec<&Schema> = u
            .variants()
            .iter()
            .filter(|v| !matches!(v, Schema::Null))
            .collect();
        if let [one] = others.as_slice() {
            return (one, others.len() < u.variants().len());
        }
    }
    (schema, false)
}

/// What `plan` was asked.
#[derive(Debug, Clone)]
pub struct PlanRequest<'a> {
    pub candidate: &'a Path,
    /// Previous versions, oldest first; empty: the history compiled from `avro/`.
    pub previous: &'a [PathBuf],
    pub level: Level,
    /// Sink URLs (their passwords never printed), and the users table name.
    pub sinks: &'a [String],
    pub table: &'a str,
}

/// `eosflow schema plan` (see the module docs).
pub fn plan(request: &PlanRequest<'_>) -> Outcome {
    let mut out = Outcome::default();
    let candidate = match load(request.candidate) {
        Ok((_, schema)) => schema,
        Err(e) => return invalid(format!("invalid input: {e}")),
    };
    let name = request.candidate.display().to_string();
    let mut blocked = false;

    // 1. Compatibility.
    let (previous, against): (Vec<Schema>, String) = if request.previous.is_empty() {
        let history = user_schema_history();
        let shown = history
            .iter()
            .map(|f| format!("v{}", f.version))
            .collect::<Vec<_>>();
        (
            history.iter().map(|f| f.parsed().clone()).collect(),
            format!("eosflow's history in avro/ ({})", shown.join(", ")),
        )
    } else {
        let mut schemas = Vec::new();
        for path in request.previous {
            match load(path) {
                Ok((_, s)) => schemas.push(s),
                Err(e) => return invalid(format!("invalid input: {e}")),
            }
        }
        let shown: Vec<String> = request
            .previous
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        (schemas, shown.join(", "))
    };
    let level = request.level;
    let found = check_level(level, &candidate, &previous);
    if found.is_empty() {
        let _ = writeln!(
            out.stdout,
            "compatibility: {name} meets {level} against {against}"
        );
    } else {
        blocked = true;
        let _ = writeln!(
            out.stdout,
            "compatibility: {name} does NOT meet {level} against {against}; the registry would \
             refuse it:"
        );
        for problem in &found {
            let _ = writeln!(out.stdout, "  {problem}");
        }
    }

    // 2. This eosflow's reader.
    let reader = newest_user_schema();
    let unreadable = check(newest_parsed(), &candidate);
    if unreadable.is_empty() {
        let _ = writeln!(
            out.stdout,
            "reader: this eosflow (reader User v{}) reads records written with it",
            reader.version
        );
    } else {
        blocked = true;
        let _ = writeln!(
            out.stdout,
            "reader: this eosflow (reader User v{}) cannot read records written with it; each \
             would go to the dead-letter topic (schema-mismatch), the processor going on:",
            reader.version
        );
        for problem in &unreadable {
            let _ = writeln!(out.stdout, "  {problem}");
        }
    }
    let Some(uses) = field_uses(&candidate) else {
        let _ = writeln!(
            out.stdout,
            "sinks: the candidate is not a record: no table holds it"
        );
        out.code = INCOMPATIBLE;
        return out;
    };
    let _ = writeln!(out.stdout, "fields:");
    let mut wanted = Vec::new();
    for (field, using) in uses {
        match using {
            FieldUse::Column(w) => {
                if !USER_FIELDS.iter().any(|f| f.name == w.name) {
                    let _ = writeln!(
                        out.stdout,
                        "  {field}: not in this eosflow's User: it reads past it; a release \
                         whose User has it stores it in the column below"
                    );
                }
                wanted.push(w);
            }
            FieldUse::Companion { of } => {
                let _ = writeln!(
                    out.stdout,
                    "  {field}: the same instant as {of}, stored in {of}'s timestamp column"
                );
            }
            FieldUse::Unsupported { avro } => {
                blocked = true;
                let _ = writeln!(
                    out.stdout,
                    "  {field}: refused: no sink column holds {avro} (eosflow stores strings, \
                     ints, longs and timestamps)"
                );
            }
        }
    }

    // 3. Each sink.
    for url in request.sinks {
        let opened = crate::sink::open(url, request.table).and_then(|mut sink| {
            let described = sink.describe();
            sink.plan_schema(&wanted).map(|plan| (described, plan))
        });
        let (described, plan) = match opened {
            Ok(planned) => planned,
            Err(e) => {
                out.code = INVALID_INPUT;
                let _ = writeln!(out.stderr, "cannot plan a sink: {e}");
                continue;
            }
        };
        let table = &plan.table;
        match (&plan.refused, plan.statements.is_empty()) {
            (Some(why), _) => {
                blocked = true;
                let _ = writeln!(
                    out.stdout,
                    "sink {described}: table {table}: refused: {why}"
                );
            }
            (None, true) => {
                let _ = writeln!(out.stdout, "sink {described}: table {table}: up to date");
            }
            (None, false) => {
                let what = if plan.exists {
                    "would run"
                } else {
                    "does not exist; would create"
                };
                let _ = writeln!(out.stdout, "sink {described}: table {table} {what}:");
                for statement in &plan.statements {
                    let _ = writeln!(out.stdout, "  {};", statement.trim_end_matches(';'));
                }
            }
        }
    }
    if out.code == COMPATIBLE && blocked {
        out.code = INCOMPATIBLE;
    }
    let verdict = match out.code {
        COMPATIBLE => "plan: the candidate can be registered and every sink can apply it",
        INCOMPATIBLE => "plan: not safe to register as it is (reasons above)",
        _ => "plan: incomplete (a sink could not be asked)",
    };
    let _ = writeln!(out.stderr, "{verdict}");
    out
}

fn invalid(message: String) -> Outcome {
    Outcome {
        code: INVALID_INPUT,
        stdout: String::new(),
        stderr: format!("{message}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_map_to_columns_companions_and_refusals() {
        let text = r#"{"type": "record", "name": "User", "fields": [
            {"name": "dob", "type": "string"},
            {"name": "dob_ms", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}], "default": null},
            {"name": "seen_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "title", "type": ["null", "string"], "default": null},
            {"name": "age", "type": ["null", "long"], "default": null},
            {"name": "tags", "type": {"type": "array", "items": "string"}}]}"#;
        let uses = field_uses(&Schema::parse_str(text).expect("schema")).expect("record");
        let kind = |i: usize| match &uses[i].1 {
            FieldUse::Column(w) => Some((w.kind, w.optional)),
            _ => None,
        };
        assert_eq!(kind(0), Some((FieldKind::Timestamp, false)));
        assert_eq!(uses[1].1, FieldUse::Companion { of: "dob".into() });
        assert_eq!(kind(2), Some((FieldKind::Timestamp, false)));
        assert_eq!(kind(3), Some((FieldKind::Text, true)));
        assert_eq!(kind(4), Some((FieldKind::Long, true)));
        assert!(matches!(uses[5].1, FieldUse::Unsupported { .. }));
    }
}
