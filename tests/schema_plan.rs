//! `eosflow schema plan` on the three kinds of change, against one table of each sink made by
//! this build (`ensure_schema`): SQLite, and the PostgreSQL and Cassandra of `scripts/test-env`.
//!
//! - an additive change (an optional `title`): compatible, readable, each sink adds one column;
//! - a type change (`age` int → long): refused by FULL_TRANSITIVE with the engine's location,
//!   allowed by BACKWARD; this eosflow's reader would dead-letter such records; PostgreSQL would
//!   convert the column, SQLite needs nothing, Cassandra refuses;
//! - an incompatible change (`email` removed, `source_page` a string): path-precise reasons, and
//!   every sink refuses the retype.
//!
//! The plan changes nothing: each table is planned again afterwards with the same result.

mod common;

use std::path::{Path, PathBuf};

use eosflow::cli::schema::{execute, Outcome, PlanArgs, SchemaCommand};
use eosflow::schema::Level;
use serde_json::{json, Value};

/// User v3 with `edit` applied to its field list, written to `dir/name.avsc`.
fn candidate(dir: &Path, name: &str, edit: impl FnOnce(&mut Vec<Value>)) -> PathBuf {
    let mut schema: Value =
        serde_json::from_str(include_str!("../avro/user.v3.avsc")).expect("v3 parses");
    let fields = schema["fields"].as_array_mut().expect("fields");
    edit(fields);
    let path = dir.join(format!("{name}.avsc"));
    std::fs::write(&path, schema.to_string()).expect("write candidate");
    path
}

fn set_type(fields: &mut [Value], name: &str, ty: Value) {
    let field = fields
        .iter_mut()
        .find(|f| f["name"] == name)
        .expect("field");
    field["type"] = ty;
}

/// `eosflow schema plan` against the history in avro/.
fn plan(candidate: &Path, level: Level, sinks: &[String], table: &str) -> Outcome {
    execute(&SchemaCommand::Plan(PlanArgs {
        candidate: candidate.to_path_buf(),
        previous: Vec::new(),
        level,
        sinks: sinks.to_vec(),
        table: table.to_string(),
    }))
}

/// One table per sink, made by this build.
struct Sinks {
    dir: tempfile::TempDir,
    table: String,
    urls: Vec<String>,
}

impl Sinks {
    fn new() -> Sinks {
        let dir = tempfile::tempdir().expect("tempdir");
        let table = common::unique("plan");
        let urls = vec![
            format!("sqlite://{}", dir.path().join("plan.db").display()),
            common::postgres_url(),
            common::required_env("EOSFLOW_TEST_CASSANDRA"),
        ];
        for url in &urls {
            let mut sink = eosflow::sink::open(url, &table).expect("open sink");
            sink.ensure_schema().expect("ensure_schema");
        }
        Sinks { dir, table, urls }
    }

    fn plan(&self, candidate: &Path, level: Level) -> Outcome {
        plan(candidate, level, &self.urls, &self.table)
    }

    /// The output line of the sink whose URL starts with `scheme`, and the lines after it.
    fn section<'a>(&self, out: &'a str, scheme: &str) -> &'a str {
        let start = out
            .find(&format!("sink {scheme}"))
            .unwrap_or_else(|| panic!("no {scheme} sink in:\n{out}"));
        let rest = &out[start..];
        let end = rest[1..].find("\nsink ").map_or(rest.len(), |i| i + 1);
        &rest[..end]
    }
}

impl Drop for Sinks {
    fn drop(&mut self) {
        let t = &self.table;
        if let Ok(mut c) = postgres::Client::connect(&self.urls[1], postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP TABLE IF EXISTS {t}; DROP TABLE IF EXISTS {t}_offsets; \
                 DROP TABLE IF EXISTS {t}_skipped;"
            ));
        }
    }
}

/// Plans `candidate` twice (the plan changes nothing) and returns the first outcome.
fn plan_twice(sinks: &Sinks, candidate: &Path, level: Level) -> Outcome {
    let first = sinks.plan(candidate, level);
    let again = sinks.plan(candidate, level);
    assert_eq!(first, again, "a plan must not change the tables");
    first
}

