//! Java Avro's `SchemaCompatibility.ReaderWriterCompatibilityChecker`, rule for rule.
//!
//! The structure follows Java's so the two can be read side by side: `get_compatibility` is
//! `getCompatibility` (memo keyed by the reader and writer nodes, a pair in progress counts as
//! compatible, which terminates recursive schemas), `calculate` is `calculateCompatibility`, and
//! `record_fields`, `enum_symbols`, `fixed_size`, `schema_names` are `checkReaderWriterRecordFields`,
//! `checkReaderEnumContainsAllWriterEnumSymbols`, `checkFixedSize`, `checkSchemaNames`.
//! Locations are built exactly as Java builds them, including its quirks (a reader union checked
//! against a writer union reports the writer branch index; the branches of a reader union are
//! tried against a non-union writer with a fresh location stack).

use std::collections::HashMap;

use apache_avro::Schema;

use super::explain;
use super::graph::{Graph, Node, NodeId};
use super::{Incompatibility, IncompatibilityKind};

/// Everything that keeps `reader` from reading all data written with `writer`, in Java's order;
/// empty when compatible. Agrees with Java's
/// `SchemaCompatibility.checkReaderWriterCompatibility(reader, writer)` on the verdict, the kinds
/// and the locations; the messages are eosflow's (Java's text is in `java_message`).
pub fn check(reader: &Schema, writer: &Schema) -> Vec<Incompatibility> {
    let reader = Graph::from_schema(reader);
    let writer = Graph::from_schema(writer);
    let mut checker = Checker {
        reader: &reader,
        writer: &writer,
        memo: HashMap::new(),
        fields: Vec::new(),
    };
    let mut location = Vec::new();
    let found = checker.get_compatibility(None, reader.root, writer.root, &mut location);
    // Java merges a memoized result each time the pair recurs, repeating identical entries.
    let mut unique: Vec<Incompatibility> = Vec::with_capacity(found.len());
    for incompatibility in found {
        if !unique.contains(&incompatibility) {
            unique.push(incompatibility);
        }
    }
    unique
}

type Found = Vec<Incompatibility>;

enum Memo {
    InProgress,
    Done(Found),
}

struct Checker<'a> {
    reader: &'a Graph,
    writer: &'a Graph,
    memo: HashMap<(NodeId, NodeId), Memo>,
    /// Names of the reader fields being checked, outermost first (for messages only).
    fields: Vec<String>,
}

