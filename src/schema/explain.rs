//! The sentence for each incompatibility: what is wrong, where, and what to change. Each function
//! returns `(message, java_message)`, the second being Java's `Incompatibility.getMessage()`.

use super::graph::{Field, Graph, Named, Node, NodeId, Type};
use super::Incompatibility;

type Texts = (String, String);

pub(crate) fn at(location: &[String]) -> String {
    let escaped: Vec<String> = location
        .iter()
        .map(|token| token.replace('~', "~0").replace('/', "~1"))
        .collect();
    format!("/{}", escaped.join("/"))
}

/// A short description: `int`, `record 'ns.User'`, `array of int`, `union ["null", "int"]`.
pub(crate) fn describe(graph: &Graph, id: NodeId) -> String {
    match graph.node(id) {
        Node::Primitive(ty) => ty.avro().to_string(),
        Node::Array(items) => format!("array of {}", describe_inner(graph, *items)),
        Node::Map(values) => format!("map of {}", describe_inner(graph, *values)),
        Node::Union(_) => format!("union {}", type_json(graph, id)),
        Node::Record(named, _) => format!("record '{}'", named.full),
        Node::Enum(named, ..) => format!("enum '{}'", named.full),
        Node::Fixed(named, size) => format!("fixed '{}' ({size} bytes)", named.full),
        Node::Unresolved(name) | Node::Pending(name) => format!("undefined type '{name}'"),
        Node::Link(_) => "type".to_string(),
    }
}

fn describe_inner(graph: &Graph, id: NodeId) -> String {
    match graph.node(id) {
        Node::Array(_) | Node::Map(_) => format!("({})", describe(graph, id)),
        _ => describe(graph, id),
    }
}

/// The type as it would be written in a schema (named types by full name).
pub(crate) fn type_json(graph: &Graph, id: NodeId) -> String {
    match graph.node(id) {
        Node::Primitive(ty) => format!("\"{}\"", ty.avro()),
        Node::Array(items) => format!(
            "{{\"type\": \"array\", \"items\": {}}}",
            type_json(graph, *items)
        ),
        Node::Map(values) => format!(
            "{{\"type\": \"map\", \"values\": {}}}",
            type_json(graph, *values)
        ),
        Node::Union(branches) => {
            let branches: Vec<String> = branches.iter().map(|b| type_json(graph, *b)).collect();
            format!("[{}]", branches.join(", "))
        }
        Node::Record(named, _) | Node::Enum(named, ..) | Node::Fixed(named, _) => {
            format!("\"{}\"", named.full)
        }
        Node::Unresolved(name) | Node::Pending(name) => format!("\"{name}\""),
        Node::Link(_) => "\"?\"".to_string(),
    }
}

/// A default value of this type, as JSON, when one is easy to give.
fn example_default(graph: &Graph, id: NodeId) -> Option<String> {
    match graph.node(id) {
        Node::Primitive(ty) => Some(
            match ty {
                Type::Null => "null",
                Type::Boolean => "false",
                Type::Int | Type::Long => "0",
                Type::Float | Type::Double => "0.0",
                _ => "\"\"",
            }
            .to_string(),
        ),
        Node::Array(_) => Some("[]".to_string()),
        Node::Map(_) => Some("{}".to_string()),
        Node::Enum(_, symbols, default) => default
            .as_ref()
            .or(symbols.first())
            .map(|symbol| format!("\"{symbol}\"")),
        Node::Union(branches) => branches.first().and_then(|b| example_default(graph, *b)),
        _ => None,
    }
}

