//! Schema Registry security: the client's basic auth against eosflow's own registry requiring it
//! (`BasicAuth`, as `registry serve --basic-auth-file` does), credentials in the URL, clear 401
//! errors that are never retried, and https:// with a custom CA against a local TLS server.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::tls::TestCert;
use eosflow::registry::client::{RegistryAuth, RegistryClient, RegistryError};
use eosflow::registry::server::{BasicAuth, RegistryServer};
use eosflow::secret::Secret;
use openssl::ssl::{SslAcceptor, SslMethod};
use tokio::runtime::Runtime;

const SCHEMA: &str = r#"{"type":"record","name":"T","fields":[{"name":"a","type":"string"}]}"#;
const TIMEOUT: Duration = Duration::from_secs(5);

fn auth(user: &str, password: &str) -> RegistryAuth {
    RegistryAuth {
        username: Some(user.into()),
        password: Some(Secret::new(password)),
        ca_location: None,
    }
}

struct AuthRegistry {
    runtime: Runtime,
    server: Option<RegistryServer>,
    /// `http://127.0.0.1:PORT`
    url: String,
}

impl AuthRegistry {
    fn start() -> AuthRegistry {
        let runtime = Runtime::new().expect("runtime");
        let users = BasicAuth::new(vec![("alice".into(), Secret::new("Alice-Pw-31337"))]);
        let server = runtime
            .block_on(RegistryServer::start_with(
                ([127, 0, 0, 1], 0).into(),
                None,
                Some(users),
            ))
            .expect("registry starts");
        let url = server.url();
        AuthRegistry {
            runtime,
            server: Some(server),
            url,
        }
    }

    fn with_userinfo(&self, userinfo: &str) -> String {
        self.url
            .replacen("http://", &format!("http://{userinfo}@"), 1)
    }
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.stop());
        }
    }
}

#[test]
fn basic_auth_against_a_registry_that_requires_it() {
    let r = AuthRegistry::start();
    // Credentials as options.
    let client =
        RegistryClient::connect(&r.url, TIMEOUT, &auth("alice", "Alice-Pw-31337")).expect("client");
    let id = r
        .runtime
        .block_on(client.register("t-value", SCHEMA))
        .expect("registers with credentials");
    // Credentials in the URL, percent-encoded where needed; the client's URL shows none.
    let client = RegistryClient::connect(
        &r.with_userinfo("alice:Alice%2DPw-31337"),
        TIMEOUT,
        &RegistryAuth::default(),
    )
    .expect("client");
    assert_eq!(client.url(), r.url);
    let schema = r
        .runtime
        .block_on(client.schema(id))
        .expect("reads with URL credentials");
    assert_eq!(
        schema.canonical_form(),
        apache_avro::Schema::parse_str(SCHEMA)
            .expect("schema")
            .canonical_form()
    );

    // No credentials: 401, a clear message, not transient (never retried).
    let anonymous = RegistryClient::new(&r.url, TIMEOUT).expect("client");
    let e = r
        .runtime
        .block_on(anonymous.register("t-value", SCHEMA))
        .expect_err("401");
    assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e:?}");
    assert!(!e.is_transient());
    let text = e.to_string();
    assert!(
        text.contains("401") && text.contains("requires authentication") && text.contains(&r.url),
        "{text}"
    );
    let e = r
        .runtime
        .block_on(anonymous.schema(id))
        .expect_err("401 on read");
    assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e:?}");

    // Wrong password: 401 with the hint to check the credentials, and no password in it.
    let wrong =
        RegistryClient::connect(&r.url, TIMEOUT, &auth("alice", "Wrong-Pw-4242")).expect("client");
    let text = r
        .runtime
        .block_on(wrong.register("t-value", SCHEMA))
        .expect_err("401")
        .to_string();
    assert!(text.contains("Check the user"), "{text}");
    assert!(
        !text.contains("Wrong-Pw-4242") && !text.contains("Alice-Pw"),
        "{text}"
    );
}

