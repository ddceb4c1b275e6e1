use super::*;
use crate::kafka::api_versions::ApiRange;

fn advertised(keys: &[i16]) -> ApiVersions {
    ApiVersions {
        error_code: 0,
        apis: keys
            .iter()
            .map(|&key| ApiRange {
                key,
                min: 0,
                max: 3,
            })
            .collect(),
        features: vec![],
    }
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn sink(url: &str) -> SinkUrl {
    SinkUrl::parse(url, "users").expect("a valid sink URL")
}

fn options(dir: &std::path::Path) -> DoctorOptions {
    DoctorOptions {
        kafka: KafkaSettings::new(format!("127.0.0.1:{}", closed_port())),
        topic: "users".into(),
        dlq_topic: "users.dlq".into(),
        progress_topic: "users.progress".into(),
        transactional: true,
        registry: format!("http://me:hunter2@127.0.0.1:{}", closed_port()),
        registry_auth: RegistryAuth::default(),
        sink: sink(&format!("sqlite://{}", dir.join("eosflow.db").display())),
        timeout: Duration::from_secs(1),
    }
}

#[test]
fn lines_name_the_check_the_target_and_the_fix() {
    let pass = Finding::pass(
        "broker",
        "127.0.0.1:9092",
        "1 broker (0 at 127.0.0.1:9092), metadata in 3 ms",
    );
    assert_eq!(
        pass.line(),
        "✔ broker 127.0.0.1:9092: 1 broker (0 at 127.0.0.1:9092), metadata in 3 ms"
    );
    let fail = Finding::fail(
        "registry",
        "http://h:8081",
        "connection refused",
        "start the registry",
    );
    assert_eq!(
        fail.line(),
        "✘ registry http://h:8081: connection refused — start the registry"
    );
    assert!(!fail.ok);
    let warn = Finding::warn("topic", "users.dlq", "missing", "process creates it");
    assert!(warn.ok);
    assert_eq!(
        warn.line(),
        "⚠ topic users.dlq: missing — process creates it"
    );
    let skipped = Finding::skipped("subject", "users-value", "registry check");
    assert_eq!(
        skipped.line(),
        "- subject users-value: not checked: registry check"
    );
    assert_eq!(skipped.fix.as_deref(), Some("fix the registry check first"));
    let txn = transactions_finding(true, "b:9092", &advertised(&[22, 24, 25, 28]));
    assert!(
        txn.line()
            .starts_with("✘ transactions: not supported: b:9092 does not advertise EndTxn (26) — "),
        "{}",
        txn.line()
    );
}

#[test]
fn exit_codes_and_json() {
    let report = |statuses: &[Status]| Report {
        findings: statuses
            .iter()
            .map(|&s| Finding::new("sink", "", s, "x").fixed("y"))
            .collect(),
    };
    assert_eq!(report(&[Status::Pass, Status::Warn]).exit_code(), 0);
    assert_eq!(report(&[Status::Pass, Status::Fail]).exit_code(), 1);
    assert_eq!(report(&[Status::Skipped]).exit_code(), 1);
    assert_eq!(report(&[Status::Fail, Status::Invalid]).exit_code(), 2);
    let r = report(&[Status::Pass, Status::Fail]);
    assert!(
        r.text()
            .ends_with("doctor: 1 ok, 0 warning(s), 1 failed, 0 not checked\n"),
        "{}",
        r.text()
    );
    let json: serde_json::Value = serde_json::from_str(&r.json()).expect("json");
    assert_eq!(
        json[1],
        serde_json::json!({"check": "sink", "target": "", "ok": false, "status": "fail", "detail": "x", "fix": "y"})
    );
    assert_eq!(json[0]["ok"], true);
}

#[test]
fn transactions_verdicts() {
    let all = advertised(&[0, 3, 22, 24, 25, 26, 28]);
    let f = transactions_finding(true, "b:1", &all);
    assert_eq!(f.status, Status::Pass);
    assert!(
        f.detail.contains("EndTxn v0-3") && f.detail.contains("MockCluster"),
        "{}",
        f.detail
    );
    let tansu = advertised(&[0, 3, 22, 24, 25, 28]);
    let f = transactions_finding(true, "b:1", &tansu);
    assert_eq!((f.status, f.ok), (Status::Fail, false));
    assert!(
        f.detail.starts_with("not supported") && f.detail.contains("EndTxn (26)"),
        "{}",
        f.detail
    );
    assert!(f
        .fix
        .as_deref()
        .unwrap_or("")
        .contains("--delivery idempotent"));
    let f = transactions_finding(false, "b:1", &tansu);
    assert_eq!(f.status, Status::Warn);
    assert!(f.detail.contains("InitProducerId v0-3"), "{}", f.detail);
    let f = transactions_finding(false, "b:1", &advertised(&[0, 3]));
    assert_eq!(f.status, Status::Fail);
    assert!(f.detail.contains("InitProducerId (22)"), "{}", f.detail);
}

#[test]
fn topic_verdicts() {
    assert_eq!(
        topic_finding(0, "users", &TopicState::Partitions(4)).detail,
        "4 partitions"
    );
    assert_eq!(
        topic_finding(2, "p", &TopicState::Partitions(1)).detail,
        "1 partition"
    );
    let main = topic_finding(0, "users", &TopicState::Missing);
    assert_eq!(main.status, Status::Fail);
    assert!(main.fix.as_deref().unwrap_or("").contains("--partitions N"));
    assert_eq!(
        topic_finding(1, "users.dlq", &TopicState::Missing).status,
        Status::Warn
    );
    assert_eq!(
        topic_finding(2, "users.progress", &TopicState::Missing).status,
        Status::Warn
    );
    let denied = topic_finding(
        1,
        "users.dlq",
        &TopicState::Error("Broker: Topic authorization failed".into()),
    );
    assert_eq!(denied.status, Status::Fail);
}

#[test]
fn secrets_of_every_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut o = options(dir.path());
    o.sink = sink("cassandra://u@h/ks?password=cass-pw");
    o.kafka
        .properties
        .push(("sasl.password".into(), "kafka-pw".into()));
    o.kafka
        .properties
        .push(("sasl.username".into(), "me".into()));
    let s = secrets(&o);
    for secret in ["hunter2", "cass-pw", "kafka-pw"] {
        assert!(s.iter().any(|x| x == secret), "{secret} in {s:?}");
    }
    assert!(!s.iter().any(|x| x == "me"));
}

