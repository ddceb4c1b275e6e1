//! eosflow's schema engine against Java Avro's rules.
//!
//! * `tests/schema_cases/compat.json`: reader/writer pairs, each citing the rule (Avro spec
//!   section or Java `SchemaCompatibility` check) that decides, with the exact kinds and
//!   locations Java reports; the cases apache-avro 0.22's checker gets wrong are marked.
//! * compatibility levels over 3-version histories, for all seven levels;
//! * `tests/schema_cases/strict.json`: schemas Java's parser refuses, with where;
//! * the `eosflow schema` command logic ([`execute`]), on files and against a registry.

use std::path::{Path, PathBuf};

use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use apache_avro::Schema;
use clap::Parser;
use eosflow::cli::schema::{
    execute, CheckArgs, CompatArgs, LintArgs, Outcome, SchemaCommand, COMPATIBLE, INCOMPATIBLE,
    INVALID_INPUT,
};
use eosflow::schema::{
    check, check_level, parse_strict, Direction, Level, LevelIncompatibility, SchemaError,
};
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cases(file: &str) -> Vec<Value> {
    let path = root().join("tests/schema_cases").join(file);
    let text = std::fs::read_to_string(&path).expect("case file reads");
    let doc: Value = serde_json::from_str(&text).expect("case file is JSON");
    doc["cases"].as_array().expect("cases array").clone()
}

fn schema(value: &Value) -> Schema {
    Schema::parse_str(&value.to_string())
        .unwrap_or_else(|error| panic!("test schema {value} does not parse: {error}"))
}

fn text(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).expect("file reads")
}

/// Words that start the "what to change" part of a message.
const FIXES: [&str; 8] = [
    "add", "change", "make", "use", "rename", "keep", "fix", "define",
];

