//! The offline deterministic source: fake randomuser.me-style users, computed from
//! `(seed, page, index)` alone.
//!
//! Every user is a pure function of its identity ([`generate_user`]): the same
//! `(seed, page, index)` gives the identical user on any machine and Rust version, whatever the
//! page size it was fetched with. Values have the exact formats the classic pipeline's
//! `format_data` keeps from randomuser.me (`"8929 Valwood Pkwy, Billings, Montana, United States"`,
//! `"1992-03-08T15:13:16.688Z"`, `"https://randomuser.me/api/portraits/med/women/75.jpg"`, …).
//! No passwords, hashes or salts are generated. User v2 fields: `nat` is the country's ISO-3166
//! alpha-2 code (as randomuser's `nat`), `age` the age on the fixed reference date 2026-01-01,
//! `cell` a mobile number in the country's style (drawn after every v1 field, so v1 fields are
//! unchanged by v2).
//!
//! Randomness: the seed is hashed with FNV-1a 64, mixed with the page and the index through the
//! SplitMix64 finalizer, and the result seeds a SplitMix64 stream that draws the fields in a fixed
//! order. All of it is specified integer arithmetic (no `std` hashers, no floats, no clock), so it
//! is stable forever — and must stay so: changing the draws re-keys nothing (keys come from the
//! identity) but changes the contents of replayed rows. The golden-user test pins it.

mod data;

use super::{Page, PageRequest, Source, SourceError};
use crate::model::instant::{self, civil_from_days, days_from_civil, is_leap, push_uint, DAY_MS};
use crate::model::User;
use data::Country;

/// The name a [`Generator::new`] records in every user's `source_name`.
pub const DEFAULT_NAME: &str = "generator";
/// The largest page the generator serves: twice randomuser's, so one page (one transaction)
/// can hold 10,000 users; nothing but memory bounds it (a page is held whole).
pub const MAX_PAGE_SIZE: u32 = 10_000;

/// The offline [`Source`]: pages of [`generate_user`] users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generator {
    name: String,
}

impl Generator {
    /// A generator named [`DEFAULT_NAME`] (`"generator"`).
    pub fn new() -> Self {
        Self::with_name(DEFAULT_NAME)
    }

