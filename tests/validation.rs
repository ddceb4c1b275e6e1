//! `format_user`: the classic pipeline's `format_data` with validation, table-driven over edits of
//! a recorded randomuser.me user; plus the page envelope and the timestamp/email/phone rules.

use eosflow::model::{SourceIdentity, User};
use eosflow::source::randomuser::{
    email_problem, format_user, parse_page, parse_timestamp, phone_problem, redact, SECRET_FIELDS,
};
use serde_json::{json, Value};

fn recorded_page(name: &str) -> Value {
    let path = format!(
        "{}/tests/data/randomuser/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("recorded page");
    serde_json::from_str(&text).expect("recorded page is JSON")
}

/// Jennie Nichols (US, numeric postcode) from the recorded page.
fn base_user() -> Value {
    recorded_page("eosflow-page1.json")["results"][0].clone()
}

fn identity(index: u32) -> SourceIdentity {
    let (source, seed) = ("randomuser".into(), "eosflow".into());
    SourceIdentity {
        source,
        seed,
        page: 3,
        index,
    }
}

/// Sets (`Some`) or removes (`None`) the value at a JSON pointer.
fn apply(user: &mut Value, pointer: &str, new: &Option<Value>) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    let parent = user.pointer_mut(parent).expect("parent exists");
    let map = parent.as_object_mut().expect("parent is an object");
    match new {
        Some(v) => map.insert(key.to_string(), v.clone()),
        None => map.remove(key),
    };
}

/// A field of the user by its Avro name, numbers as text (`None` for a null optional field).
fn field(user: &User, name: &str) -> Option<String> {
    let value = serde_json::to_value(user).expect("json");
    match value.get(name) {
        None => panic!("no field {name}"),
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Null) => None,
        Some(other) => panic!("field {name} is {other}"),
    }
}

