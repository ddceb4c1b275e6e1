//! Fuzz target `wire_avro_decode`: its body is [`eosflow::fuzzing::wire_avro_decode`], which `tests/fuzz_corpus.rs`
//! also runs over `fuzz/corpus/wire_avro_decode/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    eosflow_fuzz::install_panic_hook();
    eosflow::fuzzing::wire_avro_decode(data);
});
