//! ApiVersions **v3** (KIP-511, KIP-584): the flexible encoding (unsigned varints, compact
//! strings and arrays, tagged fields), which is the only version whose answer carries the
//! cluster's finalized features: `metadata.version` (the release), `transaction.version`
//! (KIP-890) and `group.version` (KIP-848's consumer protocol). Sans-I/O, like the v0 codec.
//!
//! Request: header v2 `api_key=18 api_version=3 correlation_id client_id:(i16 len) tags`, body
//! `client_software_name:compact_string client_software_version:compact_string tags`.
//! Response (header v0, as every ApiVersions answer): `correlation_id error_code
//! api_keys:compact_array[key min max tags] throttle_time_ms tags{0: supported features,
//! 1: finalized epoch, 2: finalized features [name max_level min_level tags], 3: zk migration}`.

use super::{ApiRange, ApiVersions, DecodeError, Feature, API_VERSIONS_KEY};

/// The request frame, length prefix included.
pub fn encode_request(correlation_id: i32, client_id: &str) -> Vec<u8> {
    let id = client_id.as_bytes();
    let id_len = id.len().min(i16::MAX as usize);
    let mut body = Vec::with_capacity(32 + id_len);
    body.extend_from_slice(&API_VERSIONS_KEY.to_be_bytes());
    body.extend_from_slice(&3i16.to_be_bytes());
    body.extend_from_slice(&correlation_id.to_be_bytes());
    body.extend_from_slice(&(id_len as i16).to_be_bytes());
    body.extend_from_slice(&id[..id_len]);
    body.push(0); // header tags
    compact_string(&mut body, "eosflow");
    compact_string(&mut body, env!("CARGO_PKG_VERSION"));
    body.push(0); // body tags
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as i32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

fn compact_string(out: &mut Vec<u8>, s: &str) {
    uvarint(out, s.len() as u64 + 1);
    out.extend_from_slice(s.as_bytes());
}

fn uvarint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A big-endian reader over a response frame (also the group's assignment bytes,
/// [`crate::kafka::group`]).
pub(crate) struct Reader<'a> {
    frame: &'a [u8],
    /// The offset of the next byte.
    pub(crate) at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(frame: &'a [u8]) -> Self {
        Reader { frame, at: 0 }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let bytes = self
            .frame
            .get(self.at..self.at + n)
            .ok_or(DecodeError::Short {
                needed: n,
                at: self.at,
                len: self.frame.len(),
            })?;
        self.at += n;
        Ok(bytes)
    }

    pub(crate) fn i16(&mut self) -> Result<i16, DecodeError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(DecodeError::Short {
            needed: 1,
            at: self.at,
            len: self.frame.len(),
        })
    }

    /// A compact array's length (`None` for a null array).
    fn len(&mut self) -> Result<Option<usize>, DecodeError> {
        let n = self.uvarint()?;
        Ok(n.checked_sub(1).map(|n| n as usize))
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let n = self.len()?.unwrap_or(0);
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }

    /// Tagged fields: each handed to `f` with its tag and bytes.
    fn tags(&mut self, mut f: impl FnMut(u64, &'a [u8])) -> Result<(), DecodeError> {
        for _ in 0..self.uvarint()? {
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            f(tag, self.take(size)?);
        }
        Ok(())
    }
}

/// Decode a v3 response frame (without its length prefix). A broker that does not speak v3
/// answers UNSUPPORTED_VERSION in the v0 layout: decode that with the v0 codec instead.
pub fn decode_response(
    frame: &[u8],
    expected_correlation: i32,
) -> Result<ApiVersions, DecodeError> {
    let mut r = Reader { frame, at: 0 };
    let correlation = r.i32()?;
    if correlation != expected_correlation {
        return Err(DecodeError::Correlation {
            expected: expected_correlation,
            got: correlation,
        });
    }
    let error_code = r.i16()?;
    let count = r.len()?.unwrap_or(0);
    let mut apis = Vec::with_capacity(count.min(frame.len() / 7));
    for _ in 0..count {
        apis.push(ApiRange {
            key: r.i16()?,
            min: r.i16()?,
            max: r.i16()?,
        });
        r.tags(|_, _| {})?;
    }
    r.i32()?; // throttle_time_ms
    let mut finalized: Option<&[u8]> = None;
    r.tags(|tag, bytes| {
        if tag == 2 {
            finalized = Some(bytes);
        }
    })?;
    let mut features = Vec::new();
    if let Some(bytes) = finalized {
        let mut f = Reader {
            frame: bytes,
            at: 0,
        };
        for _ in 0..f.len()?.unwrap_or(0) {
            let name = f.string()?;
            let max_level = f.i16()?;
            f.i16()?; // min_version_level
            f.tags(|_, _| {})?;
            features.push(Feature { name, max_level });
        }
    }
    Ok(ApiVersions {
        error_code,
        apis,
        features,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v3 answer as Kafka 4.4 writes it (two APIs, two finalized features).
    fn answer() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&7i32.to_be_bytes());
        b.extend_from_slice(&0i16.to_be_bytes());
        uvarint(&mut b, 3);
        for (key, min, max) in [(18i16, 0i16, 4i16), (26, 0, 5)] {
            for v in [key, min, max] {
                b.extend_from_slice(&v.to_be_bytes());
            }
            b.push(0);
        }
        b.extend_from_slice(&0i32.to_be_bytes());
        let mut features = Vec::new();
        uvarint(&mut features, 3);
        for (name, level) in [("metadata.version", 33i16), ("transaction.version", 2)] {
            compact_string(&mut features, name);
            features.extend_from_slice(&level.to_be_bytes());
            features.extend_from_slice(&1i16.to_be_bytes());
            features.push(0);
        }
        uvarint(&mut b, 2); // two tagged fields: the epoch (1) and the features (2)
        uvarint(&mut b, 1);
        uvarint(&mut b, 8);
        b.extend_from_slice(&5i64.to_be_bytes());
        uvarint(&mut b, 2);
        uvarint(&mut b, features.len() as u64);
        b.extend_from_slice(&features);
        b
    }

    #[test]
    fn apis_and_finalized_features_decode() {
        let v = decode_response(&answer(), 7).expect("decodes");
        assert_eq!(v.error_code, 0);
        assert_eq!(v.get(26).map(|a| a.max), Some(5));
        assert_eq!(v.feature("metadata.version"), Some(33));
        assert_eq!(v.feature("transaction.version"), Some(2));
        assert_eq!(v.feature("group.version"), None);
        assert!(decode_response(&answer()[..20], 7).is_err(), "truncated");
        assert!(decode_response(&answer(), 8).is_err(), "correlation");
    }

    #[test]
    fn the_request_is_a_v3_flexible_frame() {
        let frame = encode_request(9, "doctor");
        assert_eq!(&frame[4..8], &[0, 18, 0, 3]);
        assert_eq!(
            i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize,
            frame.len() - 4
        );
        assert!(frame.ends_with(&[0]), "body tags");
    }
}