enum Want {
    /// Accepted, with this field holding this value.
    Field(&'static str, Option<&'static str>),
    /// Rejected, the reason containing this text.
    Reject(&'static str),
}
use Want::{Field, Reject};

/// `(JSON pointer, new value or None to remove)`.
type Edits = Vec<(&'static str, Option<Value>)>;

/// `(name, edits to the recorded user, expectation)`: one line each, so not rustfmt'ed.
#[rustfmt::skip]
fn cases() -> Vec<(&'static str, Edits, Want)> {
    let s = |v: &str| Some(json!(v));
    vec![
        ("recorded user", vec![], Field("address", Some("8929 Valwood Pkwy, Billings, Michigan, United States"))),
        ("numeric postcode", vec![("/location/postcode", Some(json!(63104)))], Field("post_code", Some("63104"))),
        ("string postcode", vec![("/location/postcode", s("K4 7TH"))], Field("post_code", Some("K4 7TH"))),
        ("short numeric postcode kept as served", vec![("/location/postcode", Some(json!(6582)))], Field("post_code", Some("6582"))),
        ("empty postcode", vec![("/location/postcode", s(""))], Reject("location.postcode: empty")),
        ("blank postcode", vec![("/location/postcode", s("   "))], Reject("location.postcode: empty")),
        ("null postcode", vec![("/location/postcode", Some(Value::Null))], Reject("location.postcode: expected a whole number or a string, got null")),
        ("fractional postcode", vec![("/location/postcode", Some(json!(123.5)))], Reject("location.postcode")),
        ("negative postcode", vec![("/location/postcode", Some(json!(-5)))], Reject("location.postcode")),
        ("null id.value", vec![("/id/value", Some(Value::Null))], Field("email", Some("jennie.nichols@example.com"))),
        ("no id at all", vec![("/id", None)], Field("first_name", Some("Jennie"))),
        ("missing login.uuid", vec![("/login/uuid", None)], Field("external_id", None)),
        ("null login.uuid", vec![("/login/uuid", Some(Value::Null))], Field("external_id", None)),
        ("numeric login.uuid", vec![("/login/uuid", Some(json!(42)))], Reject("login.uuid: expected a string, got a number 42")),
        ("email without @", vec![("/email", s("jennie.nichols.example.com"))], Reject("has 0 '@'")),
        ("email with two @", vec![("/email", s("a@b@example.com"))], Reject("has 2 '@'")),
        ("email with empty local part", vec![("/email", s("@example.com"))], Reject("empty local part")),
        ("email domain without dot", vec![("/email", s("jennie@localhost"))], Reject("no dot in the domain")),
        ("email with a space", vec![("/email", s("jennie nichols@example.com"))], Reject("contains ' '")),
        ("email with empty label", vec![("/email", s("jennie@example..com"))], Reject("empty domain label")),
        ("email as a number", vec![("/email", Some(json!(7)))], Reject("email: expected a string, got a number")),
        ("unicode email", vec![("/email", s("zoë.müller@example.com"))], Field("email", Some("zoë.müller@example.com"))),
        ("date only dob", vec![("/dob/date", s("1992-03-08"))], Reject("dob.date: \"1992-03-08\" is not an ISO-8601")),
        ("impossible dob", vec![("/dob/date", s("1993-02-29T15:13:16.688Z"))], Reject("dob.date")),
        ("dob with offset", vec![("/dob/date", s("1992-03-08T15:13:16+02:00"))], Reject("dob.date")),
        ("registered as a number", vec![("/registered/date", Some(json!(1_183_960_319)))], Reject("registered.date: expected a string, got a number")),
        ("dob after registered", vec![("/dob/date", s("2008-01-01T00:00:00.000Z"))], Reject("dob.date: \"2008-01-01T00:00:00.000Z\" is after registered.date")),
        ("dob equal to registered", vec![("/dob/date", s("2007-07-09T05:51:59.390Z"))], Field("dob", Some("2007-07-09T05:51:59.390Z"))),
        ("timestamp without fraction, made canonical", vec![("/registered/date", s("2007-07-09T05:51:59Z"))], Field("registered_date", Some("2007-07-09T05:51:59.000Z"))),
        ("timestamp finer than a millisecond", vec![("/registered/date", s("2007-07-09T05:51:59.1234Z"))], Reject("registered.date: \"2007-07-09T05:51:59.1234Z\" is finer than a millisecond")),
        ("missing dob", vec![("/dob", None)], Reject("dob.date: missing")),
        ("empty first name", vec![("/name/first", s(""))], Reject("name.first: empty")),
        ("blank last name", vec![("/name/last", s(" \t"))], Reject("name.last: empty")),
        ("numeric first name", vec![("/name/first", Some(json!(12)))], Reject("name.first: expected a string, got a number 12")),
        ("array last name", vec![("/name/last", Some(json!(["a"])))], Reject("name.last: expected a string, got an array")),
        ("unicode first name", vec![("/name/first", s("Søren"))], Field("first_name", Some("Søren"))),
        ("serbian last name", vec![("/name/last", s("Đorđević"))], Field("last_name", Some("Đorđević"))),
        ("persian first name", vec![("/name/first", s("محمدمهدی"))], Field("first_name", Some("محمدمهدی"))),
        ("gender other", vec![("/gender", s("other"))], Reject("gender: \"other\" is neither")),
        ("gender capitalised", vec![("/gender", s("Male"))], Reject("gender")),
        ("gender male", vec![("/gender", s("male"))], Field("gender", Some("male"))),
        ("phone with letters", vec![("/phone", s("call 272 790"))], Reject("phone: \"call 272 790\" contains 'c'")),
        ("phone without digits", vec![("/phone", s("(--) --"))], Reject("has 0 digits")),
        ("international phone", vec![("/phone", s("+44 17684 23518"))], Field("phone", Some("+44 17684 23518"))),
        ("string street number", vec![("/location/street/number", s("12B"))], Field("address", Some("12B Valwood Pkwy, Billings, Michigan, United States"))),
        ("missing street number", vec![("/location/street/number", None)], Reject("location.street.number: missing")),
        ("location is a string", vec![("/location", s("Billings"))], Reject("location.city: missing (location is a string, not an object)")),
        ("missing picture.medium", vec![("/picture/medium", None)], Reject("picture.medium: missing")),
        ("missing username", vec![("/login/username", None)], Reject("login.username: missing")),
        ("empty country", vec![("/location/country", s(""))], Reject("location.country: empty")),
        ("several problems", vec![("/email", s("x")), ("/phone", s("?"))], Reject("email: \"x\" has 0 '@' (expected exactly one); phone: \"?\"")),
        // User v2 fields: optional, checked when present.
        ("recorded nat", vec![], Field("nat", Some("US"))),
        ("recorded age", vec![], Field("age", Some("33"))),
        ("recorded cell", vec![], Field("cell", Some("(489) 330-2385"))),
        ("missing nat", vec![("/nat", None)], Field("nat", None)),
        ("null nat", vec![("/nat", Some(Value::Null))], Field("nat", None)),
        ("other nat", vec![("/nat", s("RS"))], Field("nat", Some("RS"))),
        ("lowercase nat", vec![("/nat", s("us"))], Reject("nat: \"us\" is not a two-letter uppercase country code")),
        ("three-letter nat", vec![("/nat", s("USA"))], Reject("nat: \"USA\" is not a two-letter")),
        ("numeric nat", vec![("/nat", Some(json!(1)))], Reject("nat: expected a string, got a number 1")),
        ("missing age", vec![("/dob/age", None)], Field("age", None)),
        ("null age", vec![("/dob/age", Some(Value::Null))], Field("age", None)),
        ("zero age", vec![("/dob/age", Some(json!(0)))], Field("age", Some("0"))),
        ("negative age", vec![("/dob/age", Some(json!(-3)))], Reject("dob.age: -3 is negative")),
        ("fractional age", vec![("/dob/age", Some(json!(33.5)))], Reject("dob.age: 33.5 is not a whole number")),
        ("age as a string", vec![("/dob/age", s("33"))], Reject("dob.age: expected a whole number, got a string \"33\"")),
        ("age beyond an int", vec![("/dob/age", Some(json!(3_000_000_000u64)))], Reject("dob.age: 3000000000 is too large for an int")),
        ("missing cell", vec![("/cell", None)], Field("cell", None)),
        ("null cell", vec![("/cell", Some(Value::Null))], Field("cell", None)),
        ("international cell", vec![("/cell", s("+44 7871 924302"))], Field("cell", Some("+44 7871 924302"))),
        ("cell with letters", vec![("/cell", s("mobile 555"))], Reject("cell: \"mobile 555\" contains 'm'")),
        ("cell with two digits", vec![("/cell", s("12"))], Reject("cell: \"12\" has 2 digits")),
        ("empty cell", vec![("/cell", s(""))], Reject("cell: empty")),
        ("numeric cell", vec![("/cell", Some(json!(4_893_302_385u64)))], Reject("cell: expected a string, got a number")),
        ("v2 problems are all reported", vec![("/nat", s("u")), ("/dob/age", Some(json!(-1))), ("/cell", s("x"))], Reject("nat: \"u\" is not a two-letter uppercase country code; dob.age: -1 is negative; cell: \"x\" contains 'x'")),
    ]
}

#[test]
fn table_of_formatting_and_validation_cases() {
    let cases = cases();
    assert!(cases.len() >= 25);
    for (name, edits, want) in cases {
        let mut raw = base_user();
        for (pointer, new) in &edits {
            apply(&mut raw, pointer, new);
        }
        match (format_user(&raw, &identity(4)), want) {
            (Ok(user), Field(f, value)) => assert_eq!(field(&user, f).as_deref(), value, "{name}"),
            (Err(r), Reject(needle)) => {
                assert!(
                    r.reason.contains(needle),
                    "{name}: {:?} lacks {needle:?}",
                    r.reason
                );
                assert_eq!(r.identity, identity(4), "{name}");
                assert_eq!(
                    serde_json::from_str::<Value>(&r.raw).ok(),
                    Some(redact(&raw)),
                    "{name}"
                );
            }
            (Ok(user), Reject(needle)) => panic!("{name}: accepted {user:?}, wanted {needle:?}"),
            (Err(r), Field(..)) => panic!("{name}: rejected: {}", r.reason),
        }
    }
}

#[test]
fn a_recorded_user_formats_exactly() {
    let user = format_user(&base_user(), &identity(4)).expect("valid");
    let want = User {
        source_name: "randomuser".into(),
        source_seed: "eosflow".into(),
        source_page: 3,
        source_index: 4,
        external_id: Some("7a0eed16-9430-4d68-901f-c0d4c1c3bf00".into()),
        first_name: "Jennie".into(),
        last_name: "Nichols".into(),
        gender: "female".into(),
        address: "8929 Valwood Pkwy, Billings, Michigan, United States".into(),
        post_code: "63104".into(),
        email: "jennie.nichols@example.com".into(),
        username: "yellowpeacock117".into(),
        dob: "1992-03-08T15:13:16.688Z".into(),
        registered_date: "2007-07-09T05:51:59.390Z".into(),
        phone: "(272) 790-0888".into(),
        picture: "https://randomuser.me/api/portraits/med/women/88.jpg".into(),
        nat: Some("US".into()),
        age: Some(33),
        cell: Some("(489) 330-2385".into()),
    };
    assert_eq!(user, want);
    assert_eq!(user.identity(), identity(4));
}

#[test]
fn every_recorded_user_is_valid_or_rejected_for_a_reason() {
    for (file, valid) in [
        ("eosflow-page1.json", 3),
        ("eosflow-page2.json", 3),
        ("flawed-page1.json", 2),
    ] {
        let page =
            parse_page(&serde_json::to_vec(&recorded_page(file)).expect("bytes")).expect(file);
        let ok = (0u32..)
            .zip(&page.results)
            .filter(|(i, u)| format_user(u, &identity(*i)).is_ok());
        assert_eq!(ok.count(), valid, "{file}");
    }
}

#[test]
fn secrets_never_reach_a_user_or_a_rejection() {
    let mut raw = base_user();
    let secrets: Vec<String> = SECRET_FIELDS
        .iter()
        .map(|k| raw["login"][k].as_str().expect("secret").to_owned())
        .collect();
    let user = format_user(&raw, &identity(0)).expect("valid");
    let text = serde_json::to_string(&user).expect("json") + &format!("{user:?}");
    for s in secrets.iter().map(String::as_str).chain(SECRET_FIELDS) {
        assert!(!text.contains(s), "{s} in {text}");
    }
    // A stray secret elsewhere is stripped too.
    raw["extra"] = json!({"password": "hunter2", "nested": [{"sha256": "deadbeef"}]});
    raw["email"] = json!("broken");
    let rejection = format_user(&raw, &identity(0)).expect_err("bad email");
    let shown = format!("{rejection} {rejection:?}");
    for s in secrets
        .iter()
        .map(String::as_str)
        .chain(SECRET_FIELDS)
        .chain(["hunter2", "deadbeef"])
    {
        assert!(!shown.contains(s), "{s} in {shown}");
    }
    let kept: Value = serde_json::from_str(&rejection.raw).expect("raw is JSON");
    assert_eq!(
        kept["login"],
        json!({"uuid": "7a0eed16-9430-4d68-901f-c0d4c1c3bf00", "username": "yellowpeacock117"})
    );
    assert_eq!(kept["extra"], json!({"nested": [{}]}));
}

#[test]
fn non_object_users_are_rejected() {
    for raw in [json!(null), json!([1]), json!("user"), json!(3)] {
        let r = format_user(&raw, &identity(1)).expect_err("not an object");
        assert!(
            r.reason.starts_with("user: expected a JSON object"),
            "{}",
            r.reason
        );
        assert_eq!(r.raw, raw.to_string());
    }
    let big = SourceIdentity {
        index: u32::MAX,
        ..identity(0)
    };
    let r = format_user(&base_user(), &big).expect_err("index beyond an Avro int");
    assert!(r.reason.contains("source index"), "{}", r.reason);
}

#[test]
fn page_envelopes() {
    let page =
        parse_page(br#"{"results":[{}],"info":{"seed":"s","results":1,"page":2,"version":"1.4"}}"#)
            .expect("page");
    assert_eq!(
        (page.info.seed.as_str(), page.info.page, page.info.results),
        ("s", 2, 1)
    );
    assert_eq!(page.info.version.as_deref(), Some("1.4"));
    let numeric_seed =
        parse_page(br#"{"results":[],"info":{"seed":42,"results":"0","page":1}}"#).expect("page");
    assert_eq!(
        (numeric_seed.info.seed.as_str(), numeric_seed.info.version),
        ("42", None)
    );
    let bad: [(&[u8], &str); 7] = [
        (b"<html>502 Bad Gateway</html>", "body is not JSON"),
        (b"", "body is not JSON"),
        (
            br#"{"error":"Uh oh, something has gone wrong."}"#,
            "the server answered with an error",
        ),
        (br#"{"info":{}}"#, "no \"results\""),
        (
            br#"{"results":{},"info":{}}"#,
            "\"results\" is an object, not an array",
        ),
        (
            br#"{"results":[],"info":{"seed":"s","results":1}}"#,
            "info.page: missing",
        ),
        (
            br#"{"results":[],"info":{"seed":"s","results":-1,"page":1}}"#,
            "info.results: expected a whole number",
        ),
    ];
    for (body, needle) in bad {
        let err = parse_page(body).expect_err("malformed");
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn timestamp_rules() {
    assert_eq!(
        parse_timestamp("1992-03-08T15:13:16.688Z"),
        Some((1992, 3, 8, 15, 13, 16, 688_000_000))
    );
    assert_eq!(
        parse_timestamp("2000-02-29T00:00:00Z"),
        Some((2000, 2, 29, 0, 0, 0, 0))
    );
    assert!(parse_timestamp("2024-02-29T23:59:59.123456789Z").is_some());
    for bad in [
        "1900-02-29T00:00:00Z",
        "2023-04-31T00:00:00Z",
        "2023-13-01T00:00:00Z",
        "2023-00-01T00:00:00Z",
        "2023-01-00T00:00:00Z",
        "2023-01-01T24:00:00Z",
        "2023-01-01T00:60:00Z",
        "2023-01-01T00:00:60Z",
        "2023-01-01T00:00:00",
        "2023-01-01 00:00:00Z",
        "2023-01-01T00:00:00.Z",
        "2023-01-01T00:00:00.1234567890Z",
        "2023-1-01T00:00:00Z",
        "２023-01-01T00:00:00Z",
        "",
    ] {
        assert_eq!(parse_timestamp(bad), None, "{bad}");
    }
    assert!(parse_timestamp("1999-12-31T23:59:59.999Z") < parse_timestamp("2000-01-01T00:00:00Z"));
    assert!(
        parse_timestamp("2000-01-01T00:00:00.5Z") > parse_timestamp("2000-01-01T00:00:00.499Z")
    );
}

#[test]
fn email_and_phone_rules() {
    for ok in [
        "a@b.co",
        "jennie.nichols@example.com",
        "o'brien@example.co.uk",
    ] {
        assert_eq!(email_problem(ok), None, "{ok}");
    }
    for bad in [
        "",
        "a@b",
        "a@.b",
        "a@b.",
        "a\u{7}@b.c",
        "<a@b.c>",
        "a,b@c.d",
    ] {
        assert!(email_problem(bad).is_some(), "{bad}");
    }
    for ok in [
        "(272) 790-0888",
        "017684 23518",
        "02-1234-5678",
        "+33 1 23.45.67/89",
    ] {
        assert_eq!(phone_problem(ok), None, "{ok}");
    }
    for bad in ["", "123", "272-790-0888 ext", "０１２３４"] {
        assert!(phone_problem(bad).is_some(), "{bad}");
    }
}
