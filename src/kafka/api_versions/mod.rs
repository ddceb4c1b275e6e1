//! A tiny Kafka ApiVersions client: which APIs (and versions) a broker advertises.
//!
//! librdkafka negotiates ApiVersions itself but does not expose the answer, and whether a broker
//! implements transactions is exactly what `eosflow doctor` wants to know (tansu 0.6 has no
//! EndTxn). So this speaks the one request itself, over plain TCP or TLS:
//!
//! - [`encode_request`] / [`decode_response`]: sans-I/O, ApiVersions **v0** (request header v1,
//!   no tagged fields), the fallback every Kafka broker understands.
//! - `flexible`: ApiVersions **v3**, asked first, whose answer also carries the finalized
//!   features (the release's `metadata.version`, `transaction.version`, `group.version`).
//! - [`exchange`]: one request and response over any `Read + Write` stream.
//! - [`request`]: connect to the first reachable `host:port` of a bootstrap list, within a
//!   deadline, and exchange.
//!
//! Frame (big-endian): request `len:i32 api_key=18:i16 api_version=0:i16 correlation_id:i32
//! client_id:(len:i16 bytes)`; response `len:i32 correlation_id:i32 error_code:i16
//! count:i32 [api_key:i16 min:i16 max:i16]*count`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use openssl::pkey::PKey;
use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};

use crate::secret::Secret;

/// The ApiVersions API key.
pub const API_VERSIONS_KEY: i16 = 18;
/// `UNSUPPORTED_VERSION`.
pub const UNSUPPORTED_VERSION: i16 = 35;
/// Largest response accepted: a real answer is a few hundred bytes; anything huge is not Kafka
/// (an HTTP server's `HTTP/1.1 …` reads as a 1.2 GB length).
pub const MAX_RESPONSE: usize = 1 << 20;

/// The APIs a transactional producer needs (key, name).
pub const TRANSACTION_APIS: [(i16, &str); 5] = [
    (22, "InitProducerId"),
    (24, "AddPartitionsToTxn"),
    (25, "AddOffsetsToTxn"),
    (26, "EndTxn"),
    (28, "TxnOffsetCommit"),
];

/// The API an idempotent producer needs beyond produce/metadata (key, name).
pub const IDEMPOTENCE_APIS: [(i16, &str); 1] = [(22, "InitProducerId")];

/// One advertised API: its key and the versions the broker accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRange {
    pub key: i16,
    pub min: i16,
    pub max: i16,
}

/// A finalized cluster feature (ApiVersions v3): its name and level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    pub name: String,
    pub max_level: i16,
}

/// A decoded ApiVersions response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersions {
    pub error_code: i16,
    pub apis: Vec<ApiRange>,
    /// The finalized features (empty from a broker that answered v0 only).
    pub features: Vec<Feature>,
}

impl ApiVersions {
    /// The advertised range of API `key`, if any.
    pub fn get(&self, key: i16) -> Option<ApiRange> {
        self.apis.iter().copied().find(|a| a.key == key)
    }

    /// The finalized level of feature `name` (`metadata.version`, `transaction.version`,
    /// `group.version`, …).
    pub fn feature(&self, name: &str) -> Option<i16> {
        self.features
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.max_level)
    }

    /// The names of `wanted` that are not advertised.
    pub fn missing<'a>(&self, wanted: &[(i16, &'a str)]) -> Vec<(i16, &'a str)> {
        wanted
            .iter()
            .copied()
            .filter(|(key, _)| self.get(*key).is_none())
            .collect()
    }
}

/// Why a response could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("response too short: {needed} bytes needed at offset {at}, {len} in the frame")]
    Short {
        needed: usize,
        at: usize,
        len: usize,
    },
    #[error("response answers correlation id {got}, not {expected}")]
    Correlation { expected: i32, got: i32 },
    #[error("response frame of {0} bytes is not a Kafka answer (at most {MAX_RESPONSE} expected)")]
    FrameSize(i64),
}