#[test]
fn reader_writer_cases_agree_with_java() {
    let cases = cases("compat.json");
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let rule = case["rule"].as_str().expect("rule");
        // Every case schema is one Java's parser accepts.
        for side in ["reader", "writer"] {
            if let Err(error) = parse_strict(&case[side].to_string()) {
                failures.push(format!("{rule}: {side} is not strictly valid: {error}"));
            }
        }
        let (reader, writer) = (schema(&case["reader"]), schema(&case["writer"]));
        // Every schema reads itself.
        if !check(&reader, &reader).is_empty() || !check(&writer, &writer).is_empty() {
            failures.push(format!("{rule}: a schema cannot read itself"));
        }
        let found = check(&reader, &writer);
        let got: Vec<Value> = found
            .iter()
            .map(|i| json!([i.kind.to_string(), i.location]))
            .collect();
        if Value::Array(got.clone()) != case["expect"] {
            failures.push(format!(
                "{rule}: expected {}, got {}: {found:#?}",
                case["expect"],
                Value::Array(got)
            ));
            continue;
        }
        for incompatibility in &found {
            let message = &incompatibility.message;
            if !message.contains(&incompatibility.location) {
                failures.push(format!("{rule}: message lacks its location: {message}"));
            }
            let lower = message.to_lowercase();
            if !FIXES.iter().any(|fix| lower.contains(&format!(": {fix}"))) {
                failures.push(format!("{rule}: message says no fix: {message}"));
            }
            if incompatibility.java_message.is_empty() {
                failures.push(format!("{rule}: no Java message"));
            }
        }
        if let Some(mention) = case["mention"].as_str() {
            if !found.iter().any(|i| i.message.contains(mention)) {
                failures.push(format!(
                    "{rule}: no message mentions {mention:?}: {found:#?}"
                ));
            }
        }
        if case["apache_avro_disagrees"] == json!(true) {
            let apache_full = matches!(
                SchemaCompatibility::can_read(&writer, &reader),
                Ok(Compatibility::Full)
            );
            if apache_full == found.is_empty() {
                failures.push(format!("{rule}: apache-avro agrees after all"));
            }
        }
        if case["apache_avro_partial"] == json!(true)
            && !matches!(
                SchemaCompatibility::can_read(&writer, &reader),
                Ok(Compatibility::Partial)
            )
        {
            failures.push(format!("{rule}: apache-avro does not answer Partial"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn java_messages_follow_javas_formats() {
    let reader = schema(&json!({"type":"enum","name":"E","symbols":["A"]}));
    let writer = schema(&json!({"type":"enum","name":"E","symbols":["D","A","C"]}));
    // Java: a TreeSet of the missing symbols, toString'd.
    assert_eq!(check(&reader, &writer)[0].java_message, "[C, D]");
    let found = check(&schema(&json!("int")), &schema(&json!("long")));
    assert_eq!(
        found[0].java_message,
        "reader type: INT not compatible with writer type: LONG"
    );
    let fixed = |size: u32| schema(&json!({"type":"fixed","name":"F","size":size}));
    assert_eq!(
        check(&fixed(8), &fixed(16))[0].java_message,
        "expected: 16, found: 8"
    );
}

fn record(fields: Value) -> Schema {
    schema(&json!({"type":"record","name":"U","namespace":"t","fields":fields}))
}

type Row = (usize, Direction, String, String);

fn rows(found: &[LevelIncompatibility]) -> Vec<Row> {
    found
        .iter()
        .map(|f| {
            (
                f.previous,
                f.direction,
                f.incompatibility.kind.to_string(),
                f.incompatibility.location.clone(),
            )
        })
        .collect()
}

#[test]
fn levels_over_a_three_version_history() {
    // p1 {a}, p2 {x}, p3 {a, x}; the candidate has {a} only (no defaults anywhere).
    let history = [
        record(json!([{"name":"a","type":"string"}])),
        record(json!([{"name":"x","type":"int"}])),
        record(json!([{"name":"a","type":"string"},{"name":"x","type":"int"}])),
    ];
    let candidate = record(json!([{"name":"a","type":"string"}]));
    let missing = "READER_FIELD_MISSING_DEFAULT_VALUE".to_string();
    let back = Direction::CandidateReadsPrevious;
    let fwd = Direction::PreviousReadsCandidate;
    let at = |previous, direction, location: &str| {
        (previous, direction, missing.clone(), location.to_string())
    };
    let expected: [(Level, Vec<Row>); 7] = [
        (Level::None, vec![]),
        // The candidate reads p3 (it ignores x); it could not read p2 (no a), but BACKWARD
        // looks at the latest only.
        (Level::Backward, vec![]),
        (Level::BackwardTransitive, vec![at(1, back, "/fields/0")]),
        // p3 needs x (its field 1) which the candidate does not write.
        (Level::Forward, vec![at(2, fwd, "/fields/1")]),
        (
            Level::ForwardTransitive,
            vec![at(2, fwd, "/fields/1"), at(1, fwd, "/fields/0")],
        ),
        (Level::Full, vec![at(2, fwd, "/fields/1")]),
        (
            Level::FullTransitive,
            vec![
                at(2, fwd, "/fields/1"),
                at(1, back, "/fields/0"),
                at(1, fwd, "/fields/0"),
            ],
        ),
    ];
    for (level, want) in expected {
        assert_eq!(
            rows(&check_level(level, &candidate, &history)),
            want,
            "{level}"
        );
    }
    assert!(check_level(Level::FullTransitive, &candidate, &[]).is_empty());
    let shown = check_level(Level::Forward, &candidate, &history)[0].to_string();
    assert!(shown.contains("previous version #3"), "{shown}");
}

#[test]
fn user_history_evolves_full_transitively() {
    let v1 = parse_strict(&text("avro/user.v1.avsc")).expect("v1 is strictly valid");
    let v2_text = text("avro/user.v2.avsc");
    let v2 = parse_strict(&v2_text).expect("v2 is strictly valid");
    // A v3 adding one more optional field passes every level against v1, v2.
    let mut v3_json: Value = serde_json::from_str(&v2_text).expect("v2 JSON");
    let fields = v3_json["fields"].as_array_mut().expect("fields");
    fields.push(json!({"name":"title","type":["null","string"],"default":null}));
    let v3 = schema(&v3_json);
    for level in Level::ALL {
        assert!(
            check_level(level, &v2, std::slice::from_ref(&v1)).is_empty(),
            "{level}"
        );
        assert!(
            check_level(level, &v3, &[v1.clone(), v2.clone()]).is_empty(),
            "{level}"
        );
    }
    // Dropping the required `phone` (field 14 in v1 and v2): new readers are fine, old ones are
    // not, and transitive levels name both old versions.
    let fields = v3_json["fields"].as_array_mut().expect("fields");
    fields.retain(|field| field["name"] != "phone");
    let no_phone = schema(&v3_json);
    let history = [v1, v2];
    assert!(check_level(Level::BackwardTransitive, &no_phone, &history).is_empty());
    let fwd = Direction::PreviousReadsCandidate;
    let missing = "READER_FIELD_MISSING_DEFAULT_VALUE".to_string();
    assert_eq!(
        rows(&check_level(Level::ForwardTransitive, &no_phone, &history)),
        vec![
            (1, fwd, missing.clone(), "/fields/14".to_string()),
            (0, fwd, missing, "/fields/14".to_string()),
        ]
    );
}

#[test]
fn levels_parse_and_display_in_confluent_spelling() {
    for level in Level::ALL {
        assert_eq!(level.to_string().parse::<Level>(), Ok(level));
        assert_eq!(level.to_string().to_lowercase().parse::<Level>(), Ok(level));
    }
    assert_eq!(
        "full-transitive".parse::<Level>(),
        Ok(Level::FullTransitive)
    );
    assert_eq!(Level::BackwardTransitive.to_string(), "BACKWARD_TRANSITIVE");
    let error = "SIDEWAYS".parse::<Level>().expect_err("not a level");
    assert!(error.to_string().contains("FULL_TRANSITIVE"), "{error}");
}

#[test]
fn strict_parsing_refuses_what_java_refuses() {
    let mut failures = Vec::new();
    for case in cases("strict.json") {
        let rule = case["rule"].as_str().expect("rule");
        let want: Vec<&str> = case["locations"]
            .as_array()
            .expect("locations")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let result = parse_strict(&case["schema"].to_string());
        match (&result, want.is_empty()) {
            (Ok(_), true) => {}
            (Ok(_), false) => failures.push(format!("{rule}: accepted")),
            (Err(error), true) => failures.push(format!("{rule}: refused: {error}")),
            (Err(error), false) => {
                let got: Vec<&str> = error
                    .problems()
                    .iter()
                    .map(|p| p.location.as_str())
                    .collect();
                if got != want {
                    failures.push(format!("{rule}: locations {got:?}, want {want:?}: {error}"));
                }
                if let Some(mention) = case["mention"].as_str() {
                    if !error.to_string().contains(mention) {
                        failures.push(format!("{rule}: {error} does not mention {mention:?}"));
                    }
                }
            }
        }
        if case["apache_avro_accepts"] == json!(true)
            && Schema::parse_str(&case["schema"].to_string()).is_err()
        {
            failures.push(format!("{rule}: apache-avro refuses it too"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(matches!(
        parse_strict("{\"type\":"),
        Err(SchemaError::Json(_))
    ));
}

// ---------------------------------------------------------------- the `eosflow schema` logic

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write temp file");
    path
}

const V1: &str =
    r#"{"type":"record","name":"User","namespace":"t","fields":[{"name":"name","type":"string"}]}"#;
const V2_DEFAULT: &str = r#"{"type":"record","name":"User","namespace":"t","fields":[{"name":"name","type":"string"},{"name":"age","type":["null","int"],"default":null}]}"#;
const V2_NO_DEFAULT: &str = r#"{"type":"record","name":"User","namespace":"t","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}"#;
const V2_BAD_DEFAULT: &str = r#"{"type":"record","name":"User","namespace":"t","fields":[{"name":"name","type":"string"},{"name":"age","type":["null","int"],"default":3}]}"#;

fn compat(reader: &Path, writer: &Path) -> Outcome {
    execute(&SchemaCommand::Compat(CompatArgs {
        reader: reader.to_path_buf(),
        writer: writer.to_path_buf(),
    }))
}

fn check_files(level: Level, candidate: &Path, previous: &[&Path]) -> Outcome {
    execute(&SchemaCommand::Check(CheckArgs {
        level: Some(level),
        candidate: candidate.to_path_buf(),
        previous: previous.iter().map(|p| p.to_path_buf()).collect(),
        registry: None,
        subject: None,
        timeout_secs: 5,
        registry_auth: Default::default(),
    }))
}

#[test]
fn compat_and_check_exit_codes_and_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let v1 = write(dir.path(), "v1.avsc", V1);
    let v2 = write(dir.path(), "v2.avsc", V2_DEFAULT);
    let v2_no_default = write(dir.path(), "v2nd.avsc", V2_NO_DEFAULT);
    let bad = write(dir.path(), "bad.avsc", V2_BAD_DEFAULT);
    let missing = dir.path().join("missing.avsc");

    assert_eq!(compat(&v2, &v1).code, COMPATIBLE);
    let no = compat(&v2_no_default, &v1);
    assert_eq!(no.code, INCOMPATIBLE, "{no:?}");
    assert_eq!(no.stdout.lines().count(), 1, "{no:?}");
    assert!(
        no.stdout
            .starts_with("READER_FIELD_MISSING_DEFAULT_VALUE at /fields/1: "),
        "{no:?}"
    );
    assert!(no.stdout.contains("'age'"), "{no:?}");

    let unreadable = compat(&missing, &v1);
    assert_eq!(unreadable.code, INVALID_INPUT);
    assert!(unreadable.stderr.contains("missing.avsc"), "{unreadable:?}");
    let invalid = compat(&bad, &v1);
    assert_eq!(invalid.code, INVALID_INPUT);
    assert!(invalid.stderr.contains("bad.avsc"), "{invalid:?}");
    assert!(invalid.stderr.contains("/fields/1/default"), "{invalid:?}");

    assert_eq!(
        check_files(Level::FullTransitive, &v2, &[&v1]).code,
        COMPATIBLE
    );
    assert_eq!(
        check_files(Level::Forward, &v2_no_default, &[&v1]).code,
        COMPATIBLE
    );
    let full = check_files(Level::Full, &v2_no_default, &[&v1, &v2]);
    assert_eq!(full.code, INCOMPATIBLE, "{full:?}");
    // Non-transitive: against the latest (v2.avsc) only, in the candidate's reader role.
    assert!(full.stdout.contains("against "), "{full:?}");
    assert!(full.stdout.contains("v2.avsc (backward"), "{full:?}");
    assert!(!full.stdout.contains("v1.avsc"), "{full:?}");
    assert_eq!(
        check_files(Level::None, &v2_no_default, &[&v1]).code,
        COMPATIBLE
    );
    assert_eq!(
        check_files(Level::Backward, &v2, &[&missing]).code,
        INVALID_INPUT
    );
}

fn lint(dir: &Path, level: Level) -> Outcome {
    execute(&SchemaCommand::Lint(LintArgs {
        dir: dir.to_path_buf(),
        level,
    }))
}

#[test]
fn lint_checks_the_repository_history_and_temp_histories() {
    let ours = lint(&root().join("avro"), Level::FullTransitive);
    assert_eq!(ours.code, COMPATIBLE, "{ours:?}");
    assert!(ours.stdout.contains("ok: user v1, v2"), "{ours:?}");

    let dir = tempfile::tempdir().expect("temp dir");
    assert_eq!(lint(dir.path(), Level::Backward).code, INVALID_INPUT);
    write(dir.path(), "user.v1.avsc", V1);
    write(dir.path(), "user.v10.avsc", V2_NO_DEFAULT);
    write(dir.path(), "user.v2.avsc", V2_DEFAULT);
    write(dir.path(), "notes.txt", "not a schema");
    // v10 (after v2, numerically) adds `age` without default: backward breaks against v2.
    let broken = lint(dir.path(), Level::BackwardTransitive);
    assert_eq!(broken.code, INCOMPATIBLE, "{broken:?}");
    assert!(broken.stdout.contains("user.v10.avsc"), "{broken:?}");
    assert_eq!(lint(dir.path(), Level::Forward).code, COMPATIBLE);
    write(dir.path(), "user.v3.avsc", V2_BAD_DEFAULT);
    let invalid = lint(dir.path(), Level::Forward);
    assert_eq!(invalid.code, INVALID_INPUT, "{invalid:?}");
    assert!(invalid.stderr.contains("user.v3.avsc"), "{invalid:?}");
}

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: SchemaCommand,
}

#[test]
fn arguments_parse_as_documented() {
    let parsed = Cli::try_parse_from([
        "t",
        "check",
        "--level",
        "full_transitive",
        "--candidate",
        "new.avsc",
        "a.avsc",
        "b.avsc",
    ])
    .expect("parses");
    let SchemaCommand::Check(args) = parsed.command else {
        panic!("not check")
    };
    assert_eq!(args.level, Some(Level::FullTransitive));
    assert_eq!(
        args.previous,
        vec![PathBuf::from("a.avsc"), PathBuf::from("b.avsc")]
    );
    assert!(Cli::try_parse_from(["t", "check", "--candidate", "n.avsc"]).is_err());
    assert!(
        Cli::try_parse_from(["t", "check", "--registry", "http://x", "--candidate", "n"]).is_err()
    );
    assert!(Cli::try_parse_from([
        "t",
        "check",
        "--registry",
        "http://x",
        "--subject",
        "s",
        "--candidate",
        "n"
    ])
    .is_ok());
    let lint = Cli::try_parse_from(["t", "lint", "avro"]).expect("parses");
    let SchemaCommand::Lint(args) = lint.command else {
        panic!("not lint")
    };
    assert_eq!(args.level, Level::FullTransitive);
}

#[test]
fn check_against_a_registry_subject() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime
        .block_on(eosflow::registry::server::RegistryServer::start(
            "127.0.0.1:0".parse().expect("addr"),
            None,
        ))
        .expect("registry starts");
    let url = server.url();
    let registered = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{url}/subjects/users-value/versions"))
            .header("content-type", "application/vnd.schemaregistry.v1+json")
            .body(json!({ "schema": V1 }).to_string())
            .send()
            .await
            .map(|response| response.status().as_u16())
    });
    assert_eq!(registered.ok(), Some(200));

    let dir = tempfile::tempdir().expect("temp dir");
    let ask = |url: &str, candidate: &str| {
        execute(&SchemaCommand::Check(CheckArgs {
            level: None,
            candidate: write(dir.path(), "candidate.avsc", candidate),
            previous: Vec::new(),
            registry: Some(url.to_string()),
            subject: Some("users-value".to_string()),
            timeout_secs: 5,
            registry_auth: Default::default(),
        }))
    };
    assert_eq!(ask(&url, V2_DEFAULT).code, COMPATIBLE);
    let rejected = ask(&url, V2_NO_DEFAULT);
    assert_eq!(rejected.code, INCOMPATIBLE, "{rejected:?}");
    assert!(
        rejected.stdout.contains("users-value version 1"),
        "{rejected:?}"
    );
    assert!(rejected.stdout.contains("/fields/1"), "{rejected:?}");
    runtime.block_on(server.stop());
    let down = ask(&url, V2_DEFAULT);
    assert_eq!(down.code, INVALID_INPUT, "{down:?}");
    assert!(down.stderr.contains(&url), "{down:?}");
}
