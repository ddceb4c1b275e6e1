//! Tests of [`super`]: the mapping onto librdkafka properties, every check, and that the bundled
//! librdkafka really accepts SSL and SASL configurations (client creation, key decryption).

use std::collections::BTreeMap;

use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::BaseProducer;

use super::*;
use crate::kafka::KafkaSettings;

#[path = "../../../tests/common/tls.rs"]
mod tls;

fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    props(pairs).into_iter().collect()
}

fn err(pairs: &[(&str, &str)]) -> String {
    check(&map(pairs)).expect_err("must be refused").to_string()
}

fn scram(username: &str, password: &str) -> KafkaSecurity {
    KafkaSecurity {
        protocol: Some(SecurityProtocol::SaslSsl),
        sasl_mechanism: Some(SaslMechanism::ScramSha512),
        sasl_username: Some(username.into()),
        sasl_password: Some(Secret::new(password)),
        ..KafkaSecurity::default()
    }
}

#[test]
fn names_parse_in_any_case_and_unknown_ones_are_listed() {
    assert_eq!(
        SecurityProtocol::parse("sasl_ssl"),
        Ok(SecurityProtocol::SaslSsl)
    );
    assert_eq!(
        SaslMechanism::parse("scram-sha-256"),
        Ok(SaslMechanism::ScramSha256)
    );
    let e = SaslMechanism::parse("SCRAM-SHA-1").expect_err("unknown");
    assert_eq!(
        e.to_string(),
        "unknown sasl.mechanisms (--sasl-mechanism) \"SCRAM-SHA-1\": expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
    );
    let e = SecurityProtocol::parse("TLS")
        .expect_err("unknown")
        .to_string();
    assert!(
        e.contains("PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
        "{e}"
    );
}

#[test]
fn options_map_onto_librdkafka_properties() {
    let s = KafkaSecurity {
        ssl_ca_location: Some("/ca.pem".into()),
        ssl_certificate_location: Some("/c.pem".into()),
        ssl_key_location: Some("/k.pem".into()),
        ssl_key_password: Some(Secret::new("kp")),
        ..scram("alice", "pw")
    };
    assert_eq!(
        s.properties(),
        props(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", "alice"),
            ("sasl.password", "pw"),
            ("ssl.ca.location", "/ca.pem"),
            ("ssl.certificate.location", "/c.pem"),
            ("ssl.key.location", "/k.pem"),
            ("ssl.key.password", "kp"),
        ])
    );
    assert_eq!(s.secrets(), vec!["pw", "kp"]);
    assert!(KafkaSecurity::default().properties().is_empty());
    assert!(!format!("{s:?}").contains("kp\""), "{s:?}");
}

#[test]
fn sasl_options_need_a_sasl_protocol() {
    let e = err(&[("sasl.mechanisms", "PLAIN")]);
    assert_eq!(e, "sasl.mechanisms (--sasl-mechanism) given, but security.protocol is PLAINTEXT: SASL options need SASL_SSL or SASL_PLAINTEXT (--security-protocol)");
    let e = err(&[
        ("security.protocol", "SSL"),
        ("sasl.username", "u"),
        ("sasl.password", "p"),
    ]);
    assert!(
        e.starts_with(
            "sasl.username (--sasl-username), sasl.password (--sasl-password) given, but security.protocol is SSL:"
        ),
        "{e}"
    );
}

