use std::io::{Cursor, Read, Write};
use std::net::TcpListener;
use std::thread;

use super::*;

/// tansu 0.6.0's answer (captured on 127.0.0.1:19092 with correlation id 7): 35 APIs, among them
/// InitProducerId (22), AddPartitionsToTxn (24), AddOffsetsToTxn (25) and TxnOffsetCommit (28),
/// but no EndTxn (26).
const TANSU_0_6: &str = "00000007000000000023001200000004000a00000006000c00000004001500000002\
004700000000000e00000005003300000000003200000000001e00000003000d00000005000200000009002e000000\
00004b0000000000130000000700000000000b001000000005000f00000005001400000006002c0000000100450000\
0000002000000004001100000001001900000004001800000005001d00000003003c00000001000b00000009000800\
00000900010000001100030000000c000900000009002a00000002001600000005001c00000004002400000002";

/// librdkafka 2.12.1 MockCluster's answer (correlation id 7): 21 APIs, all five transactional.
const MOCK_CLUSTER: &str = "0000000700000000001500000000000a00010000001000020000000700030000000c\
000800000009000900000006000a00000003000b00000006000c00000005000d00000004000e000000040012000000\
02001600000004001700020002001800000001001900000001001a00000001001c0000000300440001000100470000\
0000004800000000";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn request_v0_bytes() {
    assert_eq!(
        encode_request(7, "eosflow-doctor"),
        [
            &[0, 0, 0, 24][..], // length: 2 + 2 + 4 + 2 + 14
            &[0, 18, 0, 0],     // ApiVersions v0
            &[0, 0, 0, 7],      // correlation id
            &[0, 14],           // client id length
            b"eosflow-doctor",
        ]
        .concat()
    );
    assert_eq!(
        encode_request(-1, ""),
        [0, 0, 0, 10, 0, 18, 0, 0, 255, 255, 255, 255, 0, 0]
    );
}

#[test]
fn decodes_tansu_without_end_txn() {
    let v = decode_response(&hex(TANSU_0_6), 7).expect("decodes");
    assert_eq!(v.error_code, 0);
    assert_eq!(v.apis.len(), 35);
    assert_eq!(
        v.get(18),
        Some(ApiRange {
            key: 18,
            min: 0,
            max: 4
        })
    );
    assert_eq!(
        v.get(22),
        Some(ApiRange {
            key: 22,
            min: 0,
            max: 5
        })
    );
    assert_eq!(v.missing(&TRANSACTION_APIS), vec![(26, "EndTxn")]);
    assert!(v.missing(&IDEMPOTENCE_APIS).is_empty());
}

#[test]
fn decodes_mock_cluster_with_all_transaction_apis() {
    let v = decode_response(&hex(MOCK_CLUSTER), 7).expect("decodes");
    assert_eq!(v.apis.len(), 21);
    assert_eq!(
        v.get(26),
        Some(ApiRange {
            key: 26,
            min: 0,
            max: 1
        })
    );
    assert_eq!(
        v.get(23),
        Some(ApiRange {
            key: 23,
            min: 2,
            max: 2
        })
    );
    assert!(v.missing(&TRANSACTION_APIS).is_empty());
}

#[test]
fn malformed_responses_are_errors() {
    let full = hex(TANSU_0_6);
    assert_eq!(
        decode_response(&full, 8),
        Err(DecodeError::Correlation {
            expected: 8,
            got: 7
        })
    );
    assert_eq!(
        decode_response(&full[..full.len() - 1], 7),
        Err(DecodeError::Short {
            needed: 6,
            at: 10 + 34 * 6,
            len: full.len() - 1
        })
    );
    assert!(matches!(
        decode_response(&[0, 0, 0], 0),
        Err(DecodeError::Short { .. })
    ));
    // A negative (null) array is an empty list; trailing bytes (throttle time of v1+) are ignored.
    let v = decode_response(&[0, 0, 0, 1, 0, 35, 255, 255, 255, 255, 0, 0, 0, 0], 1).expect("ok");
    assert_eq!(
        v,
        ApiVersions {
            error_code: 35,
            apis: vec![],
            features: vec![]
        }
    );
    // An HTTP server's answer is not a frame length.
    assert_eq!(
        frame_len(*b"HTTP"),
        Err(DecodeError::FrameSize(0x4854_5450))
    );
    assert_eq!(
        frame_len([255, 255, 255, 255]),
        Err(DecodeError::FrameSize(-1))
    );
    assert_eq!(frame_len([0, 0, 0, 220]), Ok(220));
}

/// A stream that reads a canned answer and records what was written.
struct Duplex {
    input: Cursor<Vec<u8>>,
    written: Vec<u8>,
}

