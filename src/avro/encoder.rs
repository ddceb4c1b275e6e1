//! User → framed Avro (Confluent wire format) through a plan compiled once per target schema.
//!
//! The plan lists the schema's fields in order, each with the User field it comes from (by name,
//! through the field table) and how its value is written: as the field kind's own primitive, or
//! as a union branch, with the branch a null takes. A user is
//! then written straight from its borrowed values into one buffer that already holds the frame
//! header: no `Value` tree, no copy of its strings. The profile of `produce` showed the tree
//! encoder and its allocations as the top frames (encode 11 %, malloc and free about 30 %).
//!
//! The plan covers what every User schema of the history is made of. For anything else (a field
//! the User lacks, another type, a value that does not fit) it steps aside and
//! [`super::encode_user`], the general encoder, writes the record: the bytes are the same
//! (property-tested over every schema version) and so are the errors.

use apache_avro::Schema;

use super::codec::{encode_user, zigzag, CodecError};
use crate::model::instant::to_millis;
use crate::model::{instant_companion, FieldKind, FieldValue, User, USER_FIELDS};

/// How one schema field is written.
#[derive(Debug, Clone, Copy)]
struct Step {
    /// The User field's index in [`USER_FIELDS`].
    slot: usize,
    /// In a union: the branch of a value, and the branch of a null (None: a null does not fit).
    branch: Option<(u32, Option<u32>)>,
    /// The `timestamp-millis` companion of the timestamp field in `slot` (`dob_ms`): its instant.
    instant: bool,
}

/// Encodes users as framed Avro datums of one schema.
#[derive(Debug, Clone)]
pub struct UserEncoder<'s> {
    schema: &'s Schema,
    schema_id: u32,
    plan: Option<Vec<Step>>,
}

impl<'s> UserEncoder<'s> {
    /// An encoder for `schema`, registered as `schema_id`.
    pub fn new(schema: &'s Schema, schema_id: u32) -> Self {
        UserEncoder {
            schema,
            schema_id,
            plan: compile(schema),
        }
    }

    /// Whether the compiled plan covers this schema (otherwise every user takes the general path).
    pub fn planned(&self) -> bool {
        self.plan.is_some()
    }

    /// `user` as a framed value: magic byte, schema id, Avro body.
    pub fn framed(&self, user: &User) -> Result<Vec<u8>, CodecError> {
        let values = user.values();
        let text: usize = values
            .iter()
            .map(|v| match v {
                FieldValue::Text(s) => s.len() + 2,
                _ => 6,
            })
            .sum();
        let mut out = Vec::with_capacity(5 + text);
        out.push(0);
        out.extend_from_slice(&self.schema_id.to_be_bytes());
        if let Some(plan) = &self.plan {
            if write(plan, &values, &mut out).is_some() {
                return Ok(out);
            }
            out.truncate(5);
        }
        out.extend_from_slice(&encode_user(self.schema, user)?);
        Ok(out)
    }
}

/// The plan of `schema`, or None when it holds anything the plan does not cover.
fn compile(schema: &Schema) -> Option<Vec<Step>> {
    let Schema::Record(record) = schema else {
        return None;
    };
    record
        .fields
        .iter()
        .map(|field| {
            let (slot, instant) = match USER_FIELDS.iter().position(|f| f.name == field.name) {
                Some(slot) => (slot, false),
                None => (instant_companion(&field.name)?.0, true),
            };
            let fits = |schema: &Schema| match instant {
                true => matches!(schema, Schema::TimestampMillis),
                false => same_kind(USER_FIELDS[slot].kind, schema),
            };
            match &field.schema {
                Schema::Union(union) => {
                    let variants = union.variants();
                    let value = variants.iter().position(fits)?;
                    let null = variants.iter().position(|v| matches!(v, Schema::Null));
                    Some(Step {
                        slot,
                        branch: Some((
                            u32::try_from(value).ok()?,
                            null.and_then(|n| u32::try_from(n).ok()),
                        )),
                        instant,
                    })
                }
                plain if fits(plain) => Some(Step {
                    slot,
                    branch: None,
                    instant,
                }),
                _ => None,
            }
        })
        .collect()
}

/// Whether `schema` is the primitive of `kind` itself.
fn same_kind(kind: FieldKind, schema: &Schema) -> bool {
    matches!(
        (kind, schema),
        (FieldKind::Text | FieldKind::Timestamp, Schema::String)
            | (FieldKind::Long, Schema::Long)
            | (FieldKind::Int, Schema::Int)
    )
}

/// Append the body of `values` by `plan`; None when a value does not fit its step.
fn write(plan: &[Step], values: &[FieldValue<'_>], out: &mut Vec<u8>) -> Option<()> {
    for step in plan {
        let value = values.get(step.slot)?;
        match (value, step.branch) {
            (FieldValue::Null, Some((_, Some(null)))) => {
                zigzag(i64::from(null), out);
                continue;
            }
            (FieldValue::Null, _) => return None,
            (_, Some((branch, _))) => zigzag(i64::from(branch), out),
            (_, None) => {}
        }
        match *value {
            FieldValue::Text(s) if step.instant => zigzag(to_millis(s).ok()?, out),
            FieldValue::Text(s) => {
                zigzag(i64::try_from(s.len()).ok()?, out);
                out.extend_from_slice(s.as_bytes());
            }
            FieldValue::Long(v) => zigzag(v, out),
            FieldValue::Int(v) => zigzag(i64::from(v), out),
            FieldValue::Null => return None,
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro::{frame, user_schema_history};
    use proptest::prelude::*;

    #[test]
    fn every_schema_of_the_history_is_planned() {
        for file in user_schema_history() {
            assert!(
                UserEncoder::new(file.parsed(), 1).planned(),
                "{}",
                file.name
            );
        }
    }

    #[test]
    fn a_schema_the_plan_does_not_cover_takes_the_general_path_with_the_same_bytes() {
        // `age` as a long: not the field kind's primitive (an int), so no plan; the general
        // encoder promotes the int.
        let text = r#"{"type": "record", "name": "User", "fields": [
            {"name": "first_name", "type": "string"}, {"name": "age", "type": "long"}]}"#;
        let schema = Schema::parse_str(text).expect("schema");
        let encoder = UserEncoder::new(&schema, 9);
        assert!(!encoder.planned());
        let user = crate::model::sample::user(3);
        let want = encode_user(&schema, &user).map(|body| frame(9, &body));
        assert_eq!(encoder.framed(&user), want);
    }

    proptest! {
        /// The plan writes exactly what the general encoder writes, for every schema version,
        /// including users whose optional fields are null.
        #[test]
        fn the_plan_writes_the_general_encoders_bytes(
            seed in "[a-z]{1,8}", page in 1u64..1000, index in 0u32..5000, drop_optional in any::<bool>()
        ) {
            let mut user = crate::source::generator::generate_user(&seed, page, index, "generator");
            if drop_optional {
                user.nat = None;
                user.age = None;
                user.cell = None;
                user.external_id = None;
            }
            for (i, schema) in user_schema_history().iter().map(|f| f.parsed()).enumerate() {
                // The plan alone (no general path to hide behind), then the encoder as used.
                let plan = compile(schema).expect("planned");
                let mut alone = vec![0, 0, 0, 0, 7];
                prop_assert!(write(&plan, &user.values(), &mut alone).is_some());
                let general = encode_user(schema, &user).map(|body| frame(7, &body));
                prop_assert_eq!(Ok(alone), general.clone(), "schema version {}", i + 1);
                prop_assert_eq!(UserEncoder::new(schema, 7).framed(&user), general);
            }
        }
    }
}
