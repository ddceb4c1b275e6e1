//! Schema resolution done by eosflow: a datum decoded with its writer schema alone, projected onto
//! the reader schema by the Avro specification's resolution rules (what Java's resolving decoder
//! does).
//!
//! apache-avro 0.22 resolves too, but (GROUND.md) it ignores reader field aliases and cannot
//! read a writer logical type into the reader's plain type (`timestamp-millis` → `long`). Here:
//! * reader record fields are found in the writer by name, then by the reader field's aliases;
//!   a field the writer lacks takes the reader's default; writer fields the reader lacks are
//!   dropped;
//! * logical types are ignored, as Java ignores them: values come out as their physical type
//!   (`timestamp-millis` → long, `date` → int, `uuid` → string, `decimal` → bytes or fixed);
//! * promotions `int → long/float/double`, `long → float/double`, `float → double`,
//!   `string ↔ bytes`;
//! * a writer union reads its written branch; a reader union takes its first branch of the same
//!   type (same name for named types), else the first one a promotion reaches;
//! * enums by symbol (the reader's default for a symbol it lacks), fixed of equal size, arrays
//!   and maps element by element, named references followed.
//!
//! Whether the two schemas are compatible at all is decided up front by `crate::schema::check`;
//! this module only moves data and says where it could not.

use apache_avro::schema::{InnerDecimalSchema, Name, RecordSchema, UuidSchema};
use apache_avro::types::Value;
use apache_avro::Schema;
use serde_json::Value as Json;

use crate::schema::{fixed_size, Type as T};

/// Why a datum could not be projected: where in the reader (field path) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {path}: {detail}")]
pub struct ProjectError {
    /// Reader field names from the root, e.g. `/address/city`; `/` is the root.
    pub path: String,
    pub detail: String,
}

/// `value`, decoded with `writer`, as a datum of `reader` (physical values, logical types
/// dropped; a reader union's value is `Value::Union(branch, ..)`).
pub fn project(writer: &Schema, reader: &Schema, value: Value) -> Result<Value, ProjectError> {
    let projector = Projector { writer, reader };
    let mut path = Vec::new();
    projector
        .go(writer, reader, value, &mut path)
        .map_err(|detail| ProjectError {
            path: format!("/{}", path.join("/")),
            detail,
        })
}

/// The physical type of a schema (`None`: a named reference not followed yet).
pub(crate) fn kind(schema: &Schema) -> Option<T> {
    T::of(schema)
}

/// A physical type for messages.
fn shown(kind: Option<T>) -> &'static str {
    kind.map_or("unresolved reference", T::avro)
}

/// The name and aliases of a named type (record, enum, fixed and the logical types on fixed).
fn named(schema: &Schema) -> Option<(&Name, Vec<String>)> {
    let aliases = |a: &Option<Vec<apache_avro::schema::Alias>>| {
        a.iter().flatten().map(|a| a.fullname(None)).collect()
    };
    match schema {
        Schema::Record(r) => Some((&r.name, aliases(&r.aliases))),
        Schema::Enum(e) => Some((&e.name, aliases(&e.aliases))),
        Schema::Fixed(f) | Schema::Uuid(UuidSchema::Fixed(f)) | Schema::Duration(f) => {
            Some((&f.name, aliases(&f.aliases)))
        }
        Schema::Decimal(d) => match &d.inner {
            InnerDecimalSchema::Fixed(f) => Some((&f.name, aliases(&f.aliases))),
            InnerDecimalSchema::Bytes => None,
        },
        _ => None,
    }
}

/// Java's name rule: equal unqualified names, or a reader alias naming the writer's full name.
fn names_match(writer: &Schema, reader: &Schema) -> bool {
    match (named(writer), named(reader)) {
        (Some((w, _)), Some((r, aliases))) => {
            w.name() == r.name() || aliases.contains(&w.fullname(None))
        }
        _ => true,
    }
}

