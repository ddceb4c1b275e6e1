//! A guard run before apache-avro decodes a record body: how deep would the datum nest?
//!
//! apache-avro 0.22 decodes recursively, with no depth limit. A writer schema with a recursive
//! type (a record holding a `["null", "Self"]` field, say) lets a small body nest its values as
//! deep as its bytes allow, and a few hundred levels already overflow a 2 MiB thread stack; a
//! record type that holds itself without a union (`{"name": "next", "type": "Self"}`) recurses
//! without consuming a byte. A stack overflow aborts the whole processor, so such a record would
//! stop the pipeline on every restart instead of becoming a dead letter (found by fuzzing).
//!
//! [`check_nesting`] walks the body with the writer schema iteratively (an explicit stack, no
//! recursion), following apache-avro's decoding byte for byte, including its end-of-input quirks
//! (a union, boolean or string cut short decodes as null). It refuses a datum nested deeper than
//! [`MAX_DEPTH`] or holding far more values than its bytes could (empty records and nulls in huge
//! arrays). Where apache-avro would fail anyway the walk stops with no verdict and apache-avro
//! gives the error.

use std::cell::OnceCell;

use apache_avro::schema::{Name, NamesRef, ResolvedSchema, UnionSchema};
use apache_avro::Schema;

use crate::schema::{fixed_size, Type};

/// Records, arrays, maps and unions nested deeper than this are refused. User records nest 2.
pub const MAX_DEPTH: usize = 32;

/// Why a body is refused before decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NestingError {
    #[error("values nest deeper than {MAX_DEPTH} levels (a recursive writer schema)")]
    TooDeep,
    #[error("the body holds more than {0} values, more than its bytes can encode")]
    TooManyValues(usize),
}

enum Task<'s> {
    /// One value of a schema, at a depth, in an enclosing namespace.
    Value(&'s Schema, usize, Option<&'s str>),
    /// The rest of an array or map block: `left` items of `items` (maps: each after a key).
    Items {
        items: &'s Schema,
        map: bool,
        left: u64,
        depth: usize,
        space: Option<&'s str>,
    },
}

/// What the next read found.
enum Read<T> {
    Got(T),
    /// The input ended.
    End,
    /// apache-avro fails here (overflowing varint, negative length): nothing deeper follows.
    Fail,
}

struct Body<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl Body<'_> {
    fn varint(&mut self) -> Read<i64> {
        let mut z = 0u64;
        for shift in 0..10 {
            let Some(&byte) = self.bytes.get(self.at) else {
                return Read::End;
            };
            self.at += 1;
            z |= u64::from(byte & 0x7f) << (shift * 7);
            if byte & 0x80 == 0 {
                let n = (z >> 1) as i64;
                return Read::Got(if z & 1 == 0 { n } else { !n });
            }
        }
        Read::Fail
    }

    /// Skips `n` bytes; false when fewer are left (the rest is skipped).
    fn skip(&mut self, n: u64) -> bool {
        let left = (self.bytes.len() - self.at) as u64;
        if n > left {
            self.at = self.bytes.len();
            return false;
        }
        self.at += n as usize;
        true
    }

    /// A length-prefixed value (bytes, string): `Got(false)` when it was cut short.
    fn sized(&mut self) -> Read<bool> {
        match self.varint() {
            Read::Got(len) if len >= 0 => Read::Got(self.skip(len as u64)),
            Read::Got(_) | Read::Fail => Read::Fail,
            Read::End => Read::End,
        }
    }
}

/// Ok unless decoding `body` with `writer` would nest deeper than [`MAX_DEPTH`] or produce more
/// values than the body can hold.
pub fn check_nesting(writer: &Schema, body: &[u8]) -> Result<(), NestingError> {
    // The named types, resolved only when a reference needs them (User schemas have none).
    let names = Names {
        writer,
        resolved: OnceCell::new(),
    };
    let budget = 1024 + 64 * body.len();
    let mut body = Body { bytes: body, at: 0 };
    let mut stack = vec![Task::Value(writer, 0, None)];
    let mut steps = 0;
    while let Some(task) = stack.pop() {
        steps += 1;
        if steps > budget {
            return Err(NestingError::TooManyValues(budget));
        }
        let proceed = match task {
            Task::Value(schema, depth, space) => {
                if depth > MAX_DEPTH {
                    return Err(NestingError::TooDeep);
                }
                value(schema, depth, space, &names, &mut body, &mut stack)
            }
            Task::Items {
                items,
                map,
                left,
                depth,
                space,
            } => {
                let left = if left > 0 {
                    left
                } else {
                    match block_len(&mut body) {
                        Some(0) => continue,
                        Some(n) => n,
                        None => return Ok(()),
                    }
                };
                stack.push(Task::Items {
                    items,
                    map,
                    left: left - 1,
                    depth,
                    space,
                });
                // A map key is a string; one cut short is an error there (not a null).
                if map && !matches!(body.sized(), Read::Got(true)) {
                    return Ok(());
                }
                stack.push(Task::Value(items, depth, space));
                true
            }
        };
        if !proceed {
            return Ok(());
        }
    }
    Ok(())
}

