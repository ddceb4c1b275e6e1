//! The sans-I/O core: the exactly-once protocol as pure state.
//!
//! Nothing here touches Kafka, a database or a clock; the adapters feed events in (a record was
//! polled, partitions were assigned, a batch was committed) and act on the decisions that come out
//! (seek here, write this batch, commit these offsets). Tests — including the property tests of
//! failure and replay — drive it directly.
//!
//! - [`processor`]: consumer side — per-partition positions, batching by count and time, stale
//!   redelivery filtering, what to write and commit, what to seek to on assignment.
//! - [`producer`]: producer side — the cursor over `(seed, page, index)`, how a run is cut into
//!   transactions, and what to do after each class of transaction error.

pub mod processor;
pub mod producer;

/// A Kafka partition number.
pub type Partition = i32;