/// Avro types a reader may declare to read `writer`: itself and what it promotes to.
fn readable_as(writer: Type) -> String {
    let structural = match writer {
        Type::Array => "an array whose items read the writer's items",
        Type::Map => "a map whose values read the writer's values",
        Type::Union => "a union with a branch for each of the writer's branches",
        Type::Record => "a record with the same name (or that name among its aliases)",
        Type::Enum => "an enum with the same name (or that name among its aliases)",
        Type::Fixed => "a fixed with the same name and size",
        _ => "",
    };
    if !structural.is_empty() {
        return structural.to_string();
    }
    let names: Vec<String> = std::iter::once(writer)
        .chain(
            Type::PRIMITIVES
                .into_iter()
                .filter(|r| writer.promotes_to(*r)),
        )
        .map(|t| format!("\"{}\"", t.avro()))
        .collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

fn java_type(graph: &Graph, id: NodeId) -> &'static str {
    graph.ty(id).map(Type::java).unwrap_or("UNRESOLVED")
}

pub(crate) fn type_mismatch(
    reader: &Graph,
    r: NodeId,
    writer: &Graph,
    w: NodeId,
    location: &[String],
) -> Texts {
    let fix = writer
        .ty(w)
        .map(readable_as)
        .unwrap_or_else(|| "the writer's type".into());
    let message = format!(
        "the reader has {} at {} where the writer has {}, and Avro cannot resolve one into the \
         other: make the reader's type {fix} (or a union with such a branch), or keep writing \
         what the reader reads",
        describe(reader, r),
        at(location),
        describe(writer, w),
    );
    let java = format!(
        "reader type: {} not compatible with writer type: {}",
        java_type(reader, r),
        java_type(writer, w)
    );
    (message, java)
}

pub(crate) fn unresolved(
    reader: &Graph,
    r: NodeId,
    writer: &Graph,
    w: NodeId,
    location: &[String],
) -> Texts {
    let side = match (reader.ty(r), writer.ty(w)) {
        (None, _) => format!("the reader refers to {}", describe(reader, r)),
        _ => format!("the writer refers to {}", describe(writer, w)),
    };
    let message = format!(
        "{side} at {}, which its schema does not define: define the type before using it (schema \
         references must be resolved before checking)",
        at(location)
    );
    (message, "undefined named type".to_string())
}

/// The reader union's branch of the same kind (and name) as the writer type, with the reasons
/// it cannot read it: computed by the checker, given to [`missing_branch`].
pub(crate) type NearBranch = Option<(usize, Vec<Incompatibility>)>;

pub(crate) fn missing_branch(
    reader: &Graph,
    r: NodeId,
    writer: &Graph,
    w: NodeId,
    location: &[String],
    near: NearBranch,
) -> Texts {
    let java = format!("reader union lacking writer type: {}", java_type(writer, w));
    let start = format!(
        "the reader's {} at {} has no branch that can read the writer's {}",
        describe(reader, r),
        at(location),
        describe(writer, w)
    );
    let message = match near {
        Some((index, reasons)) if !reasons.is_empty() => {
            let reasons: Vec<String> = reasons
                .iter()
                .take(3)
                .map(|reason| format!("{} {}", reason.kind, reason.message))
                .collect();
            format!(
                "{start}: its branch {index} is the closest but cannot read it ({}): fix that \
                 branch",
                reasons.join("; ")
            )
        }
        _ => format!(
            "{start}: add {} (or a type it promotes to) to the reader's union",
            type_json(writer, w)
        ),
    };
    (message, java)
}

/// Appended when Java's location ends with the index of a writer union's branch (the pointer
/// then names the writer's branch, not a place in the reader).
pub(crate) fn writer_branch_note(writer: &Graph, union: NodeId, index: usize) -> String {
    format!(
        " (the last step of the location, {index}, is the branch of the writer's union {} that \
         cannot be read: every branch of a writer union must be readable)",
        type_json(writer, union)
    )
}

