//! The randomuser.me HTTP source against a local server (no internet): recorded-shape pages from
//! `tests/data/randomuser/`, and servers that fail, throttle, hang, close, lie and 404.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use eosflow::source::http::{HttpSource, HttpSourceConfig};
use eosflow::source::retry::{jitter_key, Backoff};
use eosflow::source::{PageRequest, Source, SourceError};

// ---------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 server: one thread per connection, `Connection: close`, bounded everywhere.

enum Reply {
    Respond(u16, Vec<(&'static str, String)>, Vec<u8>),
    /// Read the request, then never answer (until the server stops, at most 10 s).
    Hang,
    /// Read the request, then close the connection without a response.
    Close,
}

type Handler = dyn Fn(usize, &HashMap<String, String>) -> Reply + Send + Sync;

struct Shared {
    stop: AtomicBool,
    log: Mutex<Vec<String>>,
    handler: Box<Handler>,
}

struct Server {
    addr: String,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    fn start(
        handler: impl Fn(usize, &HashMap<String, String>) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr").to_string();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
            handler: Box::new(handler),
        });
        let sh = shared.clone();
        let acceptor = thread::spawn(move || {
            let mut conns = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while !sh.stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let sh = sh.clone();
                        conns.push(thread::spawn(move || serve(stream, &sh)));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => break,
                }
            }
            conns.into_iter().for_each(|c| drop(c.join()));
        });
        let acceptor = Some(acceptor);
        Server {
            addr,
            shared,
            acceptor,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/api/", self.addr)
    }

    /// The request targets received, in order (`/api/?results=…`).
    fn requests(&self) -> Vec<String> {
        self.shared.log.lock().expect("log").clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.acceptor.take().map(JoinHandle::join);
    }
}

fn serve(mut stream: TcpStream, sh: &Shared) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let (mut head, mut buf) = (Vec::new(), [0u8; 1024]);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split(' ').nth(1).unwrap_or_default().to_string();
    let query: HashMap<String, String> = reqwest::Url::parse(&format!("http://x{target}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let n = {
        let mut log = sh.log.lock().expect("log");
        log.push(target);
        log.len() - 1
    };
    match (sh.handler)(n, &query) {
        Reply::Respond(status, headers, body) => {
            let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
            out.push_str("Content-Type: application/json\r\nConnection: close\r\n");
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            let _ = stream.write_all(out.as_bytes());
            let _ = stream.write_all(&body);
        }
        Reply::Hang => {
            let until = Instant::now() + Duration::from_secs(10);
            while !sh.stop.load(Ordering::SeqCst) && Instant::now() < until {
                thread::sleep(Duration::from_millis(10));
            }
        }
        Reply::Close => {}
    }
}

/// Key names and values of `login` secrets in the recorded pages.
const SECRETS: [&str; 7] = [
    "password", "salt", "md5", "sha1", "sha256", "trustno1", "dragon",
];

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/randomuser")
}

fn recorded_file(name: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(name)).expect("recorded page")
}

