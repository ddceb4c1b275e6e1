//! A resolution plan compiled once per (writer schema, reader schema), decoding the binary body
//! straight into a [`User`] without apache-avro's `Value` tree.
//!
//! The plan covers the shapes User schemas have: a record of primitives, unions of primitives,
//! enums and fixed (the last two only when the reader does not read them). It follows
//! [`super::project`]'s rules (fields matched by name, then by reader alias; the first reader
//! union branch of the same type, else the first a promotion reaches; reader-only fields take
//! their defaults). Any other pair (nested records, arrays, maps, logical types, named
//! references, a default it cannot read) compiles to [`Plan::Slow`]: the `Value`-tree decoder
//! of [`super::reader::decode_user`], so both always agree on what they both accept.
//!
//! One difference, on purpose: apache-avro reads a string, a boolean or a union index cut off
//! by the end of the body as null (so a truncated record can decode); the plan says the body is
//! truncated.

use apache_avro::schema::RecordField;
use apache_avro::Schema;

use super::codec::CodecError;
use super::user_map::user_field_of;
use crate::model::{instant_companion, FieldData, User, USER_FIELDS};
use crate::schema::Type;

#[cfg(test)]
mod tests;

/// How one (writer, reader) pair is decoded.
#[derive(Debug, Clone)]
pub enum Plan {
    Fast(Compiled),
    /// Through apache-avro's `Value` tree and the projection.
    Slow,
}

/// What a writer value becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Conv {
    /// Read and dropped (no reader field).
    Skip,
    /// Into User slot `slot` as this kind of field data; the reader field's name (for errors).
    Into(usize, Make, String),
    /// The reader cannot read it: the projection's message, raised after the whole body is read.
    Mismatch(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Make {
    Null,
    Text,
    /// Bytes promoted to a string (UTF-8 checked).
    TextFromBytes,
    Int,
    Long,
    LongFromInt,
}

#[derive(Debug, Clone)]
enum Step {
    One(Type, Conv),
    /// A writer union: per branch, its shape and what it becomes.
    Union(Vec<(Type, Conv)>),
    Enum(usize),
    Fixed(usize),
}

/// A compiled plan: the writer's fields in order, then the reader-only fields' defaults.
#[derive(Debug, Clone)]
pub struct Compiled {
    steps: Vec<Step>,
    defaults: Vec<(usize, FieldData)>,
}

/// The physical type of a plain primitive schema (no logical type): what the plan reads.
fn prim(schema: &Schema) -> Option<Type> {
    match schema {
        Schema::Null
        | Schema::Boolean
        | Schema::Int
        | Schema::Long
        | Schema::Float
        | Schema::Double
        | Schema::Bytes
        | Schema::String
        // A long on the wire: read as one, skipped as one (the companion of a timestamp).
        | Schema::TimestampMillis => Type::of(schema),
        _ => None,
    }
}

/// How the reader field `reader` (a User field's, in `slot`) reads a writer value of `w`, as
/// the projection resolves it; None when the plan does not cover the reader's type.
fn resolve(w: Type, reader: &Schema, slot: usize, name: &str) -> Option<Conv> {
    let branches: Vec<&Schema> = match reader {
        Schema::Union(u) => u.variants().iter().collect(),
        other => vec![other],
    };
    let kinds: Vec<Type> = branches.iter().map(|b| prim(b)).collect::<Option<_>>()?;
    let wk = w;
    let chosen = kinds
        .iter()
        .find(|r| **r == wk)
        .or_else(|| kinds.iter().find(|r| wk.promotes_to(**r)));
    let Some(&r) = chosen else {
        let detail = if matches!(reader, Schema::Union(_)) {
            format!(
                "no branch of the reader union reads the writer's {}",
                wk.avro()
            )
        } else {
            format!(
                "cannot read the writer's {} as {}",
                wk.avro(),
                kinds[0].avro()
            )
        };
        return Some(Conv::Mismatch(format!("at /{name}: {detail}")));
    };
    let make = match (w, r) {
        (Type::Null, Type::Null) => Make::Null,
        (Type::String, Type::String) => Make::Text,
        (Type::Bytes, Type::String) => Make::TextFromBytes,
        (Type::Int, Type::Int) => Make::Int,
        (Type::Long, Type::Long) => Make::Long,
        (Type::Int, Type::Long) => Make::LongFromInt,
        // The reader reads a type no User field holds (float, bytes, …): the slow path says why.
        _ => return None,
    };
    Some(Conv::Into(slot, make, name.to_string()))
}

/// A reader field's default as field data (the first union branch's type), if the plan covers it.
fn default_of(field: &RecordField) -> Option<FieldData> {
    let schema = match &field.schema {
        Schema::Union(u) => u.variants().first()?,
        other => other,
    };
    let json = field.default.as_ref()?;
    Some(match (schema, json) {
        (Schema::Null, serde_json::Value::Null) => FieldData::Null,
        (Schema::String, serde_json::Value::String(s)) => FieldData::Text(s.clone()),
        (Schema::Int, v) => FieldData::Int(i32::try_from(v.as_i64()?).ok()?),
        (Schema::Long, v) => FieldData::Long(v.as_i64()?),
        _ => return None,
    })
}

impl Plan {
    /// The plan for records written with `writer`, read through `reader`.
    pub fn compile(writer: &Schema, reader: &Schema) -> Plan {
        compile(writer, reader).map_or(Plan::Slow, Plan::Fast)
    }

    pub fn is_fast(&self) -> bool {
        matches!(self, Plan::Fast(_))
    }

    /// Decode `body`; the same user and the same kind of error as
    /// [`decode_user`](super::reader::decode_user).
    pub fn decode(
        &self,
        writer: &Schema,
        reader: &Schema,
        body: &[u8],
    ) -> Result<User, CodecError> {
        match self {
            Plan::Fast(c) => c.decode(body),
            Plan::Slow => super::reader::decode_user(writer, reader, body),
        }
    }
}

fn compile(writer: &Schema, reader: &Schema) -> Option<Compiled> {
    let (Schema::Record(ws), Schema::Record(rs)) = (writer, reader) else {
        return None;
    };
    // Which reader field reads each writer field (the projection's matching, reader order).
    // With the User slot the reader field fills, found once.
    let mut reads: Vec<Option<(&RecordField, usize)>> = vec![None; ws.fields.len()];
    let mut defaults = Vec::new();
    for rf in &rs.fields {
        // A timestamp's `timestamp-millis` companion (`dob_ms`) is not read: the User reads the
        // instant from its own field, which every version has.
        if user_field_of(rf).is_none() && instant_companion(&rf.name).is_some() {
            continue;
        }
        let slot = USER_FIELDS
            .iter()
            .position(|f| Some(f.name) == user_field_of(rf))?;
        let found = ws
            .fields
            .iter()
            .position(|wf| wf.name == rf.name)
            .or_else(|| {
                ws.fields
                    .iter()
                    .position(|wf| rf.aliases.contains(&wf.name))
            });
        match found {
            Some(i) if reads[i].is_none() => reads[i] = Some((rf, slot)),
            _ => defaults.push((slot, default_of(rf)?)),
        }
    }
    let mut steps = Vec::with_capacity(ws.fields.len());
    for (wf, rf) in ws.fields.iter().zip(reads) {
        let conv = |w: Type| match rf {
            None => Some(Conv::Skip),
            Some((rf, slot)) => resolve(w, &rf.schema, slot, &rf.name),
        };
        steps.push(match &wf.schema {
            Schema::Union(u) => Step::Union(
                u.variants()
                    .iter()
                    .map(|b| {
                        let p = prim(b)?;
                        Some((p, conv(p)?))
                    })
                    .collect::<Option<_>>()?,
            ),
            Schema::Enum(e) if rf.is_none() => Step::Enum(e.symbols.len()),
            Schema::Fixed(f) if rf.is_none() => Step::Fixed(f.size),
            other => {
                let p = prim(other)?;
                Step::One(p, conv(p)?)
            }
        });
    }
    Some(Compiled { steps, defaults })
}

/// A cursor over the body; every read fails as truncated or corrupt.
struct Body<'a> {
    bytes: &'a [u8],
    at: usize,
}