#[test]
fn a_sasl_protocol_needs_a_mechanism_and_its_credentials() {
    let e = err(&[("security.protocol", "SASL_SSL")]);
    assert!(
        e.contains("needs a SASL mechanism") && e.contains("GSSAPI"),
        "{e}"
    );
    let e = err(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanisms", "PLAIN"),
        ("sasl.username", "u"),
    ]);
    assert_eq!(e, "SASL PLAIN needs sasl.password (--sasl-password)");
    let e = err(&[
        ("security.protocol", "sasl_plaintext"),
        ("sasl.mechanisms", "scram-sha-256"),
        ("sasl.password", "p"),
    ]);
    assert_eq!(
        e,
        "SASL SCRAM-SHA-256 needs sasl.username (--sasl-username)"
    );
    // A mechanism passed through (not first-class) is left to librdkafka, if it is built in.
    assert!(check(&map(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanisms", "OAUTHBEARER"),
    ]))
    .is_ok());
    let e = err(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanisms", "GSSAPI"),
    ]);
    assert!(e.contains("lacks the \"sasl_gssapi\" feature"), "{e}");
}

#[test]
fn ssl_options_need_an_ssl_protocol_and_a_certificate_needs_its_key() {
    let e = err(&[("ssl.ca.location", "probe")]);
    assert!(
        e.starts_with("ssl.ca.location (--ssl-ca-location) given, but security.protocol is PLAINTEXT: SSL options need SSL or SASL_SSL"),
        "{e}"
    );
    let e = err(&[
        ("security.protocol", "SSL"),
        ("ssl.certificate.location", "/c.pem"),
    ]);
    assert_eq!(
        e,
        "ssl.certificate.location (--ssl-certificate-location) needs ssl.key.location (--ssl-key-location)"
    );
    let e = err(&[("security.protocol", "SSL"), ("ssl.key.location", "/k.pem")]);
    assert!(e.starts_with("ssl.key.location (--ssl-key-location) needs ssl.certificate.location"));
    let e = err(&[("security.protocol", "SSL"), ("ssl.key.password", "x")]);
    assert!(e.starts_with("ssl.key.password (--ssl-key-password) needs ssl.key.location"));
}

#[test]
fn locations_must_be_readable_files() {
    let e = err(&[
        ("security.protocol", "SSL"),
        ("ssl.ca.location", "/nonexistent/ca.pem"),
    ]);
    assert!(
        e.starts_with("ssl.ca.location (--ssl-ca-location) /nonexistent/ca.pem: ")
            && e.contains("No such file"),
        "{e}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    assert!(check(&map(&[
        ("security.protocol", "SSL"),
        ("ssl.ca.location", &d)
    ]))
    .is_ok());
    assert!(check(&map(&[
        ("security.protocol", "SSL"),
        ("ssl.ca.location", "probe")
    ]))
    .is_ok());
    let e = err(&[
        ("security.protocol", "SSL"),
        ("ssl.certificate.location", &d),
        ("ssl.key.location", &d),
    ]);
    assert!(e.contains("is a directory"), "{e}");
}

#[test]
fn first_class_and_pass_through_must_agree() {
    let s = scram("u", "p");
    let e = effective_properties(&s, &props(&[("sasl.mechanism", "PLAIN")]))
        .expect_err("conflict")
        .to_string();
    assert!(
        e.starts_with("sasl.mechanisms (--sasl-mechanism) is given twice"),
        "{e}"
    );
    let e = effective_properties(&s, &props(&[("sasl.password", "other")]))
        .expect_err("conflict")
        .to_string();
    assert!(!e.contains("other") && !e.contains("\"p\""), "{e}");
    // The same value both ways is fine (case-insensitive for names).
    let p = effective_properties(&s, &props(&[("security.protocol", "sasl_ssl")]))
        .expect("same protocol");
    assert_eq!(p.len(), 5);
    // The checks see both together: protocol passed through, mechanism first-class.
    let s = KafkaSecurity {
        sasl_mechanism: Some(SaslMechanism::Plain),
        sasl_username: Some("u".into()),
        sasl_password: Some(Secret::new("p")),
        ..KafkaSecurity::default()
    };
    let p = effective_properties(&s, &props(&[("security.protocol", "SASL_SSL")]))
        .expect("valid together");
    assert!(p.contains(&("security.protocol".into(), "SASL_SSL".into())));
    assert!(effective_properties(&s, &[]).is_err(), "no SASL protocol");
    // Nothing security-related: passes through untouched.
    let p = effective_properties(&KafkaSecurity::default(), &props(&[("linger.ms", "7")]))
        .expect("plain");
    assert_eq!(p, props(&[("linger.ms", "7")]));
}

