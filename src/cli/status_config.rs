//! The configuration a running job shows on its status page: what it resolved from flags, env
//! and file, every value passed through the status model's redaction
//! ([`ConfigEntry::url`], [`ConfigEntry::value`]).

use crate::kafka::KafkaSettings;
use crate::metrics::status::ConfigEntry;
use crate::pipeline::process::ProcessJob;
use crate::pipeline::produce::ProduceJob;
use crate::sink::SinkUrl;

/// Bootstrap, registry and every passed-through librdkafka property.
fn kafka(settings: &KafkaSettings, registry: &str) -> Vec<ConfigEntry> {
    let mut out = vec![
        ConfigEntry::value("bootstrap", &settings.bootstrap),
        ConfigEntry::url("registry", registry),
    ];
    out.extend(
        settings
            .properties
            .iter()
            .map(|(k, v)| ConfigEntry::property("kafka-property", k, v)),
    );
    out
}

pub(super) fn process(job: &ProcessJob, sink: &SinkUrl, registry: &str) -> Vec<ConfigEntry> {
    let mut out = kafka(&job.kafka, registry);
    let dlq = job
        .dlq_topic
        .as_deref()
        .unwrap_or("none (stop at a poison record)");
    let duration = |d: Option<std::time::Duration>| d.map_or("-".into(), |d| format!("{d:?}"));
    out.extend([
        ConfigEntry::value("topic", &job.topic),
        ConfigEntry::value("group", &job.group),
        ConfigEntry::url("sink", &sink.redacted()),
        ConfigEntry::value("table", sink.table()),
        ConfigEntry::value("dlq-topic", dlq),
        ConfigEntry::value("batch-max", job.policy.max_records.to_string()),
        ConfigEntry::value("batch-linger", format!("{} ms", job.policy.linger_ms)),
        ConfigEntry::value("group-protocol", format!("{:?}", job.membership.protocol)),
        ConfigEntry::value("exit-when-idle", duration(job.exit_when_idle)),
        ConfigEntry::value("timeout", duration(Some(job.timeout))),
    ]);
    out
}

pub(super) fn produce(job: &ProduceJob, source: &str, registry: &str) -> Vec<ConfigEntry> {
    let mut out = kafka(&job.kafka, registry);
    out.extend([
        ConfigEntry::value("topic", &job.topic),
        ConfigEntry::value("rejects-topic", &job.side.rejects),
        ConfigEntry::value("progress-topic", &job.side.progress),
        ConfigEntry::url("source", source),
        ConfigEntry::value("transactional-id", &job.producer_id),
        ConfigEntry::value("seed", &job.seed),
        ConfigEntry::value("page-size", job.page_size.to_string()),
        ConfigEntry::value("timeout", format!("{:?}", job.timeout)),
    ]);
    out
}