/// The item count of the next array/map block (0 at the end, None where apache-avro fails).
fn block_len(body: &mut Body<'_>) -> Option<u64> {
    match body.varint() {
        Read::Got(0) => Some(0),
        Read::Got(n) if n > 0 => Some(n as u64),
        // A negative count is followed by the block's size in bytes.
        Read::Got(n) => match (n.checked_neg(), body.varint()) {
            (Some(n), Read::Got(_)) => Some(n as u64),
            _ => None,
        },
        Read::End | Read::Fail => None,
    }
}

/// Reads or schedules one value; false where apache-avro stops with an error.
fn value<'s>(
    schema: &'s Schema,
    depth: usize,
    space: Option<&'s str>,
    names: &'s Names<'s>,
    body: &mut Body<'_>,
    stack: &mut Vec<Task<'s>>,
) -> bool {
    match schema {
        Schema::Array(array) => {
            stack.push(items(&array.items, false, depth, space));
            true
        }
        Schema::Map(map) => {
            stack.push(items(&map.types, true, depth, space));
            true
        }
        Schema::Union(union) => union_branch(union, depth, space, body, stack),
        Schema::Record(record) => {
            let space = record.name.namespace().or(space.filter(|s| !s.is_empty()));
            for field in record.fields.iter().rev() {
                stack.push(Task::Value(&field.schema, depth + 1, space));
            }
            true
        }
        Schema::Ref { name } => match lookup(names, name, space) {
            Some((resolved, space)) => {
                stack.push(Task::Value(resolved, depth, space));
                true
            }
            None => false,
        },
        // Primitives and logical types: by their physical type.
        other => match Type::of(other) {
            Some(Type::Null) => true,
            // Cut short: apache-avro decodes a null and goes on.
            Some(Type::Boolean) => {
                body.skip(1);
                true
            }
            Some(Type::Int | Type::Long | Type::Enum) => matches!(body.varint(), Read::Got(_)),
            Some(Type::Float) => body.skip(4),
            Some(Type::Double) => body.skip(8),
            // Cut short: a null, and decoding goes on.
            Some(Type::String) => matches!(body.sized(), Read::Got(_)),
            Some(Type::Bytes) => matches!(body.sized(), Read::Got(true)),
            Some(Type::Fixed) => fixed_size(other).is_some_and(|n| body.skip(n as u64)),
            Some(Type::Array | Type::Map | Type::Union | Type::Record) | None => false,
        },
    }
}

fn items<'s>(items: &'s Schema, map: bool, depth: usize, space: Option<&'s str>) -> Task<'s> {
    Task::Items {
        items,
        map,
        left: 0,
        depth: depth + 1,
        space,
    }
}

fn union_branch<'s>(
    union: &'s UnionSchema,
    depth: usize,
    space: Option<&'s str>,
    body: &mut Body<'_>,
    stack: &mut Vec<Task<'s>>,
) -> bool {
    match body.varint() {
        // Cut short before the branch index: apache-avro decodes a null and goes on.
        Read::End => true,
        Read::Fail => false,
        Read::Got(index) => match usize::try_from(index)
            .ok()
            .and_then(|i| union.variants().get(i))
        {
            Some(branch) => {
                stack.push(Task::Value(branch, depth + 1, space));
                true
            }
            None => false,
        },
    }
}

/// The writer's named types, resolved on first use.
struct Names<'s> {
    writer: &'s Schema,
    resolved: OnceCell<Option<ResolvedSchema<'s>>>,
}

/// A named type by reference, as apache-avro resolves it: the name qualified by the enclosing
/// namespace; with the namespace its value is decoded in. None where apache-avro fails too.
fn lookup<'s>(
    names: &'s Names<'s>,
    name: &Name,
    space: Option<&'s str>,
) -> Option<(&'s Schema, Option<&'s str>)> {
    let resolved = names
        .resolved
        .get_or_init(|| ResolvedSchema::try_from(names.writer).ok())
        .as_ref()?;
    let names: &'s NamesRef<'s> = resolved.get_names();
    let qualified = name.fully_qualified_name(space);
    let (key, schema) = names.get_key_value(qualified.as_ref())?;
    Some((*schema, key.namespace()))
}

#[cfg(test)]
mod tests;
