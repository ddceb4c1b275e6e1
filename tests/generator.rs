//! The offline generator: determinism, the pinned golden user, variety and field validity.

use std::collections::HashSet;

use eosflow::model::{SourceIdentity, User};
use eosflow::source::generator::{generate_user, Generator, DEFAULT_NAME, MAX_PAGE_SIZE};
use eosflow::source::{PageRequest, Source, SourceError};
use proptest::prelude::*;

fn request(seed: &str, page: u64, size: u32) -> PageRequest {
    PageRequest {
        seed: seed.into(),
        page,
        size,
    }
}

fn fetch(seed: &str, page: u64, size: u32) -> Vec<User> {
    Generator::new()
        .fetch(&request(seed, page, size))
        .expect("valid request")
        .users
}

// ---- checkers, written independently of the generator's own calendar code ----

fn is_leap(y: u32) -> bool {
    y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400))
}

/// Parses `YYYY-MM-DDTHH:MM:SS.mmmZ` into `(y, m, d)`, checking every field.
fn parse_timestamp(s: &str) -> (u32, u32, u32) {
    let b = s.as_bytes();
    assert_eq!(b.len(), 24, "{s:?}");
    for (i, &c) in b.iter().enumerate() {
        let want = match i {
            4 | 7 => b'-',
            10 => b'T',
            13 | 16 => b':',
            19 => b'.',
            23 => b'Z',
            _ => {
                assert!(c.is_ascii_digit(), "{s:?}");
                continue;
            }
        };
        assert_eq!(c, want, "{s:?}");
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap();
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    assert!((1..=12).contains(&m), "{s:?}");
    let month_len = match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    assert!((1..=month_len).contains(&d), "{s:?}");
    assert!(
        num(11..13) < 24 && num(14..16) < 60 && num(17..19) < 60,
        "{s:?}"
    );
    (y, m, d)
}

/// randomuser's nationalities: country name (as in addresses) and ISO-3166 alpha-2 `nat`.
const COUNTRY_CODES: [(&str, &str); 20] = [
    ("United States", "US"),
    ("United Kingdom", "GB"),
    ("France", "FR"),
    ("Germany", "DE"),
    ("Spain", "ES"),
    ("Netherlands", "NL"),
    ("Brazil", "BR"),
    ("Canada", "CA"),
    ("Australia", "AU"),
    ("New Zealand", "NZ"),
    ("Ireland", "IE"),
    ("Denmark", "DK"),
    ("Finland", "FI"),
    ("Norway", "NO"),
    ("Switzerland", "CH"),
    ("Turkey", "TR"),
    ("India", "IN"),
    ("Mexico", "MX"),
    ("Ukraine", "UA"),
    ("Serbia", "RS"),
];

/// Every field of `u` has the randomuser / `format_data` shape.
fn assert_valid(u: &User) {
    let portraits = match u.gender.as_str() {
        "male" => "men",
        "female" => "women",
        other => panic!("gender {other:?}"),
    };
    assert!(!u.first_name.is_empty() && !u.last_name.is_empty());

    // email: {first}.{last}@example.com, lowercase ASCII.
    let local = u.email.strip_suffix("@example.com").expect(&u.email);
    assert_eq!(u.email.matches('@').count(), 1, "{}", u.email);
    let (first, last) = local.split_once('.').expect(&u.email);
    for part in [first, last] {
        assert!(!part.is_empty(), "{}", u.email);
        assert!(
            part.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "{}",
            u.email
        );
    }

    // username: letters then exactly three digits.
    let digits = u
        .username
        .trim_start_matches(|c: char| c.is_ascii_lowercase());
    assert!(
        digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit()),
        "{}",
        u.username
    );
    assert!(u.username.len() > 3, "{}", u.username);

    // address: "number street, city, state, country".
    let parts: Vec<&str> = u.address.split(", ").collect();
    assert_eq!(parts.len(), 4, "{}", u.address);
    let (number, street) = parts[0].split_once(' ').expect(&u.address);
    let number: u32 = number.parse().expect(&u.address);
    assert!(
        (1..=9999).contains(&number) && !street.is_empty(),
        "{}",
        u.address
    );
    assert!(parts.iter().all(|p| !p.trim().is_empty()), "{}", u.address);

    assert!(!u.post_code.is_empty(), "{:?}", u);
    assert!(u
        .post_code
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-'));

    let phone_digits = u.phone.bytes().filter(u8::is_ascii_digit).count();
    assert!(phone_digits >= 8, "{}", u.phone);
    assert!(
        u.phone
            .bytes()
            .all(|b| b.is_ascii_digit() || b" ()-".contains(&b)),
        "{}",
        u.phone
    );

    // dob: aged 18..=80 on 2026-01-01. registered: 2002..=2025, after the 18th birthday.
    let (y, m, d) = parse_timestamp(&u.dob);
    let age = 2026 - y - u32::from((m, d) > (1, 1));
    assert!((18..=80).contains(&age), "dob {} (age {age})", u.dob);
    assert_eq!(
        u.age,
        i32::try_from(age).ok(),
        "age on 2026-01-01, dob {}",
        u.dob
    );

    // nat: the ISO code of the address's country; cell: a phone number of that country.
    let country = u.address.rsplit(", ").next().unwrap_or_default();
    let code = COUNTRY_CODES
        .iter()
        .find(|(name, _)| *name == country)
        .map(|(_, code)| *code);
    assert_eq!(u.nat.as_deref(), code, "{}", u.address);
    let cell = u.cell.as_deref().expect("cell");
    assert!(
        cell.bytes().filter(u8::is_ascii_digit).count() >= 8
            && cell
                .bytes()
                .all(|b| b.is_ascii_digit() || b" ()-".contains(&b)),
        "{cell}"
    );
    let (ry, _, _) = parse_timestamp(&u.registered_date);
    assert!(
        (2002..=2025).contains(&ry),
        "registered {}",
        u.registered_date
    );
    let (am, ad) = if (m, d) == (2, 29) && !is_leap(y + 18) {
        (3, 1)
    } else {
        (m, d)
    };
    let adult = format!("{:04}-{am:02}-{ad:02}{}", y + 18, &u.dob[10..]);
    // Fixed-width ISO timestamps compare correctly as strings.
    assert!(
        u.registered_date > adult,
        "registered {} before {adult}",
        u.registered_date
    );

    let n = u
        .picture
        .strip_prefix(&format!(
            "https://randomuser.me/api/portraits/med/{portraits}/"
        ))
        .and_then(|rest| rest.strip_suffix(".jpg"))
        .expect(&u.picture);
    assert!(n.parse::<u8>().is_ok_and(|n| n <= 99) && (n == "0" || !n.starts_with('0')));

    let id = u.external_id.as_deref().expect("external_id");
    let parsed = uuid::Uuid::parse_str(id).expect(id);
    assert_eq!(parsed.get_version_num(), 4, "{id}");
    assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122, "{id}");
    assert_eq!(parsed.hyphenated().to_string(), id, "lowercase hyphenated");

    // No password, hash or salt anywhere in the record.
    let json = serde_json::to_string(u).unwrap().to_lowercase();
    for banned in ["password", "salt", "sha1", "sha256", "md5"] {
        assert!(!json.contains(banned), "{banned} in {json}");
    }
}

