use apache_avro::Schema;
use proptest::prelude::*;

use super::*;
use crate::avro::encode_user;
use crate::fuzzing::{wire_reader_schemas, wire_writer_schemas};
use crate::source::generator::generate_user;

/// Every writer of the fuzz fixtures (v1, v2, v2 with nested extras, promoted types) and every
/// reader (v1, v2, v2 renaming fields through aliases).
fn pairs() -> Vec<(String, Schema, Schema)> {
    let mut out = Vec::new();
    for (id, w) in wire_writer_schemas() {
        let w = Schema::parse_str(&w).expect("writer fixture");
        for (name, r) in wire_reader_schemas() {
            let r = Schema::parse_str(&r).expect("reader fixture");
            out.push((format!("writer {id}, reader {name}"), w.clone(), r));
        }
    }
    out
}

#[test]
fn user_schemas_compile_to_the_fast_plan_and_nested_writers_to_the_slow_one() {
    for (name, w, r) in pairs() {
        let fast = Plan::compile(&w, &r).is_fast();
        // Writer 3 carries a nested record (the plan does not cover it).
        assert_eq!(fast, !name.starts_with("writer 3"), "{name}");
    }
}

fn user() -> impl Strategy<Value = User> {
    (
        any::<u64>(),
        1u64..1000,
        0u32..5000,
        any::<String>(),
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<i32>()),
        proptest::option::of("[A-Z]{2}"),
    )
        .prop_map(|(seed, page, index, address, cell, age, nat)| {
            let mut u = generate_user(&seed.to_string(), page, index, "generator");
            u.address = address;
            u.cell = cell;
            u.age = age;
            u.nat = nat;
            u
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The plan and the Value-tree decoder agree on every user written with every writer and
    /// read with every reader.
    #[test]
    fn the_plan_decodes_every_pair_as_the_tree_decoder(u in user()) {
        for (name, w, r) in pairs() {
            let Ok(body) = encode_user(&w, &u) else { continue };
            let fast = Plan::compile(&w, &r).decode(&w, &r, &body);
            let slow = crate::avro::decode_user(&w, &r, &body);
            prop_assert_eq!(&fast, &slow, "{}", name);
            prop_assert!(fast.is_ok(), "{}: {:?}", name, fast);
        }
    }

    /// Damaged bodies (cut, a byte changed, a byte inserted): the plan accepts nothing the tree
    /// decoder refuses, and errors are of the same kind.
    #[test]
    fn damaged_bodies_get_the_same_answers(
        u in user(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        how in 0u8..3,
    ) {
        for (name, w, r) in pairs() {
            let Ok(mut body) = encode_user(&w, &u) else { continue };
            let i = at.index(body.len().max(1));
            match how {
                0 => body.truncate(i),
                1 => { if let Some(b) = body.get_mut(i) { *b = byte } }
                _ => body.insert(i, byte),
            }
            if let Some(why) = disagreement(&w, &r, &body) {
                prop_assert!(false, "{}: {}", name, why);
            }
        }
    }
}

#[test]
fn bad_bytes_are_corrupt_or_trailing_with_the_reason() {
    let v2 = Schema::parse_str(crate::fuzzing::wire_writer_schemas()[1].1.as_str()).expect("v2");
    let plan = Plan::compile(&v2, &v2);
    let u = generate_user("s", 1, 0, "generator");
    let body = encode_user(&v2, &u).expect("encode");
    let cut = plan.decode(&v2, &v2, &body[..body.len() - 1]);
    assert!(
        matches!(&cut, Err(CodecError::Corrupt { detail, .. }) if detail.starts_with("truncated")),
        "{cut:?}"
    );
    let mut long = body.clone();
    long.push(0);
    assert_eq!(
        plan.decode(&v2, &v2, &long),
        Err(CodecError::Trailing { trailing: 1 })
    );
    let mut bad_union = body;
    // external_id is the 5th field: after two strings, a long and an int comes its union index.
    let at = {
        let mut b = Body {
            bytes: &bad_union,
            at: 0,
        };
        b.sized()
            .and_then(|_| b.sized())
            .and_then(|_| b.long())
            .and_then(|_| b.int())
            .expect("prefix");
        b.at
    };
    bad_union[at] = 9;
    let e = plan.decode(&v2, &v2, &bad_union);
    assert!(
        matches!(&e, Err(CodecError::Corrupt { detail, .. }) if detail.contains("union index")),
        "{e:?}"
    );
}

#[test]
fn a_reader_only_field_takes_its_default() {
    let mut reader: serde_json::Value =
        serde_json::from_str(&wire_reader_schemas()[1].1).expect("v2 json");
    for field in reader["fields"].as_array_mut().expect("fields") {
        if field["name"] == "nat" {
            field["type"] = serde_json::json!(["string", "null"]);
            field["default"] = serde_json::json!("ZZ");
        }
    }
    let reader = Schema::parse_str(&reader.to_string()).expect("reader");
    let v1 = Schema::parse_str(&wire_writer_schemas()[0].1).expect("v1");
    let plan = Plan::compile(&v1, &reader);
    assert!(plan.is_fast());
    let body = encode_user(&v1, &generate_user("d", 1, 2, "generator")).expect("encode");
    let fast = plan.decode(&v1, &reader, &body).expect("fast");
    assert_eq!(fast.nat.as_deref(), Some("ZZ"));
    assert_eq!(Ok(fast), crate::avro::decode_user(&v1, &reader, &body));
}

#[test]
fn every_version_of_the_history_is_read_into_the_newest_through_the_fast_plan() {
    let reader = crate::avro::history::newest_parsed();
    for file in crate::avro::user_schema_history() {
        let plan = Plan::compile(file.parsed(), reader);
        assert!(plan.is_fast(), "{}", file.name);
        let user = generate_user("h", 1, 3, "generator");
        let body = encode_user(file.parsed(), &user).expect("encode");
        let want = crate::avro::history::as_written_with(file.version, &user);
        assert_eq!(
            plan.decode(file.parsed(), reader, &body),
            Ok(want),
            "{}",
            file.name
        );
    }
}