impl Checker<'_> {
    /// Java's `getCompatibility(referenceToken, reader, writer, location)`; `token: None` with a
    /// fresh `location` is Java's two-argument `getCompatibility(reader, writer)`.
    fn get_compatibility(
        &mut self,
        token: Option<&str>,
        reader: NodeId,
        writer: NodeId,
        location: &mut Vec<String>,
    ) -> Found {
        if let Some(token) = token {
            location.push(token.to_string());
        }
        let pair = (self.reader.resolve(reader), self.writer.resolve(writer));
        let result = match self.memo.get(&pair) {
            // Break the recursion: compatible unless proven otherwise.
            Some(Memo::InProgress) => Vec::new(),
            Some(Memo::Done(found)) => found.clone(),
            None => {
                self.memo.insert(pair, Memo::InProgress);
                let found = self.calculate(pair.0, pair.1, location);
                self.memo.insert(pair, Memo::Done(found.clone()));
                found
            }
        };
        if token.is_some() {
            location.pop();
        }
        result
    }

    fn fresh(&mut self, reader: NodeId, writer: NodeId) -> Found {
        self.get_compatibility(None, reader, writer, &mut Vec::new())
    }

    fn incompatible(
        &self,
        kind: IncompatibilityKind,
        location: &[String],
        (message, java_message): (String, String),
    ) -> Found {
        let message = if self.fields.is_empty() {
            message
        } else {
            format!("in field '{}': {message}", self.fields.join("."))
        };
        vec![Incompatibility {
            kind,
            location: explain::at(location),
            message,
            java_message,
        }]
    }

    fn type_mismatch(&self, reader: NodeId, writer: NodeId, location: &[String]) -> Found {
        let texts = explain::type_mismatch(self.reader, reader, self.writer, writer, location);
        self.incompatible(IncompatibilityKind::TypeMismatch, location, texts)
    }

    fn calculate(&mut self, reader: NodeId, writer: NodeId, location: &mut Vec<String>) -> Found {
        let (Some(reader_type), Some(writer_type)) =
            (self.reader.ty(reader), self.writer.ty(writer))
        else {
            let texts = explain::unresolved(self.reader, reader, self.writer, writer, location);
            return self.incompatible(IncompatibilityKind::UnresolvedName, location, texts);
        };
        let (reader_node, writer_node) = (self.reader.node(reader), self.writer.node(writer));
        if reader_type == writer_type {
            return match (reader_node, writer_node) {
                (Node::Array(r), Node::Array(w)) => {
                    let (r, w) = (*r, *w);
                    self.get_compatibility(Some("items"), r, w, location)
                }
                (Node::Map(r), Node::Map(w)) => {
                    let (r, w) = (*r, *w);
                    self.get_compatibility(Some("values"), r, w, location)
                }
                (Node::Fixed(..), Node::Fixed(..)) => {
                    let mut found = self.schema_names(reader, writer, location);
                    found.extend(self.fixed_size(reader, writer, location));
                    found
                }
                (Node::Enum(..), Node::Enum(..)) => {
                    let mut found = self.schema_names(reader, writer, location);
                    found.extend(self.enum_symbols(reader, writer, location));
                    found
                }
                (Node::Record(..), Node::Record(..)) => {
                    let mut found = self.schema_names(reader, writer, location);
                    found.extend(self.record_fields(reader, writer, location));
                    found
                }
                (Node::Union(_), Node::Union(writer_branches)) => {
                    let writer_branches = writer_branches.clone();
                    self.writer_union(reader, writer, &writer_branches, location)
                }
                // NULL, BOOLEAN, INT, LONG, FLOAT, DOUBLE, BYTES, STRING.
                _ => Vec::new(),
            };
        }
        // Reader and writer have different types.
        if let Node::Union(writer_branches) = writer_node {
            // A reader compatible with every branch of a writer union is compatible.
            let writer_branches = writer_branches.clone();
            let mut found = Vec::new();
            for (index, branch) in writer_branches.iter().enumerate() {
                let token = index.to_string();
                let mut from_branch =
                    self.get_compatibility(Some(&token), reader, *branch, location);
                // Java's location ends with the writer's branch index here: say so.
                location.push(token);
                let here = explain::at(location);
                location.pop();
                for incompatibility in &mut from_branch {
                    if incompatibility.location == here {
                        let note = explain::writer_branch_note(self.writer, writer, index);
                        incompatibility.message.push_str(&note);
                    }
                }
                found.extend(from_branch);
            }
            return found;
        }
        if writer_type.promotes_to(reader_type) {
            return Vec::new();
        }
        if let Node::Union(reader_branches) = reader_node {
            let reader_branches = reader_branches.clone();
            for branch in reader_branches {
                if self.fresh(branch, writer).is_empty() {
                    return Vec::new();
                }
            }
            // No branch of the reader union reads the writer's type.
            let near = self.near_branch(reader, writer);
            let texts =
                explain::missing_branch(self.reader, reader, self.writer, writer, location, near);
            return self.incompatible(IncompatibilityKind::MissingUnionBranch, location, texts);
        }
        self.type_mismatch(reader, writer, location)
    }

    /// Same-type UNION: every writer branch must be readable by the reader union.
    fn writer_union(
        &mut self,
        reader: NodeId,
        writer_union: NodeId,
        writer_branches: &[NodeId],
        location: &mut Vec<String>,
    ) -> Found {
        let mut found = Vec::new();
        for (index, branch) in writer_branches.iter().enumerate() {
            location.push(index.to_string());
            if !self.fresh(reader, *branch).is_empty() {
                let near = self.near_branch(reader, *branch);
                let (mut message, java) = explain::missing_branch(
                    self.reader,
                    reader,
                    self.writer,
                    *branch,
                    location,
                    near,
                );
                message.push_str(&explain::writer_branch_note(
                    self.writer,
                    writer_union,
                    index,
                ));
                let texts = (message, java);
                found.extend(self.incompatible(
                    IncompatibilityKind::MissingUnionBranch,
                    location,
                    texts,
                ));
            }
            location.pop();
        }
        found
    }

    /// For the explanation only: the reader union's branch of the writer's type (and name), with
    /// why it cannot read the writer. Uses its own memo so Java's results are not disturbed.
    fn near_branch(&self, reader: NodeId, writer: NodeId) -> explain::NearBranch {
        let Node::Union(branches) = self.reader.node(reader) else {
            return None;
        };
        let writer_type = self.writer.ty(writer)?;
        let writer_name = self.writer.named(writer).map(|named| named.name.clone());
        let index = branches.iter().position(|branch| {
            self.reader.ty(*branch) == Some(writer_type)
                && self.reader.named(*branch).map(|named| named.name.clone()) == writer_name
        })?;
        let mut checker = Checker {
            reader: self.reader,
            writer: self.writer,
            memo: HashMap::new(),
            fields: Vec::new(),
        };
        let reasons = checker.fresh(branches[index], writer);
        Some((index, reasons))
    }

    /// `checkReaderWriterRecordFields`.
    fn record_fields(
        &mut self,
        reader: NodeId,
        writer: NodeId,
        location: &mut Vec<String>,
    ) -> Found {
        let (Node::Record(_, reader_fields), Node::Record(_, writer_fields)) =
            (self.reader.node(reader), self.writer.node(writer))
        else {
            return Vec::new();
        };
        let (reader_fields, writer_fields) = (reader_fields.clone(), writer_fields.clone());
        let mut found = Vec::new();
        location.push("fields".to_string());
        for (position, field) in reader_fields.iter().enumerate() {
            location.push(position.to_string());
            // `lookupWriterField`: the field's name, then each of its aliases. Each writer field
            // counts once: Java's list holds it twice when an alias repeats the field's own name
            // (and then throws), but one writer field is not an ambiguity.
            let mut matches: Vec<&super::graph::Field> = Vec::new();
            for name in std::iter::once(&field.name).chain(field.aliases.iter()) {
                let found = writer_fields.iter().find(|w| &w.name == name);
                if let Some(w) = found.filter(|w| !matches.iter().any(|m| m.name == w.name)) {
                    matches.push(w);
                }
            }
            match matches.as_slice() {
                [] if field.has_default => {}
                [] => {
                    let enum_default =
                        matches!(self.reader.node(field.ty), Node::Enum(_, _, Some(_)));
                    if enum_default {
                        // Java compares the field's enum with the writer *record* here.
                        self.fields.push(field.name.clone());
                        found.extend(self.get_compatibility(
                            Some("type"),
                            field.ty,
                            writer,
                            location,
                        ));
                        self.fields.pop();
                    } else {
                        let texts =
                            explain::missing_default(self.reader, reader, position, location);
                        found.extend(self.incompatible(
                            IncompatibilityKind::ReaderFieldMissingDefaultValue,
                            location,
                            texts,
                        ));
                    }
                }
                [writer_field] => {
                    let writer_ty = writer_field.ty;
                    self.fields.push(field.name.clone());
                    found.extend(self.get_compatibility(
                        Some("type"),
                        field.ty,
                        writer_ty,
                        location,
                    ));
                    self.fields.pop();
                }
                several => {
                    let names: Vec<String> = several.iter().map(|w| w.name.clone()).collect();
                    let texts = explain::ambiguous_field(field, &names, location);
                    found.extend(self.incompatible(
                        IncompatibilityKind::AmbiguousField,
                        location,
                        texts,
                    ));
                }
            }
            location.pop();
        }
        location.pop();
        found
    }

    /// `checkReaderEnumContainsAllWriterEnumSymbols` (with Java 1.9+'s enum default).
    fn enum_symbols(&self, reader: NodeId, writer: NodeId, location: &mut Vec<String>) -> Found {
        let (Node::Enum(_, reader_symbols, reader_default), Node::Enum(_, writer_symbols, _)) =
            (self.reader.node(reader), self.writer.node(writer))
        else {
            return Vec::new();
        };
        // Java collects them in a TreeSet: sorted, unique.
        let mut missing: Vec<String> = writer_symbols
            .iter()
            .filter(|symbol| !reader_symbols.contains(symbol))
            .cloned()
            .collect();
        missing.sort();
        missing.dedup();
        let defaulted = reader_default
            .as_ref()
            .is_some_and(|default| reader_symbols.contains(default));
        if missing.is_empty() || defaulted {
            return Vec::new();
        }
        location.push("symbols".to_string());
        let texts =
            explain::missing_symbols(self.reader, reader, self.writer, writer, &missing, location);
        let found = self.incompatible(IncompatibilityKind::MissingEnumSymbols, location, texts);
        location.pop();
        found
    }

    /// `checkFixedSize`.
    fn fixed_size(&self, reader: NodeId, writer: NodeId, location: &mut Vec<String>) -> Found {
        let (Node::Fixed(_, reader_size), Node::Fixed(_, writer_size)) =
            (self.reader.node(reader), self.writer.node(writer))
        else {
            return Vec::new();
        };
        if reader_size == writer_size {
            return Vec::new();
        }
        location.push("size".to_string());
        let texts = explain::fixed_size(self.reader, reader, *reader_size, *writer_size, location);
        let found = self.incompatible(IncompatibilityKind::FixedSizeMismatch, location, texts);
        location.pop();
        found
    }

    /// `checkSchemaNames` / `schemaNameEquals`: the reader's unqualified name equals the writer's,
    /// or one of the reader's aliases (full names) equals the writer's full name.
    fn schema_names(&self, reader: NodeId, writer: NodeId, location: &mut Vec<String>) -> Found {
        let (Some(reader_name), Some(writer_name)) =
            (self.reader.named(reader), self.writer.named(writer))
        else {
            return Vec::new();
        };
        if reader_name.name == writer_name.name || reader_name.aliases.contains(&writer_name.full) {
            return Vec::new();
        }
        location.push("name".to_string());
        let texts = explain::name_mismatch(self.reader, reader, writer_name, location);
        let found = self.incompatible(IncompatibilityKind::NameMismatch, location, texts);
        location.pop();
        found
    }
}