// ---- tests ----

#[test]
fn golden_user_is_pinned() {
    // Guards the generator against accidental change: replayed pages must keep their contents.
    // Never update this without a deliberate, documented decision.
    let want = User {
        source_name: "generator".into(),
        source_seed: "demo".into(),
        source_page: 1,
        source_index: 0,
        external_id: Some("e2a20939-31cc-4020-92e5-67d7762990ab".into()),
        first_name: "Oğuz".into(),
        last_name: "Korhonen".into(),
        gender: "male".into(),
        address: "2094 Lakeshore Rd, Winnipeg, Manitoba, Canada".into(),
        post_code: "O5J 7X6".into(),
        email: "oguz.korhonen@example.com".into(),
        username: "silvermeercat292".into(),
        dob: "1978-12-16T17:51:42.626Z".into(),
        registered_date: "2014-04-14T11:08:33.874Z".into(),
        phone: "834-321-4198".into(),
        picture: "https://randomuser.me/api/portraits/med/men/77.jpg".into(),
        nat: Some("CA".into()),
        age: Some(47),
        cell: Some("308-977-5388".into()),
    };
    assert_eq!(generate_user("demo", 1, 0, "generator"), want);
    assert_eq!(fetch("demo", 1, 1)[0], want);
    assert_eq!(
        want.key().to_string(),
        "3be17628-9e0f-5883-9e6c-55e40790f31e",
        "row key of the golden identity (pinned in model.rs too)"
    );
    // A second pin, on another page and a non-ASCII name.
    let second = generate_user("demo", 1, 1, "generator");
    assert_eq!(
        (
            second.email.as_str(),
            second.last_name.as_str(),
            second.phone.as_str()
        ),
        ("ida.schafer@example.com", "Schäfer", "(68) 5550-4343")
    );
    assert_eq!(
        (second.nat.as_deref(), second.age, second.cell.as_deref()),
        (Some("BR"), Some(41), Some("(93) 93473-7126"))
    );
}

#[test]
fn same_inputs_same_user_regardless_of_page_size() {
    let small = fetch("demo", 3, 10);
    let large = fetch("demo", 3, 100);
    assert_eq!(small[..], large[..10]);
    assert_eq!(fetch("demo", 3, 100), large);
    for (i, u) in large.iter().enumerate() {
        assert_eq!(*u, generate_user("demo", 3, i as u32, DEFAULT_NAME));
        assert_eq!(
            u.identity(),
            SourceIdentity {
                source: "generator".into(),
                seed: "demo".into(),
                page: 3,
                index: i as u32
            }
        );
    }
}