/// The definition of a named type somewhere inside `root`.
fn find_named<'s>(root: &'s Schema, name: &Name) -> Option<&'s Schema> {
    let wanted = name.fullname(None);
    if named(root).is_some_and(|(n, _)| n.fullname(None) == wanted) {
        return Some(root);
    }
    match root {
        Schema::Record(r) => r.fields.iter().find_map(|f| find_named(&f.schema, name)),
        Schema::Array(a) => find_named(&a.items, name),
        Schema::Map(m) => find_named(&m.types, name),
        Schema::Union(u) => u.variants().iter().find_map(|v| find_named(v, name)),
        _ => None,
    }
}

/// Whether a promotion reads writer type `w` as reader type `r`.
fn promotes(w: Option<T>, r: Option<T>) -> bool {
    matches!((w, r), (Some(w), Some(r)) if w.promotes_to(r))
}

/// A decoded logical value as its physical value of writer kind `k`.
fn physical(value: Value, k: Option<T>, size: Option<usize>) -> Result<Value, String> {
    Ok(match value {
        Value::Date(v) | Value::TimeMillis(v) => Value::Int(v),
        Value::TimeMicros(v)
        | Value::TimestampMillis(v)
        | Value::TimestampMicros(v)
        | Value::TimestampNanos(v)
        | Value::LocalTimestampMillis(v)
        | Value::LocalTimestampMicros(v)
        | Value::LocalTimestampNanos(v) => Value::Long(v),
        Value::Uuid(u) => match k {
            Some(T::String) => Value::String(u.to_string()),
            Some(T::Fixed) => Value::Fixed(16, u.as_bytes().to_vec()),
            _ => Value::Bytes(u.as_bytes().to_vec()),
        },
        Value::Decimal(d) => {
            let bytes = Vec::<u8>::try_from(&d).map_err(|e| format!("decimal: {e}"))?;
            match (k, size) {
                (Some(T::Fixed), Some(n)) => Value::Fixed(n, bytes),
                _ => Value::Bytes(bytes),
            }
        }
        Value::Duration(d) => Value::Fixed(12, <[u8; 12]>::from(d).to_vec()),
        Value::BigDecimal(_) => {
            return Err("big-decimal values cannot be projected (unsupported)".into())
        }
        other => other,
    })
}

struct Projector<'w, 'r> {
    writer: &'w Schema,
    reader: &'r Schema,
}

