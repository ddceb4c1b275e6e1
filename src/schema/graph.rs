//! apache-avro's [`Schema`] as a graph of Java Avro schema types.
//!
//! Java's checker looks at `Schema.getType()` only, so logical types collapse onto the type they
//! annotate (`timestamp-millis` → LONG, `decimal` → BYTES or FIXED, `uuid` → STRING or FIXED …).
//! A named type is one node however often it is referenced (Java compares schema objects by
//! identity for its recursion memo), which also makes recursive schemas finite graphs.

use std::collections::HashMap;

use apache_avro::schema::{Alias, FixedSchema, InnerDecimalSchema, Name, RecordSchema, UuidSchema};
use apache_avro::Schema;

pub(crate) type NodeId = usize;

pub(crate) use super::physical::Type;

/// A record, enum or fixed type's names.
#[derive(Debug, Clone)]
pub(crate) struct Named {
    /// `namespace.name` (just `name` without a namespace).
    pub(crate) full: String,
    /// The unqualified name (Java's `getName()`).
    pub(crate) name: String,
    /// Aliases as full names (an unqualified alias takes the type's namespace), like Java's
    /// `getAliases()`.
    pub(crate) aliases: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) aliases: Vec<String>,
    /// Whether the field declares a default (`"default": null` counts).
    pub(crate) has_default: bool,
    pub(crate) ty: NodeId,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Primitive(Type),
    Array(NodeId),
    Map(NodeId),
    Union(Vec<NodeId>),
    Record(Named, Vec<Field>),
    Enum(Named, Vec<String>, Option<String>),
    Fixed(Named, usize),
    /// A reference to a name the schema does not define.
    Unresolved(String),
    /// Stands for another node (a name reserved before its definition, resolved to an alias).
    Link(NodeId),
    /// Reserved by a reference seen before the definition; filled when the definition comes.
    Pending(String),
}

/// A schema as nodes; `root` is the top-level schema.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    nodes: Vec<Node>,
    pub(crate) root: NodeId,
}

impl Graph {
    pub(crate) fn from_schema(schema: &Schema) -> Graph {
        let mut builder = Builder::default();
        let root = builder.add(schema);
        builder.finish(root)
    }

    /// The node `id` stands for (links followed).
    pub(crate) fn resolve(&self, mut id: NodeId) -> NodeId {
        // Links never form cycles (they only point at defined nodes); the bound is a safeguard.
        for _ in 0..self.nodes.len() {
            match self.nodes.get(id) {
                Some(Node::Link(target)) => id = *target,
                _ => break,
            }
        }
        id
    }

    pub(crate) fn node(&self, id: NodeId) -> &Node {
        const MISSING: Node = Node::Primitive(Type::Null);
        self.nodes.get(self.resolve(id)).unwrap_or(&MISSING)
    }

    /// Java's `getType()`; `None` for an unresolved name.
    pub(crate) fn ty(&self, id: NodeId) -> Option<Type> {
        match self.node(id) {
            Node::Primitive(ty) => Some(*ty),
            Node::Array(_) => Some(Type::Array),
            Node::Map(_) => Some(Type::Map),
            Node::Union(_) => Some(Type::Union),
            Node::Record(..) => Some(Type::Record),
            Node::Enum(..) => Some(Type::Enum),
            Node::Fixed(..) => Some(Type::Fixed),
            Node::Unresolved(_) | Node::Link(_) | Node::Pending(_) => None,
        }
    }