#[test]
fn fetch_stamps_identity_and_name() {
    let mut g = Generator::with_name("offline-eu");
    assert_eq!(g.name(), "offline-eu");
    assert_eq!(Generator::new().name(), "generator");
    assert_eq!(Generator::default(), Generator::new());
    let page = g.fetch(&request("s", 7, 25)).unwrap();
    assert_eq!(page.request, request("s", 7, 25));
    assert_eq!(page.users.len(), 25);
    for (i, u) in page.users.iter().enumerate() {
        assert_eq!(
            (u.source_name.as_str(), u.source_seed.as_str()),
            ("offline-eu", "s")
        );
        assert_eq!((u.source_page, u.source_index), (7, i as i32));
        // Contents depend on (seed, page, index) only, not on the source name.
        let plain = generate_user("s", 7, i as u32, "generator");
        assert_eq!(
            User {
                source_name: "offline-eu".into(),
                ..plain
            },
            *u
        );
    }
}

#[test]
fn bad_requests_are_rejected() {
    let mut g = Generator::new();
    for (page, size, needle) in [
        (0, 10, "page"),
        (1, 0, "size"),
        (1, MAX_PAGE_SIZE + 1, "10000"),
        (u64::MAX, 10, "page"),
    ] {
        match g.fetch(&request("demo", page, size)) {
            Err(SourceError::BadRequest(msg)) => assert!(msg.contains(needle), "{msg}"),
            other => panic!("page {page} size {size}: {other:?}"),
        }
    }
    assert_eq!(
        g.fetch(&request("demo", 1, MAX_PAGE_SIZE))
            .unwrap()
            .users
            .len(),
        10_000
    );
    assert_eq!(
        g.fetch(&request("", i64::MAX as u64, 1))
            .unwrap()
            .users
            .len(),
        1
    );
}

#[test]
fn one_page_has_high_variety() {
    let users = fetch("variety", 1, 1000);
    let distinct = |f: fn(&User) -> &str| users.iter().map(f).collect::<HashSet<_>>().len();
    // ~19k name pairs: a few birthday collisions are expected, as on randomuser.
    assert!(
        distinct(|u| &u.email) >= 900,
        "emails {}",
        distinct(|u| &u.email)
    );
    assert!(distinct(|u| &u.username) >= 990);
    assert!(distinct(|u| &u.address) >= 990);
    assert!(distinct(|u| &u.phone) >= 995);
    assert!(distinct(|u| &u.dob) >= 999);
    assert!(distinct(|u| &u.registered_date) >= 999);
    assert_eq!(distinct(|u| u.external_id.as_deref().unwrap()), 1000);
    assert!(distinct(|u| &u.first_name) >= 100 && distinct(|u| &u.last_name) >= 100);
    let countries = users.iter().map(|u| u.address.rsplit(", ").next().unwrap());
    assert_eq!(countries.collect::<HashSet<_>>().len(), 20);
    let women = users.iter().filter(|u| u.gender == "female").count();
    assert!((400..=600).contains(&women), "{women} women of 1000");
    let years: HashSet<&str> = users.iter().map(|u| &u.dob[..4]).collect();
    assert!(years.len() >= 55, "{} birth years", years.len());
}

#[test]
fn pages_and_seeds_give_different_users() {
    let mut ids = HashSet::new();
    for page in 1..=20 {
        for u in fetch("demo", page, 250) {
            assert!(ids.insert(u.external_id.unwrap()), "duplicate across pages");
        }
    }
    for seed in ["demo2", "Demo", "demo ", "", "déjà vu"] {
        let u = generate_user(seed, 1, 0, "generator");
        assert!(
            ids.insert(u.external_id.unwrap()),
            "seed {seed:?} repeats demo"
        );
    }
    // Neighbouring identities are not shifted copies of each other.
    let a = fetch("demo", 1, 50);
    let b = fetch("demo", 2, 50);
    let same = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x.first_name == y.first_name)
        .count();
    assert!(same < 10, "{same} equal first names between page 1 and 2");
    let shifted = a
        .windows(2)
        .filter(|w| w[0].username == w[1].username)
        .count();
    assert_eq!(shifted, 0);
}

#[test]
fn every_field_is_valid_over_many_users() {
    let mut ages_seen = HashSet::new();
    for page in 1..=5 {
        for u in fetch("validity", page, 1000) {
            assert_valid(&u);
            ages_seen.insert(u.dob[..4].to_string());
        }
    }
    // The extremes of the range occur.
    assert!(ages_seen.contains("1945") || ages_seen.contains("1946"));
    assert!(ages_seen.contains("2007"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_identity_is_deterministic_and_valid(
        seed in any::<String>(),
        page in 1u64..=i64::MAX as u64,
        index in 0u32..MAX_PAGE_SIZE,
    ) {
        let u = generate_user(&seed, page, index, "generator");
        prop_assert_eq!(&u, &generate_user(&seed, page, index, "generator"));
        prop_assert_eq!(u.identity(), SourceIdentity { source: "generator".into(), seed: seed.clone(), page, index });
        assert_valid(&u);
    }

    #[test]
    fn page_size_never_matters(seed in "[a-z]{0,8}", page in 1u64..1000, a in 1u32..200, b in 1u32..200) {
        let (short, long) = (fetch(&seed, page, a.min(b)), fetch(&seed, page, a.max(b)));
        prop_assert_eq!(&short[..], &long[..short.len()]);
    }
}