impl Read for Duplex {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Duplex {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn framed(body: &[u8]) -> Vec<u8> {
    [&(body.len() as i32).to_be_bytes()[..], body].concat()
}

/// `body` (a v0 answer) carrying correlation id `id`.
fn with_correlation(body: &[u8], id: i32) -> Vec<u8> {
    let mut body = body.to_vec();
    body[..4].copy_from_slice(&id.to_be_bytes());
    body
}

/// What a broker that knows only ApiVersions v0 (tansu 0.6, Kafka before 2.4) answers to
/// `request`: v3 is refused with UNSUPPORTED_VERSION in the v0 layout, as Kafka does; v0 gets
/// `v0_body` under the request's correlation id.
fn v0_only_broker(request: &[u8], v0_body: &[u8]) -> Vec<u8> {
    let version = i16::from_be_bytes([request[2], request[3]]);
    let id = i32::from_be_bytes([request[4], request[5], request[6], request[7]]);
    if version == 0 {
        framed(&with_correlation(v0_body, id))
    } else {
        let mut refusal = id.to_be_bytes().to_vec();
        refusal.extend_from_slice(&UNSUPPORTED_VERSION.to_be_bytes());
        refusal.extend_from_slice(&1i32.to_be_bytes());
        for v in [API_VERSIONS_KEY, 0, 0] {
            refusal.extend_from_slice(&v.to_be_bytes());
        }
        framed(&refusal)
    }
}

/// One length-prefixed request frame (without its prefix), or `None` at EOF.
fn read_frame(stream: &mut impl Read) -> Option<Vec<u8>> {
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).ok()?;
    let mut frame = vec![0u8; i32::from_be_bytes(prefix).max(0) as usize];
    stream.read_exact(&mut frame).ok()?;
    Some(frame)
}

#[test]
fn exchange_asks_v3_then_falls_back_to_v0() {
    // The MockCluster-style broker refuses v3; the v0 answer (correlation 8) is the result.
    let refusal = v0_only_broker(&flexible::encode_request(7, "x")[4..], &[]);
    let mut stream = Duplex {
        input: Cursor::new(
            [
                &refusal[..],
                &framed(&with_correlation(&hex(MOCK_CLUSTER), 8)),
            ]
            .concat(),
        ),
        written: Vec::new(),
    };
    let v = exchange(&mut stream, "b:9092", 7).expect("answer");
    assert_eq!(v.apis.len(), 21);
    assert!(v.features.is_empty(), "v0 carries no features");
    assert_eq!(
        stream.written,
        [
            flexible::encode_request(7, "eosflow-doctor"),
            encode_request(8, "eosflow-doctor")
        ]
        .concat()
    );
}

#[test]
fn exchange_errors_name_the_address() {
    let mut closed = Duplex {
        input: Cursor::new(vec![]),
        written: vec![],
    };
    let err = exchange(&mut closed, "b:9092", 1).expect_err("eof");
    assert!(
        err.to_string().contains("b:9092") && err.to_string().contains("closed"),
        "{err}"
    );
    let mut http = Duplex {
        input: Cursor::new(b"HTTP/1.1 400".to_vec()),
        written: vec![],
    };
    let err = exchange(&mut http, "b:9092", 1).expect_err("not kafka");
    assert!(matches!(err, ApiVersionsError::Decode { .. }), "{err}");
    // Both versions refused, with no API list: the broker's error code is the error.
    let mut refused = Duplex {
        input: Cursor::new(
            [
                framed(&[0, 0, 0, 1, 0, 35, 0, 0, 0, 0]),
                framed(&[0, 0, 0, 2, 0, 35, 0, 0, 0, 0]),
            ]
            .concat(),
        ),
        written: vec![],
    };
    let err = exchange(&mut refused, "b:9092", 1).expect_err("error code");
    assert!(err.to_string().contains("UNSUPPORTED_VERSION"), "{err}");
}

#[test]
fn transport_from_librdkafka_properties() {
    let props = |kv: &[(&str, &str)]| -> Vec<(String, String)> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(Transport::from_properties(&[]), Ok(Transport::Plain));
    assert_eq!(
        Transport::from_properties(&props(&[("security.protocol", "SASL_PLAINTEXT")])),
        Ok(Transport::Plain)
    );
    assert_eq!(
        Transport::from_properties(&props(&[
            ("security.protocol", "plaintext"),
            ("security.protocol", "SASL_SSL"),
            ("ssl.ca.location", "/ca.pem"),
            ("enable.ssl.certificate.verification", "FALSE"),
        ])),
        Ok(Transport::Tls(TlsOptions {
            ca_file: Some("/ca.pem".into()),
            cert_file: None,
            key_file: None,
            key_password: None,
            verify: false,
            verify_hostname: true,
        }))
    );
    let err = Transport::from_properties(&props(&[("security.protocol", "kerberos")]));
    assert!(err.expect_err("unknown").contains("kerberos"));
}

#[test]
fn bootstrap_lists_are_split() {
    assert_eq!(
        bootstrap_addresses(" a:1, PLAINTEXT://b:2,,[::1]:3"),
        vec!["a:1", "b:2", "[::1]:3"]
    );
    assert!(matches!(
        request(" , ", &Transport::Plain, Duration::from_secs(1)),
        Err(ApiVersionsError::NoAddress(_))
    ));
}

/// Serve one connection as a v0-only broker answering `v0_body`.
fn serve_v0_broker(v0_body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            while let Some(request) = read_frame(&mut s) {
                if s.write_all(&v0_only_broker(&request, &v0_body)).is_err() {
                    return;
                }
            }
        }
    });
    addr
}

