//! Kafka security options: SSL/TLS and SASL, as first-class settings mapped onto librdkafka
//! properties, merged with the pass-through properties and checked before any client exists.
//!
//! | option | librdkafka property |
//! |---|---|
//! | `--security-protocol` | `security.protocol` (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL) |
//! | `--sasl-mechanism` | `sasl.mechanisms` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) |
//! | `--sasl-username`, `--sasl-password` | `sasl.username`, `sasl.password` |
//! | `--ssl-ca-location` | `ssl.ca.location` (a PEM file, a directory, or `probe`) |
//! | `--ssl-certificate-location`, `--ssl-key-location` | `ssl.certificate.location`, `ssl.key.location` (client certificate) |
//! | `--ssl-key-password` | `ssl.key.password` |
//!
//! The checks run on the effective properties (first-class options and pass-through together),
//! so `--kafka-property security.protocol=SASL_SSL --sasl-mechanism PLAIN` is as valid as the
//! first-class spelling. librdkafka itself would accept many mistakes silently (a SASL password
//! with PLAINTEXT is ignored, the default mechanism GSSAPI is not built in): here each is an error
//! naming the option.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rdkafka::config::ClientConfig;

use crate::secret::Secret;

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Parse a name, in any case (as librdkafka does).
    pub fn parse(text: &str) -> Result<Self, SecurityError> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| SecurityError::Unknown {
                property: "security.protocol",
                value: text.to_string(),
                expected: "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
            })
    }

    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    pub fn uses_ssl(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

/// `sasl.mechanisms` offered as a first-class option (others can still be passed through).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    pub const ALL: [SaslMechanism; 3] = [
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    /// Parse a name, in any case.
    pub fn parse(text: &str) -> Result<Self, SecurityError> {
        Self::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| SecurityError::Unknown {
                property: "sasl.mechanisms",
                value: text.to_string(),
                expected: "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
            })
    }
}

/// The first-class security options (each `None` when not given anywhere).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KafkaSecurity {
    pub protocol: Option<SecurityProtocol>,
    pub sasl_mechanism: Option<SaslMechanism>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<Secret>,
    pub ssl_ca_location: Option<PathBuf>,
    pub ssl_certificate_location: Option<PathBuf>,
    pub ssl_key_location: Option<PathBuf>,
    pub ssl_key_password: Option<Secret>,
}

/// Each first-class option's librdkafka property and flag (for messages).
const OPTIONS: [(&str, &str); 8] = [
    ("security.protocol", "--security-protocol"),
    ("sasl.mechanisms", "--sasl-mechanism"),
    ("sasl.username", "--sasl-username"),
    ("sasl.password", "--sasl-password"),
    ("ssl.ca.location", "--ssl-ca-location"),
    ("ssl.certificate.location", "--ssl-certificate-location"),
    ("ssl.key.location", "--ssl-key-location"),
    ("ssl.key.password", "--ssl-key-password"),
];

/// `property (--flag)`, or the property alone when it has no flag.
fn label(property: &str) -> String {
    match OPTIONS.iter().find(|(p, _)| *p == property) {
        Some((p, flag)) => format!("{p} ({flag})"),
        None => property.to_string(),
    }
}

fn labels(properties: &[&str]) -> String {
    properties
        .iter()
        .map(|p| label(p))
        .collect::<Vec<_>>()
        .join(", ")
}

impl KafkaSecurity {
    /// The librdkafka properties of the options that are set.
    pub fn properties(&self) -> Vec<(String, String)> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let values = [
            self.protocol.map(|p| p.name().to_string()),
            self.sasl_mechanism.map(|m| m.name().to_string()),
            self.sasl_username.clone(),
            self.sasl_password.as_ref().map(|s| s.expose().to_string()),
            path(&self.ssl_ca_location),
            path(&self.ssl_certificate_location),
            path(&self.ssl_key_location),
            self.ssl_key_password
                .as_ref()
                .map(|s| s.expose().to_string()),
        ];
        OPTIONS
            .iter()
            .zip(values)
            .filter_map(|((property, _), value)| Some((property.to_string(), value?)))
            .collect()
    }

    /// Every secret among the options (for [`crate::secret::register`]).
    pub fn secrets(&self) -> Vec<&str> {
        [&self.sasl_password, &self.ssl_key_password]
            .into_iter()
            .flatten()
            .map(Secret::expose)
            .collect()
    }
}

