//! The one sample-user builder of the tests and the fuzz seeds: deterministic users whose text
//! is hostile to every sink (quotes, `;`, SQL comments, non-ASCII) and whose optional fields are
//! null in every combination over consecutive `i`.

use super::User;

/// The source name of sample users (no real source uses it).
pub const SOURCE: &str = "sample";

/// Sample user number `i` of seed `"sample"`.
pub fn user(i: u32) -> User {
    variant("sample", i, "")
}

/// Sample user number `i` of `seed`; `variant` changes the non-identity fields only, so two
/// variants of one `(seed, i)` share a row key but not their contents.
pub fn variant(seed: &str, i: u32, variant: &str) -> User {
    User {
        source_name: SOURCE.into(),
        source_seed: seed.into(),
        source_page: 1 + i64::from(i / 100),
        source_index: (i % 100) as i32,
        external_id: i.is_multiple_of(2).then(|| format!("ext-{i}")),
        first_name: format!("Zoë{variant}"),
        last_name: "Ñandú-山田 O'Brien".into(),
        gender: if i.is_multiple_of(2) {
            "female"
        } else {
            "male"
        }
        .into(),
        address: format!("{i} \"Quoted\" street, Kyiv; DROP TABLE x; --, UA"),
        post_code: format!("{i:05}"),
        email: format!("user{i}{variant}@example.com"),
        username: format!("user{i}"),
        dob: "1990-01-02T03:04:05.678Z".into(),
        registered_date: "2015-06-07T08:09:10.000Z".into(),
        phone: "+1 (555) 010-0000".into(),
        picture: format!("https://example.com/p/{i}.jpg"),
        // A variant flips nat between Some and None and changes age and cell.
        nat: (i.is_multiple_of(3) != variant.is_empty()).then(|| "UA".into()),
        age: (!i.is_multiple_of(5)).then(|| 18 + (i % 60) as i32 + variant.len() as i32),
        cell: (i % 2 == 1).then(|| format!("+380 (50) 0{}{i:06}", variant.len())),
    }
}
