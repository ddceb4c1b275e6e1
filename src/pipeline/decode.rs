//! The one record decoder: a Kafka record value becomes a validated [`User`], or [`Poison`]
//! saying why it cannot. `process`, `verify` and the fuzz target all decode through
//! [`RecordDecoder`], so they cannot disagree about a record.
//!
//! The steps: unframe (Confluent wire format) → the writer schema by id from a [`WriterLookup`]
//! (the registry, retrying or not, or fixed schemas) → the writer checked against the reader once
//! per id → decode and project into the reader → validate. Only a registry that is unavailable
//! (not an error about the record) is an error of the decoder itself.

use std::collections::hash_map::{Entry, HashMap};
use std::sync::Arc;
use std::time::Duration;

use apache_avro::Schema;
use tokio::runtime::Handle;
use tracing::warn;

use crate::avro::plan::Plan;
use crate::avro::{unframe, CodecError, WireError, WriterChecks};
use crate::model::instant::{canonical, to_millis, CANONICAL_LEN};
use crate::model::User;
use crate::registry::client::{RegistryClient, RegistryError};
use crate::source::randomuser::{email_problem, phone_problem, GENDERS};

/// Why a record cannot become a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poison {
    pub class: &'static str,
    pub message: String,
}

impl Poison {
    pub fn wire(e: &WireError) -> Self {
        let class = match e {
            WireError::Empty => "empty-value",
            WireError::BadMagic { .. } => "bad-magic",
            WireError::Truncated { .. } => "truncated-header",
        };
        Poison {
            class,
            message: e.to_string(),
        }
    }

    /// The poison a registry error makes of the record, when the error is about the record
    /// ([`RegistryError::is_about_the_record`]); None when it is about the registry (down,
    /// refusing eosflow): those are retried or stop the job, never dead-lettered.
    pub fn registry(e: &RegistryError) -> Option<Self> {
        if !e.is_about_the_record() {
            return None;
        }
        let class = match e {
            RegistryError::InvalidSchema { .. } => "invalid-schema",
            _ => "unknown-schema-id",
        };
        Some(Poison {
            class,
            message: e.to_string(),
        })
    }

    pub fn codec(e: &CodecError) -> Self {
        let class = match e {
            CodecError::Mismatch { .. } | CodecError::Incompatible { .. } => "schema-mismatch",
            _ => "corrupt-avro",
        };
        Poison {
            class,
            message: e.to_string(),
        }
    }
}

/// The checks the producer's validation applies, on a decoded user (a record from another
/// producer may not have been validated).
pub fn invalid_user(u: &User) -> Option<Poison> {
    let mut problems = Vec::new();
    for (name, value) in [
        ("first_name", &u.first_name),
        ("last_name", &u.last_name),
        ("username", &u.username),
    ] {
        if value.trim().is_empty() {
            problems.push(format!("{name}: empty"));
        }
    }
    if !GENDERS.contains(&u.gender.as_str()) {
        problems.push(format!("gender: {:?} is not one of {GENDERS:?}", u.gender));
    }
    if let Some(p) = email_problem(&u.email) {
        problems.push(format!("email: {p}"));
    }
    if let Some(p) = phone_problem(&u.phone) {
        problems.push(format!("phone: {p}"));
    }
    for (name, value) in [("dob", &u.dob), ("registered_date", &u.registered_date)] {
        if let Err(e) = to_millis(value) {
            problems.push(format!("{name}: {}", e.about(value)));
        }
    }
    if u.source_page < 1 || u.source_index < 0 {
        problems.push(format!(
            "identity: page {} index {} out of range",
            u.source_page, u.source_index
        ));
    }
    (!problems.is_empty()).then(|| Poison {
        class: "invalid-user",
        message: problems.join("; "),
    })
}

