//! `eosflow doctor`: check every connection `process` (and `produce`) needs, read-only, each
//! within a timeout, and say how to fix what fails.
//!
//! The checks, in output order, each a [`Finding`]:
//!
//! | check | how | fails when |
//! |---|---|---|
//! | `broker` | one Metadata request (librdkafka); on failure, ApiVersions tells a broker that is not there from one that refuses this client (e.g. SASL) | no metadata |
//! | `transactions` | a raw ApiVersions request ([`crate::kafka::api_versions`]): InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and TxnOffsetCommit advertised | one is missing (with `--delivery idempotent`: InitProducerId is missing; missing transaction APIs only warn) |
//! | `topic` ×3 | the same metadata: the topic, `<topic>.dlq`, `<topic>.progress` | the topic is missing; the side topics only warn (the jobs create them) |
//! | `registry` | `GET /config` | the registry does not answer |
//! | `subject` | `GET /subjects/<topic>-value/versions/latest` | the registry errs (a missing subject warns: `produce` registers it) |
//! | `compatibility` | `GET /config/<subject>`, else the global level | the registry errs (`NONE` warns) |
//! | `sink` | connect, then look the tables up ([`SinkUrl::probe`]) | no connection, or a table missing |
//!
//! The Kafka, registry and sink checks run side by side on their own threads; each group gets a
//! deadline of its requests × the timeout (+ 2 s), after which it is reported as not answering,
//! whatever the client libraries do. A check that cannot run because an earlier one failed is
//! reported as not checked. Nothing is created (an existing SQLite file is opened as `process`
//! opens it, in WAL mode). Every text passes through [`scrub`] with the passwords of the
//! configuration, and URLs are shown without them.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::kafka::admin::{self, cluster_view, TopicState};
use crate::kafka::api_versions::{
    self, ApiVersions, Transport, IDEMPOTENCE_APIS, TRANSACTION_APIS,
};
use crate::kafka::{KafkaAdapterError, KafkaSettings};
use crate::registry::client::RegistryAuth;
use crate::registry::probe::{ProbeError, RegistryProbe};
use crate::secret::{is_sensitive_key, MIN_SCRUB_LEN};
use crate::secret::{redact_url, scrub_with as scrub, url_secrets};
use crate::sink::{SinkError, SinkUrl, Tables};

pub use report::{Finding, Report, Status};

/// What to check.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    pub kafka: KafkaSettings,
    pub topic: String,
    pub dlq_topic: String,
    pub progress_topic: String,
    /// Whether `produce` will use transactions (`--delivery transactional`).
    pub transactional: bool,
    pub registry: String,
    pub registry_auth: RegistryAuth,
    pub sink: SinkUrl,
    /// Per request.
    pub timeout: Duration,
}

/// Why `doctor` cannot start: invalid configuration (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error(transparent)]
    Registry(#[from] ProbeError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("invalid Kafka settings: {0}")]
    Kafka(String),
}

/// Check what can be checked without I/O: URLs, table name, Kafka security protocol.
/// Returns the registry client [`run`] uses.
pub fn validate(options: &DoctorOptions) -> Result<RegistryProbe, DoctorError> {
    let probe = RegistryProbe::new(&options.registry, options.timeout, &options.registry_auth)?;
    Transport::from_properties(&options.kafka.properties).map_err(DoctorError::Kafka)?;
    if api_versions::bootstrap_addresses(&options.kafka.bootstrap).is_empty() {
        return Err(DoctorError::Kafka("--bootstrap names no broker".into()));
    }
    Ok(probe)
}

/// Run every check (`probe` from [`validate`]); `handle` runs the registry's async requests.
pub fn run(
    options: &DoctorOptions,
    probe: RegistryProbe,
    handle: &tokio::runtime::Handle,
) -> Report {
    let started = Instant::now();
    let grace = Duration::from_secs(2);
    let spawn = |f: Box<dyn FnOnce() -> Vec<Finding> + Send>| {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx
    };
    let (o, h) = (options.clone(), handle.clone());
    let kafka = spawn(Box::new(move || kafka_checks(&o)));
    let o = options.clone();
    let registry = spawn(Box::new(move || registry_checks(&o, &probe, &h)));
    let o = options.clone();
    let sink = spawn(Box::new(move || {
        let mut found = vec![sink_check(&o)];
        found.extend(skipped_check(&o));
        found
    }));
    let mut findings = Vec::new();
    let groups = [
        (kafka, 2, "broker", options.kafka.bootstrap.clone()),
        (registry, 3, "registry", redact_url(&options.registry)),
        (sink, 2, "sink", options.sink.redacted()),
    ];
    for (rx, requests, check, target) in groups {
        let budget = options.timeout * requests + grace;
        let wait = budget.saturating_sub(started.elapsed());
        match rx.recv_timeout(wait) {
            Ok(found) => findings.extend(found),
            Err(_) => findings.push(Finding::fail(
                check,
                target,
                format!("no answer within {} ms", budget.as_millis()),
                "is the address right? a firewall dropping packets looks like this",
            )),
        }
    }
    let secrets = secrets(options);
    for f in &mut findings {
        f.target = scrub(&f.target, &secrets);
        f.detail = scrub(&f.detail, &secrets);
        f.fix = f.fix.as_deref().map(|fix| scrub(fix, &secrets));
    }
    Report { findings }
}

