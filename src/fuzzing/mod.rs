//! The bodies of the fuzz targets in `fuzz/` (cargo-fuzz, libFuzzer). They live in the library so
//! that `tests/fuzz_corpus.rs` replays every corpus file through exactly what the fuzzer runs, on
//! a stable toolchain.
//!
//! Each target takes arbitrary bytes and returns normally: errors are answers, not failures. A
//! panic is a bug, and so is a broken property each target asserts on top:
//!
//! | file | target | input | runs | asserts |
//! |---|---|---|---|---|
//! | `wire` | [`wire_avro_decode`] | a Kafka record value | what `process` does: [`unframe`](crate::avro::unframe), the writer schema by id (1 = v1, 2 = v2, 3 = v2 plus nested extras, 4 = promoted types, as a registry would answer), the writer check, [`decode_user`](crate::avro::decode_user) into three readers (v2, v1, v2 renaming fields through aliases), the dead-letter validation | the readers agree; the decode plan ([`Plan`](crate::avro::plan::Plan)) agrees with the `Value`-tree decoder for each reader; a decoded user re-encodes with v1/v2 and decodes back to itself |
//! | `randomuser` | [`randomuser_json`] | an HTTP response body | [`parse_page`](crate::source::randomuser::parse_page), then [`format_user`](crate::source::randomuser::format_user) for each result, as the HTTP source does | an accepted user passes the processor's validation and survives the Avro round trip; the outcome is the same without the `login` secrets; a rejection gives a reason and keeps no secret |
//! | `schema` | [`schema_compat`] | one schema, or two separated by a line `----` | [`parse_strict`](crate::schema::parse_strict) of each; [`check`](crate::schema::check) both ways; [`check_level`](crate::schema::check_level) at every level | a schema reads itself; levels agree with the pairwise checks |
//! | `registry` | [`registry_request`] | requests separated by NUL bytes, each a line `METHOD /path?query` then its body | the registry's body handling ([`OfflineRegistry`](crate::registry::server::OfflineRegistry)) on a registry holding `avro/`'s history and a reference | no 5xx; every error code belongs to its status; a registered schema registers again to the same id and is found by lookup (unless it references its own subject's latest version, which then names itself) |

mod randomuser;
mod registry;
mod schema;
mod wire;

pub use randomuser::randomuser_json;
pub use registry::registry_request;
pub use schema::{schema_compat, SCHEMA_SEPARATOR};
pub use wire::{wire_avro_decode, wire_reader_schemas, wire_writer_schemas};

/// The targets, as `fuzz/fuzz_targets/<name>.rs` and `fuzz/corpus/<name>/` name them.
pub const TARGETS: [&str; 4] = [
    "wire_avro_decode",
    "randomuser_json",
    "schema_compat",
    "registry_request",
];

/// Runs target `name` on `data`; false when there is no such target.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "wire_avro_decode" => wire_avro_decode(data),
        "randomuser_json" => randomuser_json(data),
        "schema_compat" => schema_compat(data),
        "registry_request" => registry_request(data),
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_targets_are_refused() {
        assert!(!super::run("no_such_target", b""));
        for name in super::TARGETS {
            assert!(super::run(name, b""), "{name}");
        }
    }
}