type Read<T> = Result<T, String>;

impl<'a> Body<'a> {
    fn byte(&mut self) -> Read<u8> {
        let b = *self.bytes.get(self.at).ok_or("truncated")?;
        self.at += 1;
        Ok(b)
    }

    /// apache-avro's varint: at most 10 bytes, bits past 64 dropped.
    fn varint(&mut self) -> Read<u64> {
        let mut value = 0u64;
        for j in 0..10 {
            let b = self.byte()?;
            value |= u64::from(b & 0x7F) << (j * 7);
            if b >> 7 == 0 {
                return Ok(value);
            }
        }
        Err("variable-length integer longer than 10 bytes".into())
    }

    fn long(&mut self) -> Read<i64> {
        let z = self.varint()?;
        Ok(if z & 1 == 0 {
            (z >> 1) as i64
        } else {
            !(z >> 1) as i64
        })
    }

    fn int(&mut self) -> Read<i32> {
        let v = self.long()?;
        i32::try_from(v).map_err(|_| format!("int out of range: {v}"))
    }

    fn take(&mut self, n: usize) -> Read<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("truncated: {n} bytes wanted"))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn sized(&mut self) -> Read<&'a [u8]> {
        let len = self.long()?;
        let len = usize::try_from(len).map_err(|_| format!("negative length {len}"))?;
        self.take(len)
    }

    /// One writer value of `p`, made into field data (None when skipped).
    fn value(&mut self, p: Type, make: Option<Make>) -> Read<Option<FieldData>> {
        let text = |b: &[u8]| {
            std::str::from_utf8(b)
                .map(str::to_string)
                .map_err(|e| format!("invalid UTF-8: {e}"))
        };
        Ok(match (p, make) {
            (Type::Null, m) => m.map(|_| FieldData::Null),
            (Type::Boolean, _) => match self.byte()? {
                0 | 1 => None,
                b => return Err(format!("invalid boolean byte {b}")),
            },
            (Type::Int, Some(Make::LongFromInt)) => Some(FieldData::Long(self.int()?.into())),
            (Type::Int, m) => {
                let v = self.int()?;
                m.map(|_| FieldData::Int(v))
            }
            (Type::Long, m) => {
                let v = self.long()?;
                m.map(|_| FieldData::Long(v))
            }
            (Type::Float, _) => self.take(4).map(|_| None)?,
            (Type::Double, _) => self.take(8).map(|_| None)?,
            (Type::Bytes, _) => self.sized().map(|_| None)?,
            (Type::String, m) => {
                let s = text(self.sized()?)?;
                m.map(|_| FieldData::Text(s))
            }
            // `prim` lets only primitives into a plan.
            (other, _) => return Err(format!("{} is not a primitive", other.avro())),
        })
    }
}