/// Errors of one ApiVersions exchange with a broker.
#[derive(Debug, thiserror::Error)]
pub enum ApiVersionsError {
    #[error("no broker address in {0:?}")]
    NoAddress(String),
    #[error("cannot resolve {addr}: {detail}")]
    Resolve { addr: String, detail: String },
    #[error("cannot connect to {addr}: {detail}")]
    Connect { addr: String, detail: String },
    #[error("TLS to {addr} failed: {detail}")]
    Tls { addr: String, detail: String },
    #[error("{addr} did not answer ApiVersions: {detail}")]
    Io { addr: String, detail: String },
    #[error("{addr} answered ApiVersions with something that is not Kafka: {source}")]
    Decode { addr: String, source: DecodeError },
    #[error("{addr} answered ApiVersions with error code {code}{}", if *code == UNSUPPORTED_VERSION { " (UNSUPPORTED_VERSION)" } else { "" })]
    Broker { addr: String, code: i16 },
}

/// How to reach the broker: plain TCP (`PLAINTEXT`, `SASL_PLAINTEXT`: Kafka answers ApiVersions
/// before authentication) or TLS (`SSL`, `SASL_SSL`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Transport {
    #[default]
    Plain,
    Tls(TlsOptions),
}

/// The librdkafka TLS properties this client honours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// `ssl.ca.location`: PEM file or directory of the CAs to trust instead of the system
    /// store (`probe`: the system store).
    pub ca_file: Option<String>,
    /// `ssl.certificate.location` and `ssl.key.location`: a client certificate (mutual TLS).
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    /// `ssl.key.password`: the passphrase of an encrypted key.
    pub key_password: Option<Secret>,
    /// `enable.ssl.certificate.verification` (default true).
    pub verify: bool,
    /// `ssl.endpoint.identification.algorithm` is `https` (librdkafka's default) rather than `none`.
    pub verify_hostname: bool,
}

impl Transport {
    /// The transport the librdkafka `properties` describe; an unknown `security.protocol` is an
    /// error naming it.
    pub fn from_properties(properties: &[(String, String)]) -> Result<Transport, String> {
        let get = |key: &str| {
            properties
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        match get("security.protocol")
            .unwrap_or("plaintext")
            .to_ascii_lowercase()
            .as_str()
        {
            "plaintext" | "sasl_plaintext" => Ok(Transport::Plain),
            "ssl" | "sasl_ssl" => Ok(Transport::Tls(TlsOptions {
                ca_file: get("ssl.ca.location").map(str::to_string),
                cert_file: get("ssl.certificate.location").map(str::to_string),
                key_file: get("ssl.key.location").map(str::to_string),
                key_password: get("ssl.key.password").map(Secret::new),
                verify: get("enable.ssl.certificate.verification")
                    .is_none_or(|v| !v.eq_ignore_ascii_case("false")),
                verify_hostname: get("ssl.endpoint.identification.algorithm")
                    .is_none_or(|v| !v.eq_ignore_ascii_case("none")),
            })),
            other => Err(format!(
                "unknown security.protocol {other:?} (expected plaintext, ssl, sasl_plaintext or sasl_ssl)"
            )),
        }
    }
}

/// The request frame, length prefix included.
pub fn encode_request(correlation_id: i32, client_id: &str) -> Vec<u8> {
    let id = client_id.as_bytes();
    let id_len = id.len().min(i16::MAX as usize);
    let mut body = Vec::with_capacity(10 + id_len);
    body.extend_from_slice(&API_VERSIONS_KEY.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&correlation_id.to_be_bytes());
    body.extend_from_slice(&(id_len as i16).to_be_bytes());
    body.extend_from_slice(&id[..id_len]);
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as i32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// The size announced by a response's 4-byte length prefix, checked against [`MAX_RESPONSE`].
pub fn frame_len(prefix: [u8; 4]) -> Result<usize, DecodeError> {
    let len = i32::from_be_bytes(prefix);
    usize::try_from(len)
        .ok()
        .filter(|&n| n <= MAX_RESPONSE)
        .ok_or(DecodeError::FrameSize(i64::from(len)))
}

/// Decode a response frame (without its length prefix). Bytes after the API list (fields of
/// later versions) are ignored.
pub fn decode_response(
    frame: &[u8],
    expected_correlation: i32,
) -> Result<ApiVersions, DecodeError> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], DecodeError> {
        let bytes = frame.get(at..at + n).ok_or(DecodeError::Short {
            needed: n,
            at,
            len: frame.len(),
        })?;
        at += n;
        Ok(bytes)
    };
    let i16_at = |b: &[u8]| i16::from_be_bytes([b[0], b[1]]);
    let i32_at = |b: &[u8]| i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let correlation = i32_at(take(4)?);
    if correlation != expected_correlation {
        return Err(DecodeError::Correlation {
            expected: expected_correlation,
            got: correlation,
        });
    }
    let error_code = i16_at(take(2)?);
    let count = i32_at(take(4)?).max(0) as usize;
    let mut apis = Vec::with_capacity(count.min(frame.len() / 6));
    for _ in 0..count {
        let entry = take(6)?;
        apis.push(ApiRange {
            key: i16_at(&entry[0..2]),
            min: i16_at(&entry[2..4]),
            max: i16_at(&entry[4..6]),
        });
    }
    Ok(ApiVersions {
        error_code,
        apis,
        features: Vec::new(),
    })
}

