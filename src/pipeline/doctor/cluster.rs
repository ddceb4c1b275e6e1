//! What `doctor` says about the Kafka cluster beyond reachability: its release and features (from
//! ApiVersions v3), and whether the data topic's settings let exactly-once survive a broker
//! failure.

use super::report::Finding;
use crate::kafka::admin::TopicSettings;
use crate::kafka::api_versions::ApiVersions;

/// `metadata.version` feature levels and the release each belongs to, from level 7 (Kafka's
/// `MetadataVersion` enum, read from the 4.4.0 jars).
const METADATA_VERSIONS: [&str; 28] = [
    "3.3-IV3", "3.4-IV0", "3.5-IV0", "3.5-IV1", "3.5-IV2", "3.6-IV0", "3.6-IV1", "3.6-IV2",
    "3.7-IV0", "3.7-IV1", "3.7-IV2", "3.7-IV3", "3.7-IV4", "3.8-IV0", "3.9-IV0", "4.0-IV0",
    "4.0-IV1", "4.0-IV2", "4.0-IV3", "4.1-IV0", "4.1-IV1", "4.2-IV0", "4.2-IV1", "4.3-IV0",
    "4.4-IV0", "4.4-IV1", "4.4-IV2", "4.5-IV0",
];

/// The `X.Y-IVn` name of a `metadata.version` level.
pub fn metadata_version(level: i16) -> Option<&'static str> {
    let i = usize::try_from(level.checked_sub(7)?).ok()?;
    METADATA_VERSIONS.get(i).copied()
}

/// ConsumerGroupHeartbeat: the API of KIP-848's consumer group protocol.
const CONSUMER_GROUP_HEARTBEAT: i16 = 68;

/// The cluster's release and the features eosflow relies on.
pub fn cluster_finding(addr: &str, v: &ApiVersions) -> Finding {
    let Some(level) = v.feature("metadata.version") else {
        return Finding::warn(
            "kafka",
            addr,
            "release unknown: the broker answered ApiVersions without finalized features (older than Kafka 3.3 in KRaft mode, or not Apache Kafka)",
            "eosflow is tested on Apache Kafka 4.4; upgrade, or check what runs there",
        );
    };
    let release = metadata_version(level)
        .map(|name| {
            let (major_minor, _) = name.split_once('-').unwrap_or((name, ""));
            format!("Apache Kafka {major_minor} (metadata.version {name}, level {level})")
        })
        .unwrap_or_else(|| {
            format!("a Kafka release newer than eosflow knows (metadata.version level {level})")
        });
    let transactions = match v.feature("transaction.version") {
        Some(n) if n >= 2 => {
            format!("transaction.version {n} (KIP-890: the broker defends open transactions)")
        }
        Some(n) => format!("transaction.version {n}"),
        None => "transaction.version not finalized".to_string(),
    };
    let consumer_protocol =
        v.feature("group.version").unwrap_or(0) >= 1 && v.get(CONSUMER_GROUP_HEARTBEAT).is_some();
    let groups = if consumer_protocol {
        "the consumer group protocol (KIP-848, --group-protocol consumer) is available"
    } else {
        "only the classic group protocol (KIP-848's consumer protocol is not enabled: group.version 0)"
    };
    Finding::pass(
        "kafka",
        addr,
        format!("{release}; {transactions}; {groups}"),
    )
}

/// Whether the data topic survives the loss of a broker with exactly-once intact.
pub fn durability_finding(topic: &str, s: &TopicSettings, brokers: usize) -> Finding {
    let shown = format!(
        "replication {}, min.insync.replicas {}, unclean leader election {}",
        s.replication,
        s.min_insync.map_or("unknown".into(), |n| n.to_string()),
        match s.unclean_election {
            Some(true) => "ON",
            Some(false) => "off",
            None => "unknown",
        }
    );
    if s.unclean_election == Some(true) {
        return Finding::fail(
            "durability",
            topic,
            format!("{shown}: an out-of-sync replica may become leader and drop committed records"),
            "set unclean.leader.election.enable=false on the topic",
        );
    }
    if s.replication < 3 || s.min_insync.is_some_and(|n| n < 2) {
        let why = if brokers < 3 {
            format!("this cluster has {brokers} broker(s): fine for a test, not for production")
        } else {
            "a committed record may live on one broker only".to_string()
        };
        return Finding::warn(
            "durability",
            topic,
            format!("{shown}: losing one broker can lose committed records ({why})"),
            "use replication 3 and min.insync.replicas 2 (kafka-configs --alter)",
        );
    }
    Finding::pass("durability", topic, shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::api_versions::{ApiRange, Feature};
    use crate::pipeline::doctor::report::Status;

    #[test]
    fn metadata_versions_name_the_release() {
        assert_eq!(metadata_version(7), Some("3.3-IV3"));
        assert_eq!(metadata_version(33), Some("4.4-IV2"));
        assert_eq!(metadata_version(6), None);
        assert_eq!(metadata_version(99), None);
        let features = |pairs: &[(&str, i16)]| ApiVersions {
            error_code: 0,
            apis: vec![ApiRange {
                key: 68,
                min: 0,
                max: 1,
            }],
            features: pairs
                .iter()
                .map(|(n, l)| Feature {
                    name: n.to_string(),
                    max_level: *l,
                })
                .collect(),
        };
        let f = cluster_finding(
            "b:1",
            &features(&[
                ("metadata.version", 33),
                ("transaction.version", 2),
                ("group.version", 1),
            ]),
        );
        assert_eq!(f.status, Status::Pass);
        assert!(
            f.detail
                .starts_with("Apache Kafka 4.4 (metadata.version 4.4-IV2"),
            "{}",
            f.detail
        );
        assert!(
            f.detail.contains("KIP-890") && f.detail.contains("is available"),
            "{}",
            f.detail
        );
        let old = cluster_finding("b:1", &features(&[]));
        assert_eq!(old.status, Status::Warn);
    }

    #[test]
    fn durability_wants_three_replicas_two_in_sync_and_no_unclean_election() {
        let s = |replication, min_insync, unclean| TopicSettings {
            in_sync: None,
            replication,
            min_insync: Some(min_insync),
            unclean_election: Some(unclean),
        };
        assert_eq!(
            durability_finding("t", &s(3, 2, false), 3).status,
            Status::Pass
        );
        assert_eq!(
            durability_finding("t", &s(1, 1, false), 1).status,
            Status::Warn
        );
        assert_eq!(
            durability_finding("t", &s(3, 1, false), 3).status,
            Status::Warn
        );
        assert_eq!(
            durability_finding("t", &s(3, 2, true), 3).status,
            Status::Fail
        );
    }
}
