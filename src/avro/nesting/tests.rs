//! The nesting guard: real records pass, recursive data too deep or too many values are refused,
//! and `decode_user` answers such a record with an error instead of overflowing the stack.

use apache_avro::Schema;
use serde_json::json;

use super::*;
use crate::avro::codec::CodecError;
use crate::avro::history::user_schema_history;
use crate::avro::{decode_user, encode_user};
use crate::source::generator::generate_user;

fn schema(json: serde_json::Value) -> Schema {
    Schema::parse_str(&json.to_string()).unwrap_or_else(|e| panic!("test schema: {e}"))
}

/// `{"name": "List", "fields": [{"name": "value", "type": "int"}, {"name": "next", "type": ["null", "List"]}]}`.
fn list() -> Schema {
    schema(
        json!({"type": "record", "name": "List", "namespace": "t", "fields": [
        {"name": "value", "type": "int"},
        {"name": "next", "type": ["null", "List"]}]}),
    )
}

/// A `List` of `n` nodes: each node is its value (zig-zag 1 = 0x02) then union branch 1 (0x02),
/// the last one's `next` null (branch 0).
fn list_body(n: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..n {
        body.push(0x02);
        body.push(if i + 1 < n { 0x02 } else { 0x00 });
    }
    body
}

#[test]
fn user_records_and_shallow_recursion_pass() {
    for file in user_schema_history() {
        let writer = Schema::parse_str(file.text).unwrap_or_else(|e| panic!("{e}"));
        let body = encode_user(&writer, &generate_user("n", 1, 0, "generator"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(check_nesting(&writer, &body), Ok(()), "{}", file.name);
        // Cut short anywhere: apache-avro gives the error, not the guard.
        for len in 0..body.len() {
            assert_eq!(check_nesting(&writer, &body[..len]), Ok(()), "{len}");
        }
    }
    assert_eq!(check_nesting(&list(), &list_body(MAX_DEPTH / 2)), Ok(()));
}

#[test]
fn deep_recursion_is_refused() {
    assert_eq!(
        check_nesting(&list(), &list_body(MAX_DEPTH)),
        Err(NestingError::TooDeep)
    );
    assert_eq!(
        check_nesting(&list(), &list_body(100_000)),
        Err(NestingError::TooDeep)
    );
    // Recursion through an array and a map nests as well.
    let tree = schema(json!({"type": "record", "name": "Tree", "fields": [
        {"name": "kids", "type": {"type": "array", "items": {"type": "map", "values": "Tree"}}}]}));
    // Each level: an array block of 1, a map block of 1 with key "k".
    let level = [0x02, 0x02, 0x02, b'k'];
    let body: Vec<u8> = level.iter().copied().cycle().take(4 * MAX_DEPTH).collect();
    assert_eq!(check_nesting(&tree, &body), Err(NestingError::TooDeep));
}

#[test]
fn recursion_without_bytes_is_refused() {
    // A record that holds itself: apache-avro recurses forever on any body, even an empty one.
    let endless = schema(json!({"type": "record", "name": "Loop", "fields": [
        {"name": "flag", "type": "boolean"}, {"name": "next", "type": "Loop"}]}));
    assert_eq!(check_nesting(&endless, &[]), Err(NestingError::TooDeep));
    assert_eq!(
        check_nesting(&endless, &[1, 0, 1]),
        Err(NestingError::TooDeep)
    );
}

#[test]
fn more_values_than_bytes_are_refused() {
    let nulls = schema(json!({"type": "array", "items": "null"}));
    // One block of a million nulls, in 3 bytes.
    let mut body = Vec::new();
    let mut z: u64 = 2_000_000;
    while z >= 0x80 {
        body.push((z as u8) | 0x80);
        z >>= 7;
    }
    body.push(z as u8);
    assert!(matches!(
        check_nesting(&nulls, &body),
        Err(NestingError::TooManyValues(_))
    ));
    // A negative block count (followed by the block's byte size) counts the same.
    assert_eq!(check_nesting(&nulls, &[0x03, 0x00, 0x00]), Ok(()));
}

#[test]
fn decode_user_refuses_a_deeply_recursive_record_instead_of_overflowing() {
    // v2 plus a recursive field the reader skips: writer-compatible with the User reader.
    let v2 = user_schema_history()[1].text;
    let mut writer: serde_json::Value = serde_json::from_str(v2).unwrap_or_else(|e| panic!("{e}"));
    let extra = json!({"name": "trail", "type": ["null", {"type": "record", "name": "Step",
        "fields": [{"name": "next", "type": ["null", "Step"]}]}]});
    match writer["fields"].as_array_mut() {
        Some(fields) => fields.push(extra),
        None => panic!("v2 has fields"),
    }
    let writer = schema(writer);
    let reader = Schema::parse_str(v2).unwrap_or_else(|e| panic!("{e}"));
    let user = generate_user("n", 1, 0, "generator");
    let mut body = encode_user(&reader, &user).unwrap_or_else(|e| panic!("{e}"));
    let shallow = body.len();
    body.extend(std::iter::repeat_n(0x02, 3));
    body.push(0x00);
    assert_eq!(decode_user(&writer, &reader, &body), Ok(user.clone()));
    // 200 000 levels: far beyond any thread's stack for apache-avro's recursive decoder.
    body.truncate(shallow);
    body.extend(std::iter::repeat_n(0x02, 200_000));
    body.push(0x00);
    match decode_user(&writer, &reader, &body) {
        Err(CodecError::Corrupt { detail, .. }) => assert!(detail.contains("deeper"), "{detail}"),
        other => panic!("expected a corrupt-record error, got {other:?}"),
    }
}