#[test]
fn credentials_in_url_and_options_at_once_are_refused_and_never_shown() {
    let e = RegistryClient::connect(
        "http://u:Url-Pw-777@127.0.0.1:1",
        TIMEOUT,
        &auth("u", "Opt-Pw-888"),
    )
    .expect_err("twice")
    .to_string();
    assert!(
        e.contains("both in the URL and with --registry-username"),
        "{e}"
    );
    assert!(e.contains("http://u@127.0.0.1:1"), "{e}");
    assert!(
        !e.contains("Url-Pw-777") && !e.contains("Opt-Pw-888"),
        "{e}"
    );
    let e = RegistryClient::new("ftp://u:Url-Pw-777@h", TIMEOUT)
        .expect_err("scheme")
        .to_string();
    assert!(!e.contains("Url-Pw-777"), "{e}");
    let e = RegistryClient::connect(
        "http://127.0.0.1:1",
        TIMEOUT,
        &RegistryAuth {
            password: Some(Secret::new("Lonely-Pw-1")),
            ..RegistryAuth::default()
        },
    )
    .expect_err("password without user")
    .to_string();
    assert!(e.contains("needs a user"), "{e}");
    // An unreachable registry with credentials: the error names the URL without them (the
    // client's URL has no userinfo at all).
    let runtime = Runtime::new().expect("runtime");
    let client = RegistryClient::new("http://me:Url-Pw-777@127.0.0.1:1", TIMEOUT).expect("client");
    let e = runtime
        .block_on(client.register("s", SCHEMA))
        .expect_err("unreachable")
        .to_string();
    assert!(
        e.contains("at http://127.0.0.1:1 ") && !e.contains("Url-Pw-777"),
        "{e}"
    );
}

/// A one-answer HTTPS server: every request gets `{"id": 7}`; it records each request's
/// `Authorization` header (or `-`).
struct TlsServer {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl TlsServer {
    fn start(cert: &TestCert) -> TlsServer {
        let mut acceptor =
            SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).expect("acceptor");
        acceptor.set_private_key(&cert.key).expect("key");
        acceptor.set_certificate(&cert.cert).expect("cert");
        let acceptor = Arc::new(acceptor.build());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                // A client that rejects the certificate fails the handshake: next connection.
                let Ok(mut tls) = acceptor.accept(stream) else {
                    continue;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                let head_end = loop {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break None,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                    if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        break Some(i + 4);
                    }
                };
                let Some(head_end) = head_end else { continue };
                let head = String::from_utf8_lossy(&request[..head_end]).to_string();
                let header = |name: &str| {
                    head.lines().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.trim()
                            .eq_ignore_ascii_case(name)
                            .then(|| v.trim().to_string())
                    })
                };
                let length: usize = header("content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                while request.len() < head_end + length {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                if let Ok(mut seen) = record.lock() {
                    seen.push(header("authorization").unwrap_or_else(|| "-".into()));
                }
                let body = r#"{"id":7}"#;
                let _ = write!(
                    tls,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.shutdown();
            }
        });
        TlsServer {
            url: format!("https://127.0.0.1:{port}"),
            seen,
        }
    }
}

#[test]
fn https_registry_with_a_custom_ca() {
    let cert = TestCert::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = cert.write(dir.path(), "unused");
    let server = TlsServer::start(&cert);
    let runtime = Runtime::new().expect("runtime");

    // Without the CA, the self-signed certificate is refused: a clear transport error.
    let client = RegistryClient::new(&server.url, TIMEOUT).expect("client");
    let e = runtime
        .block_on(client.register("s", SCHEMA))
        .expect_err("untrusted certificate")
        .to_string();
    assert!(
        e.contains(&server.url) && e.contains("unreachable or failed"),
        "{e}"
    );

    // With the CA (and credentials in the URL): the request goes through, with basic auth.
    let with_ca = RegistryAuth {
        ca_location: Some(files.cert.clone()),
        ..RegistryAuth::default()
    };
    let url = server.url.replace("https://", "https://key:Tls-Pw-555@");
    let client = RegistryClient::connect(&url, TIMEOUT, &with_ca).expect("client");
    let id = runtime
        .block_on(client.register("s", SCHEMA))
        .expect("registers over TLS with the custom CA");
    assert_eq!(id, 7);
    let seen = server.seen.lock().expect("lock").clone();
    // base64("key:Tls-Pw-555")
    assert_eq!(
        seen.last().map(String::as_str),
        Some("Basic a2V5OlRscy1Qdy01NTU=")
    );

    // A CA for an http:// URL, a missing file, a file without certificates: refused up front.
    for (url, path, why) in [
        (
            "http://127.0.0.1:1",
            files.cert.clone(),
            "need an https:// registry URL",
        ),
        (
            server.url.as_str(),
            dir.path().join("missing.pem"),
            "No such file",
        ),
        (server.url.as_str(), files.key.clone(), "no PEM certificate"),
    ] {
        let auth = RegistryAuth {
            ca_location: Some(path),
            ..RegistryAuth::default()
        };
        let e = RegistryClient::connect(url, TIMEOUT, &auth)
            .expect_err(why)
            .to_string();
        assert!(e.contains(why), "{why}: {e}");
    }
}