#[test]
fn the_bundled_librdkafka_has_ssl_and_sasl_plain_and_scram() {
    let features = builtin_features();
    for f in ["ssl", "sasl_plain", "sasl_scram", "sasl_oauthbearer"] {
        assert!(
            features.split(',').any(|x| x == f),
            "librdkafka lacks {f}: {features}"
        );
    }
}

/// The error of creating a producer from `s` (a panic if it is created).
fn producer_error(s: &KafkaSettings) -> crate::kafka::KafkaAdapterError {
    match s.create::<BaseProducer>(&s.client_config(), "producer") {
        Ok(_) => panic!("the producer was created"),
        Err(e) => e,
    }
}

fn settings(properties: Vec<(String, String)>) -> KafkaSettings {
    KafkaSettings {
        bootstrap: "127.0.0.1:1".into(),
        properties,
    }
}

#[test]
fn librdkafka_creates_clients_with_sasl_ssl_and_scram() {
    for mechanism in SaslMechanism::ALL {
        let security = KafkaSecurity {
            sasl_mechanism: Some(mechanism),
            ..scram("alice", "s3cr3t-scram")
        };
        let s = settings(effective_properties(&security, &[]).expect("valid"));
        let config = s.client_config();
        s.create::<BaseProducer>(&config, "producer")
            .unwrap_or_else(|e| panic!("{} producer: {e}", mechanism.name()));
        s.create::<BaseConsumer>(&config, "consumer")
            .unwrap_or_else(|e| panic!("{} consumer: {e}", mechanism.name()));
    }
}

#[test]
fn librdkafka_loads_the_ca_client_certificate_and_encrypted_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tls::TestCert::new().write(dir.path(), "key-pass-1234");
    let security = KafkaSecurity {
        protocol: Some(SecurityProtocol::Ssl),
        ssl_ca_location: Some(files.cert.clone()),
        ssl_certificate_location: Some(files.cert.clone()),
        ssl_key_location: Some(files.encrypted_key.clone()),
        ssl_key_password: Some(Secret::new("key-pass-1234")),
        ..KafkaSecurity::default()
    };
    let s = settings(effective_properties(&security, &[]).expect("valid"));
    s.create::<BaseProducer>(&s.client_config(), "producer")
        .expect("librdkafka loads the CA, the certificate and decrypts the key");

    // A wrong key password: librdkafka refuses at creation, and the error shows no password.
    let wrong = KafkaSecurity {
        ssl_key_password: Some(Secret::new("wrong-pass-5678")),
        ..security
    };
    let s = settings(effective_properties(&wrong, &[]).expect("valid"));
    let e = producer_error(&s).to_string();
    assert!(e.contains("ssl.key"), "{e}");
    assert!(!e.contains("wrong-pass-5678"), "{e}");
}

#[test]
fn config_errors_and_debug_never_show_secret_values() {
    // librdkafka quotes the value of a property it rejects; for a secret it is replaced.
    let s = settings(props(&[
        ("sasl.password", "hunter2-unique"),
        ("no.such.password.property", "hunter2-unique"),
    ]));
    let e = producer_error(&s);
    let text = format!("{e} {e:?}");
    assert!(text.contains("no.such.password.property"), "{text}");
    assert!(!text.contains("hunter2-unique"), "{text}");
    let debug = format!("{s:?}");
    assert!(!debug.contains("hunter2-unique"), "{debug}");
    assert!(debug.contains("\"sasl.password\", \"***\""), "{debug}");
    // Values of other properties still show.
    let s = settings(props(&[("linger.ms", "not-a-number")]));
    let e = producer_error(&s).to_string();
    assert!(e.contains("not-a-number"), "{e}");
}
