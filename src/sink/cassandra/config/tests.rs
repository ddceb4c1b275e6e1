//! Unit tests of the `cassandra://` URL parser and its options.

use super::*;
use crate::secret::redact_url;

fn parse(url: &str) -> Result<CassandraConfig, UrlError> {
    CassandraConfig::parse(url, "users")
}

fn err(url: &str) -> String {
    parse(url).expect_err(url).to_string()
}

#[test]
fn minimal_url_takes_defaults() {
    let c = parse("cassandra://db1/eosflow").expect("parse");
    assert_eq!(c.hosts, ["db1:9042"]);
    assert_eq!(c.keyspace, "eosflow");
    assert_eq!(c.table, "users");
    assert_eq!(c.consistency, Consistency::LocalQuorum);
    assert_eq!(c.replication, Replication::Simple(1));
    assert!(c.durable_writes);
    assert_eq!(c.username, None);
    assert_eq!(c.password, None);
    assert_eq!(c.tls, None);
    assert_eq!(c.concurrency, DEFAULT_CONCURRENCY);
    assert_eq!(c.retries, DEFAULT_RETRIES);
    assert_eq!(c.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    assert_eq!(c.request_timeout, DEFAULT_REQUEST_TIMEOUT);
    assert_eq!(
        c.describe(),
        "cassandra://db1:9042/eosflow?table=users&consistency=local_quorum"
    );
}

#[test]
fn every_option() {
    let c = parse(
        "cassandra://host1:9042,host2:19042,[::1]:9043,[fe80::1]/KS_1?table=People\
         &consistency=EACH_QUORUM&replication=dc1:3,us-east-1:2&username=u%40corp\
         &password=p%26ss%3Dw%2Bo+rd%20&tls=true&tls_ca=/etc/ssl/my%20ca.pem&tls_verify=yes\
         &concurrency=128&retries=5&connect_timeout=2.5&request_timeout=30&durable_writes=false",
    )
    .expect("parse");
    assert_eq!(
        c.hosts,
        ["host1:9042", "host2:19042", "[::1]:9043", "[fe80::1]:9042"]
    );
    assert_eq!(c.keyspace, "ks_1");
    assert_eq!(c.table, "people");
    assert_eq!(c.consistency, Consistency::EachQuorum);
    assert_eq!(c.read_consistency(), Consistency::LocalQuorum);
    assert_eq!(
        c.replication,
        Replication::Network(vec![("dc1".into(), 3), ("us-east-1".into(), 2)])
    );
    assert!(!c.durable_writes);
    assert_eq!(c.username.as_deref(), Some("u@corp"));
    assert_eq!(
        c.password.as_ref().map(Secret::expose),
        Some("p&ss=w+o+rd ")
    );
    assert_eq!(
        c.tls,
        Some(Tls {
            ca: Some(PathBuf::from("/etc/ssl/my ca.pem")),
            verify: true
        })
    );
    assert_eq!(c.concurrency, 128);
    assert_eq!(c.retries, 5);
    assert_eq!(c.connect_timeout, Duration::from_millis(2500));
    assert_eq!(c.request_timeout, Duration::from_secs(30));
    let d = c.describe();
    assert_eq!(
        d,
        "cassandra://u%40corp@host1:9042,host2:19042,[::1]:9043,[fe80::1]:9042/ks_1\
         ?table=people&consistency=each_quorum&tls=true"
    );
    assert!(
        !format!("{c:?}").contains("p&ss"),
        "Debug shows no password"
    );
    assert_eq!(c.secrets(), ["p&ss=w+o+rd "]);
}

#[test]
fn credentials_in_userinfo() {
    let c = parse("cassandra://me:s%3Acr%40t@h/ks").expect("parse");
    assert_eq!(c.username.as_deref(), Some("me"));
    assert_eq!(c.password.as_ref().map(Secret::expose), Some("s:cr@t"));
    assert_eq!(
        c.describe(),
        "cassandra://me@h:9042/ks?table=users&consistency=local_quorum"
    );
    let c = parse("cassandra://me@h/ks?password=x").expect("user before @, password option");
    assert_eq!(c.password.as_ref().map(Secret::expose), Some("x"));
    assert!(err("cassandra://me:a@h/ks?password=b").contains("password is given both"));
    assert!(err("cassandra://me@h/ks?username=you").contains("username is given both"));
    assert!(err("cassandra://h/ks?password=x").contains("needs a username"));
}

#[test]
fn unencoded_slash_and_colon_in_a_password() {
    let c = parse("cassandra://u:a/b:c@h/ks").expect("parse");
    assert_eq!(c.password.as_ref().map(Secret::expose), Some("a/b:c"));
    assert_eq!(c.hosts, ["h:9042"]);
    assert_eq!(c.keyspace, "ks");
}

#[test]
fn every_consistency_level() {
    for (name, level) in CONSISTENCY_LEVELS {
        let c = parse(&format!("cassandra://h/ks?consistency={name}")).expect(name);
        assert_eq!(c.consistency, level);
        assert_eq!(consistency_name(level), name);
    }
    for refused in ["any", "serial", "local_serial", "fast"] {
        let e = err(&format!("cassandra://h/ks?consistency={refused}"));
        assert!(e.contains("consistency") && e.contains(refused), "{e}");
        assert!(e.contains("local_quorum"), "lists the levels: {e}");
    }
}

#[test]
fn tls_options() {
    let on = |url: &str| parse(url).expect(url).tls;
    assert_eq!(
        on("cassandra://h/ks?tls=true"),
        Some(Tls {
            ca: None,
            verify: true
        })
    );
    assert_eq!(on("cassandra://h/ks?tls=false"), None);
    assert_eq!(
        on("cassandra://h/ks?tls_ca=/ca.pem"),
        Some(Tls {
            ca: Some("/ca.pem".into()),
            verify: true
        }),
        "tls_ca alone turns TLS on"
    );
    assert_eq!(
        on("cassandra://h/ks?tls=1&tls_verify=false"),
        Some(Tls {
            ca: None,
            verify: false
        })
    );
    assert!(err("cassandra://h/ks?tls=false&tls_ca=/ca.pem").contains("tls_ca needs TLS"));
    assert!(err("cassandra://h/ks?tls=false&tls_verify=true").contains("tls_verify needs"));
    assert!(err("cassandra://h/ks?tls=true&tls_verify=no&tls_ca=/c").contains("pointless"));
    assert!(err("cassandra://h/ks?tls=maybe").contains("option tls: \"maybe\""));
}

#[test]
fn replication_forms() {
    let r = |v: &str| parse(&format!("cassandra://h/ks?replication={v}")).map(|c| c.replication);
    assert_eq!(r("3"), Ok(Replication::Simple(3)));
    assert_eq!(
        r("dc1:1"),
        Ok(Replication::Network(vec![("dc1".into(), 1)]))
    );
    for (bad_value, part) in [
        ("0", "\"0\""),
        ("100", "\"100\""),
        ("x", "\"x\""),
        ("dc1:3,dc2", "\"dc2\""),
        ("dc1:3,dc1:2", "\"dc1\" is given twice"),
        ("dc'1:3", "data center \"dc'1\""),
        ("dc1:0", "\"0\""),
        (":3", "data center \"\""),
    ] {
        let e = r(bad_value).expect_err(bad_value).to_string();
        assert!(
            e.starts_with("option replication: ") && e.contains(part),
            "{bad_value}: {e}"
        );
    }
}

#[test]
fn numbers_and_timeouts() {
    let c = parse("cassandra://h/ks?concurrency=1&retries=0").expect("parse");
    assert_eq!((c.concurrency, c.retries), (1, 0));
    for (url, part) in [
        (
            "cassandra://h/ks?concurrency=0",
            "option concurrency: \"0\"",
        ),
        ("cassandra://h/ks?concurrency=1025", "from 1 to 1024"),
        ("cassandra://h/ks?concurrency=-1", "option concurrency"),
        ("cassandra://h/ks?retries=21", "option retries: \"21\""),
        (
            "cassandra://h/ks?connect_timeout=0",
            "option connect_timeout",
        ),
        (
            "cassandra://h/ks?request_timeout=abc",
            "option request_timeout: \"abc\"",
        ),
        (
            "cassandra://h/ks?request_timeout=NaN",
            "option request_timeout",
        ),
    ] {
        let e = err(url);
        assert!(e.contains(part), "{url}: {e}");
    }
}

#[test]
fn names_are_checked() {
    assert!(err("cassandra://h").contains("no keyspace"));
    assert!(err("cassandra://h/").contains("no keyspace"));
    assert!(err("cassandra://h?table=t").contains("no keyspace"));
    assert!(err("cassandra://h/a/b").contains("keyspace \"a/b\""));
    assert!(err("cassandra://h/1ks").contains("keyspace \"1ks\": must be a letter"));
    assert!(err(&format!("cassandra://h/{}", "k".repeat(49))).contains("longer than 48"));
    assert!(parse(&format!("cassandra://h/{}", "k".repeat(48))).is_ok());
    assert!(
        parse("cassandra://h/ks/").is_ok(),
        "one trailing slash is fine"
    );
    assert!(err("cassandra://h/ks?table=users;drop").contains("table \"users;drop\""));
    assert!(err("cassandra://h/ks?table=_t").contains("table \"_t\""));
    assert!(err(&format!("cassandra://h/ks?table={}", "t".repeat(41))).contains("40"));
    assert!(parse(&format!("cassandra://h/ks?table={}", "t".repeat(40))).is_ok());
    let e = CassandraConfig::parse("cassandra://h/ks", "bad name")
        .expect_err("the default table is checked too")
        .to_string();
    assert!(e.contains("table \"bad name\""), "{e}");
    let c = CassandraConfig::parse("cassandra://h/ks", "other").expect("default table");
    assert_eq!(c.table, "other");
}

#[test]
fn hosts_are_checked() {
    for (url, part) in [
        ("cassandra:///ks", "no host"),
        ("cassandra://u:p@/ks", "no host"),
        ("cassandra://h1,,h2/ks", "host \"\": empty host name"),
        ("cassandra://h:0/ks", "host \"h:0\": the port"),
        ("cassandra://h:x/ks", "host \"h:x\": the port"),
        ("cassandra://h:70000/ks", "host \"h:70000\""),
        ("cassandra://::1/ks", "in brackets"),
        ("cassandra://[::1/ks", "missing ']'"),
        ("cassandra://[nothex]:9042/ks", "not an IPv6"),
        ("cassandra://[::1]9042/ks", "expected ':PORT'"),
        ("cassandra://h st/ks", "host \"h st\""),
        ("postgres://h/ks", "cassandra://"),
    ] {
        let e = err(url);
        assert!(e.contains(part), "{url}: {e}");
    }
}

#[test]
fn options_are_checked() {
    for (url, part) in [
        ("cassandra://h/ks?tabel=users", "unknown option \"tabel\""),
        (
            "cassandra://h/ks?table=a&table=b",
            "\"table\" is given twice",
        ),
        ("cassandra://h/ks?table", "\"table\" has no value"),
        ("cassandra://h/ks?table=", "\"table\" has no value"),
        (
            "cassandra://h/ks?tls_ca=%zz",
            "option tls_ca: bad percent-escape",
        ),
        ("cassandra://h/ks?tls_ca=%ff", "invalid UTF-8"),
    ] {
        let e = err(url);
        assert!(e.contains(part), "{url}: {e}");
    }
    assert!(err("cassandra://h/ks?x=1").contains("known: table, consistency"));
    assert!(
        parse("cassandra://h/ks?&table=t&").is_ok(),
        "empty pairs skipped"
    );
}

#[test]
fn errors_and_redaction_never_show_the_password() {
    for url in [
        "cassandra://u:s3cr3t%zz@h/ks",
        "cassandra://h/ks?username=u&password=s3cr3t%zz",
        "cassandra://h/ks?username=u&password=s3cr3t%ff",
        "cassandra://u:s3cr3t@h/ks?password=s3cr3t",
        "cassandra://h/ks?password=s3cr3t&tabel=x",
        "cassandra://u:s3cr/3t:x@h:bad/ks",
        "cassandra://u:s3cr/3t@h/1ks?password=s3cr3t",
    ] {
        let e = parse(url).expect_err(url);
        assert!(!e.to_string().contains("s3cr3t"), "{url}: {e}");
        assert!(!format!("{e:?}").contains("s3cr3t"), "{url}: {e:?}");
        assert!(!redact_url(url).contains("s3cr3t"), "{}", redact_url(url));
    }
    assert_eq!(
        redact_url("cassandra://u:pw@h/ks?table=t&password=pw&tls=true"),
        "cassandra://u@h/ks?table=t&password=***&tls=true"
    );
    let c = parse("cassandra://h/ks?username=u&password=s3cr3t").expect("parse");
    assert!(!c.describe().contains("s3cr3t"));
    assert!(!format!("{c:?}").contains("s3cr3t"));
}

#[test]
fn percent_decoding() {
    assert_eq!(decode("a%20b+c%2F%41").as_deref(), Ok("a b+c/A"));
    assert_eq!(decode("%C3%A9").as_deref(), Ok("é"));
    assert!(decode("%").is_err());
    assert!(decode("%4").is_err());
    assert!(decode("%g0").is_err());
    assert_eq!(encode("a b@c"), "a%20b%40c");
}
