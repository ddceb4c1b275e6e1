//! `eosflow schema` as CI pipelines use it: exit 0 compatible, 1 incompatible (reasons on
//! stdout), 2 invalid input; `lint` over the repository's own `avro/` history.

mod common;

use std::path::{Path, PathBuf};

use common::{eosflow, run_expect, stdout};

fn avro(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("avro")
        .join(name)
        .display()
        .to_string()
}

/// v1 with one more field and no default: BACKWARD-incompatible (the new reader has no value for
/// old records).
fn with_required_field(dir: &Path) -> PathBuf {
    let mut schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(avro("user.v1.avsc")).expect("v1"))
            .expect("json");
    schema["fields"]
        .as_array_mut()
        .expect("fields")
        .push(serde_json::json!({"name": "loyalty_tier", "type": "string"}));
    let path = dir.join("user.bad.avsc");
    std::fs::write(&path, schema.to_string()).expect("write");
    path
}

#[test]
fn compat_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = with_required_field(dir.path());
    let bad = bad.to_str().expect("utf8");
    run_expect(
        eosflow().args([
            "schema",
            "compat",
            "--reader",
            &avro("user.v1.avsc"),
            "--writer",
            &avro("user.v1.avsc"),
        ]),
        0,
    );
    let out = run_expect(
        eosflow().args([
            "schema",
            "compat",
            "--reader",
            bad,
            "--writer",
            &avro("user.v1.avsc"),
        ]),
        1,
    );
    let text = stdout(&out);
    assert!(
        text.contains("READER_FIELD_MISSING_DEFAULT_VALUE")
            && text.contains("/fields/16")
            && text.contains("add a default"),
        "{text}"
    );
    // The other direction is fine: an old reader ignores the new field.
    run_expect(
        eosflow().args([
            "schema",
            "compat",
            "--reader",
            &avro("user.v1.avsc"),
            "--writer",
            bad,
        ]),
        0,
    );
    let missing = dir.path().join("nope.avsc");
    let out = run_expect(
        eosflow().args([
            "schema",
            "compat",
            "--reader",
            missing.to_str().expect("utf8"),
            "--writer",
            bad,
        ]),
        2,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.avsc"));
}

#[test]
fn check_by_level_and_lint_of_the_repository_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = with_required_field(dir.path());
    let bad = bad.to_str().expect("utf8");
    run_expect(
        eosflow().args([
            "schema",
            "check",
            "--level",
            "FORWARD",
            "--candidate",
            bad,
            &avro("user.v1.avsc"),
        ]),
        0,
    );
    run_expect(
        eosflow().args([
            "schema",
            "check",
            "--level",
            "BACKWARD",
            "--candidate",
            bad,
            &avro("user.v1.avsc"),
        ]),
        1,
    );
    run_expect(
        eosflow().args(["schema", "check", "--level", "SIDEWAYS", "--candidate", bad]),
        2,
    );
    let avro_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("avro");
    run_expect(
        eosflow().args(["schema", "lint", avro_dir.to_str().expect("utf8")]),
        0,
    );
    // A history with the bad schema as its newest version does not lint.
    std::fs::copy(avro("user.v1.avsc"), dir.path().join("user.v1.avsc")).expect("copy");
    std::fs::rename(bad, dir.path().join("user.v2.avsc")).expect("rename");
    run_expect(
        eosflow().args(["schema", "lint", dir.path().to_str().expect("utf8")]),
        1,
    );
}