impl Compiled {
    fn decode(&self, body: &[u8]) -> Result<User, CodecError> {
        let corrupt = |detail: String| CodecError::Corrupt {
            len: body.len(),
            detail,
        };
        let mut slots: Vec<FieldData> = vec![FieldData::Null; USER_FIELDS.len()];
        let mut mismatch: Option<String> = None;
        let mut b = Body { bytes: body, at: 0 };
        let mut apply = |conv: &Conv, b: &mut Body, p: Type| -> Read<()> {
            let value = match conv {
                // As the projection: bytes that are not UTF-8 do not fit the reader's string.
                Conv::Into(_, Make::TextFromBytes, name) => {
                    match String::from_utf8(b.sized()?.to_vec()) {
                        Ok(s) => Some(FieldData::Text(s)),
                        Err(e) => {
                            let detail = format!("at /{name}: bytes read as a string: {e}");
                            mismatch.get_or_insert(detail);
                            None
                        }
                    }
                }
                Conv::Into(_, m, _) => b.value(p, Some(*m))?,
                _ => b.value(p, None)?,
            };
            match conv {
                Conv::Into(slot, ..) => slots[*slot] = value.unwrap_or(FieldData::Null),
                Conv::Mismatch(m) => {
                    mismatch.get_or_insert_with(|| m.clone());
                }
                Conv::Skip => {}
            }
            Ok(())
        };
        for step in &self.steps {
            match step {
                Step::One(p, conv) => apply(conv, &mut b, *p),
                Step::Union(branches) => b.long().and_then(|i| {
                    let (p, conv) = usize::try_from(i)
                        .ok()
                        .and_then(|i| branches.get(i))
                        .ok_or_else(|| {
                            format!("union index {i} out of {} branches", branches.len())
                        })?;
                    apply(conv, &mut b, *p)
                }),
                Step::Enum(n) => b.int().and_then(|i| match usize::try_from(i) {
                    Ok(i) if i < *n => Ok(()),
                    _ => Err(format!("enum index {i} out of {n} symbols")),
                }),
                Step::Fixed(n) => b.take(*n).map(drop),
            }
            .map_err(corrupt)?;
        }
        if b.at < body.len() {
            return Err(CodecError::Trailing {
                trailing: body.len() - b.at,
            });
        }
        if let Some(detail) = mismatch {
            return Err(CodecError::Mismatch { detail });
        }
        for (slot, value) in &self.defaults {
            slots[*slot] = value.clone();
        }
        let mut slots = slots.into_iter();
        User::from_fields(|_| Ok(slots.next().unwrap_or(FieldData::Null))).map_err(|e| {
            CodecError::Mismatch {
                detail: e.to_string(),
            }
        })
    }
}

/// Why the plan and the `Value`-tree decoder disagree on `body`, if they do: the plan accepts
/// nothing the tree decoder refuses and decodes every user identically; where the tree decoder
/// accepts a body the plan refuses, the body must be truncated (the null-at-the-end quirk above).
/// Errors must be of the same kind, except truncation (the tree decoder may call it a mismatch).
pub fn disagreement(writer: &Schema, reader: &Schema, body: &[u8]) -> Option<String> {
    let plan = Plan::compile(writer, reader);
    let fast = plan.decode(writer, reader, body);
    let slow = super::reader::decode_user(writer, reader, body);
    let truncated = |e: &CodecError| matches!(e, CodecError::Corrupt { detail, .. } if detail.starts_with("truncated"));
    match (&fast, &slow) {
        (Ok(a), Ok(b)) if a == b => None,
        (Err(_), Ok(_)) | (Err(_), Err(_)) if fast.as_ref().is_err_and(truncated) => None,
        (Err(a), Err(b)) if std::mem::discriminant(a) == std::mem::discriminant(b) => None,
        _ => Some(format!(
            "the plan gave {fast:?} and the Value-tree decoder {slow:?} for {} body bytes",
            body.len()
        )),
    }
}