impl<'w, 'r> Projector<'w, 'r> {
    fn deref_w(&self, s: &'w Schema) -> Result<&'w Schema, String> {
        match s {
            Schema::Ref { name } => find_named(self.writer, name)
                .ok_or_else(|| format!("writer type {} is not defined", name.fullname(None))),
            other => Ok(other),
        }
    }

    fn deref_r(&self, s: &'r Schema) -> Result<&'r Schema, String> {
        match s {
            Schema::Ref { name } => find_named(self.reader, name)
                .ok_or_else(|| format!("reader type {} is not defined", name.fullname(None))),
            other => Ok(other),
        }
    }

    fn go(
        &self,
        w: &'w Schema,
        r: &'r Schema,
        value: Value,
        path: &mut Vec<&'r str>,
    ) -> Result<Value, String> {
        let (w, r) = (self.deref_w(w)?, self.deref_r(r)?);
        if let Schema::Union(union) = w {
            let Value::Union(i, inner) = value else {
                return Err(format!("writer union value without a branch: {value:?}"));
            };
            let branch = union
                .variants()
                .get(i as usize)
                .ok_or_else(|| format!("writer union has no branch {i}"))?;
            return self.go(branch, r, *inner, path);
        }
        if let Schema::Union(union) = r {
            let (j, branch) = self.pick_branch(w, union.variants())?;
            let inner = self.go(w, branch, value, path)?;
            return Ok(Value::Union(j as u32, Box::new(inner)));
        }
        let (wk, rk) = (kind(w), kind(r));
        let value = physical(value, wk, fixed_size(w))?;
        let mismatch = |v: &Value| {
            format!(
                "cannot read the writer's {} ({v:?}) as {}",
                shown(wk),
                shown(rk)
            )
        };
        Ok(match (wk, rk, value) {
            (Some(T::Record), Some(T::Record), Value::Record(fields)) => {
                let (Schema::Record(ws), Schema::Record(rs)) = (w, r) else {
                    return Err("record kinds without record schemas".into());
                };
                Value::Record(self.record(ws, rs, fields, path)?)
            }
            (Some(T::Enum), Some(T::Enum), Value::Enum(_, symbol)) => {
                let Schema::Enum(e) = r else {
                    return Err("enum kind without an enum schema".into());
                };
                let symbol = match e.symbols.contains(&symbol) {
                    true => symbol,
                    false => e.default.clone().ok_or_else(|| {
                        format!("symbol {symbol:?} is not in the reader enum, which has no default")
                    })?,
                };
                let i = e.symbols.iter().position(|s| *s == symbol).unwrap_or(0);
                Value::Enum(i as u32, symbol)
            }
            (Some(T::Fixed), Some(T::Fixed), Value::Fixed(n, bytes)) => match fixed_size(r) {
                Some(size) if size == n => Value::Fixed(n, bytes),
                other => return Err(format!("fixed of {n} bytes read as fixed of {other:?}")),
            },
            (Some(T::Array), Some(T::Array), Value::Array(items)) => {
                let (Schema::Array(wa), Schema::Array(ra)) = (w, r) else {
                    return Err("array kinds without array schemas".into());
                };
                let items: Result<Vec<_>, _> = items
                    .into_iter()
                    .map(|v| self.go(&wa.items, &ra.items, v, path))
                    .collect();
                Value::Array(items?)
            }
            (Some(T::Map), Some(T::Map), Value::Map(entries)) => {
                let (Schema::Map(wm), Schema::Map(rm)) = (w, r) else {
                    return Err("map kinds without map schemas".into());
                };
                let entries: Result<_, String> = entries
                    .into_iter()
                    .map(|(k, v)| Ok((k, self.go(&wm.types, &rm.types, v, path)?)))
                    .collect();
                Value::Map(entries?)
            }
            (Some(T::Int), Some(T::Long), Value::Int(v)) => Value::Long(v.into()),
            (Some(T::Int), Some(T::Float), Value::Int(v)) => Value::Float(v as f32),
            (Some(T::Int), Some(T::Double), Value::Int(v)) => Value::Double(v.into()),
            (Some(T::Long), Some(T::Float), Value::Long(v)) => Value::Float(v as f32),
            (Some(T::Long), Some(T::Double), Value::Long(v)) => Value::Double(v as f64),
            (Some(T::Float), Some(T::Double), Value::Float(v)) => Value::Double(v.into()),
            (Some(T::String), Some(T::Bytes), Value::String(s)) => Value::Bytes(s.into_bytes()),
            (Some(T::Bytes), Some(T::String), Value::Bytes(b)) => Value::String(
                String::from_utf8(b).map_err(|e| format!("bytes read as a string: {e}"))?,
            ),
            (_, _, v) if wk == rk && wk.is_some_and(T::is_primitive) => v,
            (_, _, v) => return Err(mismatch(&v)),
        })
    }

    /// The reader union branch that reads writer type `w`: the first of the same type (and name),
    /// else the first a promotion reaches.
    fn pick_branch(
        &self,
        w: &'w Schema,
        branches: &'r [Schema],
    ) -> Result<(usize, &'r Schema), String> {
        let wk = kind(w);
        let resolved: Vec<&'r Schema> = branches
            .iter()
            .map(|b| self.deref_r(b))
            .collect::<Result<_, _>>()?;
        let same = |b: &&Schema| kind(b) == wk && names_match(w, b);
        if let Some(j) = resolved.iter().position(same) {
            return Ok((j, resolved[j]));
        }
        if let Some(j) = resolved.iter().position(|b| promotes(wk, kind(b))) {
            return Ok((j, resolved[j]));
        }
        Err(format!(
            "no branch of the reader union reads the writer's {}",
            shown(wk)
        ))
    }

    fn record(
        &self,
        ws: &'w RecordSchema,
        rs: &'r RecordSchema,
        values: Vec<(String, Value)>,
        path: &mut Vec<&'r str>,
    ) -> Result<Vec<(String, Value)>, String> {
        if values.len() != ws.fields.len() {
            return Err(format!(
                "record has {} values for {} writer fields",
                values.len(),
                ws.fields.len()
            ));
        }
        let mut values: Vec<Option<Value>> = values.into_iter().map(|(_, v)| Some(v)).collect();
        let mut out = Vec::with_capacity(rs.fields.len());
        for rf in &rs.fields {
            path.push(&rf.name);
            let by_name = ws.fields.iter().position(|wf| wf.name == rf.name);
            let found = by_name.or_else(|| {
                ws.fields
                    .iter()
                    .position(|wf| rf.aliases.contains(&wf.name))
            });
            let value = match found.and_then(|i| Some((i, values[i].take()?))) {
                Some((i, v)) => self.go(&ws.fields[i].schema, &rf.schema, v, path)?,
                None => match &rf.default {
                    Some(json) => self
                        .default(&rf.schema, json)
                        .map_err(|e| format!("default: {e}"))?,
                    None => {
                        return Err(format!(
                            "the writer has no field {:?} (nor one named by its aliases {:?}) and \
                             the reader field has no default",
                            rf.name, rf.aliases
                        ))
                    }
                },
            };
            path.pop();
            out.push((rf.name.clone(), value));
        }
        Ok(out)
    }

    /// A JSON default as a datum of reader type `r`.
    fn default(&self, r: &'r Schema, json: &Json) -> Result<Value, String> {
        let r = self.deref_r(r)?;
        let bad = || format!("default {json} does not match {}", shown(kind(r)));
        let latin1 = |s: &str| -> Result<Vec<u8>, String> {
            s.chars()
                .map(|c| u8::try_from(u32::from(c)).map_err(|_| bad()))
                .collect()
        };
        Ok(match (r, kind(r), json) {
            (Schema::Union(u), _, _) => {
                let first = u.variants().first().ok_or("empty union")?;
                Value::Union(0, Box::new(self.default(first, json)?))
            }
            (_, Some(T::Null), Json::Null) => Value::Null,
            (_, Some(T::Boolean), Json::Bool(b)) => Value::Boolean(*b),
            (_, Some(T::Int), Json::Number(n)) => Value::Int(
                n.as_i64()
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or_else(bad)?,
            ),
            (_, Some(T::Long), Json::Number(n)) => Value::Long(n.as_i64().ok_or_else(bad)?),
            (_, Some(T::Float), Json::Number(n)) => {
                Value::Float(n.as_f64().ok_or_else(bad)? as f32)
            }
            (_, Some(T::Double), Json::Number(n)) => Value::Double(n.as_f64().ok_or_else(bad)?),
            (_, Some(T::String), Json::String(s)) => Value::String(s.clone()),
            (_, Some(T::Bytes), Json::String(s)) => Value::Bytes(latin1(s)?),
            (_, Some(T::Fixed), Json::String(s)) => {
                let bytes = latin1(s)?;
                if Some(bytes.len()) != fixed_size(r) {
                    return Err(bad());
                }
                Value::Fixed(bytes.len(), bytes)
            }
            (Schema::Enum(e), _, Json::String(s)) => {
                let i = e.symbols.iter().position(|x| x == s).ok_or_else(bad)?;
                Value::Enum(i as u32, s.clone())
            }
            (Schema::Array(a), _, Json::Array(items)) => Value::Array(
                items
                    .iter()
                    .map(|v| self.default(&a.items, v))
                    .collect::<Result<_, _>>()?,
            ),
            (Schema::Map(m), _, Json::Object(entries)) => Value::Map(
                entries
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), self.default(&m.types, v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            (Schema::Record(rs), _, Json::Object(given)) => Value::Record(
                rs.fields
                    .iter()
                    .map(|f| {
                        let json = given.get(&f.name).or(f.default.as_ref()).ok_or_else(bad)?;
                        Ok((f.name.clone(), self.default(&f.schema, json)?))
                    })
                    .collect::<Result<_, String>>()?,
            ),
            _ => return Err(bad()),
        })
    }
}

#[cfg(test)]
mod tests;