/// `user` with its timestamps in the canonical form (`…:05Z` becomes `…:05.000Z`, the same
/// instant): what a sink's native timestamp column reads back. Only for a valid user.
fn canonical_instants(mut u: User) -> User {
    for value in [&mut u.dob, &mut u.registered_date] {
        // A valid timestamp of the canonical length is canonical: no copy (the common case).
        if value.len() != CANONICAL_LEN {
            if let Ok(c) = canonical(value) {
                *value = c;
            }
        }
    }
    u
}

/// Where the decoder gets a writer schema by id.
pub trait WriterLookup {
    fn writer(&mut self, id: u32) -> Result<Arc<Schema>, RegistryError>;
}

/// Fixed schemas (tests, fuzzing): any other id is unknown.
impl<F: FnMut(u32) -> Result<Arc<Schema>, RegistryError>> WriterLookup for F {
    fn writer(&mut self, id: u32) -> Result<Arc<Schema>, RegistryError> {
        self(id)
    }
}

/// The registry, asked up to `attempts` times (with backoff) while it is unavailable.
pub struct RegistryLookup<'a> {
    pub registry: &'a RegistryClient,
    pub handle: &'a Handle,
    /// 1: no retry (`verify` stops at once); `process` waits out a registry restart.
    pub attempts: u32,
}

