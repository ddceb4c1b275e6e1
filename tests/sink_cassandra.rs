//! The Cassandra sink beyond the shared contract (`tests/sink_contract.rs`, `cassandra_contract`).
//!
//! Tests named `live_*` need a Cassandra or ScyllaDB node and are `#[ignore]`d, since none runs
//! where CI runs. Run them with:
//!
//! ```text
//! docker run -d -p 9042:9042 scylladb/scylla --smp 1 --developer-mode 1   # or cassandra:5
//! EOSFLOW_TEST_CASSANDRA=127.0.0.1:9042 cargo test --test sink_cassandra -- --ignored
//! ```
//!
//! `EOSFLOW_TEST_CASSANDRA` is `HOST:PORT[,HOST:PORT…]` or a whole `cassandra://` URL (its
//! keyspace, credentials and options are kept; no `table=`). Without it, `--ignored` fails loudly.
//! The other tests need no server (nothing listens on port 1) and always run.

use std::collections::BTreeMap;

use eosflow::model::User;
use eosflow::sink::cassandra::statements::Cql;
use eosflow::sink::cassandra::{CassandraConfig, CassandraSink, Replication};
use eosflow::sink::{Row, Sink, SinkBatch, SinkError};
use scylla::client::session::Session;
use scylla::statement::Consistency;
use scylla::value::CqlValue;

// ---------------------------------------------------------------------------------------------
// Helpers

/// A user built from JSON, so that nullable fields added to `User` later need no change here.
fn user(seed: &str, i: u32, variant: &str) -> User {
    let mut value = serde_json::json!({
        "source_name": "cassandra-test",
        "source_seed": seed,
        "source_page": 1 + i64::from(i / 100),
        "source_index": i % 100,
        "external_id": i.is_multiple_of(2).then(|| format!("ext-{i}")),
        "first_name": format!("Zoë{variant}"),
        "last_name": "O'Brien; DROP TABLE x; --",
        "gender": "female",
        "address": format!("{i} \"Quoted\" street"),
        "post_code": format!("{i:05}"),
        "email": format!("user{i}{variant}@example.com"),
        "username": format!("user{i}"),
        "dob": "1990-01-02T03:04:05.678Z",
        "registered_date": "2015-06-07T08:09:10.000Z",
        "phone": "+1 (555) 010-0000",
        "picture": format!("https://example.com/p/{i}.jpg"),
    });
    // The User v2 fields, when present: every combination of null and value.
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "nat".into(),
            serde_json::json!((i % 3 == 1).then_some("UA")),
        );
        map.insert(
            "age".into(),
            serde_json::json!((!i.is_multiple_of(4)).then_some(20 + i % 50)),
        );
        map.insert(
            "cell".into(),
            serde_json::json!((i % 5 == 2).then(|| format!("+380 {i}"))),
        );
    }
    serde_json::from_value(value).expect("a User from JSON")
}

fn rows(seed: &str, range: std::ops::Range<u32>, variant: &str) -> Vec<Row> {
    range.map(|i| Row::new(user(seed, i, variant))).collect()
}

fn batch(rows: Vec<Row>, offsets: &[(i32, i64)]) -> SinkBatch {
    SinkBatch {
        group: "g".into(),
        topic: "t".into(),
        rows,
        next_offsets: offsets.iter().copied().collect(),
    }
}

/// The base URL of the live tests (see the file header).
fn base_url() -> String {
    match std::env::var("EOSFLOW_TEST_CASSANDRA") {
        Ok(v) if v.trim().starts_with("cassandra://") => v.trim().to_string(),
        Ok(v) if !v.trim().is_empty() => {
            format!("cassandra://{}/eosflow_test?replication=1", v.trim())
        }
        _ => panic!(
            "EOSFLOW_TEST_CASSANDRA is not set: the live Cassandra tests need a node; \
             see the header of tests/sink_cassandra.rs"
        ),
    }
}

/// The base configuration with a table of this test and process.
fn config(table: &str) -> CassandraConfig {
    let table = format!("{table}_{}", std::process::id());
    let config = CassandraConfig::parse(&base_url(), &table)
        .unwrap_or_else(|e| panic!("EOSFLOW_TEST_CASSANDRA: {e}"));
    assert_eq!(
        config.table, table,
        "EOSFLOW_TEST_CASSANDRA must not set table="
    );
    config
}

