//! Fuzz target `schema_compat`: its body is [`eosflow::fuzzing::schema_compat`], which `tests/fuzz_corpus.rs`
//! also runs over `fuzz/corpus/schema_compat/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    eosflow_fuzz::install_panic_hook();
    eosflow::fuzzing::schema_compat(data);
});