impl WriterLookup for RegistryLookup<'_> {
    fn writer(&mut self, id: u32) -> Result<Arc<Schema>, RegistryError> {
        let mut attempt = 1;
        loop {
            match self.handle.block_on(self.registry.schema(id)) {
                Err(e) if e.is_transient() && attempt < self.attempts => {
                    warn!(attempt, error = %e, "registry unavailable; retrying");
                    std::thread::sleep(Duration::from_millis(200 << attempt.min(6)));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Decodes record values into one reader schema.
pub struct RecordDecoder {
    reader: Schema,
    checks: WriterChecks,
    /// Per writer schema id: the writer (ids never change meaning in a registry, so it is
    /// asked once) and how its records are decoded into the reader (compiled once).
    plans: HashMap<u32, (Arc<Schema>, Plan)>,
}

impl RecordDecoder {
    pub fn new(reader: &Schema) -> Self {
        RecordDecoder {
            reader: reader.clone(),
            checks: WriterChecks::new(),
            plans: HashMap::new(),
        }
    }

    /// The user in a record value, or why the record is poison; an error only when the
    /// registry cannot answer (the record is not at fault).
    pub fn decode(
        &mut self,
        value: Option<&[u8]>,
        lookup: &mut dyn WriterLookup,
    ) -> Result<Result<User, Poison>, RegistryError> {
        let (id, body) = match unframe(value.unwrap_or_default()) {
            Ok(framed) => framed,
            Err(e) => return Ok(Err(Poison::wire(&e))),
        };
        let reader = &self.reader;
        let (writer, plan) = match self.plans.entry(id) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(new) => match lookup.writer(id) {
                Ok(writer) => {
                    let plan = Plan::compile(&writer, reader);
                    new.insert((writer, plan))
                }
                Err(e) => return Poison::registry(&e).map(Err).ok_or(e),
            },
        };
        let decoded = self
            .checks
            .check(id, reader, writer)
            .and_then(|()| plan.decode(writer, reader, body));
        Ok(match decoded {
            Err(e) => Err(Poison::codec(&e)),
            Ok(user) => match invalid_user(&user) {
                Some(poison) => Err(poison),
                None => Ok(canonical_instants(user)),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro::{encode_user, frame, newest_user_schema};

    #[test]
    fn classes() {
        assert_eq!(
            Poison::wire(&WireError::BadMagic { found: 1 }).class,
            "bad-magic"
        );
        assert_eq!(Poison::wire(&WireError::Empty).class, "empty-value");
        let unknown = RegistryError::UnknownSchemaId {
            id: 9,
            url: "u".into(),
        };
        assert_eq!(
            Poison::registry(&unknown).map(|p| p.class),
            Some("unknown-schema-id")
        );
        let down = RegistryError::Unavailable {
            url: "u".into(),
            detail: "d".into(),
        };
        assert_eq!(
            Poison::registry(&down),
            None,
            "transient: retried, not dead-lettered"
        );
        assert_eq!(
            Poison::codec(&CodecError::Trailing { trailing: 1 }).class,
            "corrupt-avro"
        );
        let incompatible = CodecError::Incompatible {
            id: 3,
            reasons: "TYPE_MISMATCH at /fields/12/type: ...".into(),
        };
        let poison = Poison::codec(&incompatible);
        assert_eq!(poison.class, "schema-mismatch");
        assert!(
            poison.message.contains("TYPE_MISMATCH"),
            "{}",
            poison.message
        );
    }

    #[test]
    fn another_producers_timestamps_are_made_canonical_or_dead_lettered() {
        let reader = newest_user_schema().parsed();
        let v2 = crate::avro::history::by_version(2).expect("v2").parsed();
        let writer = Arc::new(v2.clone());
        let mut lookup = |_: u32| Ok(writer.clone());
        let mut decoder = RecordDecoder::new(reader);
        let mut user = crate::source::generator::generate_user("c", 1, 0, "generator");
        user.dob = "1990-01-02T03:04:05Z".into();
        user.registered_date = "2012-01-02T03:04:05.5Z".into();
        let body = encode_user(v2, &user).expect("encode v2");
        let got = decoder.decode(Some(&frame(1, &body)), &mut lookup);
        let got = got.expect("no registry error").expect("valid");
        assert_eq!(got.dob, "1990-01-02T03:04:05.000Z");
        assert_eq!(got.registered_date, "2012-01-02T03:04:05.500Z");
        user.dob = "1990-01-02T03:04:05.0001Z".into();
        let body = encode_user(v2, &user).expect("encode v2");
        let poison = decoder
            .decode(Some(&frame(1, &body)), &mut lookup)
            .expect("no registry error")
            .expect_err("finer than a millisecond");
        assert_eq!(poison.class, "invalid-user");
        assert!(
            poison
                .message
                .contains("dob: \"1990-01-02T03:04:05.0001Z\" is finer"),
            "{}",
            poison.message
        );
    }

    #[test]
    fn one_decoder_for_every_outcome() {
        let reader = newest_user_schema().parsed();
        let writer = Arc::new(reader.clone());
        let mut lookup = |id: u32| match id {
            1 => Ok(writer.clone()),
            2 => Err(RegistryError::Unavailable {
                url: "u".into(),
                detail: "down".into(),
            }),
            _ => Err(RegistryError::UnknownSchemaId {
                id,
                url: "u".into(),
            }),
        };
        let mut decoder = RecordDecoder::new(reader);
        let user = crate::source::generator::generate_user("d", 1, 0, "generator");
        let body = encode_user(reader, &user).expect("encode");
        let good = decoder.decode(Some(&frame(1, &body)), &mut lookup);
        assert_eq!(good.expect("no registry error"), Ok(user.clone()));
        let class = |r: Result<Result<User, Poison>, RegistryError>| {
            r.expect("no registry error").expect_err("poison").class
        };
        assert_eq!(class(decoder.decode(None, &mut lookup)), "empty-value");
        assert_eq!(
            class(decoder.decode(Some(&frame(7, &body)), &mut lookup)),
            "unknown-schema-id"
        );
        assert_eq!(
            class(decoder.decode(Some(&frame(1, &body[..3])), &mut lookup)),
            "corrupt-avro"
        );
        let mut invalid = user;
        invalid.email = "nobody".into();
        let body = encode_user(reader, &invalid).expect("encode");
        assert_eq!(
            class(decoder.decode(Some(&frame(1, &body)), &mut lookup)),
            "invalid-user"
        );
        assert!(
            decoder.decode(Some(&frame(2, &body)), &mut lookup).is_err(),
            "the registry's fault"
        );
    }
}
