//! Avro: the User schema history, the Confluent wire format, and User ⇄ Avro.
//!
//! - [`history`]: the schemas in `avro/` (compiled in), newest last; the newest is the default
//!   reader schema of the processor.
//! - [`wire`]: Confluent framing — magic byte 0, 4-byte big-endian schema id, Avro binary body.
//! - [`codec`]: [`User`](crate::model::User) to an Avro datum and back, decoding any writer
//!   version into the reader schema.

pub mod codec;
pub mod history;
pub mod wire;

pub use codec::{decode_user, encode_user, CodecError};
pub use history::{newest_user_schema, user_schema_history, SchemaFile};
pub use wire::{frame, unframe, WireError};
