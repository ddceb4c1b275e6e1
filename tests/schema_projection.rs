//! Schema projection on Apache Kafka: records written with different User schema versions into ONE
//! topic, read by ONE reader schema (issue 4, item 3).
//!
//! - v1, v2 and v3 writers (`produce --schema-version`), the default v3 reader, into SQLite,
//!   PostgreSQL and Cassandra (native timestamp columns): every row lands, the v1-written rows
//!   without nat/age/cell, the others with them; `verify` exact.
//! - A reader file renaming fields through aliases still fills the User; a reader that cannot
//!   read v1 data (a new field without a default) dead-letters the v1 records as
//!   `schema-mismatch` with the engine's reasons, and `verify` accounts for them.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::{bootstrap, eosflow, run_expect, run_ok, stdout, unique, Registry};
use eosflow::avro::newest_user_schema;
use eosflow::kafka::reader::read_topic;
use eosflow::kafka::KafkaSettings;
use eosflow::model::User;
use eosflow::source::generator::generate_user;

const PAGE: u32 = 100;

struct Topic {
    registry: Registry,
    name: String,
}

impl Topic {
    fn new(prefix: &str) -> Topic {
        Topic {
            registry: Registry::start(),
            name: unique(prefix),
        }
    }

    fn cmd(&self, sub: &str) -> std::process::Command {
        let mut c = eosflow();
        c.arg(sub)
            .args(["--bootstrap", &bootstrap()])
            .args(["--registry", &self.registry.url])
            .args(["--topic", &self.name]);
        c
    }

    /// `count` generated users of `seed`, written with schema `version` (None: the default).
    fn produce(&self, seed: &str, count: u64, version: Option<u32>) -> String {
        let mut c = self.cmd("produce");
        c.args(["--partitions", "2", "--seed", seed]).args([
            "--page-size",
            &PAGE.to_string(),
            "--count",
            &count.to_string(),
        ]);
        if let Some(v) = version {
            c.args(["--schema-version", &v.to_string()]);
        }
        let out = stdout(&run_ok(&mut c));
        assert!(out.contains(&format!("produced {count} users")), "{out}");
        out
    }

    /// Process everything into a fresh SQLite table with `extra` flags; returns the stdout.
    fn process(&self, sink: &str, table: &str, extra: &[&str]) -> String {
        let out = run_ok(
            self.cmd("process")
                .args(["--sink", sink, "--table", table])
                .args(["--group", &unique("group"), "--exit-when-idle", "3s"])
                .args(extra),
        );
        stdout(&out)
    }

    fn verify(&self, sink: &str, table: &str, extra: &[&str]) -> serde_json::Value {
        let out = run_expect(
            self.cmd("verify")
                .args(["--sink", sink, "--table", table, "--json"])
                .args(extra),
            0,
        );
        serde_json::from_str(stdout(&out).trim()).expect("verify prints JSON")
    }
}

/// The users the generator gives for `seed` in pages of [`PAGE`].
fn generated(seed: &str, count: u32) -> Vec<User> {
    (0..count)
        .map(|i| generate_user(seed, u64::from(i / PAGE) + 1, i % PAGE, "generator"))
        .collect()
}

fn rows(sink: &str, table: &str, users: &[User]) -> Vec<User> {
    let mut s = eosflow::sink::open(sink, table).expect("open sink");
    users
        .iter()
        .map(|u| s.get(u.key()).expect("get").expect("row present"))
        .collect()
}

fn sqlite(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("users.db").display())
}

#[test]
fn v1_v2_and_v3_writers_in_one_topic_read_by_the_v3_reader_into_native_columns() {
    let topic = Topic::new("proj");
    let outs: Vec<String> = [(1, "proj-v1"), (2, "proj-v2"), (3, "proj-v3")]
        .into_iter()
        .map(|(version, seed)| topic.produce(seed, 300, Some(version)))
        .collect();
    // Three schema ids: versions 1, 2 and 3 of the same subject.
    let id = |out: &str| {
        out.split("schema id ")
            .nth(1)
            .map(|s| s[..s.find(',').unwrap_or(s.len())].to_string())
    };
    let ids: std::collections::BTreeSet<_> = outs.iter().map(|o| id(o)).collect();
    assert_eq!(ids.len(), 3, "{outs:?}");

    let dir = tempfile::tempdir().expect("tempdir");
    let table = unique("proj");
    // SQLite, and the native timestamp columns of PostgreSQL and Cassandra.
    let sinks = [
        sqlite(dir.path()),
        common::postgres_url(),
        common::required_env("EOSFLOW_TEST_CASSANDRA"),
    ];
    for sink in &sinks {
        let out = topic.process(sink, &table, &[]);
        assert!(out.contains("processed 900 records"), "{sink}: {out}");
        assert!(out.contains("0 dead-lettered"), "{sink}: {out}");
        let v1 = generated("proj-v1", 300);
        for (want, got) in v1.iter().zip(rows(sink, &table, &v1)) {
            let without_v2_fields = eosflow::avro::history::as_written_with(1, want);
            assert_eq!(got, without_v2_fields, "{sink}");
        }
        for seed in ["proj-v2", "proj-v3"] {
            let written = generated(seed, 300);
            for (want, got) in written.iter().zip(rows(sink, &table, &written)) {
                assert!(
                    got.nat.is_some() && got.age.is_some() && got.cell.is_some(),
                    "{got:?}"
                );
                assert_eq!(&got, want, "{sink}");
            }
        }
        let report = topic.verify(sink, &table, &[]);
        assert_eq!(report["expected"], 900, "{report}");
        assert_eq!(report["present"], 900, "{report}");
        for k in ["missing", "duplicates", "extra"] {
            assert_eq!(report[k], 0, "{k}: {report}");
        }
    }
    if let Ok(mut c) = postgres::Client::connect(&sinks[1], postgres::NoTls) {
        let _ = c.batch_execute(&format!(
            "DROP TABLE IF EXISTS {table}; DROP TABLE IF EXISTS {table}_offsets; \
             DROP TABLE IF EXISTS {table}_skipped;"
        ));
    }

    // An unknown version is refused before anything is written.
    let out = run_expect(
        topic
            .cmd("produce")
            .args(["--count", "1", "--schema-version", "9"]),
        2,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--schema-version 9"), "{err}");
}

/// v2 with `edit` applied, written to `dir/name`.
fn reader_file(dir: &Path, name: &str, edit: impl FnOnce(&mut Vec<serde_json::Value>)) -> String {
    let mut json: serde_json::Value =
        serde_json::from_str(newest_user_schema().text).expect("v2 json");
    edit(json["fields"].as_array_mut().expect("fields"));
    let path = dir.join(name);
    std::fs::write(&path, json.to_string()).expect("write reader");
    path.display().to_string()
}

fn field<'a>(fields: &'a mut [serde_json::Value], name: &str) -> &'a mut serde_json::Value {
    fields
        .iter_mut()
        .find(|f| f["name"] == name)
        .expect("field")
}

