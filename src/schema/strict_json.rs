//! The structural half of [`super::parse_strict`]: a walk over the schema's JSON that checks what
//! Java's `Schema.Parser` checks (names, namespaces, duplicate definitions, unknown type names,
//! duplicate fields and symbols, nested or duplicate union branches, required attributes) and
//! collects the named types and field defaults for the default check.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};

/// One problem in a schema: where (a JSON pointer into it) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub location: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

pub(crate) const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// A named type's definition.
pub(crate) struct Definition<'a> {
    pub(crate) value: &'a Map<String, Value>,
    /// The namespace its own fields and nested types inherit.
    pub(crate) space: Option<String>,
    pub(crate) location: String,
}

/// A field default to validate against the field's type.
pub(crate) struct DefaultToCheck<'a> {
    pub(crate) field: String,
    pub(crate) ty: &'a Value,
    pub(crate) space: Option<String>,
    pub(crate) default: &'a Value,
    pub(crate) location: String,
}

struct Reference {
    name: String,
    space: Option<String>,
    location: String,
    /// Whether the name was defined when the reference was read (document order).
    defined_before: bool,
}

#[derive(Default)]
pub(crate) struct Walk<'a> {
    pub(crate) problems: Vec<Problem>,
    pub(crate) defined: HashMap<String, Definition<'a>>,
    pub(crate) defaults: Vec<DefaultToCheck<'a>>,
    references: Vec<Reference>,
}