/// A driver session of its own, for looking behind the sink's back; drops what it is told to.
struct Raw {
    // Field order is drop order: the session before its runtime.
    session: Session,
    runtime: tokio::runtime::Runtime,
    drop_after: Vec<String>,
}

impl Raw {
    fn connect(config: &CassandraConfig) -> Raw {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let mut builder =
            scylla::client::session_builder::SessionBuilder::new().known_nodes(&config.hosts);
        if let Some(user) = &config.username {
            let password = config.password.as_ref().map(|p| p.expose()).unwrap_or("");
            builder = builder.user(user, password);
        }
        let session = runtime
            .block_on(builder.build())
            .unwrap_or_else(|e| panic!("cannot connect to {:?}: {e}", config.hosts));
        Raw {
            session,
            runtime,
            drop_after: Vec::new(),
        }
    }

    /// Drop the tables of `config` now (leftovers) and at the end of the test.
    fn owns_tables(&mut self, config: &CassandraConfig) {
        let cql = Cql::new(&config.keyspace, &config.table);
        for table in [cql.users(), cql.offsets()] {
            let statement = format!("DROP TABLE IF EXISTS {table}");
            let _ = self.try_cql(&statement);
            self.drop_after.push(statement);
        }
    }

    fn owns_keyspace(&mut self, keyspace: &str) {
        let statement = format!("DROP KEYSPACE IF EXISTS {keyspace}");
        let _ = self.try_cql(&statement);
        self.drop_after.push(statement);
    }

    fn try_cql(&self, text: &str) -> Result<(), String> {
        self.runtime
            .block_on(self.session.query_unpaged(text, ()))
            .map(drop)
            .map_err(|e| format!("{text}: {e}"))
    }

