//! Fuzz target `registry_request`: its body is [`eosflow::fuzzing::registry_request`], which `tests/fuzz_corpus.rs`
//! also runs over `fuzz/corpus/registry_request/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    eosflow_fuzz::install_panic_hook();
    eosflow::fuzzing::registry_request(data);
});