pub(crate) fn missing_default(
    reader: &Graph,
    record: NodeId,
    position: usize,
    location: &[String],
) -> Texts {
    let (record_name, field) = match reader.node(record) {
        Node::Record(named, fields) => (named.full.clone(), fields.get(position)),
        _ => (String::new(), None),
    };
    let Some(field) = field else {
        return (
            format!("a reader field at {} has no default", at(location)),
            String::new(),
        );
    };
    let name = &field.name;
    let fix = match reader.node(field.ty) {
        Node::Union(branches) => {
            let first_is_null = branches
                .first()
                .is_some_and(|b| reader.ty(*b) == Some(Type::Null));
            let has_null = branches.iter().any(|b| reader.ty(*b) == Some(Type::Null));
            if first_is_null {
                "add \"default\": null".to_string()
            } else if has_null {
                let first = branches.first().map(|b| describe(reader, *b));
                format!(
                    "add a default of the union's first branch ({}), or put \"null\" first and \
                     add \"default\": null",
                    first.unwrap_or_default()
                )
            } else {
                match example_default(reader, field.ty) {
                    Some(example) => format!(
                        "add a default of the union's first branch, e.g. \"default\": {example}"
                    ),
                    None => "add a default of the union's first branch".to_string(),
                }
            }
        }
        _ => {
            let ty = type_json(reader, field.ty);
            let optional = format!("\"default\": null with type [\"null\", {ty}]");
            match example_default(reader, field.ty) {
                Some(example) => {
                    format!("add a default, e.g. {optional}, or \"default\": {example}")
                }
                None => format!("add a default, e.g. {optional}"),
            }
        }
    };
    let message = format!(
        "reader field '{name}' of record '{record_name}' ({}) has no default and the writer has \
         no such field: {fix} (or, if the writer has it under another name, list that name in \
         the field's \"aliases\")",
        at(location)
    );
    (message, name.clone())
}

pub(crate) fn ambiguous_field(
    field: &Field,
    writer_fields: &[String],
    location: &[String],
) -> Texts {
    let message = format!(
        "reader field '{}' ({}) matches several writer fields by its name and aliases ({}): keep \
         only aliases that match one writer field (Java's checker throws an error here)",
        field.name,
        at(location),
        writer_fields.join(", ")
    );
    let java = format!(
        "Reader record field {} matches multiple fields in writer record schema",
        field.name
    );
    (message, java)
}

pub(crate) fn missing_symbols(
    reader: &Graph,
    r: NodeId,
    writer: &Graph,
    w: NodeId,
    missing: &[String],
    location: &[String],
) -> Texts {
    let list = format!("[{}]", missing.join(", "));
    let message = format!(
        "the writer's {} has symbols the reader's {} ({}) lacks: {list}: add them to the reader's \
         \"symbols\", or give the reader enum a \"default\" symbol to read unknown symbols as",
        describe(writer, w),
        describe(reader, r),
        at(location)
    );
    (message, list)
}

pub(crate) fn fixed_size(
    reader: &Graph,
    r: NodeId,
    reader_size: usize,
    writer_size: usize,
    location: &[String],
) -> Texts {
    let name = reader
        .named(r)
        .map(|named| named.full.clone())
        .unwrap_or_default();
    let message = format!(
        "the reader's fixed '{name}' ({}) has size {reader_size} but the writer's has size \
         {writer_size}: fixed sizes must be equal: use \"size\": {writer_size} in the reader",
        at(location)
    );
    let java = format!("expected: {writer_size}, found: {reader_size}");
    (message, java)
}

pub(crate) fn name_mismatch(
    reader: &Graph,
    r: NodeId,
    writer_name: &Named,
    location: &[String],
) -> Texts {
    let kind = reader.ty(r).map(Type::avro).unwrap_or("type");
    let reader_name = reader.named(r).map(|n| n.full.clone()).unwrap_or_default();
    let message = format!(
        "the reader's {kind} '{reader_name}' ({}) does not match the writer's {kind} '{}': named \
         types match by name or alias: rename the reader's back to '{}', or add \"aliases\": \
         [\"{}\"] to it",
        at(location),
        writer_name.full,
        writer_name.name,
        writer_name.full
    );
    (message, format!("expected: {}", writer_name.full))
}