    /// A generator recording `name` as `source_name`. The users' contents do not depend on it,
    /// only their identity (and so their row keys) do.
    pub fn with_name(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

impl Default for Generator {
    fn default() -> Self {
        Self::new()
    }
}

impl Source for Generator {
    fn name(&self) -> &str {
        &self.name
    }

    fn fetch(&mut self, request: &PageRequest) -> Result<Page, SourceError> {
        request.validate(MAX_PAGE_SIZE, "the generator's largest page")?;
        let users = (0..request.size)
            .map(|index| generate_user(&request.seed, request.page, index, &self.name))
            .collect();
        Ok(Page {
            request: request.clone(),
            users,
            rejects: Vec::new(),
        })
    }
}

/// The user at `(seed, page, index)`, stamped with `source_name`.
///
/// Pure and stable: the contents depend on `(seed, page, index)` only. `page` above `i64::MAX`
/// and `index` above `i32::MAX` saturate in `source_page`/`source_index` ([`Generator::fetch`]
/// never asks for those).
pub fn generate_user(seed: &str, page: u64, index: u32, source_name: &str) -> User {
    let mut rng = Rng::for_user(seed, page, index);

    let female = rng.below(2) == 1;
    let (gender, first_names, portraits) = if female {
        ("female", data::FEMALE_FIRST, "women")
    } else {
        ("male", data::MALE_FIRST, "men")
    };
    let first_name = *rng.pick(first_names);
    let last_name = *rng.pick(data::LAST);

    let country: &Country = rng.pick(data::COUNTRIES);
    let (city, state) = *rng.pick(country.places);
    let street = *rng.pick(country.streets);
    let number = rng.between(1, 9999);
    let mut address =
        String::with_capacity(8 + street.len() + city.len() + state.len() + country.name.len());
    push_uint(&mut address, number, 1);
    for part in [" ", street, ", ", city, ", ", state, ", ", country.name] {
        address.push_str(part);
    }

    let post_code_pattern = *rng.pick(country.post_codes);
    let post_code = fill_pattern(post_code_pattern, &mut rng);

    let mut email = String::with_capacity(first_name.len() + last_name.len() + 13);
    push_ascii_lower(&mut email, first_name);
    email.push('.');
    push_ascii_lower(&mut email, last_name);
    email.push_str("@example.com");

    let adjective = *rng.pick(data::ADJECTIVES);
    let animal = *rng.pick(data::ANIMALS);
    let mut username = String::with_capacity(adjective.len() + animal.len() + 3);
    username.push_str(adjective);
    username.push_str(animal);
    push_uint(&mut username, rng.between(100, 999), 3);

    let dob_ms = rng.between_i64(DOB_MIN_MS, DOB_MAX_MS);
    let registered_lo = REGISTERED_MIN_MS.max(adulthood_ms(dob_ms) + 1);
    let registered_ms = rng.between_i64(registered_lo, REGISTERED_MAX_MS);

    let phone = fill_pattern(country.phone, &mut rng);

    let mut picture = String::with_capacity(56);
    picture.push_str("https://randomuser.me/api/portraits/med/");
    picture.push_str(portraits);
    picture.push('/');
    push_uint(&mut picture, rng.below(100), 1);
    picture.push_str(".jpg");

    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
    bytes[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
    let external_id = uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string();

    // User v2 fields. New draws only ever go here, after every earlier draw, so the fields above
    // stay identical for every identity.
    let cell = fill_pattern(country.cell, &mut rng);

    User {
        source_name: source_name.to_owned(),
        source_seed: seed.to_owned(),
        source_page: i64::try_from(page).unwrap_or(i64::MAX),
        source_index: i32::try_from(index).unwrap_or(i32::MAX),
        external_id: Some(external_id),
        first_name: first_name.to_owned(),
        last_name: last_name.to_owned(),
        gender: gender.to_owned(),
        address,
        post_code,
        email,
        username,
        dob: instant::format_millis(dob_ms),
        registered_date: instant::format_millis(registered_ms),
        phone,
        picture,
        nat: Some(country.code.to_owned()),
        age: Some(age_on(dob_ms, REFERENCE_DAY)),
        cell: Some(cell),
    }
}

// ---------------------------------------------------------------------------------------------
// Randomness: FNV-1a 64 + SplitMix64, fully specified, no std hashers.

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 finalizer (a bijection with full avalanche).
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a 64 of `bytes`.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn for_user(seed: &str, page: u64, index: u32) -> Self {
        let seed_hash = mix64(fnv1a64(seed.as_bytes()) ^ seed.len() as u64);
        let page_state = mix64(seed_hash ^ mix64(page.wrapping_add(GOLDEN_GAMMA)));
        let user_state = mix64(page_state ^ mix64(u64::from(index) ^ 0xD6E8_FEB8_6659_FD93));
        Rng(user_state)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        mix64(self.0)
    }

    /// Uniform in `0..n` (multiply-high; `n >= 1`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `lo..=hi` (`lo <= hi`).
    fn between_i64(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below(hi.abs_diff(lo) + 1) as i64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Fills a pattern: `#` digit, `%` digit 1–9, `@` letter A–Z, anything else copied.
fn fill_pattern(pattern: &str, rng: &mut Rng) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        let drawn = match c {
            '#' => b'0' + rng.below(10) as u8,
            '%' => b'1' + rng.below(9) as u8,
            '@' => b'A' + rng.below(26) as u8,
            other => {
                out.push(other);
                continue;
            }
        };
        out.push(char::from(drawn));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Text.

/// Appends `name` lowercased and transliterated to `[a-z0-9]` (accents stripped, `ß` → `ss`,
/// `ø` → `o`, …); spaces, apostrophes, hyphens and unknown characters are dropped.
fn push_ascii_lower(out: &mut String, name: &str) {
    for c in name.chars() {
        let Some(lower) = c.to_lowercase().next() else {
            continue;
        };
        if lower.is_ascii_alphanumeric() {
            out.push(lower);
            continue;
        }
        let ascii = match lower {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'č' => "c",
            'đ' | 'ď' => "dj",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
            'ğ' => "g",
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ı' => "i",
            'ł' => "l",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
            'œ' => "oe",
            'ř' => "r",
            'ß' => "ss",
            'ś' | 'ş' | 'š' => "s",
            'ţ' | 'ť' => "t",
            'þ' => "th",
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            _ => "",
        };
        out.push_str(ascii);
    }
}

// ---------------------------------------------------------------------------------------------
// Time: milliseconds since the Unix epoch, proleptic Gregorian, UTC. The reference date is fixed
// (2026-01-01), never the clock.

/// Born 1945-01-02 … 2007-12-30: aged 18 to 80 on 2026-01-01, with room to register as an adult
/// before the reference date.
const DOB_MIN_MS: i64 = days_from_civil(1945, 1, 2) * DAY_MS;
const DOB_MAX_MS: i64 = (days_from_civil(2007, 12, 30) + 1) * DAY_MS - 1;
/// Registered 2002-01-01 … 2025-12-31, and after the 18th birthday.
const REGISTERED_MIN_MS: i64 = days_from_civil(2002, 1, 1) * DAY_MS;
const REGISTERED_MAX_MS: i64 = days_from_civil(2026, 1, 1) * DAY_MS - 1;
/// The fixed reference date, 2026-01-01 (days since the epoch): ages are counted on it.
const REFERENCE_DAY: i64 = days_from_civil(2026, 1, 1);

/// Age in years on the civil date `on_day` (days since the epoch) of someone born at `dob_ms`:
/// a year older on each birthday (the date, whatever the time of birth). A 29 February birthday
/// falls on 1 March in common years, as in [`adulthood_ms`].
fn age_on(dob_ms: i64, on_day: i64) -> i32 {
    let (by, bm, bd) = civil_from_days(dob_ms.div_euclid(DAY_MS));
    let (y, m, d) = civil_from_days(on_day);
    let birthday = if (bm, bd) == (2, 29) && !is_leap(y) {
        (3, 1)
    } else {
        (bm, bd)
    };
    let before_birthday = (m, d) < birthday;
    i32::try_from(y - by - i64::from(before_birthday)).unwrap_or(i32::MAX)
}

/// The instant of the 18th birthday (a 29 February birthday falls on 1 March).
fn adulthood_ms(dob_ms: i64) -> i64 {
    let (y, m, d) = civil_from_days(dob_ms.div_euclid(DAY_MS));
    let y18 = y + 18;
    let (m, d) = if m == 2 && d == 29 && !is_leap(y18) {
        (3, 1)
    } else {
        (m, d)
    };
    days_from_civil(y18, m, d) * DAY_MS + dob_ms.rem_euclid(DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips_and_matches_known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 1, 1), 20_454);
        assert_eq!(days_from_civil(1945, 1, 2), -9_130);
        for day in days_from_civil(1900, 1, 1)..days_from_civil(2100, 1, 1) {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
            let month_len = match m {
                2 if is_leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            assert!((1..=month_len).contains(&d), "{y}-{m}-{d}");
        }
        assert!(is_leap(2000) && is_leap(2024) && !is_leap(1900) && !is_leap(2025));
    }

    #[test]
    fn timestamps_format_exactly() {
        assert_eq!(instant::format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(instant::format_millis(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            instant::format_millis(951_827_696_688),
            "2000-02-29T12:34:56.688Z"
        );
        assert_eq!(
            instant::format_millis(DOB_MIN_MS),
            "1945-01-02T00:00:00.000Z"
        );
        assert_eq!(
            instant::format_millis(DOB_MAX_MS),
            "2007-12-30T23:59:59.999Z"
        );
        assert_eq!(
            instant::format_millis(REGISTERED_MIN_MS),
            "2002-01-01T00:00:00.000Z"
        );
        assert_eq!(
            instant::format_millis(REGISTERED_MAX_MS),
            "2025-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn adulthood_is_the_18th_birthday() {
        let ms = |y, m, d| days_from_civil(y, m, d) * DAY_MS + 12_345;
        assert_eq!(adulthood_ms(ms(1990, 5, 17)), ms(2008, 5, 17));
        assert_eq!(adulthood_ms(ms(1960, 2, 29)), ms(1978, 3, 1));
        assert_eq!(adulthood_ms(ms(1950, 12, 31)), ms(1968, 12, 31));
        // Even the latest birth leaves room to register before the reference date.
        assert!(adulthood_ms(DOB_MAX_MS) < REGISTERED_MAX_MS);
    }

    #[test]
    fn ages_at_the_reference_date() {
        let ms = |y, m, d| days_from_civil(y, m, d) * DAY_MS;
        let day = |y, m, d| days_from_civil(y, m, d);
        assert_eq!(age_on(ms(1990, 5, 17), REFERENCE_DAY), 35);
        assert_eq!(age_on(ms(2000, 1, 1), REFERENCE_DAY), 26, "birthday today");
        assert_eq!(age_on(ms(2000, 1, 1) + DAY_MS - 1, REFERENCE_DAY), 26);
        assert_eq!(
            age_on(ms(2000, 1, 2), REFERENCE_DAY),
            25,
            "birthday tomorrow"
        );
        assert_eq!(age_on(ms(1999, 12, 31), REFERENCE_DAY), 26);
        assert_eq!(age_on(DOB_MIN_MS, REFERENCE_DAY), 80);
        assert_eq!(age_on(DOB_MAX_MS, REFERENCE_DAY), 18);
        // 29 February: a year older on 1 March of a common year, on 29 February of a leap one.
        let leapling = ms(2000, 2, 29) + 5_000;
        assert_eq!(age_on(leapling, day(2001, 2, 28)), 0);
        assert_eq!(age_on(leapling, day(2001, 3, 1)), 1);
        assert_eq!(age_on(leapling, day(2004, 2, 28)), 3);
        assert_eq!(age_on(leapling, day(2004, 2, 29)), 4);
        // 18 on the day of adulthood, 17 the day before.
        let dob = ms(1990, 5, 17) + 12_345;
        let adult_day = adulthood_ms(dob).div_euclid(DAY_MS);
        assert_eq!(age_on(dob, adult_day), 18);
        assert_eq!(age_on(dob, adult_day - 1), 17);
    }

    #[test]
    fn countries_have_codes_and_cells() {
        let codes: Vec<&str> = data::COUNTRIES.iter().map(|c| c.code).collect();
        assert_eq!(
            codes,
            [
                "US", "GB", "FR", "DE", "ES", "NL", "BR", "CA", "AU", "NZ", "IE", "DK", "FI", "NO",
                "CH", "TR", "IN", "MX", "UA", "RS"
            ]
        );
        for c in data::COUNTRIES {
            assert!(c.cell.contains(['#', '%']), "{}", c.name);
        }
    }

    #[test]
    fn transliteration_is_ascii() {
        let cases = [
            ("Søren", "soren"),
            ("Müller", "muller"),
            ("Đorđević", "djordjevic"),
            ("O'Brien", "obrien"),
            ("de Jong", "dejong"),
            ("Yılmaz", "yilmaz"),
            ("Çağan", "cagan"),
            ("Åse", "ase"),
            ("Straße", "strasse"),
            ("Gonçalves", "goncalves"),
            ("Muñoz", "munoz"),
            ("İzmir", "izmir"),
        ];
        for (name, want) in cases {
            let mut got = String::new();
            push_ascii_lower(&mut got, name);
            assert_eq!(got, want);
        }
    }

    #[test]
    fn word_lists_are_big_distinct_and_email_safe() {
        assert!(data::MALE_FIRST.len() >= 60 && data::FEMALE_FIRST.len() >= 60);
        assert!(data::LAST.len() >= 100);
        assert_eq!(data::COUNTRIES.len(), 20);
        for list in [data::MALE_FIRST, data::FEMALE_FIRST, data::LAST] {
            let mut seen = std::collections::HashSet::new();
            for name in list {
                assert!(seen.insert(*name), "duplicate {name}");
                let mut ascii = String::new();
                push_ascii_lower(&mut ascii, name);
                assert!(!ascii.is_empty(), "{name}");
                assert!(
                    ascii.bytes().all(|b| b.is_ascii_lowercase()),
                    "{name} -> {ascii}"
                );
            }
        }
        for c in data::COUNTRIES {
            assert!(!c.places.is_empty() && !c.streets.is_empty() && !c.post_codes.is_empty());
            assert!(c.phone.contains(['#', '%']));
        }
    }

    #[test]
    fn patterns_and_numbers() {
        let mut rng = Rng::for_user("t", 1, 0);
        for _ in 0..1000 {
            let code = fill_pattern("@#@ #@#", &mut rng);
            let b = code.as_bytes();
            assert_eq!(b.len(), 7);
            assert!(b[0].is_ascii_uppercase() && b[1].is_ascii_digit() && b[3] == b' ');
            let nz = fill_pattern("%", &mut rng);
            assert!(("1"..="9").contains(&nz.as_str()));
            assert!((5..=7).contains(&rng.between(5, 7)));
        }
        let mut s = String::new();
        push_uint(&mut s, 0, 1);
        push_uint(&mut s, 7, 3);
        push_uint(&mut s, 9999, 1);
        push_uint(&mut s, u64::MAX, 1);
        assert_eq!(s, format!("00079999{}", u64::MAX));
    }

    #[test]
    fn seed_hash_is_fnv1a() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
