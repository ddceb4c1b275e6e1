//! eosflow's own Avro schema-evolution engine: a port of Java Avro's `SchemaCompatibility` (the
//! checker Confluent's Schema Registry runs), compatibility levels, and a parser as strict as
//! Java's.
//!
//! apache-avro 0.22 is used for parsing only. Its own checker disagrees with Java (GROUND.md): it
//! accepts enum narrowing and union narrowing as "partial", rejects renames through aliases, is
//! stricter on decimal precision, and stops at the first problem. This engine answers exactly what
//! Java answers, collects every problem, and says for each one where it is (a JSON pointer into
//! the reader schema, as Java reports it) and what to change.
//!
//! | file | what lives there |
//! |---|---|
//! | `graph` | apache-avro's `Schema` turned into a graph of Java's schema types: logical types dropped (Java ignores them for compatibility), named types shared by full name so recursion and references work |
//! | `check` | `ReaderWriterCompatibilityChecker`, rule for rule: promotions, names and aliases, fixed sizes, enum symbols and defaults, record fields, unions, memoized recursion |
//! | `explain` | the sentence for each incompatibility: what is wrong and what to change |
//! | `level` | Confluent's compatibility levels over a history of versions |
//! | `strict`, `strict_json` | [`parse_strict`]: apache-avro parsing plus the checks Java's `Schema.Parser` makes and apache-avro skips |
//!
//! Java's rules, in short (reader = the schema that decodes, writer = the one that encoded):
//! * same primitive types match; promotions `int→long/float/double`, `long→float/double`,
//!   `float→double`, `string↔bytes`; logical types are ignored (decimal precision is not checked);
//! * records, enums and fixed match when the reader's unqualified name equals the writer's, or a
//!   reader alias equals the writer's full name;
//! * reader record fields are found in the writer by name, then by the reader field's aliases; a
//!   reader field the writer lacks needs a default; writer fields the reader lacks are skipped;
//! * a writer enum symbol the reader lacks is an error unless the reader enum has a default;
//! * fixed sizes must be equal; arrays compare items, maps values;
//! * a writer union needs every branch readable; a reader union needs one branch that reads the
//!   writer; recursive pairs being checked count as compatible.

mod check;
mod explain;
mod graph;
mod level;
mod physical;
mod strict;
mod strict_json;

use std::fmt;

pub use check::check;
pub use level::{check_level, Direction, Level, LevelIncompatibility, LevelParseError};
pub use physical::{fixed_size, Type};
pub use strict::{parse_strict, SchemaError};
pub use strict_json::Problem;

/// Java's `SchemaCompatibility.SchemaIncompatibilityType`, plus two situations where Java throws
/// instead of answering (reported here as incompatibilities so nothing passes silently).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncompatibilityKind {
    /// A record, enum or fixed whose name (and aliases) do not match the writer's.
    NameMismatch,
    /// Fixed types of different sizes.
    FixedSizeMismatch,
    /// Writer enum symbols the reader lacks, and the reader enum has no default.
    MissingEnumSymbols,
    /// A reader field the writer does not have, without a default.
    ReaderFieldMissingDefaultValue,
    /// Types that cannot be resolved (and no promotion applies).
    TypeMismatch,
    /// A union lacking a branch for the writer's type.
    MissingUnionBranch,
    /// Not a Java type: the reader field's name and aliases match several writer fields (Java's
    /// `lookupWriterField` throws an `AvroRuntimeException`).
    AmbiguousField,
    /// Not a Java type: a named type is referenced but not defined in the schema (a Java parser
    /// would have refused the schema).
    UnresolvedName,
}

impl IncompatibilityKind {
    /// Java's spelling, e.g. `READER_FIELD_MISSING_DEFAULT_VALUE`.
    pub fn as_str(self) -> &'static str {
        match self {
            IncompatibilityKind::NameMismatch => "NAME_MISMATCH",
            IncompatibilityKind::FixedSizeMismatch => "FIXED_SIZE_MISMATCH",
            IncompatibilityKind::MissingEnumSymbols => "MISSING_ENUM_SYMBOLS",
            IncompatibilityKind::ReaderFieldMissingDefaultValue => {
                "READER_FIELD_MISSING_DEFAULT_VALUE"
            }
            IncompatibilityKind::TypeMismatch => "TYPE_MISMATCH",
            IncompatibilityKind::MissingUnionBranch => "MISSING_UNION_BRANCH",
            IncompatibilityKind::AmbiguousField => "AMBIGUOUS_FIELD",
            IncompatibilityKind::UnresolvedName => "UNRESOLVED_NAME",
        }
    }
}

impl fmt::Display for IncompatibilityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason why a reader cannot read everything a writer may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    pub kind: IncompatibilityKind,
    /// JSON pointer into the READER schema, exactly as Java's `Incompatibility.getLocation()`
    /// reports it: `/` is the root, e.g. `/fields/3/type/symbols`. (For a writer union read by
    /// a union, Java ends the pointer with the index of the writer's branch.)
    pub location: String,
    /// What is wrong and what to change.
    pub message: String,
    /// What Java's `Incompatibility.getMessage()` says (e.g. `expected: ns.User`, a field name,
    /// `[C, D]`), for messages shaped like Confluent's.
    pub java_message: String,
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}: {}", self.kind, self.location, self.message)
    }
}
