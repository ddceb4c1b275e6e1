//! Security flags: Kafka SSL/SASL, Schema Registry credentials and CA, the sink password. Each is
//! a flag, an `EOSFLOW_*` variable and (except the sink password) a config-file key, resolved
//! flag > env > file like every other option. Passwords are [`Secret`]s, their env values are
//! hidden from `--help`, and every secret resolved here is registered for scrubbing.

use std::path::PathBuf;

use clap::Args;

use crate::config::{parse_property, parse_property_list, ConfigError, KafkaFile, RegistryFile};
use crate::kafka::security::{
    effective_properties, KafkaSecurity, SaslMechanism, SecurityError, SecurityProtocol,
};
use crate::registry::client::RegistryAuth;
use crate::secret::{self, Secret};

/// Kafka TLS and SASL (Confluent Cloud: `--security-protocol SASL_SSL --sasl-mechanism PLAIN
/// --sasl-username API_KEY` and `EOSFLOW_SASL_PASSWORD=API_SECRET`).
#[derive(Debug, Clone, Default, Args)]
pub struct KafkaSecurityArgs {
    /// PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL (librdkafka security.protocol).
    #[arg(
        long,
        help_heading = "Kafka security",
        env = "EOSFLOW_SECURITY_PROTOCOL",
        value_name = "PROTOCOL"
    )]
    pub security_protocol: Option<String>,
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (sasl.mechanisms); needs a SASL_* protocol.
    #[arg(
        long,
        help_heading = "Kafka security",
        env = "EOSFLOW_SASL_MECHANISM",
        value_name = "MECHANISM"
    )]
    pub sasl_mechanism: Option<String>,
    /// SASL user (Confluent Cloud: the API key).
    #[arg(
        long,
        help_heading = "Kafka security",
        env = "EOSFLOW_SASL_USERNAME",
        value_name = "USER"
    )]
    pub sasl_username: Option<String>,
    /// SASL password (Confluent Cloud: the API secret). Prefer EOSFLOW_SASL_PASSWORD or the
    /// config file: other local users can read a flag in the process list.
    #[arg(
        long,
        help_heading = "Kafka security",
        env = "EOSFLOW_SASL_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub sasl_password: Option<Secret>,
    /// CA certificate(s) (PEM file or directory, or `probe`) to verify the brokers with,
    /// instead of the system's.
    #[arg(
        long,
        help_heading = "Kafka security",
        env = "EOSFLOW_SSL_CA_LOCATION",
        value_name = "PATH"
    )]
    pub ssl_ca_location: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS; needs --ssl-key-location.
    #[arg(
        long,
        help_heading = "Kafka security",
        env = "EOSFLOW_SSL_CERTIFICATE_LOCATION",
        value_name = "PATH"
    )]
    pub ssl_certificate_location: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(
        long,
        help_heading = "Kafka security",
        env = "EOSFLOW_SSL_KEY_LOCATION",
        value_name = "PATH"
    )]
    pub ssl_key_location: Option<PathBuf>,
    /// Password of an encrypted private key. Prefer EOSFLOW_SSL_KEY_PASSWORD or the config file.
    #[arg(
        long,
        help_heading = "Kafka security",
        env = "EOSFLOW_SSL_KEY_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub ssl_key_password: Option<Secret>,
    /// librdkafka properties as one list: KEY=VALUE items separated by commas or newlines (a
    /// comma inside a value is written \,). Overrides [kafka.properties]; --kafka-property
    /// overrides it.
    #[arg(
        help_heading = "Kafka security",
        long = "kafka-properties",
        env = "EOSFLOW_KAFKA_PROPERTIES",
        hide_env_values = true,
        value_name = "K=V,K2=V2"
    )]
    pub kafka_property_list: Option<String>,
}

