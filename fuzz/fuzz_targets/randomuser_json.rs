//! Fuzz target `randomuser_json`: its body is [`eosflow::fuzzing::randomuser_json`], which `tests/fuzz_corpus.rs`
//! also runs over `fuzz/corpus/randomuser_json/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    eosflow_fuzz::install_panic_hook();
    eosflow::fuzzing::randomuser_json(data);
});
