//! Avro: the User schema history, the Confluent wire format, and User ⇄ Avro.
//!
//! - [`history`]: the schemas in `avro/` (compiled in), newest last; the newest is the default
//!   reader schema of the processor.
//! - [`wire`]: Confluent framing — magic byte 0, 4-byte big-endian schema id, Avro binary body.
//! - [`codec`]: [`User`](crate::model::User) to an Avro datum of any User schema version.
//! - [`encoder`]: the fast encoder `produce` uses: a plan compiled once per target schema writes
//!   framed users straight from their fields; schemas it does not cover go through [`codec`].
//! - [`reader`]: the processor's one reader schema (`--reader-schema`, validated at start), each
//!   writer schema checked against it once, and decoding: the body read with the writer schema
//!   alone, then [`project`]ed onto the reader and mapped onto a User by [`user_map`].
//! - [`plan`]: the fast decoder: a resolution plan compiled once per (writer, reader) reads the
//!   body straight into a User; pairs it does not cover fall back to [`reader`]'s decoder.
//! - [`nesting`]: the guard before decoding: a datum nesting deeper than apache-avro's recursion
//!   can take (a recursive writer schema) is refused as corrupt instead of overflowing the stack.
//! - [`project`]: eosflow's own schema resolution, because apache-avro 0.22's ignores reader field
//!   aliases and fails a writer logical type (timestamp-millis) read as a plain long.

pub mod codec;
pub mod encoder;
pub mod history;
pub mod nesting;
pub mod plan;
pub mod project;
pub mod reader;
pub mod user_map;
pub mod wire;

pub use codec::{encode_user, CodecError};
pub use encoder::UserEncoder;
pub use history::{newest_user_schema, user_schema_history, SchemaFile};
pub use reader::{decode_user, load_reader_schema, ReaderSchemaError, WriterChecks};
pub use wire::{frame, unframe, WireError};
