//! The in-process demo broker: librdkafka's MockCluster on a loopback TCP port.
//!
//! It speaks the Kafka protocol well enough for produce, consume, groups and the transactional API
//! calls, but (GROUND.md) it does NOT hide aborted records from read_committed consumers and does
//! not fence zombies. eosflow's exactly-once does not depend on either; the demo says so when it
//! starts. The cluster handle is not `Send`: keep it on the thread that created it and hand
//! [`DemoBroker::bootstrap`] to clients on other threads.

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use super::KafkaAdapterError;

/// A running MockCluster.
pub struct DemoBroker {
    cluster: MockCluster<'static, DefaultProducerContext>,
    bootstrap: String,
}

impl DemoBroker {
    /// Start a cluster of `brokers` brokers.
    pub fn start(brokers: i32) -> Result<Self, KafkaAdapterError> {
        let cluster = MockCluster::new(brokers).map_err(|source| KafkaAdapterError::Create {
            what: "in-memory demo broker (MockCluster)",
            bootstrap: "in-process".into(),
            source,
        })?;
        let bootstrap = cluster.bootstrap_servers();
        Ok(DemoBroker { cluster, bootstrap })
    }

    /// The `host:port` list clients connect to.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Create a topic (the Admin API's CreateTopics times out against MockCluster).
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<(), KafkaAdapterError> {
        self.cluster
            .create_topic(topic, partitions, 1)
            .map_err(|source| KafkaAdapterError::Operation {
                operation: "MockCluster create_topic",
                bootstrap: self.bootstrap.clone(),
                source,
            })
    }

    /// The cluster handle, for fault injection in tests.
    pub fn cluster(&self) -> &MockCluster<'static, DefaultProducerContext> {
        &self.cluster
    }
}