    pub(crate) fn named(&self, id: NodeId) -> Option<&Named> {
        match self.node(id) {
            Node::Record(named, _) | Node::Enum(named, ..) | Node::Fixed(named, _) => Some(named),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    /// Full name → node, for definitions and references.
    names: HashMap<String, NodeId>,
    /// Alias full name → node: apache-avro lets a reference use an alias.
    aliases: HashMap<String, NodeId>,
}

fn full_name(name: &Name) -> String {
    name.fullname(None)
}

fn alias_names(aliases: Option<&Vec<Alias>>, namespace: Option<&str>) -> Vec<String> {
    aliases
        .map(|aliases| {
            aliases
                .iter()
                .map(|alias| alias.fully_qualified_name(namespace).fullname(None))
                .collect()
        })
        .unwrap_or_default()
}

impl Builder {
    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn add(&mut self, schema: &Schema) -> NodeId {
        match schema {
            Schema::Decimal(decimal) => match &decimal.inner {
                InnerDecimalSchema::Bytes => self.push(Node::Primitive(Type::Bytes)),
                InnerDecimalSchema::Fixed(fixed) => self.fixed(fixed),
            },
            Schema::Uuid(UuidSchema::Fixed(fixed)) => self.fixed(fixed),
            Schema::Duration(fixed) | Schema::Fixed(fixed) => self.fixed(fixed),
            Schema::Array(array) => {
                let id = self.push(Node::Primitive(Type::Null));
                let items = self.add(&array.items);
                self.nodes[id] = Node::Array(items);
                id
            }
            Schema::Map(map) => {
                let id = self.push(Node::Primitive(Type::Null));
                let values = self.add(&map.types);
                self.nodes[id] = Node::Map(values);
                id
            }
            Schema::Union(union) => {
                let id = self.push(Node::Primitive(Type::Null));
                let branches = union
                    .variants()
                    .iter()
                    .map(|branch| self.add(branch))
                    .collect();
                self.nodes[id] = Node::Union(branches);
                id
            }
            Schema::Record(record) => self.record(record),
            Schema::Enum(schema) => {
                let (id, fresh) = self.define(&schema.name, schema.aliases.as_ref());
                if fresh {
                    let named = self.named(&schema.name, schema.aliases.as_ref());
                    self.nodes[id] =
                        Node::Enum(named, schema.symbols.clone(), schema.default.clone());
                }
                id
            }
            Schema::Ref { name } => {
                let full = full_name(name);
                match self.names.get(&full) {
                    Some(id) => *id,
                    None => {
                        let id = self.push(Node::Pending(full.clone()));
                        self.names.insert(full, id);
                        id
                    }
                }
            }
            // Every other schema is a primitive (or a logical type on one): its physical type.
            primitive => self.push(Node::Primitive(Type::of(primitive).unwrap_or(Type::Null))),
        }
    }

    fn named(&self, name: &Name, aliases: Option<&Vec<Alias>>) -> Named {
        Named {
            full: full_name(name),
            name: name.name().to_string(),
            aliases: alias_names(aliases, name.namespace()),
        }
    }

    /// The node for a definition of `name`, and whether this definition should fill it (false
    /// when the name was already defined: a denormalized schema repeats definitions).
    fn define(&mut self, name: &Name, aliases: Option<&Vec<Alias>>) -> (NodeId, bool) {
        let full = full_name(name);
        let (id, fresh) = match self.names.get(&full) {
            Some(id) => (*id, matches!(self.nodes.get(*id), Some(Node::Pending(_)))),
            None => {
                let id = self.push(Node::Pending(full.clone()));
                self.names.insert(full, id);
                (id, true)
            }
        };
        if fresh {
            for alias in alias_names(aliases, name.namespace()) {
                self.aliases.entry(alias).or_insert(id);
            }
        }
        (id, fresh)
    }

    fn fixed(&mut self, fixed: &FixedSchema) -> NodeId {
        let (id, fresh) = self.define(&fixed.name, fixed.aliases.as_ref());
        if fresh {
            let named = self.named(&fixed.name, fixed.aliases.as_ref());
            self.nodes[id] = Node::Fixed(named, fixed.size);
        }
        id
    }

    fn record(&mut self, record: &RecordSchema) -> NodeId {
        let (id, fresh) = self.define(&record.name, record.aliases.as_ref());
        if !fresh {
            return id;
        }
        let named = self.named(&record.name, record.aliases.as_ref());
        // Mark as defined before the fields, so a recursive reference finds this node.
        self.nodes[id] = Node::Record(named.clone(), Vec::new());
        let fields = record
            .fields
            .iter()
            .map(|field| Field {
                name: field.name.clone(),
                aliases: field.aliases.clone(),
                has_default: field.default.is_some(),
                ty: self.add(&field.schema),
            })
            .collect();
        self.nodes[id] = Node::Record(named, fields);
        id
    }

    fn finish(mut self, root: NodeId) -> Graph {
        for index in 0..self.nodes.len() {
            if let Node::Pending(full) = &self.nodes[index] {
                self.nodes[index] = match self.aliases.get(full) {
                    Some(target) if *target != index => Node::Link(*target),
                    _ => Node::Unresolved(full.clone()),
                };
            }
        }
        Graph {
            nodes: self.nodes,
            root,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{check, IncompatibilityKind};

    #[test]
    fn a_reference_to_an_undefined_name_is_reported_not_guessed() {
        let address = r#"{"type":"record","name":"Address","namespace":"ns","fields":[{"name":"city","type":"string"}]}"#;
        let user = r#"{"type":"record","name":"User","namespace":"ns","fields":[{"name":"home","type":"ns.Address"}]}"#;
        let parsed = Schema::parse_str_with_list(user, [address]);
        let Ok((unresolved, _)) = parsed else {
            panic!("parses with its reference: {parsed:?}");
        };
        let graph = Graph::from_schema(&unresolved);
        assert!(matches!(graph.node(graph.root), Node::Record(..)));
        let found = check(&unresolved, &unresolved);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, IncompatibilityKind::UnresolvedName);
        assert_eq!(found[0].location, "/fields/0/type");
        assert!(found[0].message.contains("ns.Address"), "{found:?}");
    }

    #[test]
    fn logical_types_collapse_onto_their_base_types() {
        let schema = Schema::parse_str(
            r#"{"type":"record","name":"R","fields":[
                {"name":"t","type":{"type":"long","logicalType":"timestamp-micros"}},
                {"name":"d","type":{"type":"int","logicalType":"date"}},
                {"name":"u","type":{"type":"string","logicalType":"uuid"}},
                {"name":"m","type":{"type":"fixed","name":"M","size":16,"logicalType":"decimal","precision":4}}]}"#,
        );
        let Ok(schema) = schema else {
            panic!("parses: {schema:?}");
        };
        let graph = Graph::from_schema(&schema);
        let Node::Record(_, fields) = graph.node(graph.root) else {
            panic!("a record");
        };
        let types: Vec<Option<Type>> = fields.iter().map(|f| graph.ty(f.ty)).collect();
        assert_eq!(
            types,
            [
                Some(Type::Long),
                Some(Type::Int),
                Some(Type::String),
                Some(Type::Fixed)
            ]
        );
    }
}
