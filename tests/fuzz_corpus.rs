//! Replays the committed fuzz corpora on stable: every file in `fuzz/corpus/<target>/` runs through
//! `eosflow::fuzzing::<target>`, the very function the cargo-fuzz target calls. Inputs that once
//! crashed a target are kept in its corpus, so these tests are the regression tests of what
//! fuzzing found. A corpus that is missing or empty fails, so nothing passes by replaying nothing.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use eosflow::fuzzing::{run, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join("corpus").join(target);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "{} is empty: the corpus replay would test nothing (cargo run --example fuzz_seeds \
         writes the seeds)",
        dir.display()
    );
    files
}

/// Runs `target` on every corpus file; fails naming each file that panicked. The replay runs on
/// an 8 MiB stack, the main-thread stack libFuzzer runs targets on (and the processor decodes
/// on): debug builds need several times the stack of release builds for apache-avro's
/// recursive decoder, even within eosflow's nesting limit (`avro::nesting::MAX_DEPTH`).
fn replay(target: &'static str) {
    let replay = std::thread::Builder::new()
        .name(format!("replay-{target}"))
        .stack_size(8 << 20)
        .spawn(move || replay_on_this_thread(target))
        .unwrap_or_else(|e| panic!("cannot start the replay thread: {e}"));
    if let Err(panic) = replay.join() {
        std::panic::resume_unwind(panic);
    }
}

fn replay_on_this_thread(target: &str) {
    let files = corpus(target);
    let mut failed = Vec::new();
    for file in &files {
        let data = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        match catch_unwind(AssertUnwindSafe(|| run(target, &data))) {
            Ok(true) => {}
            Ok(false) => panic!("eosflow::fuzzing has no target {target}"),
            Err(_) => failed.push(file.display().to_string()),
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} corpus inputs panicked (messages above): {failed:#?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn wire_avro_decode_corpus() {
    replay("wire_avro_decode");
}

#[test]
fn randomuser_json_corpus() {
    replay("randomuser_json");
}

#[test]
fn schema_compat_corpus() {
    replay("schema_compat");
}

#[test]
fn registry_request_corpus() {
    replay("registry_request");
}

/// The fuzz crate, the library and this test name the same targets.
#[test]
fn every_target_has_a_fuzz_binary_and_a_replay() {
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    assert!(
        manifest.contains("\n[workspace]"),
        "fuzz/ must stay its own workspace"
    );
    let mut bins: Vec<&str> = manifest
        .lines()
        .filter_map(|line| line.strip_prefix("name = \""))
        .filter_map(|rest| rest.strip_suffix('"'))
        .filter(|name| *name != "eosflow-fuzz")
        .collect();
    bins.sort_unstable();
    let mut targets = TARGETS.to_vec();
    targets.sort_unstable();
    assert_eq!(bins, targets);
    let this = include_str!("fuzz_corpus.rs");
    for target in TARGETS {
        let body = fuzz_dir().join("fuzz_targets").join(format!("{target}.rs"));
        let body = fs::read_to_string(&body).unwrap_or_else(|e| panic!("{}: {e}", body.display()));
        assert!(
            body.contains(&format!("eosflow::fuzzing::{target}(data)")),
            "fuzz_targets/{target}.rs must call eosflow::fuzzing::{target}"
        );
        assert!(
            this.contains(&format!("replay(\"{target}\")")),
            "no replay test for {target}"
        );
    }
}