    fn rows(
        &self,
        text: &str,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Vec<Vec<Option<CqlValue>>> {
        let result = self
            .runtime
            .block_on(self.session.query_unpaged(text, values))
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        let rows = result.into_rows_result().expect("rows");
        rows.rows::<scylla::value::Row>()
            .expect("untyped rows")
            .map(|r| r.expect("row").columns)
            .collect()
    }

    /// The replication map of a keyspace, as `system_schema` stores it.
    fn replication(&self, keyspace: &str) -> BTreeMap<String, String> {
        let rows = self.rows(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
            (keyspace,),
        );
        let Some(Some(CqlValue::Map(pairs))) = rows.first().and_then(|r| r.first()).cloned() else {
            panic!("keyspace {keyspace} not found: {rows:?}");
        };
        pairs
            .into_iter()
            .map(|(k, v)| match (k, v) {
                (CqlValue::Text(k), CqlValue::Text(v)) => (k, v),
                other => panic!("unexpected replication entry {other:?}"),
            })
            .collect()
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        for statement in std::mem::take(&mut self.drop_after) {
            let _ = self.try_cql(&statement); // best effort, also after a failed assertion
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Without a server

#[test]
fn unreachable_cluster_is_a_connect_error_naming_hosts_and_keyspace() {
    let err = eosflow::sink::open(
        "cassandra://127.0.0.1:1,localhost:1/some_ks?username=eosflow&password=s3cr3t%21\
         &connect_timeout=2",
        "users",
    )
    .err()
    .expect("nothing listens on port 1");
    let msg = err.to_string();
    println!("{msg}");
    assert!(matches!(err, SinkError::Connect { .. }), "{msg}");
    assert!(msg.contains("127.0.0.1:1,localhost:1"), "hosts: {msg}");
    assert!(msg.contains("some_ks"), "keyspace: {msg}");
    assert!(msg.contains("eosflow@"), "user: {msg}");
    assert!(!msg.contains("s3cr3t"), "password leaked: {msg}");
    assert!(
        !format!("{err:?}").contains("s3cr3t"),
        "password leaked in Debug"
    );
}

#[test]
fn bad_cassandra_urls_name_the_bad_part_without_password() {
    for (url, part) in [
        ("cassandra://h:9042", "no keyspace"),
        ("cassandra://h:port/ks", "host \"h:port\""),
        ("cassandra://h/ks?consistency=any", "option consistency"),
        ("cassandra://h/ks?replication=dc1", "option replication"),
        ("cassandra://h/ks?concurrency=0", "option concurrency"),
        ("cassandra://h/ks?colour=blue", "unknown option \"colour\""),
        (
            "cassandra://u:s3cr3t@h/ks?password=s3cr3t",
            "password is given both",
        ),
    ] {
        let err = eosflow::sink::open(url, "users").err().expect(url);
        let msg = err.to_string();
        assert!(matches!(err, SinkError::BadUrl { .. }), "{url}: {msg}");
        assert!(msg.contains(part), "{url}: {msg}");
        assert!(
            msg.contains("cassandra://HOST:PORT"),
            "expected forms: {msg}"
        );
        assert!(!msg.contains("s3cr3t"), "password leaked: {msg}");
    }
}

#[test]
fn unknown_scheme_lists_the_cassandra_form() {
    let msg = eosflow::sink::open("mysql://h/db", "users")
        .err()
        .expect("unknown scheme")
        .to_string();
    assert!(msg.contains("cassandra://HOST:PORT"), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// Live

#[test]
#[ignore = "needs EOSFLOW_TEST_CASSANDRA=host:port; run with --ignored"]
fn live_open_by_url_round_trip() {
    let config = config("cs_url");
    let mut raw = Raw::connect(&config);
    raw.owns_tables(&config);
    let base = base_url();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}table={}&concurrency=8&retries=1", config.table);
    let mut s = eosflow::sink::open(&url, "not_this_one").expect("open by URL");
    let describe = s.describe();
    assert!(
        describe.contains(&format!("/{}?table={}", config.keyspace, config.table)),
        "{describe}"
    );
    if let Some(p) = &config.password {
        assert!(!describe.contains(p.expose()), "{describe}");
    }
    s.ensure_schema().expect("ensure_schema");
    let r = rows("url", 0..30, "");
    s.commit(&batch(r.clone(), &[(0, 30), (3, 4)]))
        .expect("commit");
    assert_eq!(
        s.load_offsets("g", "t").expect("load"),
        [(0, 30), (3, 4)].into_iter().collect()
    );
    for row in &r {
        assert_eq!(s.get(row.id).expect("get"), Some(row.user.clone()));
    }
    assert_eq!(s.id_counts().expect("id_counts").len(), 30);
}

#[test]
#[ignore = "needs EOSFLOW_TEST_CASSANDRA=host:port; run with --ignored"]
fn live_keyspace_replication_strategies() {
    let base = config("cs_ks");
    let mut raw = Raw::connect(&base);
    let rows = raw.rows("SELECT data_center FROM system.local", ());
    let Some(Some(CqlValue::Text(dc))) = rows.first().and_then(|r| r.first()).cloned() else {
        panic!("no data center in system.local: {rows:?}");
    };
    let pid = std::process::id();
    let simple = format!("eosflow_simple_{pid}");
    let network = format!("eosflow_nts_{pid}");
    raw.owns_keyspace(&simple);
    raw.owns_keyspace(&network);

    let mut c = base.clone();
    c.keyspace = simple.clone();
    c.replication = Replication::Simple(1);
    CassandraSink::connect_with(c)
        .expect("connect")
        .ensure_schema()
        .expect("SimpleStrategy keyspace");
    let r = raw.replication(&simple);
    assert!(r["class"].ends_with("SimpleStrategy"), "{r:?}");
    assert_eq!(r["replication_factor"], "1", "{r:?}");

    let mut c = base.clone();
    c.keyspace = network.clone();
    c.replication = Replication::Network(vec![(dc.clone(), 1)]);
    c.durable_writes = false;
    let mut s = CassandraSink::connect_with(c).expect("connect");
    s.ensure_schema().expect("NetworkTopologyStrategy keyspace");
    let r = raw.replication(&network);
    assert!(r["class"].ends_with("NetworkTopologyStrategy"), "{r:?}");
    assert_eq!(r.get(&dc).map(String::as_str), Some("1"), "{r:?}");
    let durable = raw.rows(
        "SELECT durable_writes FROM system_schema.keyspaces WHERE keyspace_name = ?",
        (network.as_str(),),
    );
    assert_eq!(durable[0][0], Some(CqlValue::Boolean(false)));
    // The keyspace works, and an existing keyspace is left as it is.
    s.commit(&batch(rows_of(3), &[(0, 3)])).expect("commit");
    let mut again = base.clone();
    again.keyspace = network.clone();
    again.replication = Replication::Simple(1);
    CassandraSink::connect_with(again)
        .expect("connect")
        .ensure_schema()
        .expect("ensure_schema on an existing keyspace");
    assert!(raw.replication(&network)["class"].ends_with("NetworkTopologyStrategy"));
}

fn rows_of(n: u32) -> Vec<Row> {
    rows("ks", 0..n, "")
}

#[test]
#[ignore = "needs EOSFLOW_TEST_CASSANDRA=host:port; run with --ignored"]
fn live_concurrency_and_consistency_settings_store_the_same_rows() {
    let mut data = rows("cc", 0..400, "");
    data.extend(rows("cc", 100..150, "-later")); // same ids: the later version wins
    let expected: BTreeMap<_, _> = data.iter().map(|r| (r.id, r.user.clone())).collect();
    for (name, concurrency, consistency) in [
        ("cs_c1", 1, Consistency::One),
        ("cs_c64", 64, Consistency::LocalQuorum),
        ("cs_c512", 512, Consistency::All),
    ] {
        let mut c = config(name);
        let mut raw = Raw::connect(&c);
        raw.owns_tables(&c);
        c.concurrency = concurrency;
        c.consistency = consistency;
        let mut s = CassandraSink::connect_with(c).expect("connect");
        s.ensure_schema().expect("ensure_schema");
        s.commit(&batch(data.clone(), &[(0, 450)])).expect("commit");
        let counts = s.id_counts().expect("id_counts");
        assert_eq!(counts.len(), expected.len(), "{name}");
        assert!(counts.values().all(|&n| n == 1), "{name}");
        for (id, u) in &expected {
            assert_eq!(s.get(*id).expect("get").as_ref(), Some(u), "{name} {id}");
        }
        assert_eq!(
            s.load_offsets("g", "t").expect("load"),
            [(0, 450)].into_iter().collect(),
            "{name}"
        );
    }
}

#[test]
#[ignore = "needs EOSFLOW_TEST_CASSANDRA=host:port; run with --ignored"]
fn live_id_counts_pages_through_many_rows() {
    let c = config("cs_paging");
    let mut raw = Raw::connect(&c);
    raw.owns_tables(&c);
    let mut s = CassandraSink::connect_with(c).expect("connect");
    s.ensure_schema().expect("ensure_schema");
    let n = 2 * eosflow::sink::cassandra::ID_PAGE_SIZE as u32 + 345;
    let data = rows("page", 0..n, "");
    for chunk in data.chunks(4000) {
        s.commit(&batch(chunk.to_vec(), &[])).expect("commit");
    }
    let counts = s.id_counts().expect("id_counts");
    assert_eq!(counts.len(), n as usize);
    assert!(data.iter().all(|r| counts.get(&r.id) == Some(&1)));
}

#[test]
#[ignore = "needs EOSFLOW_TEST_CASSANDRA=host:port; run with --ignored"]
fn live_a_column_of_another_type_is_refused() {
    let c = config("cs_types");
    let mut raw = Raw::connect(&c);
    raw.owns_tables(&c);
    let cql = Cql::new(&c.keyspace, &c.table);
    raw.try_cql(&cql.create_keyspace(&c.replication, true))
        .expect("keyspace");
    raw.try_cql(&format!(
        "CREATE TABLE {} (id uuid PRIMARY KEY, source_page text)",
        cql.users()
    ))
    .expect("a table with source_page text");
    let mut s = CassandraSink::connect_with(c).expect("connect");
    let msg = s
        .ensure_schema()
        .expect_err("source_page is text")
        .to_string();
    assert!(msg.contains("ensure_schema failed"), "{msg}");
    assert!(
        msg.contains("source_page has type text, expected bigint"),
        "{msg}"
    );
}