/// Serves `tests/data/randomuser/{seed}-page{page}.json`, or 404.
fn recorded(q: &HashMap<String, String>) -> Reply {
    let name = format!("{}-page{}.json", q["seed"], q["page"]);
    match std::fs::read(data_dir().join(name)) {
        Ok(body) => reply(200, &body),
        Err(_) => reply(404, br#"{"error":"no such recorded page"}"#),
    }
}

fn reply(status: u16, body: &[u8]) -> Reply {
    Reply::Respond(status, vec![], body.to_vec())
}

fn config(url: String) -> HttpSourceConfig {
    HttpSourceConfig {
        url,
        nat: Some("us,gb".into()),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        max_retries: 3,
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        rate: None,
        ..HttpSourceConfig::default()
    }
}

/// A source for `url` with the test defaults above, edited.
fn source_with(url: String, edit: impl FnOnce(&mut HttpSourceConfig)) -> HttpSource {
    let mut c = config(url);
    edit(&mut c);
    HttpSource::new(c).expect("valid config")
}

fn source(url: String) -> HttpSource {
    source_with(url, |_| {})
}

fn req(seed: &str, page: u64, size: u32) -> PageRequest {
    let seed = seed.into();
    PageRequest { seed, page, size }
}

// ---------------------------------------------------------------------------------------------

#[test]
fn recorded_pages_become_formatted_users() {
    let server = Server::start(|_, q| recorded(q));
    let mut s = source(server.url());
    let page = s.fetch(&req("eosflow", 1, 3)).expect("page 1");
    assert!(page.rejects.is_empty(), "{:?}", page.rejects);
    assert_eq!(page.users.len(), 3);
    let jennie = serde_json::to_value(&page.users[0]).expect("json");
    let want = serde_json::json!({
        "source_name": "randomuser", "source_seed": "eosflow", "source_page": 1, "source_index": 0,
        "external_id": "7a0eed16-9430-4d68-901f-c0d4c1c3bf00",
        "first_name": "Jennie", "last_name": "Nichols", "gender": "female",
        "address": "8929 Valwood Pkwy, Billings, Michigan, United States",
        "post_code": "63104",
        "email": "jennie.nichols@example.com", "username": "yellowpeacock117",
        "dob": "1992-03-08T15:13:16.688Z", "registered_date": "2007-07-09T05:51:59.390Z",
        "phone": "(272) 790-0888", "picture": "https://randomuser.me/api/portraits/med/women/88.jpg",
        "nat": "US", "age": 33, "cell": "(489) 330-2385",
    });
    assert_eq!(jennie, want);
    assert_eq!(page.users[1].post_code, "K4 7TH", "a GB string postcode");
    assert_eq!(page.users[2].first_name, "Ella", "a null id.value is fine");
    for (i, u) in page.users.iter().enumerate() {
        let want = format!(r#"["randomuser","eosflow",1,{i}]"#);
        assert_eq!(u.identity().canonical(), want);
    }
    let sent = server.requests();
    assert_eq!(sent, ["/api/?results=3&seed=eosflow&page=1&nat=us%2Cgb"]);
    let st = s.stats();
    let counts = (st.requests, st.retries, st.pages, st.users, st.rejected);
    assert_eq!(counts, (1, 0, 1, 3, 0));
}

#[test]
fn same_seed_and_page_give_the_same_users() {
    let server = Server::start(|_, q| recorded(q));
    let a = source(server.url()).fetch(&req("eosflow", 1, 3));
    let mut other = source(server.url());
    let b = other.fetch(&req("eosflow", 1, 3)).expect("b");
    let c = other.fetch(&req("eosflow", 2, 3)).expect("c");
    let a = a.expect("a");
    assert_eq!(a, b);
    assert_ne!(a.users, c.users);
    let keys: HashSet<_> = a.users.iter().chain(&c.users).map(|u| u.key()).collect();
    assert_eq!(keys.len(), 6, "identities differ across pages");
    assert_eq!(c.users[1].post_code, "6582", "numbers are kept as served");
    let mut named = source_with(server.url(), |c| c.name = "mirror".into());
    let named = named.fetch(&req("eosflow", 1, 3)).expect("named page");
    assert_eq!(named.users[0].source_name, "mirror");
    assert_ne!(named.users[0].key(), a.users[0].key());
}

#[test]
fn url_keeps_its_query_and_encodes_the_request() {
    let base = "https://randomuser.me/api/1.4/?inc=gender,name&results=9&seed=x#frag";
    let s = source_with(base.into(), |_| {});
    let url = s.page_url(&req("a b&c=d/é", 7, 50));
    let want = "https://randomuser.me/api/1.4/?inc=gender,name\
                &results=50&seed=a+b%26c%3Dd%2F%C3%A9&page=7&nat=us%2Cgb";
    assert_eq!(url.as_str(), want);
    let pairs: HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(pairs["seed"], "a b&c=d/é");
    let plain = HttpSource::new(HttpSourceConfig::default()).expect("default");
    let url = plain.page_url(&req("s", 1, 10));
    assert_eq!(
        url.as_str(),
        "https://randomuser.me/api/?results=10&seed=s&page=1"
    );
}

#[test]
fn invalid_users_are_rejected_in_place() {
    let server = Server::start(|_, q| recorded(q));
    let mut s = source(server.url());
    let page = s.fetch(&req("flawed", 1, 4)).expect("the page is fine");
    let kept: Vec<i32> = page.users.iter().map(|u| u.source_index).collect();
    let rejected: Vec<u32> = page.rejects.iter().map(|r| r.identity.index).collect();
    assert_eq!((kept, rejected), (vec![0, 2], vec![1, 3]), "no renumbering");
    assert_eq!(page.users[0].first_name, "Zoë");
    assert_eq!(page.users[1].external_id, None, "login.uuid missing");
    let reasons: Vec<&str> = page.rejects.iter().map(|r| r.reason.as_str()).collect();
    let email = "email: \"dylan.fisher.example.com\" has 0 '@'";
    assert!(reasons[0].starts_with(email), "{reasons:?}");
    assert!(reasons[1].contains("after registered.date"), "{reasons:?}");
    for r in &page.rejects {
        let want = format!(r#"["randomuser","flawed",1,{}]"#, r.identity.index);
        assert_eq!(r.identity.canonical(), want);
        for secret in SECRETS {
            assert!(!r.raw.contains(secret), "{secret} leaked: {}", r.raw);
        }
        assert!(r.raw.contains("\"username\""), "the rest of login is kept");
    }
    assert_eq!((s.stats().users, s.stats().rejected), (2, 2));
}

#[test]
fn server_errors_are_retried_with_deterministic_backoff() {
    let server = Server::start(|n, q| match n {
        0 | 1 => reply(500, b"boom"),
        _ => recorded(q),
    });
    let mut s = source(server.url());
    let page = s.fetch(&req("eosflow", 2, 3)).expect("3rd try works");
    assert_eq!(page.users.len(), 3);
    let st = s.stats();
    assert_eq!((st.requests, st.retries, st.throttled), (3, 2, 0));
    let b = Backoff {
        base: Duration::from_millis(20),
        max: Duration::from_millis(100),
    };
    let want = b.delay(0, jitter_key("eosflow", 2, 0)) + b.delay(1, jitter_key("eosflow", 2, 1));
    assert_eq!(st.backoff, want, "jitter drawn from (seed, page, attempt)");
    let sent = server.requests();
    assert!(
        sent.iter().all(|t| t == &sent[0]),
        "retries ask for the same page: {sent:?}"
    );
}

#[test]
fn throttling_honours_retry_after_up_to_a_cap() {
    let server = Server::start(|n, q| match n {
        0 => Reply::Respond(
            429,
            vec![("Retry-After", "1".into())],
            b"slow down".to_vec(),
        ),
        1 => Reply::Respond(503, vec![("Retry-After", "0".into())], b"busy".to_vec()),
        _ => recorded(q),
    });
    let mut s = source(server.url());
    let started = Instant::now();
    s.fetch(&req("eosflow", 1, 3))
        .expect("third attempt succeeds");
    let st = s.stats();
    assert_eq!((st.requests, st.retries, st.throttled), (3, 2, 1));
    // Retry-After: 1 s capped at 4 × max_backoff (400 ms), then Retry-After: 0.
    assert_eq!(st.backoff, Duration::from_millis(400));
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[test]
fn timeouts_and_dropped_connections_are_retried() {
    let server = Server::start(|n, q| match n {
        0 => Reply::Hang,
        1 => Reply::Close,
        _ => recorded(q),
    });
    let mut s = source_with(server.url(), |c| c.timeout = Duration::from_millis(300));
    s.fetch(&req("eosflow", 1, 3))
        .expect("third attempt succeeds");
    assert_eq!((s.stats().requests, s.stats().retries), (3, 2));

    let hanging = Server::start(|_, _| Reply::Hang);
    let mut s = source_with(hanging.url(), |c| {
        c.timeout = Duration::from_millis(200);
        c.max_retries = 1;
    });
    let err = s.fetch(&req("eosflow", 1, 3)).expect_err("always hangs");
    let timed_out = |last: &str| last.contains("timed out");
    let ok = matches!(&err, SourceError::Exhausted { attempts: 2, last, .. } if timed_out(last));
    assert!(ok, "{err}");
}

#[test]
fn connection_refused_gives_up_after_max_retries() {
    let unused = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = unused.local_addr().expect("addr").port();
    drop(unused);
    let mut s = source_with(format!("http://127.0.0.1:{port}/api/"), |c| {
        c.max_retries = 2
    });
    let err = s.fetch(&req("eosflow", 1, 3)).expect_err("nothing listens");
    let refused = |last: &str| last.contains("connection failed");
    let ok = matches!(&err, SourceError::Exhausted { attempts: 3, last, .. } if refused(last));
    assert!(
        ok && err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert_eq!((s.stats().requests, s.stats().retries), (3, 2));
}

#[test]
fn garbage_bodies_are_retried_then_reported() {
    const HTML: &[u8] = b"<!DOCTYPE html><html><head><title>503 Service Temporarily \
                          Unavailable</title></head></html>";
    let flaky = Server::start(|n, q| match n {
        0 => reply(200, HTML),
        _ => recorded(q),
    });
    let mut s = source(flaky.url());
    s.fetch(&req("eosflow", 1, 3)).expect("recovers");
    assert_eq!(s.stats().retries, 1);

    let cases: [(&'static [u8], &str); 5] = [
        (HTML, "not JSON"),
        (b"[1,2,3]", "got an array"),
        (br#"{"results": "nope", "info": {}}"#, "is a string"),
        (br#"{"results": []}"#, "no \"info\""),
        (br#"{"error": "Uh oh, something has gone wrong."}"#, "Uh oh"),
    ];
    for (body, needle) in cases {
        let server = Server::start(move |_, _| reply(200, body));
        let mut s = source_with(server.url(), |c| c.max_retries = 2);
        let err = s.fetch(&req("eosflow", 1, 3)).expect_err("always garbage");
        let text = err.to_string();
        assert!(
            matches!(err, SourceError::Exhausted { attempts: 3, .. }),
            "{text}"
        );
        assert!(
            text.contains(needle) && text.contains("malformed"),
            "{needle}: {text}"
        );
        assert!(text.contains(&server.url()), "{text}");
        assert!(text.contains("page 1 of seed \"eosflow\""), "{text}");
        assert_eq!(server.requests().len(), 3);
    }
}

#[test]
fn client_errors_are_not_retried() {
    let long = format!("Not Found: {}", "x".repeat(400));
    let server = Server::start(move |_, _| reply(404, long.as_bytes()));
    let mut s = source(server.url());
    let err = s.fetch(&req("eosflow", 1, 3)).expect_err("404");
    match &err {
        SourceError::Status {
            status: 404,
            body,
            url,
            ..
        } => {
            assert_eq!(body.chars().count(), 200);
            assert!(body.starts_with("Not Found"));
            assert!(
                url.ends_with("?results=3&seed=eosflow&page=1&nat=us%2Cgb"),
                "{url}"
            );
        }
        other => panic!("expected Status, got {other:?}"),
    }
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    assert_eq!((s.stats().requests, s.stats().retries), (1, 0));

    let to_self = |_, _: &HashMap<String, String>| {
        Reply::Respond(302, vec![("Location", "/api/?again".into())], vec![])
    };
    let looping = Server::start(to_self);
    let err = source(looping.url())
        .fetch(&req("eosflow", 1, 3))
        .expect_err("redirect loop");
    assert!(matches!(err, SourceError::Fetch { .. }), "{err}");
    assert_eq!(
        looping.requests().len(),
        11,
        "followed 10 redirects, not retried"
    );
}

#[test]
fn a_page_for_another_request_is_refused() {
    let page1 = recorded_file("eosflow-page1.json");
    let server = Server::start(move |_, _| reply(200, &page1));
    let mut s = source(server.url());
    let cases = [
        (
            req("other", 1, 3),
            r#"info.seed is "eosflow", asked for "other""#,
        ),
        (req("eosflow", 2, 3), "info.page is 1, asked for 2"),
        (req("eosflow", 1, 5), "info.results is 3, asked for 5"),
    ];
    for (request, needle) in cases {
        match s.fetch(&request) {
            Err(e @ SourceError::Mismatch { .. }) => {
                assert!(e.to_string().contains(needle), "{e}")
            }
            other => panic!("expected Mismatch, got {other:?}"),
        }
    }
    assert_eq!(s.stats().requests, 3, "mismatches are not retried");
    assert_eq!(s.stats().retries, 0);
}

#[test]
fn the_rate_limit_spaces_requests() {
    let server = Server::start(|_, q| recorded(q));
    let mut s = source_with(server.url(), |c| c.rate = Some(20.0));
    let started = Instant::now();
    for i in 0..6u64 {
        s.fetch(&req("eosflow", 1 + i % 2, 3)).expect("page");
    }
    // Six request starts at 20/s are at least five 50 ms intervals apart.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    let sent = server.requests();
    let pages: Vec<&str> = sent
        .iter()
        .filter_map(|t| t.split("page=").nth(1))
        .collect();
    let want = ["1&nat", "2&nat", "1&nat", "2&nat", "1&nat", "2&nat"];
    assert!(
        pages.iter().zip(want).all(|(p, w)| p.starts_with(w)),
        "{pages:?}"
    );
    assert_eq!((pages.len(), s.stats().requests), (6, 6));
}

#[test]
fn bad_configs_and_requests_fail_before_any_request() {
    let edits: [fn(&mut HttpSourceConfig); 7] = [
        |c| c.url = "not a url".into(),
        |c| c.url = "ftp://randomuser.me/api/".into(),
        |c| c.name = " ".into(),
        |c| c.nat = Some(String::new()),
        |c| c.rate = Some(0.0),
        |c| c.rate = Some(f64::NAN),
        |c| c.timeout = Duration::ZERO,
    ];
    for edit in edits {
        let mut c = HttpSourceConfig::default();
        edit(&mut c);
        let built = HttpSource::new(c.clone());
        assert!(matches!(built, Err(SourceError::Config(_))), "{c:?}");
    }
    let server = Server::start(|_, q| recorded(q));
    let mut s = source(server.url());
    let bad = [(0, 3), (1, 0), (1, 5001), (u64::MAX, 3)];
    for (page, size) in bad {
        let r = req("eosflow", page, size);
        assert!(
            matches!(s.fetch(&r), Err(SourceError::BadRequest(_))),
            "{r:?}"
        );
    }
    assert_eq!(s.stats().requests, 0);
    assert!(server.requests().is_empty());
    assert_eq!(s.name(), "randomuser");
}