/// One request and its response over `stream`; `addr` names the peer in errors. A response with
/// an error code and no API list is an error; one with both (UNSUPPORTED_VERSION) is returned.
pub fn exchange<S: Read + Write>(
    stream: &mut S,
    addr: &str,
    correlation_id: i32,
) -> Result<ApiVersions, ApiVersionsError> {
    let io = |e: std::io::Error| {
        ApiVersionsError::Io {
        addr: addr.to_string(),
        detail: match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                "timed out waiting for the answer".to_string()
            }
            std::io::ErrorKind::UnexpectedEof => {
                "the connection was closed without an answer (a TLS listener? check security.protocol)".to_string()
            }
            _ => e.to_string(),
        },
    }
    };
    let decode = |source| ApiVersionsError::Decode {
        addr: addr.to_string(),
        source,
    };
    // v3 first (it carries the finalized features); a broker that refuses it, or whose answer
    // does not decode (librdkafka's MockCluster), is asked v0 on the same connection.
    let mut ask = |request: Vec<u8>| -> Result<Vec<u8>, ApiVersionsError> {
        stream
            .write_all(&request)
            .and_then(|()| stream.flush())
            .map_err(io)?;
        let mut prefix = [0u8; 4];
        stream.read_exact(&mut prefix).map_err(io)?;
        let mut frame = vec![0u8; frame_len(prefix).map_err(decode)?];
        stream.read_exact(&mut frame).map_err(io)?;
        Ok(frame)
    };
    let frame = ask(flexible::encode_request(correlation_id, "eosflow-doctor"))?;
    let versions = match flexible::decode_response(&frame, correlation_id) {
        Ok(v) if v.error_code != UNSUPPORTED_VERSION => v,
        // UNSUPPORTED_VERSION (in whichever layout) or an answer that does not decode: v0.
        _ => {
            let retry = correlation_id.wrapping_add(1);
            let frame = ask(encode_request(retry, "eosflow-doctor"))?;
            decode_response(&frame, retry).map_err(decode)?
        }
    };
    if versions.error_code != 0 && versions.apis.is_empty() {
        return Err(ApiVersionsError::Broker {
            addr: addr.to_string(),
            code: versions.error_code,
        });
    }
    Ok(versions)
}