#[test]
fn a_renaming_reader_and_a_reader_that_cannot_read_v1() {
    let topic = Topic::new("projalias");
    topic.produce("alias-v1", 200, Some(1));
    topic.produce("alias-v2", 200, None);
    let (v1, v2) = (generated("alias-v1", 200), generated("alias-v2", 200));
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = sqlite(dir.path());

    // phone → phone_number (alias "phone"), cell → mobile (aliases "cell_phone", "cell").
    let renaming = reader_file(dir.path(), "renaming.avsc", |fields| {
        let phone = field(fields, "phone");
        phone["name"] = "phone_number".into();
        phone["aliases"] = serde_json::json!(["phone"]);
        let cell = field(fields, "cell");
        cell["name"] = "mobile".into();
        cell["aliases"] = serde_json::json!(["cell_phone", "cell"]);
    });
    let flag = ["--reader-schema", renaming.as_str()];
    let out = topic.process(&sink, "renamed", &flag);
    assert!(out.contains("processed 400 records"), "{out}");
    for (want, got) in v2.iter().zip(rows(&sink, "renamed", &v2)) {
        assert_eq!(&got, want, "phone and cell through the aliases");
    }
    for (want, got) in v1.iter().zip(rows(&sink, "renamed", &v1)) {
        assert_eq!((&got.phone, &got.cell), (&want.phone, &None));
    }
    let report = topic.verify(&sink, "renamed", &flag);
    assert_eq!(
        (report["present"].as_u64(), report["missing"].as_u64()),
        (Some(400), Some(0)),
        "{report}"
    );

    // The same flag through the environment, and an unusable reader refused at start.
    let bad = reader_file(dir.path(), "bad.avsc", |fields| {
        fields.retain(|f| f["name"] != "email");
    });
    let out = run_expect(
        topic
            .cmd("process")
            .args(["--sink", &sink, "--table", "never"])
            .env("EOSFLOW_READER_SCHEMA", &bad),
        2,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("User.email") && err.contains("bad.avsc"),
        "{err}"
    );

    // `nat` without a default: v2 data reads, v1 data (no nat) cannot: schema-mismatch poison.
    let strict = reader_file(dir.path(), "strict.avsc", |fields| {
        field(fields, "nat")
            .as_object_mut()
            .expect("object")
            .remove("default");
    });
    let flag = ["--reader-schema", strict.as_str()];
    let out = topic.process(&sink, "strict", &flag);
    assert!(
        out.contains("processed 200 records") && out.contains("200 dead-lettered"),
        "{out}"
    );
    assert_eq!(rows(&sink, "strict", &v2), v2);
    let mut classes = BTreeMap::new();
    let settings = KafkaSettings::new(bootstrap());
    read_topic(
        &settings,
        &format!("{}.dlq", topic.name),
        Duration::from_secs(20),
        |r| {
            let class = r.header("eosflow.error.class").unwrap_or_default();
            let message = r.header("eosflow.error.message").unwrap_or_default();
            assert!(
                message.contains("READER_FIELD_MISSING_DEFAULT_VALUE") && message.contains("nat"),
                "{message}"
            );
            *classes.entry(class).or_insert(0) += 1;
        },
    )
    .expect("read the dlq");
    assert_eq!(
        classes,
        BTreeMap::from([("schema-mismatch".to_string(), 200)])
    );
    let report = topic.verify(&sink, "strict", &flag);
    assert_eq!(report["dead_letters"], 200, "{report}");
    assert_eq!(
        (report["present"].as_u64(), report["missing"].as_u64()),
        (Some(200), Some(0)),
        "{report}"
    );
}