/// Passwords that could reach a message: URL userinfo, `password=` options, secret Kafka
/// properties.
fn secrets(options: &DoctorOptions) -> Vec<String> {
    let mut secrets = url_secrets(&options.registry);
    secrets.extend(options.sink.secrets());
    let password = options.registry_auth.password.as_ref();
    secrets.extend(password.map(|p| p.expose().to_string()));
    for (k, v) in &options.kafka.properties {
        if is_sensitive_key(k) {
            secrets.push(v.to_string());
        }
    }
    // As crate::secret: scrubbing every `ab` would garble the report and protect nothing.
    secrets.retain(|s| s.chars().count() >= MIN_SCRUB_LEN);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
}

fn kafka_checks(o: &DoctorOptions) -> Vec<Finding> {
    let bootstrap = o.kafka.bootstrap.as_str();
    let topics = [
        o.topic.as_str(),
        o.dlq_topic.as_str(),
        o.progress_topic.as_str(),
    ];
    let started = Instant::now();
    let view = match cluster_view(&o.kafka, &topics, o.timeout) {
        Ok(view) => view,
        Err(e) => {
            let mut out = vec![match e {
                KafkaAdapterError::Create { source, .. } => Finding::new(
                    "broker",
                    bootstrap,
                    Status::Invalid,
                    format!("cannot create a Kafka client: {source}"),
                )
                .fixed("fix the Kafka settings (--kafka-property, security flags)"),
                KafkaAdapterError::Unreachable { detail, .. } => unreachable_broker(o, &detail),
                other => Finding::fail("broker", bootstrap, other.to_string(), "fix --bootstrap"),
            }];
            out.push(Finding::skipped("transactions", "", "broker check"));
            out.extend(
                topics
                    .iter()
                    .map(|t| Finding::skipped("topic", *t, "broker check")),
            );
            return out;
        }
    };
    let elapsed = started.elapsed().as_millis();
    let n = view.brokers.len();
    let listed: Vec<String> = view
        .brokers
        .iter()
        .map(|(id, at)| format!("{id} at {at}"))
        .collect();
    let mut out = vec![Finding::pass(
        "broker",
        bootstrap,
        format!(
            "{n} broker{} ({}), metadata in {elapsed} ms",
            if n == 1 { "" } else { "s" },
            listed.join(", ")
        ),
    )];
    out.extend(api_checks(o));
    for (i, (topic, state)) in view.topics.iter().enumerate() {
        out.push(topic_finding(i, topic, state));
    }
    if matches!(view.topics.first(), Some((_, TopicState::Partitions(_)))) {
        out.push(match admin::topic_settings(&o.kafka, &o.topic, o.timeout) {
            Ok(settings) => cluster::durability_finding(&o.topic, &settings, n),
            Err(e) => Finding::warn(
                "durability",
                &o.topic,
                format!("cannot read the topic's settings: {e}"),
                "allow this client DescribeConfigs on the topic",
            ),
        });
    }
    out
}

/// No metadata: ask ApiVersions, which needs no authentication, to tell a broker that is not
/// there from one that refuses this client.
fn unreachable_broker(o: &DoctorOptions, metadata_error: &str) -> Finding {
    let no_metadata = format!(
        "no metadata within {} ms ({metadata_error})",
        o.timeout.as_millis()
    );
    let transport = Transport::from_properties(&o.kafka.properties).unwrap_or_default();
    match api_versions::request(&o.kafka.bootstrap, &transport, o.timeout) {
        Err(e) => Finding::fail(
            "broker",
            &o.kafka.bootstrap,
            format!("{e}; {no_metadata}"),
            "start the broker or fix --bootstrap",
        ),
        Ok((addr, _)) => Finding::fail(
            "broker",
            &o.kafka.bootstrap,
            format!("{addr} answers ApiVersions but {no_metadata}"),
            "check the security settings (security protocol, SASL mechanism and credentials, --kafka-property)",
        ),
    }
}

