//! The consumer group as the broker describes it (DescribeGroups, through librdkafka's group
//! list): its state, its members and what each was assigned, decoded from the consumer
//! protocol's assignment bytes; and this member's own id. For the status page.
//!
//! The classic protocol's members carry their assignment; a KIP-848 (`consumer` protocol) group
//! is not described by DescribeGroups the same way, so its members may come back empty or with
//! an error, which is shown as it is.

use std::time::Duration;

use rdkafka::consumer::Consumer;
use serde::Serialize;

use super::api_versions::{DecodeError, Reader};
use super::consumer::GroupConsumer;

/// One member of the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub id: String,
    pub client_id: String,
    pub host: String,
    /// Topic → partitions, decoded from the member's assignment (empty when it has none).
    pub assignment: Vec<(String, Vec<i32>)>,
    /// Why the assignment could not be decoded, if it could not.
    pub assignment_error: Option<String>,
    /// This process.
    pub this: bool,
}

/// The group as the broker described it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupDescription {
    pub group: String,
    /// This member's id (librdkafka's `rd_kafka_memberid`; None before it joined).
    pub this_member: Option<String>,
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<Member>,
}

/// The consumer protocol's assignment bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("assignment bytes end early or are malformed at byte {at}")]
pub struct AssignmentError {
    pub at: usize,
}

impl From<DecodeError> for AssignmentError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::Short { at, .. } => AssignmentError { at },
            _ => AssignmentError { at: 0 },
        }
    }
}

/// Decode a consumer protocol `Assignment` (version, then `[topic: string, partitions: [int32]]`,
/// then user data, which is not read) into topic → partitions. Empty bytes: no assignment.
pub fn parse_assignment(data: &[u8]) -> Result<Vec<(String, Vec<i32>)>, AssignmentError> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let mut r = Reader::new(data);
    // A length or count that is negative (null) where one is required.
    let size =
        |r: &mut Reader<'_>, n: i64| usize::try_from(n).map_err(|_| AssignmentError { at: r.at });
    r.i16()?; // version
    let n = r.i32()?;
    let topics = size(&mut r, n.into())?;
    let mut out = Vec::new();
    for _ in 0..topics {
        let n = r.i16()?;
        let len = size(&mut r, n.into())?;
        let topic = String::from_utf8_lossy(r.take(len)?).into_owned();
        let n = r.i32()?;
        let partitions = (0..size(&mut r, n.into())?)
            .map(|_| r.i32())
            .collect::<Result<Vec<_>, _>>()?;
        out.push((topic, partitions));
    }
    Ok(out)
}

impl GroupConsumer {
    /// This member's id in its group (None before it joined).
    pub fn member_id(&self) -> Option<String> {
        let rk = self.consumer.client().native_ptr();
        // SAFETY: the handle is alive for `&self`; librdkafka returns a copy (or NULL) that
        // the caller frees with rd_kafka_mem_free, done here after copying it.
        unsafe {
            let id = rdkafka::bindings::rd_kafka_memberid(rk);
            if id.is_null() {
                return None;
            }
            let text = std::ffi::CStr::from_ptr(id).to_string_lossy().into_owned();
            rdkafka::bindings::rd_kafka_mem_free(rk, id.cast());
            (!text.is_empty()).then_some(text)
        }
    }

    /// Ask the broker to describe `group` (one round trip, at most `timeout`).
    pub fn describe_group(
        &self,
        group: &str,
        timeout: Duration,
    ) -> Result<GroupDescription, rdkafka::error::KafkaError> {
        let this_member = self.member_id();
        let list = self.consumer.fetch_group_list(Some(group), timeout)?;
        let info = list.groups().iter().find(|g| g.name() == group);
        let members = info.map(|g| g.members()).unwrap_or_default();
        Ok(GroupDescription {
            group: group.to_string(),
            state: info.map(|g| g.state().to_string()).unwrap_or_default(),
            protocol_type: info
                .map(|g| g.protocol_type().to_string())
                .unwrap_or_default(),
            protocol: info.map(|g| g.protocol().to_string()).unwrap_or_default(),
            members: members
                .iter()
                .map(|m| {
                    let decoded = parse_assignment(m.assignment().unwrap_or_default());
                    Member {
                        id: m.id().to_string(),
                        client_id: m.client_id().to_string(),
                        host: m.client_host().to_string(),
                        this: this_member.as_deref() == Some(m.id()),
                        assignment_error: decoded.as_ref().err().map(|e| e.to_string()),
                        assignment: decoded.unwrap_or_default(),
                    }
                })
                .collect(),
            this_member,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A consumer protocol assignment as Kafka's Java client writes it.
    fn assignment(topics: &[(&str, &[i32])]) -> Vec<u8> {
        let mut out = 1i16.to_be_bytes().to_vec();
        out.extend((topics.len() as i32).to_be_bytes());
        for (topic, partitions) in topics {
            out.extend((topic.len() as i16).to_be_bytes());
            out.extend(topic.as_bytes());
            out.extend((partitions.len() as i32).to_be_bytes());
            for p in *partitions {
                out.extend(p.to_be_bytes());
            }
        }
        out.extend((-1i32).to_be_bytes()); // null user data
        out
    }

    #[test]
    fn assignments_decode_and_malformed_ones_say_where() {
        let bytes = assignment(&[("users", &[0, 2]), ("other", &[])]);
        assert_eq!(
            parse_assignment(&bytes),
            Ok(vec![("users".into(), vec![0, 2]), ("other".into(), vec![])])
        );
        assert_eq!(parse_assignment(&[]), Ok(Vec::new()));
        assert_eq!(
            parse_assignment(&bytes[..9]),
            Err(AssignmentError { at: 8 }),
            "the topic name is cut"
        );
        let mut negative = 0i16.to_be_bytes().to_vec();
        negative.extend((-5i32).to_be_bytes());
        assert_eq!(parse_assignment(&negative), Err(AssignmentError { at: 6 }));
    }
}
