//! Confluent wire format: `[0x00][schema id: u32 big-endian][Avro binary]`.

/// Errors reading a framed record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("empty value (a tombstone or a record with no payload)")]
    Empty,
    #[error("bad magic byte {found:#04x}: not Confluent wire format (expected 0x00 followed by a 4-byte schema id)")]
    BadMagic { found: u8 },
    #[error("value of {len} bytes is too short for the Confluent header (needs at least 5)")]
    Truncated { len: usize },
}

/// Frame an Avro body with its schema id.
pub fn frame(schema_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + body.len());
    out.push(0);
    out.extend_from_slice(&schema_id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Split a framed value into its schema id and Avro body.
pub fn unframe(bytes: &[u8]) -> Result<(u32, &[u8]), WireError> {
    match bytes {
        [] => Err(WireError::Empty),
        [magic, ..] if *magic != 0 => Err(WireError::BadMagic { found: *magic }),
        [0, a, b, c, d, body @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), body)),
        _ => Err(WireError::Truncated { len: bytes.len() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let framed = frame(0x01020304, b"xyz");
        assert_eq!(framed, [0, 1, 2, 3, 4, b'x', b'y', b'z']);
        assert_eq!(unframe(&framed), Ok((0x01020304, &b"xyz"[..])));
        assert_eq!(unframe(&[]), Err(WireError::Empty));
        assert_eq!(
            unframe(&[1, 0, 0, 0, 1]),
            Err(WireError::BadMagic { found: 1 })
        );
        assert_eq!(unframe(&[0, 0, 1]), Err(WireError::Truncated { len: 3 }));
        assert_eq!(unframe(&[0, 0, 0, 0, 7]), Ok((7, &[][..])));
    }
}