fn topic_finding(index: usize, topic: &str, state: &TopicState) -> Finding {
    match (state, index) {
        (TopicState::Partitions(n), _) => Finding::pass(
            "topic",
            topic,
            format!("{n} partition{}", if *n == 1 { "" } else { "s" }),
        ),
        (TopicState::Error(e), _) => Finding::fail(
            "topic",
            topic,
            format!("listed with error {e}"),
            "check the topic's ACLs and the broker's logs",
        ),
        (TopicState::Missing, 0) => Finding::fail(
            "topic",
            topic,
            "missing",
            "create it, or run `eosflow produce --partitions N` (it creates the topic)",
        ),
        (TopicState::Missing, 1) => Finding::warn(
            "topic",
            topic,
            "missing (the dead-letter topic)",
            "`eosflow process` creates it at start, or create it yourself",
        ),
        (TopicState::Missing, _) => Finding::warn(
            "topic",
            topic,
            "missing (the producer's progress topic)",
            "`eosflow produce` creates it (compacted, 1 partition), or create it yourself",
        ),
    }
}

fn ranges(v: &ApiVersions, apis: &[(i16, &str)]) -> String {
    apis.iter()
        .filter_map(|(key, name)| v.get(*key).map(|r| format!("{name} v{}-{}", r.min, r.max)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn names(apis: &[(i16, &str)]) -> String {
    apis.iter()
        .map(|(key, name)| format!("{name} ({key})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The checks that read the broker's ApiVersions answer: transactions, and the cluster's release
/// and features.
fn api_checks(o: &DoctorOptions) -> Vec<Finding> {
    let transport = Transport::from_properties(&o.kafka.properties).unwrap_or_default();
    let (addr, versions) = match api_versions::request(&o.kafka.bootstrap, &transport, o.timeout) {
        Ok(answer) => answer,
        Err(e) => {
            return vec![Finding::fail(
                "transactions",
                "",
                format!("unknown: {e}"),
                "check that --bootstrap is a Kafka listener and security.protocol matches it",
            )]
        }
    };
    vec![
        transactions_finding(o.transactional, &addr, &versions),
        cluster::cluster_finding(&addr, &versions),
    ]
}

/// The verdict on what `addr` advertised, for transactional or idempotent delivery.
fn transactions_finding(transactional: bool, addr: &str, versions: &ApiVersions) -> Finding {
    let missing_txn = versions.missing(&TRANSACTION_APIS);
    let missing_idem = versions.missing(&IDEMPOTENCE_APIS);
    let caveat = "advertised in ApiVersions, which cannot show whether read_committed hides aborted records: librdkafka's MockCluster advertises all five and does not";
    match (transactional, missing_txn.is_empty(), missing_idem.is_empty()) {
        (_, true, _) => Finding::pass(
            "transactions",
            "",
            format!("supported: {addr} has {}; {caveat}", ranges(versions, &TRANSACTION_APIS)),
        ),
        (true, false, _) => Finding::fail(
            "transactions",
            "",
            format!("not supported: {addr} does not advertise {}", names(&missing_txn)),
            "use a broker with Kafka transactions, or produce with --delivery idempotent (and pass it to doctor)",
        ),
        (false, false, true) => Finding::warn(
            "transactions",
            "",
            format!(
                "not supported: {addr} does not advertise {}; the idempotent producer's {} is there",
                names(&missing_txn),
                ranges(versions, &IDEMPOTENCE_APIS)
            ),
            "fine for --delivery idempotent; transactional delivery needs another broker",
        ),
        (false, false, false) => Finding::fail(
            "transactions",
            "",
            format!("not supported, nor the idempotent producer: {addr} does not advertise {}", names(&missing_txn)),
            "use a broker with the idempotent producer (Kafka 0.11+)",
        ),
    }
}

fn registry_checks(
    o: &DoctorOptions,
    probe: &RegistryProbe,
    handle: &tokio::runtime::Handle,
) -> Vec<Finding> {
    let subject = format!("{}-value", o.topic);
    let url = probe.shown().to_string();
    let started = Instant::now();
    let global = match handle.block_on(probe.global_level()) {
        Ok(level) => level,
        Err(e) => {
            return vec![
                Finding::fail("registry", url, e.to_string(), registry_fix(&e)),
                Finding::skipped("subject", subject.clone(), "registry check"),
                Finding::skipped("compatibility", subject, "registry check"),
            ]
        }
    };
    let mut out = vec![Finding::pass(
        "registry",
        url,
        format!(
            "reachable, GET /config in {} ms",
            started.elapsed().as_millis()
        ),
    )];
    out.push(match handle.block_on(probe.latest(&subject)) {
        Ok(Some(latest)) => Finding::pass(
            "subject",
            subject.clone(),
            format!("version {}, schema id {}", latest.version, latest.id),
        ),
        Ok(None) => Finding::warn(
            "subject",
            subject.clone(),
            "not registered (nothing produced yet)",
            "`eosflow produce` registers it",
        ),
        Err(e) => Finding::fail("subject", subject.clone(), e.to_string(), registry_fix(&e)),
    });
    out.push(match handle.block_on(probe.subject_level(&subject)) {
        Ok(level) => {
            let (level, whose) = match level {
                Some(own) => (own, "the subject's own level"),
                None => (global, "the global level; the subject has none of its own"),
            };
            if level.eq_ignore_ascii_case("NONE") {
                let fix = format!("set a level: PUT /config/{subject} {{\"compatibility\": \"FULL_TRANSITIVE\"}} (eosflow's avro/ history meets it)");
                Finding::warn(
                    "compatibility",
                    subject,
                    format!("{level} ({whose}): any schema change is accepted"),
                    fix,
                )
            } else {
                Finding::pass("compatibility", subject, format!("{level} ({whose})"))
            }
        }
        Err(e) => Finding::fail("compatibility", subject, e.to_string(), registry_fix(&e)),
    });
    out
}

fn registry_fix(e: &ProbeError) -> &'static str {
    match e {
        ProbeError::Unreachable { .. } => {
            "start the registry (`eosflow registry serve`) or fix --registry"
        }
        ProbeError::Http {
            status: 401 | 403, ..
        } => "give the registry's credentials: --registry-username and EOSFLOW_REGISTRY_PASSWORD, or USER:PASS@ in the URL",
        ProbeError::Settings(_) => "fix --registry and its credentials",
        _ => "is --registry a Confluent-compatible Schema Registry?",
    }
}

fn sink_check(o: &DoctorOptions) -> Finding {
    let target = o.sink.redacted();
    let missing_fix = "run `eosflow process` once (it creates the tables), or fix --table";
    match o.sink.probe() {
        Ok((describe, Tables { users, offsets })) => match (users.present, offsets.present) {
            (true, true) => Finding::pass(
                "sink",
                describe,
                format!("tables {} and {} present", users.name, offsets.name),
            ),
            (false, false) => Finding::fail(
                "sink",
                describe,
                format!("tables {} and {} missing", users.name, offsets.name),
                missing_fix,
            ),
            (true, false) => Finding::fail(
                "sink",
                describe,
                format!("table {} present, {} missing", users.name, offsets.name),
                missing_fix,
            ),
            (false, true) => Finding::fail(
                "sink",
                describe,
                format!("table {} missing ({} present)", users.name, offsets.name),
                missing_fix,
            ),
        },
        Err(SinkError::Connect { sink, detail }) => {
            let fix = if o.sink.missing_file() {
                "fix --sink, or run `eosflow process` (it creates the file and tables)"
            } else {
                "start the database or fix --sink"
            };
            Finding::fail("sink", sink, format!("cannot connect: {detail}"), fix)
        }
        Err(SinkError::Operation {
            sink,
            operation,
            detail,
        }) => Finding::fail(
            "sink",
            sink,
            format!("{operation} failed: {detail}"),
            "check the database user's permissions",
        ),
        Err(e @ SinkError::BadUrl { .. }) => {
            Finding::new("sink", target, Status::Invalid, e.to_string()).fixed("fix --sink")
        }
    }
}

/// Ranges of the topic a processor skipped on purpose (`--skip-lost-records`): a warning each
/// topic, since those users were lost before they reached the sink. Nothing when the sink cannot
/// be read (the sink check says why).
fn skipped_check(o: &DoctorOptions) -> Option<Finding> {
    if o.sink.missing_file() {
        return None;
    }
    let mut sink = o.sink.open().ok()?;
    let ranges = sink.skipped(&o.topic).ok()?;
    if ranges.is_empty() {
        return None;
    }
    let shown: Vec<String> = ranges
        .iter()
        .map(|r| {
            format!(
                "group {:?} partition {} offsets {}..{}",
                r.group, r.range.partition, r.range.from, r.range.to
            )
        })
        .collect();
    Some(Finding::warn(
        "skipped",
        o.sink.redacted(),
        format!(
            "{} range(s) of topic {} skipped because they were deleted before processing: {}",
            ranges.len(),
            o.topic,
            shown.join("; ")
        ),
        "raise the topic's retention so a lagging processor cannot fall behind it; `eosflow verify` reports the lost users",
    ))
}

mod cluster;
mod report;
#[cfg(test)]
mod tests;