/// What is wrong with the security settings; never shows a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityError {
    #[error("unknown {} {value:?}: expected {expected}", label(property))]
    Unknown {
        property: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{} is given twice with different values: as an option and as a pass-through Kafka property (--kafka-property, EOSFLOW_KAFKA_PROPERTIES or [kafka.properties]); keep one", label(property))]
    Twice { property: String },
    #[error("{options} given, but security.protocol is {protocol}: SASL options need SASL_SSL or SASL_PLAINTEXT (--security-protocol)")]
    NeedsSasl {
        options: String,
        protocol: &'static str,
    },
    #[error("{options} given, but security.protocol is {protocol}: SSL options need SSL or SASL_SSL (--security-protocol)")]
    NeedsSsl {
        options: String,
        protocol: &'static str,
    },
    #[error("security.protocol {protocol} needs a SASL mechanism: --sasl-mechanism PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (librdkafka's default, GSSAPI/Kerberos, is not built into eosflow)")]
    NoMechanism { protocol: &'static str },
    #[error("SASL {mechanism} needs {}", label(missing))]
    Missing {
        mechanism: String,
        missing: &'static str,
    },
    #[error("{} needs {}", label(given), label(needed))]
    Needs {
        given: &'static str,
        needed: &'static str,
    },
    #[error("{} {path}: {detail}", label(property))]
    File {
        property: &'static str,
        path: String,
        detail: String,
    },
    #[error("{what} is not supported by this eosflow build: its librdkafka lacks the {feature:?} feature (builtin.features: {features})")]
    Unsupported {
        what: String,
        feature: &'static str,
        features: String,
    },
}

/// librdkafka's alternative spellings of the properties checked here.
fn canonical_key(key: &str) -> String {
    match key.trim() {
        "sasl.mechanism" => "sasl.mechanisms".to_string(),
        other => other.to_string(),
    }
}

/// The properties to give librdkafka: the first-class options, then the pass-through ones
/// (`passthrough` in increasing precedence: file, env, flags). A property set both ways must
/// have the same value. The result is checked ([`check`]) before it is returned.
pub fn effective_properties(
    security: &KafkaSecurity,
    passthrough: &[(String, String)],
) -> Result<Vec<(String, String)>, SecurityError> {
    let first = security.properties();
    let passthrough: Vec<(String, String)> = passthrough
        .iter()
        .map(|(k, v)| (canonical_key(k), v.clone()))
        .collect();
    let mut merged: BTreeMap<String, String> = passthrough.iter().cloned().collect();
    for (key, value) in &first {
        if let Some(other) = merged.get(key) {
            let same = if key == "security.protocol" || key == "sasl.mechanisms" {
                other.trim().eq_ignore_ascii_case(value)
            } else {
                other == value
            };
            if !same {
                return Err(SecurityError::Twice {
                    property: key.clone(),
                });
            }
        }
        merged.insert(key.clone(), value.clone());
    }
    check(&merged)?;
    Ok(first.into_iter().chain(passthrough).collect())
}

/// Check effective librdkafka properties: known values, SASL options only with a SASL protocol
/// (and then a mechanism with its credentials), SSL options only with an SSL protocol, a
/// client certificate with its key, readable files, and a librdkafka built with what they need.
pub fn check(props: &BTreeMap<String, String>) -> Result<(), SecurityError> {
    let get = |k: &str| props.get(k).map(String::as_str);
    let protocol = match get("security.protocol") {
        Some(text) => SecurityProtocol::parse(text)?,
        None => SecurityProtocol::Plaintext,
    };
    let present = |keys: &[&'static str]| -> Vec<&'static str> {
        keys.iter().copied().filter(|k| get(k).is_some()).collect()
    };
    let sasl = present(&["sasl.mechanisms", "sasl.username", "sasl.password"]);
    if !protocol.uses_sasl() && !sasl.is_empty() {
        return Err(SecurityError::NeedsSasl {
            options: labels(&sasl),
            protocol: protocol.name(),
        });
    }
    let ssl = present(&[
        "ssl.ca.location",
        "ssl.certificate.location",
        "ssl.key.location",
        "ssl.key.password",
    ]);
    if !protocol.uses_ssl() && !ssl.is_empty() {
        return Err(SecurityError::NeedsSsl {
            options: labels(&ssl),
            protocol: protocol.name(),
        });
    }
    let mut needs_feature = Vec::new();
    if protocol.uses_ssl() {
        needs_feature.push((format!("security.protocol {}", protocol.name()), "ssl"));
    }
    if protocol.uses_sasl() {
        let text = get("sasl.mechanisms").ok_or(SecurityError::NoMechanism {
            protocol: protocol.name(),
        })?;
        // Other mechanisms (OAUTHBEARER, GSSAPI) may be passed through; librdkafka checks them.
        let mechanism = text.trim().to_ascii_uppercase();
        let feature = match SaslMechanism::parse(text) {
            Ok(m) => {
                for missing in ["sasl.username", "sasl.password"] {
                    if get(missing).is_none() {
                        return Err(SecurityError::Missing {
                            mechanism: m.name().to_string(),
                            missing,
                        });
                    }
                }
                if m == SaslMechanism::Plain && !protocol.uses_ssl() {
                    tracing::warn!("SASL PLAIN over SASL_PLAINTEXT sends the password unencrypted; use SASL_SSL outside a trusted network");
                }
                Some(if m == SaslMechanism::Plain {
                    "sasl_plain"
                } else {
                    "sasl_scram"
                })
            }
            Err(_) if mechanism == "GSSAPI" => Some("sasl_gssapi"),
            Err(_) if mechanism == "OAUTHBEARER" => Some("sasl_oauthbearer"),
            Err(_) => None,
        };
        if let Some(feature) = feature {
            needs_feature.push((format!("SASL mechanism {mechanism}"), feature));
        }
    }
    match (
        get("ssl.certificate.location"),
        get("ssl.key.location"),
        get("ssl.key.password"),
    ) {
        (Some(_), None, _) => {
            return Err(SecurityError::Needs {
                given: "ssl.certificate.location",
                needed: "ssl.key.location",
            })
        }
        (None, Some(_), _) => {
            return Err(SecurityError::Needs {
                given: "ssl.key.location",
                needed: "ssl.certificate.location",
            })
        }
        (_, None, Some(_)) => {
            return Err(SecurityError::Needs {
                given: "ssl.key.password",
                needed: "ssl.key.location",
            })
        }
        _ => {}
    }
    for property in [
        "ssl.ca.location",
        "ssl.certificate.location",
        "ssl.key.location",
    ] {
        if let Some(path) = get(property) {
            check_file(property, path)?;
        }
    }
    for (what, feature) in needs_feature {
        let features = builtin_features();
        if !features.split(',').any(|f| f == feature) {
            return Err(SecurityError::Unsupported {
                what,
                feature,
                features: features.to_string(),
            });
        }
    }
    Ok(())
}

/// A location must be a readable file (`ssl.ca.location` may also be a directory of CA
/// certificates, or `probe` for librdkafka's search of the system's usual places).
fn check_file(property: &'static str, path: &str) -> Result<(), SecurityError> {
    if property == "ssl.ca.location" && path == "probe" {
        return Ok(());
    }
    let err = |detail: String| SecurityError::File {
        property,
        path: path.to_string(),
        detail,
    };
    let meta = std::fs::metadata(Path::new(path)).map_err(|e| err(e.to_string()))?;
    if meta.is_dir() {
        if property == "ssl.ca.location" {
            return Ok(());
        }
        return Err(err("is a directory, expected a PEM file".into()));
    }
    std::fs::File::open(path)
        .map(|_| ())
        .map_err(|e| err(format!("cannot be read: {e}")))
}

/// librdkafka's `builtin.features` of this build, e.g. `gzip,snappy,ssl,sasl,...,sasl_scram`.
pub fn builtin_features() -> &'static str {
    static FEATURES: OnceLock<String> = OnceLock::new();
    FEATURES.get_or_init(|| {
        ClientConfig::new()
            .create_native_config()
            .and_then(|c| c.get("builtin.features"))
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests;
