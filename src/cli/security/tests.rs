//! Tests of [`super`]: flag-or-env over file for every security option, the pass-through layers,
//! the sink password. (That env is read at all, and below flags, is clap's `env`: the black-box
//! test `tests/secrets.rs` runs the binary with each layer.)

use super::*;
use crate::config::FileConfig;

fn file(toml_text: &str) -> FileConfig {
    toml::from_str(toml_text).expect("test config parses")
}

const FULL_FILE: &str = r#"
[kafka]
security_protocol = "SASL_PLAINTEXT"
sasl_mechanism = "SCRAM-SHA-256"
sasl_username = "file-user"
sasl_password = "file-pass"
ssl_ca_location = "/file/ca.pem"
ssl_certificate_location = "/file/c.pem"
ssl_key_location = "/file/k.pem"
ssl_key_password = "file-kp"
[kafka.properties]
"linger.ms" = "1"
"acks" = "all"
"client.rack" = "file"
[registry]
username = "file-ru"
password = "file-rp"
ca_location = "/file/rca.pem"
"#;

#[test]
fn flag_or_env_beats_the_file_for_every_kafka_security_option() {
    let f = file(FULL_FILE);
    let from_file = kafka_security(&KafkaSecurityArgs::default(), &f.kafka).expect("valid");
    assert_eq!(from_file.protocol, Some(SecurityProtocol::SaslPlaintext));
    assert_eq!(from_file.sasl_mechanism, Some(SaslMechanism::ScramSha256));
    assert_eq!(from_file.sasl_username.as_deref(), Some("file-user"));
    assert_eq!(
        from_file.sasl_password.as_ref().map(Secret::expose),
        Some("file-pass")
    );
    assert_eq!(
        from_file.ssl_key_location.as_deref(),
        Some(std::path::Path::new("/file/k.pem"))
    );
    let args = KafkaSecurityArgs {
        security_protocol: Some("sasl_ssl".into()),
        sasl_mechanism: Some("PLAIN".into()),
        sasl_username: Some("flag-user".into()),
        sasl_password: Some(Secret::new("flag-pass")),
        ssl_ca_location: Some("/flag/ca.pem".into()),
        ssl_certificate_location: Some("/flag/c.pem".into()),
        ssl_key_location: Some("/flag/k.pem".into()),
        ssl_key_password: Some(Secret::new("flag-kp")),
        kafka_property_list: None,
    };
    let from_flags = kafka_security(&args, &f.kafka).expect("valid");
    let expected = KafkaSecurity {
        protocol: Some(SecurityProtocol::SaslSsl),
        sasl_mechanism: Some(SaslMechanism::Plain),
        sasl_username: Some("flag-user".into()),
        sasl_password: Some(Secret::new("flag-pass")),
        ssl_ca_location: Some("/flag/ca.pem".into()),
        ssl_certificate_location: Some("/flag/c.pem".into()),
        ssl_key_location: Some("/flag/k.pem".into()),
        ssl_key_password: Some(Secret::new("flag-kp")),
    };
    assert_eq!(from_flags, expected);
    // Nothing anywhere: nothing set.
    let none =
        kafka_security(&KafkaSecurityArgs::default(), &FileConfig::default().kafka).expect("valid");
    assert_eq!(none, KafkaSecurity::default());
    // A bad value from the file is named.
    let bad = file("[kafka]\nsasl_mechanism = \"MD5\"\n");
    let e = kafka_security(&KafkaSecurityArgs::default(), &bad.kafka)
        .expect_err("unknown mechanism")
        .to_string();
    assert!(e.contains("\"MD5\"") && e.contains("SCRAM-SHA-512"), "{e}");
}

#[test]
fn pass_through_layers_file_then_env_list_then_flags() {
    let f = file(FULL_FILE);
    let plain = file(
        "[kafka.properties]\n\"linger.ms\" = \"1\"\n\"acks\" = \"all\"\n\"client.rack\" = \"file\"\n",
    );
    let args = KafkaSecurityArgs {
        kafka_property_list: Some("linger.ms=2,client.rack=env".into()),
        ..KafkaSecurityArgs::default()
    };
    let props = kafka_properties(&args, &["linger.ms=3".into()], &plain.kafka).expect("valid");
    // librdkafka keeps the last value set: the flag's, then the env list's, then the file's.
    let last = |key: &str| {
        props
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(last("linger.ms"), Some("3"));
    assert_eq!(last("client.rack"), Some("env"));
    assert_eq!(last("acks"), Some("all"));
    // The full file is checked as a whole: SCRAM over SASL_PLAINTEXT with SSL files is refused.
    let e = kafka_properties(&KafkaSecurityArgs::default(), &[], &f.kafka)
        .expect_err("ssl options without ssl")
        .to_string();
    assert!(e.contains("SSL options need SSL or SASL_SSL"), "{e}");
    let e = kafka_properties(
        &KafkaSecurityArgs {
            kafka_property_list: Some("sasl.password=x,y-z".into()),
            ..KafkaSecurityArgs::default()
        },
        &[],
        &plain.kafka,
    )
    .expect_err("bad list")
    .to_string();
    assert!(
        e.contains("EOSFLOW_KAFKA_PROPERTIES") && !e.contains("y-z"),
        "{e}"
    );
}

#[test]
fn registry_credentials_flag_or_env_beat_the_file() {
    let f = file(FULL_FILE);
    let from_file = registry_auth("http://r", &RegistryAuthArgs::default(), &f.registry);
    assert_eq!(from_file.username.as_deref(), Some("file-ru"));
    assert_eq!(
        from_file.password.as_ref().map(Secret::expose),
        Some("file-rp")
    );
    let args = RegistryAuthArgs {
        registry_username: Some("flag-ru".into()),
        registry_password: Some(Secret::new("flag-rp")),
        registry_ca_location: Some("/flag/rca.pem".into()),
    };
    let from_flags = registry_auth("http://r", &args, &f.registry);
    assert_eq!(
        from_flags,
        RegistryAuth {
            username: Some("flag-ru".into()),
            password: Some(Secret::new("flag-rp")),
            ca_location: Some("/flag/rca.pem".into()),
        }
    );
}