/// `host:port` entries of a bootstrap list, with any `PROTOCOL://` prefix removed.
pub fn bootstrap_addresses(bootstrap: &str) -> Vec<String> {
    bootstrap
        .split(',')
        .map(|s| s.trim())
        .map(|s| s.split_once("://").map_or(s, |(_, rest)| rest))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Ask the first bootstrap server that accepts a connection, within `timeout` overall. Returns
/// the address that answered and its answer.
pub fn request(
    bootstrap: &str,
    transport: &Transport,
    timeout: Duration,
) -> Result<(String, ApiVersions), ApiVersionsError> {
    let deadline = Instant::now() + timeout;
    let addresses = bootstrap_addresses(bootstrap);
    let mut last = ApiVersionsError::NoAddress(bootstrap.to_string());
    for addr in addresses {
        match connect(&addr, deadline) {
            Ok(tcp) => return ask(&addr, tcp, transport, deadline).map(|v| (addr, v)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

fn connect(addr: &str, deadline: Instant) -> Result<TcpStream, ApiVersionsError> {
    use super::reach::Unreachable;
    super::reach::connect(addr, deadline).map_err(|why| match why {
        Unreachable::UnknownHost(detail) => ApiVersionsError::Resolve {
            addr: addr.to_string(),
            detail,
        },
        Unreachable::Refused(detail) | Unreachable::Other(detail) => ApiVersionsError::Connect {
            addr: addr.to_string(),
            detail,
        },
        Unreachable::TimedOut => ApiVersionsError::Connect {
            addr: addr.to_string(),
            detail: "connection timed out".into(),
        },
    })
}

fn ask(
    addr: &str,
    tcp: TcpStream,
    transport: &Transport,
    deadline: Instant,
) -> Result<ApiVersions, ApiVersionsError> {
    let io = |e: std::io::Error| ApiVersionsError::Io {
        addr: addr.to_string(),
        detail: e.to_string(),
    };
    tcp.set_read_timeout(Some(remaining(deadline)))
        .map_err(io)?;
    tcp.set_write_timeout(Some(remaining(deadline)))
        .map_err(io)?;
    match transport {
        Transport::Plain => {
            let mut tcp = tcp;
            exchange(&mut tcp, addr, 1)
        }
        Transport::Tls(options) => {
            let tls_err = |detail: String| ApiVersionsError::Tls {
                addr: addr.to_string(),
                detail,
            };
            let connector = tls_connector(options).map_err(&tls_err)?;
            let host = addr
                .rsplit_once(':')
                .map_or(addr, |(h, _)| h)
                .trim_start_matches('[')
                .trim_end_matches(']');
            let mut config = connector.configure().map_err(|e| tls_err(e.to_string()))?;
            if !options.verify_hostname {
                config = config.verify_hostname(false);
            }
            let mut stream = config
                .connect(host, tcp)
                .map_err(|e| tls_err(e.to_string()))?;
            exchange(&mut stream, addr, 1)
        }
    }
}

fn tls_connector(options: &TlsOptions) -> Result<SslConnector, String> {
    let ssl = |what: &str, e: openssl::error::ErrorStack| format!("{what}: {e}");
    let mut builder =
        SslConnector::builder(SslMethod::tls_client()).map_err(|e| ssl("TLS setup", e))?;
    if let Some(ca) = options.ca_file.as_deref().filter(|ca| *ca != "probe") {
        let path = Path::new(ca);
        let (file, dir) = if path.is_dir() {
            (None, Some(path))
        } else {
            (Some(path), None)
        };
        builder
            .load_verify_locations(file, dir)
            .map_err(|e| ssl(&format!("ssl.ca.location {ca}"), e))?;
    }
    if let Some(cert) = &options.cert_file {
        builder
            .set_certificate_chain_file(cert)
            .map_err(|e| ssl(&format!("ssl.certificate.location {cert}"), e))?;
    }
    match (&options.key_file, &options.key_password) {
        (Some(key), None) => builder
            .set_private_key_file(key, SslFiletype::PEM)
            .map_err(|e| ssl(&format!("ssl.key.location {key}"), e))?,
        (Some(key), Some(password)) => {
            let pem = std::fs::read(key).map_err(|e| format!("ssl.key.location {key}: {e}"))?;
            let pkey = PKey::private_key_from_pem_passphrase(&pem, password.expose().as_bytes())
                .map_err(|e| ssl(&format!("ssl.key.location {key} with ssl.key.password"), e))?;
            builder
                .set_private_key(&pkey)
                .map_err(|e| ssl(&format!("ssl.key.location {key}"), e))?;
        }
        (None, _) => {}
    }
    if !options.verify {
        builder.set_verify(SslVerifyMode::NONE);
    }
    Ok(builder.build())
}

mod flexible;
pub(crate) use flexible::Reader;

#[cfg(test)]
mod tests;