#[test]
fn request_over_tcp_tries_the_next_bootstrap_server() {
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_addr = closed.local_addr().expect("addr").to_string();
    drop(closed);
    let good = serve_v0_broker(hex(MOCK_CLUSTER));
    let (addr, v) = request(
        &format!("{closed_addr},{good}"),
        &Transport::Plain,
        Duration::from_secs(5),
    )
    .expect("second server answers");
    assert_eq!(addr, good);
    assert!(v.missing(&TRANSACTION_APIS).is_empty());
    let err = request(&closed_addr, &Transport::Plain, Duration::from_secs(2)).expect_err("closed");
    assert!(matches!(err, ApiVersionsError::Connect { .. }), "{err}");
    assert!(err.to_string().contains(&closed_addr), "{err}");
}

#[test]
fn request_over_tls() {
    use openssl::ssl::{SslAcceptor, SslMethod};

    let (cert, key) = self_signed_for_127_0_0_1();
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).expect("acceptor");
    acceptor.set_private_key(&key).expect("key");
    acceptor.set_certificate(&cert).expect("cert");
    let acceptor = acceptor.build();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let tansu = hex(TANSU_0_6);
    let server = thread::spawn(move || {
        for _ in 0..3 {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            let Ok(mut tls) = acceptor.accept(tcp) else {
                continue;
            };
            while let Some(request) = read_frame(&mut tls) {
                if tls.write_all(&v0_only_broker(&request, &tansu)).is_err() {
                    break;
                }
            }
        }
    });
    // Not trusted: the self-signed certificate is refused.
    let strict = Transport::Tls(TlsOptions {
        verify: true,
        verify_hostname: true,
        ..Default::default()
    });
    let err = request(&addr, &strict, Duration::from_secs(5)).expect_err("untrusted");
    assert!(matches!(err, ApiVersionsError::Tls { .. }), "{err}");
    // Trusted through ssl.ca.location, host name (an IP SAN) verified: the answer arrives.
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.to_pem().expect("pem")).expect("write ca");
    let trusted = Transport::from_properties(&[
        ("security.protocol".to_string(), "SSL".to_string()),
        ("ssl.ca.location".to_string(), ca.display().to_string()),
    ])
    .expect("transport");
    let (_, v) = request(&addr, &trusted, Duration::from_secs(5)).expect("trusted TLS answer");
    assert_eq!(v.apis.len(), 35);
    // Verification off (enable.ssl.certificate.verification=false): the answer arrives.
    let lax = Transport::Tls(TlsOptions {
        verify: false,
        verify_hostname: false,
        ..Default::default()
    });
    let (_, v) = request(&addr, &lax, Duration::from_secs(5)).expect("TLS answer");
    assert_eq!(v.missing(&TRANSACTION_APIS), vec![(26, "EndTxn")]);
    server.join().expect("server");
}

/// A self-signed certificate with the IP SAN 127.0.0.1, and its key. (`tests/common/tls.rs`
/// has the same, but the library's tests already include it once, in `security_tests.rs`.)
fn self_signed_for_127_0_0_1() -> (
    openssl::x509::X509,
    openssl::pkey::PKey<openssl::pkey::Private>,
) {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509NameBuilder, X509};

    let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("key");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "127.0.0.1").expect("cn");
    let name = name.build();
    let mut cert = X509::builder().expect("x509");
    cert.set_version(2).expect("version");
    cert.set_subject_name(&name).expect("subject");
    cert.set_issuer_name(&name).expect("issuer");
    cert.set_pubkey(&key).expect("pubkey");
    cert.set_not_before(&Asn1Time::days_from_now(0).expect("now"))
        .expect("not before");
    cert.set_not_after(&Asn1Time::days_from_now(1).expect("later"))
        .expect("not after");
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .build(&cert.x509v3_context(None, None))
        .expect("san");
    cert.append_extension(san).expect("extension");
    cert.sign(&key, MessageDigest::sha256()).expect("sign");
    (cert.build(), key)
}