#[test]
fn an_additive_change_is_planned_as_one_added_column_per_sink() {
    let sinks = Sinks::new();
    let path = candidate(sinks.dir.path(), "additive", |fields| {
        fields.push(json!({"name": "title", "type": ["null", "string"], "default": null}));
    });
    let out = plan_twice(&sinks, &path, Level::FullTransitive);
    let (stdout, t) = (&out.stdout, &sinks.table);
    assert_eq!(out.code, 0, "{stdout}\n{}", out.stderr);
    assert!(
        stdout.contains("meets FULL_TRANSITIVE against eosflow's history in avro/ (v1, v2, v3)")
    );
    assert!(stdout.contains("this eosflow (reader User v3) reads records written with it"));
    assert!(
        stdout.contains("title: not in this eosflow's User"),
        "{stdout}"
    );
    assert!(
        stdout.contains("dob_ms: the same instant as dob"),
        "{stdout}"
    );
    let sqlite = sinks.section(stdout, "sqlite://");
    assert!(
        sqlite.contains(&format!("  ALTER TABLE {t} ADD COLUMN title TEXT;")),
        "{sqlite}"
    );
    let pg = sinks.section(stdout, "postgres://");
    assert!(
        pg.contains(&format!(
            "  ALTER TABLE {t} ADD COLUMN IF NOT EXISTS title text;"
        )),
        "{pg}"
    );
    let cassandra = sinks.section(stdout, "cassandra://");
    assert!(
        cassandra.contains(&format!(".{t} ADD title text;")),
        "{cassandra}"
    );
    assert!(
        !stdout.contains("test-only-pw"),
        "passwords are never printed"
    );
    assert!(
        out.stderr.contains("every sink can apply it"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_type_change_shows_the_conversion_and_the_sinks_that_refuse_it() {
    let sinks = Sinks::new();
    let path = candidate(sinks.dir.path(), "age_long", |fields| {
        set_type(fields, "age", json!(["null", "long"]));
    });
    // FULL_TRANSITIVE: v2 and v3 readers cannot read a long age.
    let full = plan_twice(&sinks, &path, Level::FullTransitive);
    assert_eq!(full.code, 1, "{}", full.stdout);
    assert!(
        full.stdout.contains("does NOT meet FULL_TRANSITIVE"),
        "{}",
        full.stdout
    );
    assert!(
        full.stdout
            .contains("MISSING_UNION_BRANCH at /fields/17/type/1 in the previous version"),
        "{}",
        full.stdout
    );
    // BACKWARD lets it register; this eosflow still cannot read it, and Cassandra cannot
    // convert the column.
    let out = plan_twice(&sinks, &path, Level::Backward);
    let (stdout, t) = (&out.stdout, &sinks.table);
    assert_eq!(out.code, 1, "{stdout}");
    assert!(stdout.contains("meets BACKWARD"), "{stdout}");
    assert!(
        stdout.contains(
            "cannot read records written with it; each would go to the dead-letter topic"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("in field 'age'"), "{stdout}");
    let pg = sinks.section(stdout, "postgres://");
    assert!(
        pg.contains(&format!(
            "  ALTER TABLE {t} ALTER COLUMN age TYPE bigint USING age::bigint;"
        )),
        "{pg}"
    );
    assert!(
        sinks.section(stdout, "sqlite://").contains("up to date"),
        "{stdout}"
    );
    let cassandra = sinks.section(stdout, "cassandra://");
    assert!(
        cassandra.contains("refused: column age is int, and this sink cannot convert it to bigint"),
        "{cassandra}"
    );
}

#[test]
fn an_incompatible_change_is_refused_with_path_precise_reasons() {
    let sinks = Sinks::new();
    let path = candidate(sinks.dir.path(), "incompatible", |fields| {
        fields.retain(|f| f["name"] != "email");
        set_type(fields, "source_page", json!("string"));
    });
    let out = plan_twice(&sinks, &path, Level::FullTransitive);
    let stdout = &out.stdout;
    assert_eq!(out.code, 1, "{stdout}");
    for reason in [
        "READER_FIELD_MISSING_DEFAULT_VALUE at /fields/10 in the previous version: reader field 'email'",
        "TYPE_MISMATCH at /fields/2/type in the candidate: in field 'source_page'",
    ] {
        assert!(stdout.contains(reason), "{reason}\n{stdout}");
    }
    for (scheme, from) in [
        ("sqlite://", "integer"),
        ("postgres://", "bigint"),
        ("cassandra://", "bigint"),
    ] {
        let section = sinks.section(stdout, scheme);
        assert!(
            section.contains(&format!(
                "refused: column source_page is {from}, and this sink cannot convert it to text"
            )),
            "{section}"
        );
    }
    assert!(
        out.stderr.contains("not safe to register"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_unreadable_file_and_an_unreachable_sink_are_input_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = plan(
        &dir.path().join("missing.avsc"),
        Level::FullTransitive,
        &[],
        "users",
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("missing.avsc"), "{}", out.stderr);
    let path = candidate(dir.path(), "same", |_| {});
    let unreachable = ["postgres://nobody:secret-pw@127.0.0.1:1/none?connect_timeout=2".into()];
    let out = plan(&path, Level::FullTransitive, &unreachable, "users");
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("cannot plan a sink"), "{}", out.stderr);
    assert!(!out.stderr.contains("secret-pw"), "{}", out.stderr);
}