/// Schema Registry basic auth and TLS.
#[derive(Debug, Clone, Default, Args)]
pub struct RegistryAuthArgs {
    /// Basic-auth user (Confluent Cloud: the registry API key). Or put USER:PASS@ in the URL.
    #[arg(
        long,
        help_heading = "Schema Registry security",
        env = "EOSFLOW_REGISTRY_USERNAME",
        value_name = "USER"
    )]
    pub registry_username: Option<String>,
    /// Basic-auth password. Prefer EOSFLOW_REGISTRY_PASSWORD or the config file.
    #[arg(
        long,
        help_heading = "Schema Registry security",
        env = "EOSFLOW_REGISTRY_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub registry_password: Option<Secret>,
    /// CA certificate(s) (PEM) to trust for an https:// registry, beside the system's.
    #[arg(
        long,
        help_heading = "Schema Registry security",
        env = "EOSFLOW_REGISTRY_CA_LOCATION",
        value_name = "PATH"
    )]
    pub registry_ca_location: Option<PathBuf>,
}

/// The first-class Kafka security options: flag or env, else the file.
pub fn kafka_security(
    args: &KafkaSecurityArgs,
    file: &KafkaFile,
) -> Result<KafkaSecurity, SecurityError> {
    let text = |a: &Option<String>, f: &Option<String>| a.clone().or_else(|| f.clone());
    let path = |a: &Option<PathBuf>, f: &Option<PathBuf>| a.clone().or_else(|| f.clone());
    let secret = |a: &Option<Secret>, f: &Option<Secret>| a.clone().or_else(|| f.clone());
    Ok(KafkaSecurity {
        protocol: text(&args.security_protocol, &file.security_protocol)
            .map(|t| SecurityProtocol::parse(&t))
            .transpose()?,
        sasl_mechanism: text(&args.sasl_mechanism, &file.sasl_mechanism)
            .map(|t| SaslMechanism::parse(&t))
            .transpose()?,
        sasl_username: text(&args.sasl_username, &file.sasl_username),
        sasl_password: secret(&args.sasl_password, &file.sasl_password),
        ssl_ca_location: path(&args.ssl_ca_location, &file.ssl_ca_location),
        ssl_certificate_location: path(
            &args.ssl_certificate_location,
            &file.ssl_certificate_location,
        ),
        ssl_key_location: path(&args.ssl_key_location, &file.ssl_key_location),
        ssl_key_password: secret(&args.ssl_key_password, &file.ssl_key_password),
    })
}

/// Why the Kafka options cannot be resolved: a malformed property, or security settings that do
/// not fit together.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Security(#[from] SecurityError),
}

/// Every librdkafka property: the security options, then the pass-through ones in increasing
/// precedence (`[kafka.properties]`, `EOSFLOW_KAFKA_PROPERTIES`, `--kafka-property`), checked.
pub fn kafka_properties(
    args: &KafkaSecurityArgs,
    flags: &[String],
    file: &KafkaFile,
) -> Result<Vec<(String, String)>, ResolveError> {
    let mut passthrough: Vec<(String, String)> = file
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(list) = &args.kafka_property_list {
        passthrough.extend(parse_property_list(
            "EOSFLOW_KAFKA_PROPERTIES (--kafka-properties)",
            list,
        )?);
    }
    for p in flags {
        passthrough.push(parse_property(p)?);
    }
    for (k, v) in &passthrough {
        if secret::is_sensitive_key(k) {
            secret::register(v);
        }
    }
    let security = kafka_security(args, file)?;
    for s in security.secrets() {
        secret::register(s);
    }
    Ok(effective_properties(&security, &passthrough)?)
}

/// The registry credentials and CA: flag or env, else the file. A password in the URL is
/// registered for scrubbing here; the client takes it out of the URL.
pub fn registry_auth(url: &str, args: &RegistryAuthArgs, file: &RegistryFile) -> RegistryAuth {
    let auth = RegistryAuth {
        username: args
            .registry_username
            .clone()
            .or_else(|| file.username.clone()),
        password: args
            .registry_password
            .clone()
            .or_else(|| file.password.clone()),
        ca_location: args
            .registry_ca_location
            .clone()
            .or_else(|| file.ca_location.clone()),
    };
    if let Some(p) = &auth.password {
        secret::register(p.expose());
    }
    secret::register_url(url);
    auth
}

#[cfg(test)]
mod tests;