#[test]
fn invalid_settings_are_refused_before_any_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = options(dir.path());
    assert!(validate(&o).is_ok());
    let with = |f: &dyn Fn(&mut DoctorOptions)| {
        let mut o = o.clone();
        f(&mut o);
        validate(&o).expect_err("invalid").to_string()
    };
    let err = with(&|o| o.registry = "ftp://me:hunter2@h".into());
    assert!(err.contains("http://") && !err.contains("hunter2"), "{err}");
    // The sink URL and table are checked when the SinkUrl is made (the CLI does, before this).
    let bad_sink =
        |url: &str, table: &str| SinkUrl::parse(url, table).expect_err("invalid").to_string();
    assert!(bad_sink("mysql://h/db", "users").contains("unknown scheme"));
    assert!(bad_sink("sqlite://x.db", "users; drop").contains("table name"));
    let err = with(&|o| {
        o.kafka
            .properties
            .push(("security.protocol".into(), "carrier-pigeon".into()))
    });
    assert!(err.contains("carrier-pigeon"), "{err}");
    assert!(with(&|o| o.kafka.bootstrap = " , ".into()).contains("--bootstrap"));
    let err = bad_sink("postgres://u:Pg-Secret-1@h:port/db", "users");
    assert!(
        err.contains("invalid") && !err.contains("Pg-Secret-1"),
        "{err}"
    );
    let err = bad_sink(
        "cassandra://u:Cass-Secret-1@h/ks?consistency=sometimes",
        "users",
    );
    assert!(
        err.contains("consistency") && !err.contains("Cass-Secret-1"),
        "{err}"
    );
    let mut o = o.clone();
    o.sink = sink("cassandra://h1,h2:9043/ks?table=people");
    assert!(validate(&o).is_ok());
}

#[test]
fn sqlite_sink_verdicts_create_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = options(dir.path());
    let path = dir.path().join("eosflow.db");
    let f = sink_check(&o);
    assert_eq!(f.status, Status::Fail, "{}", f.line());
    assert!(
        f.detail.contains("does not exist")
            && f.fix.as_deref().unwrap_or("").contains("eosflow process"),
        "{}",
        f.line()
    );
    assert!(!path.exists(), "doctor must not create the database file");
    rusqlite::Connection::open(&path)
        .and_then(|c| c.execute_batch("CREATE TABLE other (x)"))
        .expect("db");
    let f = sink_check(&o);
    assert_eq!(f.status, Status::Fail, "{}", f.line());
    assert!(
        f.detail.contains("tables users and users_offsets missing"),
        "{}",
        f.line()
    );
    let mut opened = o.sink.open().expect("open");
    opened.ensure_schema().expect("schema");
    let f = sink_check(&o);
    assert_eq!(f.status, Status::Pass, "{}", f.line());
    assert_eq!(f.detail, "tables users and users_offsets present");
    let mut other = o.clone();
    other.sink = SinkUrl::parse(
        &format!("sqlite://{}", dir.path().join("eosflow.db").display()),
        "USERS",
    )
    .expect("url");
    assert_eq!(
        sink_check(&other).status,
        Status::Pass,
        "SQLite names are case-insensitive"
    );
}

/// Broker and registry on closed ports, no database file: every check fails or is skipped, in
/// order, and the registry password never shows.
#[test]
fn nothing_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = options(dir.path());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let probe = validate(&o).expect("valid settings");
    let report = run(&o, probe, runtime.handle());
    let got: Vec<(&str, Status)> = report
        .findings
        .iter()
        .map(|f| (f.check, f.status))
        .collect();
    assert_eq!(
        got,
        [
            ("broker", Status::Fail),
            ("transactions", Status::Skipped),
            ("topic", Status::Skipped),
            ("topic", Status::Skipped),
            ("topic", Status::Skipped),
            ("registry", Status::Fail),
            ("subject", Status::Skipped),
            ("compatibility", Status::Skipped),
            ("sink", Status::Fail),
        ]
    );
    assert_eq!(report.exit_code(), 1);
    let text = report.text() + &report.json();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("registry http://127.0.0.1:"), "{text}");
    assert!(report.findings.iter().all(|f| f.fix.is_some()), "{text}");
}