/// JSON pointer `base/token` (token escaped).
pub(crate) fn child(base: &str, token: &str) -> String {
    format!("{base}/{}", token.replace('~', "~0").replace('/', "~1"))
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn location_or_root(location: &str) -> String {
    if location.is_empty() {
        "/".to_string()
    } else {
        location.to_string()
    }
}

/// Java's `Name(name, space)`: a dotted name carries its own namespace.
pub(crate) fn qualify(name: &str, space: Option<&str>) -> (String, Option<String>) {
    match name.rfind('.') {
        Some(dot) => {
            let space = &name[..dot];
            (
                name.to_string(),
                (!space.is_empty()).then(|| space.to_string()),
            )
        }
        None => match space.filter(|space| !space.is_empty()) {
            Some(space) => (format!("{space}.{name}"), Some(space.to_string())),
            None => (name.to_string(), None),
        },
    }
}

/// A named type's full name and namespace, from its `name` and `namespace` attributes.
pub(crate) fn type_name(
    object: &Map<String, Value>,
    enclosing: Option<&str>,
) -> Option<(String, Option<String>)> {
    let name = object.get("name")?.as_str()?;
    let space = match object.get("namespace") {
        Some(Value::String(space)) => Some(space.as_str()),
        _ => enclosing,
    };
    Some(qualify(name, space))
}

impl<'a> Walk<'a> {
    fn problem(&mut self, location: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            location: location_or_root(location),
            message: message.into(),
        });
    }

    /// Walks the whole document, then resolves the references.
    pub(crate) fn run(root: &'a Value) -> Walk<'a> {
        let mut walk = Walk::default();
        walk.schema(root, None, "");
        let references = std::mem::take(&mut walk.references);
        for reference in references {
            let found = walk
                .resolve(&reference.name, reference.space.as_deref())
                .map(|definition| definition.location.clone());
            match found {
                None => walk.problem(
                    &reference.location,
                    format!(
                        "unknown type {:?}: it is neither a primitive type nor a named type \
                         defined in this schema (define it, check its spelling and namespace)",
                        reference.name
                    ),
                ),
                Some(definition) if !reference.defined_before => walk.problem(
                    &reference.location,
                    format!(
                        "type {:?} is used before its definition at {definition}: move the \
                         definition to this first use and refer to it by name afterwards \
                         (Avro parsers read a schema in order)",
                        reference.name
                    ),
                ),
                Some(_) => {}
            }
        }
        walk
    }

    /// Java's `Names.get`: the name in the enclosing namespace, else in the null namespace.
    pub(crate) fn resolve(&self, name: &str, space: Option<&str>) -> Option<&Definition<'a>> {
        let (full, _) = qualify(name, space);
        self.defined.get(&full).or_else(|| self.defined.get(name))
    }

    fn schema(&mut self, value: &'a Value, space: Option<&str>, at: &str) {
        match value {
            Value::String(name) => {
                if !PRIMITIVES.contains(&name.as_str()) {
                    let defined_before = self.resolve(name, space).is_some();
                    self.references.push(Reference {
                        name: name.clone(),
                        space: space.map(str::to_string),
                        location: location_or_root(at),
                        defined_before,
                    });
                }
            }
            Value::Array(branches) => self.union(branches, space, at),
            Value::Object(object) => self.complex(object, space, at),
            other => self.problem(
                at,
                format!(
                    "{other} is not a schema: expected a type name, an object or a union array"
                ),
            ),
        }
    }

    /// The key Java uses to reject duplicate union branches.
    fn branch_key(value: &Value, space: Option<&str>) -> Option<String> {
        match value {
            Value::String(name) if PRIMITIVES.contains(&name.as_str()) => Some(name.clone()),
            Value::String(name) => Some(qualify(name, space).0),
            Value::Object(object) => match object.get("type") {
                Some(Value::String(ty))
                    if matches!(ty.as_str(), "record" | "error" | "enum" | "fixed") =>
                {
                    type_name(object, space).map(|(full, _)| full)
                }
                Some(Value::String(ty)) => Some(ty.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    fn union(&mut self, branches: &'a [Value], space: Option<&str>, at: &str) {
        let mut seen: Vec<String> = Vec::new();
        for (index, branch) in branches.iter().enumerate() {
            let here = child(at, &index.to_string());
            if branch.is_array() {
                self.problem(
                    &here,
                    "a union may not contain a union directly (nested union)",
                );
                continue;
            }
            if let Some(key) = Self::branch_key(branch, space) {
                if seen.contains(&key) {
                    self.problem(
                        &here,
                        format!("duplicate {key:?} in union: a union may hold each type (or name) only once"),
                    );
                }
                seen.push(key);
            }
            self.schema(branch, space, &here);
        }
    }

    fn complex(&mut self, object: &'a Map<String, Value>, space: Option<&str>, at: &str) {
        let Some(ty_value) = object.get("type") else {
            self.problem(at, "missing \"type\"");
            return;
        };
        let ty = match ty_value {
            Value::String(ty) => ty.as_str(),
            nested @ (Value::Object(_) | Value::Array(_)) => {
                return self.schema(nested, space, &child(at, "type"));
            }
            other => {
                return self.problem(
                    &child(at, "type"),
                    format!("\"type\" must be a string, not {other}"),
                );
            }
        };
        match ty {
            "record" | "error" | "enum" | "fixed" => self.named(ty, object, space, at),
            "array" => self.required(object, "items", space, at),
            "map" => self.required(object, "values", space, at),
            _ if PRIMITIVES.contains(&ty) => {}
            _ => self.schema(ty_value, space, &child(at, "type")),
        }
    }

    fn required(
        &mut self,
        object: &'a Map<String, Value>,
        key: &str,
        space: Option<&str>,
        at: &str,
    ) {
        match object.get(key) {
            Some(inner) => self.schema(inner, space, &child(at, key)),
            None => self.problem(at, format!("missing {key:?}")),
        }
    }

    fn named(
        &mut self,
        ty: &str,
        object: &'a Map<String, Value>,
        enclosing: Option<&str>,
        at: &str,
    ) {
        let Some(name) = object.get("name").and_then(Value::as_str) else {
            return self.problem(at, format!("a {ty} needs a \"name\" (a string)"));
        };
        if let Some(namespace) = object.get("namespace") {
            if !namespace.is_string() && !namespace.is_null() {
                self.problem(&child(at, "namespace"), "\"namespace\" must be a string");
            }
        }
        let Some((full, space)) = type_name(object, enclosing) else {
            return;
        };
        let simple = full.rsplit('.').next().unwrap_or(&full);
        if !valid_name(simple) {
            self.problem(
                &child(at, "name"),
                format!("invalid name {name:?}: names start with a letter or '_' and contain only letters, digits and '_'"),
            );
        } else if space.is_none() && PRIMITIVES.contains(&simple) {
            self.problem(
                &child(at, "name"),
                format!("a named type may not be called {simple:?} (a primitive type)"),
            );
        }
        if let Some(space) = &space {
            if !space.split('.').all(valid_name) {
                self.problem(
                    at,
                    format!(
                        "invalid namespace {space:?}: each dot-separated part must be a valid name"
                    ),
                );
            }
        }
        self.aliases(object, at);
        if let Some(first) = self.defined.get(&full) {
            let first = first.location.clone();
            self.problem(
                at,
                format!("type {full:?} is defined twice (first at {first}): define it once and refer to it by name"),
            );
        } else {
            self.defined.insert(
                full,
                Definition {
                    value: object,
                    space: space.clone(),
                    location: location_or_root(at),
                },
            );
        }
        match ty {
            "enum" => self.symbols(object, at),
            "fixed" => {
                if object
                    .get("size")
                    .and_then(Value::as_u64)
                    .is_none_or(|size| size > i32::MAX as u64)
                {
                    self.problem(at, "a fixed needs a \"size\": a non-negative integer");
                }
            }
            _ => self.fields(object, space.as_deref(), at),
        }
    }

    fn aliases(&mut self, object: &Map<String, Value>, at: &str) {
        let Some(aliases) = object.get("aliases") else {
            return;
        };
        let valid = aliases.as_array().is_some_and(|aliases| {
            aliases.iter().all(|alias| {
                alias
                    .as_str()
                    .is_some_and(|alias| alias.split('.').all(valid_name))
            })
        });
        if !valid {
            self.problem(
                &child(at, "aliases"),
                "\"aliases\" must be an array of valid names",
            );
        }
    }

    fn symbols(&mut self, object: &Map<String, Value>, at: &str) {
        let Some(symbols) = object.get("symbols").and_then(Value::as_array) else {
            return self.problem(at, "an enum needs \"symbols\": an array of names");
        };
        let mut seen: Vec<&str> = Vec::new();
        for (index, symbol) in symbols.iter().enumerate() {
            let here = child(&child(at, "symbols"), &index.to_string());
            match symbol.as_str() {
                Some(symbol) if !valid_name(symbol) => {
                    self.problem(&here, format!("invalid enum symbol {symbol:?}"))
                }
                Some(symbol) if seen.contains(&symbol) => {
                    self.problem(&here, format!("duplicate enum symbol {symbol:?}"))
                }
                Some(symbol) => seen.push(symbol),
                None => self.problem(&here, "enum symbols must be strings"),
            }
        }
        match object.get("default") {
            None => {}
            Some(Value::String(default)) if seen.contains(&default.as_str()) => {}
            Some(default) => self.problem(
                &child(at, "default"),
                format!("enum default {default} is not one of the enum's symbols {seen:?}"),
            ),
        }
    }

    fn fields(&mut self, object: &'a Map<String, Value>, space: Option<&str>, at: &str) {
        let Some(fields) = object.get("fields").and_then(Value::as_array) else {
            return self.problem(at, "a record needs \"fields\": an array");
        };
        let mut seen: Vec<&str> = Vec::new();
        for (index, field) in fields.iter().enumerate() {
            let here = child(&child(at, "fields"), &index.to_string());
            let Some(field) = field.as_object() else {
                self.problem(&here, "a field must be an object");
                continue;
            };
            let name = match field.get("name").and_then(Value::as_str) {
                Some(name) if !valid_name(name) => {
                    self.problem(
                        &child(&here, "name"),
                        format!("invalid field name {name:?}"),
                    );
                    name
                }
                Some(name) if seen.contains(&name) => {
                    self.problem(&child(&here, "name"), format!("duplicate field {name:?}"));
                    name
                }
                Some(name) => {
                    seen.push(name);
                    name
                }
                None => {
                    self.problem(&here, "a field needs a \"name\" (a string)");
                    ""
                }
            };
            if let Some(order) = field.get("order") {
                if !matches!(order.as_str(), Some("ascending" | "descending" | "ignore")) {
                    self.problem(
                        &child(&here, "order"),
                        "\"order\" must be ascending, descending or ignore",
                    );
                }
            }
            let Some(ty) = field.get("type") else {
                self.problem(&here, format!("field {name:?} has no \"type\""));
                continue;
            };
            self.schema(ty, space, &child(&here, "type"));
            if let Some(default) = field.get("default") {
                self.defaults.push(DefaultToCheck {
                    field: name.to_string(),
                    ty,
                    space: space.map(str::to_string),
                    default,
                    location: child(&here, "default"),
                });
            }
        }
    }
}
