//! The Cassandra sink beyond the shared contract (`tests/sink_contract.rs`, `cassandra_contract`).
//!
//! Tests named `live_*` need a Cassandra (or ScyllaDB) node: `scripts/test-env start` starts one
//! (Apache Cassandra 5.0.9 with password authentication, on 127.0.0.1:19042) and exports
//! `EOSFLOW_TEST_CASSANDRA`, so they run in plain `cargo test`:
//!
//! ```text
//! scripts/test-env start && . <(scripts/test-env env) && cargo test --test sink_cassandra
//! ```
//!
//! `EOSFLOW_TEST_CASSANDRA` is `HOST:PORT[,HOST:PORT…]` or a whole `cassandra://` URL (its
//! keyspace, credentials and options are kept; no `table=`). Without it the live tests fail
//! loudly, never skip. The `live_auth_*` tests need credentials in it (a node with
//! `PasswordAuthenticator`, as the test environment's). The other tests need no server (nothing
//! listens on port 1).

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

/// The sample user `i` of `seed` (shared by every test: `eosflow::model::sample`).
fn user(seed: &str, i: u32, variant: &str) -> User {
    eosflow::model::sample::variant(seed, i, variant)
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
        skipped: Vec::new(),
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
            "EOSFLOW_TEST_CASSANDRA is not set: the live Cassandra tests need a node: run \
             `scripts/test-env start` and `. <(scripts/test-env env)` (or start one with \
             `scripts/cassandra-node start DIR --port 19042` and set \
             EOSFLOW_TEST_CASSANDRA=127.0.0.1:19042); see the header of tests/sink_cassandra.rs"
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
        for table in [cql.users(), cql.offsets(), cql.skipped()] {
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
        msg.contains("column source_page is text, and this sink cannot convert it to bigint"),
        "{msg}"
    );
}

/// Before `ensure_schema` every operation names the missing table or keyspace and says to create
/// the schema, whichever wording the node uses (Cassandra 5: "table … does not exist"; older
/// nodes and ScyllaDB: "unconfigured table …").
#[test]
fn live_operations_without_tables_say_to_create_the_schema() {
    let c = config("cs_noschema");
    let mut raw = Raw::connect(&c);
    raw.owns_tables(&c);
    let cql = Cql::new(&c.keyspace, &c.table);
    raw.try_cql(&cql.create_keyspace(&c.replication, true))
        .expect("keyspace");
    let mut absent_keyspace = c.clone();
    absent_keyspace.keyspace = format!("eosflow_absent_{}", std::process::id());
    raw.owns_keyspace(&absent_keyspace.keyspace);
    for (what, c) in [("tables", c), ("keyspace", absent_keyspace)] {
        let mut s = CassandraSink::connect_with(c).expect("connect");
        let row = Row::new(user("noschema", 0, ""));
        let results: Vec<(&str, Result<(), SinkError>)> = vec![
            ("load_offsets", s.load_offsets("g", "t").map(drop)),
            ("id_counts", s.id_counts().map(drop)),
            ("get", s.get(row.id).map(drop)),
            ("commit", s.commit(&batch(vec![row.clone()], &[(0, 1)]))),
            ("reset_offsets", s.reset_offsets("g", "t")),
            ("skipped", s.skipped("t").map(drop)),
        ];
        for (operation, result) in results {
            let msg = result.expect_err("no schema yet").to_string();
            println!("[{what}] {msg}");
            assert!(msg.contains(&format!("{operation} failed")), "{msg}");
            assert!(
                msg.contains("does not exist") || msg.contains("unconfigured"),
                "{msg}"
            );
            assert!(
                msg.contains("has the schema been created? run ensure_schema"),
                "[{what}] {operation}: no hint to create the schema: {msg}"
            );
        }
    }
}

/// `verify` counts the rows (`id_counts`) and reads them (`get`): neither needs the offsets
/// table, so neither fails without it (a fresh sink, as `verify` opens, and one whose statements
/// were prepared before the table went away).
#[test]
fn live_rows_are_readable_without_the_offsets_table() {
    let c = config("cs_no_offsets");
    let mut raw = Raw::connect(&c);
    raw.owns_tables(&c);
    let mut before = CassandraSink::connect_with(c.clone()).expect("connect");
    before.ensure_schema().expect("ensure_schema");
    let r = rows("nooff", 0..20, "");
    before
        .commit(&batch(r.clone(), &[(0, 20)]))
        .expect("commit");
    assert_eq!(before.id_counts().expect("id_counts").len(), 20);
    let cql = Cql::new(&c.keyspace, &c.table);
    raw.try_cql(&format!("DROP TABLE {}", cql.offsets()))
        .expect("drop the offsets table");
    let fresh = CassandraSink::connect_with(c).expect("connect");
    for (name, mut s) in [("fresh", fresh), ("prepared before", before)] {
        let counts = s
            .id_counts()
            .unwrap_or_else(|e| panic!("{name}: id_counts without the offsets table: {e}"));
        assert_eq!(counts.len(), 20, "{name}");
        for row in &r[..3] {
            assert_eq!(
                s.get(row.id).expect("get"),
                Some(row.user.clone()),
                "{name}"
            );
        }
        assert!(s.skipped("t").expect("skipped").is_empty(), "{name}");
        let msg = s
            .load_offsets("g", "t")
            .expect_err("no offsets table")
            .to_string();
        assert!(
            msg.contains(&cql.offsets_table()) && msg.contains("run ensure_schema"),
            "{name}: {msg}"
        );
    }
}

/// The credentials of `EOSFLOW_TEST_CASSANDRA`; the `live_auth_*` tests need a node that checks
/// them.
fn credentials(c: &CassandraConfig) -> (String, String) {
    match (&c.username, &c.password) {
        (Some(user), Some(password)) => (user.clone(), password.expose().to_string()),
        _ => panic!(
            "EOSFLOW_TEST_CASSANDRA has no username and password: the authentication tests need \
             a node with PasswordAuthenticator and a URL with credentials, as `scripts/test-env \
             start` gives (cassandra://eosflow:…@127.0.0.1:19042/eosflow_test?replication=1)"
        ),
    }
}

/// A wrong password is a connect error that names the node, the user and what to check, and
/// shows neither the wrong password nor the right one.
#[test]
fn live_auth_wrong_password_is_a_clear_connect_error() {
    let mut c = config("cs_auth");
    let (user, right) = credentials(&c);
    let wrong = "Wr0ng-pw-7f3e";
    c.password = Some(wrong.parse().expect("secret"));
    c.connect_timeout = std::time::Duration::from_secs(5);
    let err = CassandraSink::connect_with(c.clone())
        .err()
        .expect("a wrong password must be refused");
    let msg = err.to_string();
    println!("{msg}");
    assert!(matches!(err, SinkError::Connect { .. }), "{msg}");
    assert!(msg.contains(&c.hosts.join(",")), "names the node: {msg}");
    assert!(msg.contains(&format!("{user}@")), "names the user: {msg}");
    assert!(
        msg.contains("check the username and password"),
        "says what to check: {msg}"
    );
    for secret in [wrong, right.as_str()] {
        assert!(!msg.contains(secret), "password in the message: {msg}");
        assert!(!format!("{err:?}").contains(secret), "password in Debug");
    }
    // The same through a URL, as the processor opens it.
    let url = format!(
        "cassandra://{}:{wrong}@{}/{}?connect_timeout=5",
        eosflow::secret::percent_encode(&user),
        c.hosts.join(","),
        c.keyspace
    );
    let msg = eosflow::sink::open(&url, "users")
        .err()
        .expect("a wrong password must be refused")
        .to_string();
    assert!(msg.contains("check the username and password"), "{msg}");
    assert!(!msg.contains(wrong) && !msg.contains(&right), "{msg}");
}

/// No credentials for a node that asks for them: a connect error that says so.
#[test]
fn live_auth_missing_credentials_are_a_clear_connect_error() {
    let mut c = config("cs_auth");
    credentials(&c);
    c.username = None;
    c.password = None;
    c.connect_timeout = std::time::Duration::from_secs(5);
    let err = CassandraSink::connect_with(c.clone())
        .err()
        .expect("the node asks for credentials");
    let msg = err.to_string();
    println!("{msg}");
    assert!(matches!(err, SinkError::Connect { .. }), "{msg}");
    assert!(msg.contains(&c.hosts.join(",")), "names the node: {msg}");
    assert!(
        msg.contains("requires authentication") && msg.contains("username"),
        "says what is missing: {msg}"
    );
}

/// A role that may log in but holds no permission (`eosflow_noperm` of `scripts/test-env`):
/// creating the keyspace fails naming the role, the permission and what to grant, without
/// the password.
#[test]
fn live_a_role_without_permissions_is_told_what_to_grant() {
    let mut c = config("cs_noperm");
    let (_, password) = credentials(&c);
    c.username = Some("eosflow_noperm".into());
    c.keyspace = format!("eosflow_noperm_{}", std::process::id());
    c.connect_timeout = std::time::Duration::from_secs(10);
    let err = match CassandraSink::connect_with(c.clone()) {
        Err(e) => e,
        Ok(mut sink) => match sink.ensure_schema() {
            Err(e) => e,
            Ok(()) => panic!("a role without CREATE created the keyspace {}", c.keyspace),
        },
    };
    let msg = err.to_string();
    println!("{msg}");
    assert!(
        msg.contains("no CREATE permission"),
        "the node's reason: {msg}"
    );
    assert!(
        msg.contains("GRANT CREATE ON ALL KEYSPACES TO eosflow_noperm"),
        "what to grant: {msg}"
    );
    assert!(msg.contains(&c.keyspace), "names the keyspace: {msg}");
    assert!(!msg.contains(&password), "password in the message: {msg}");
}
