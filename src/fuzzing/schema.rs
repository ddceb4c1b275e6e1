//! `schema_compat`: schema texts parsed strictly and checked against each other at every level.

use apache_avro::Schema;

use crate::schema::{check, check_level, parse_strict, Level};

/// The line between the two schemas of a `schema_compat` input.
pub const SCHEMA_SEPARATOR: &str = "\n----\n";

/// One schema text (or two, `A\n----\nB`), parsed strictly and checked against each other.
pub fn schema_compat(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (first, second) = match text.split_once(SCHEMA_SEPARATOR) {
        Some((a, b)) => (a, Some(b)),
        None => (text.as_ref(), None),
    };
    let Ok(a) = parse_strict(first) else {
        if let Some(b) = second.and_then(|b| parse_strict(b).ok()) {
            assert_reads_itself(&b);
        }
        return;
    };
    assert_reads_itself(&a);
    let Some(Ok(b)) = second.map(parse_strict) else {
        return;
    };
    assert_reads_itself(&b);
    let b_reads_a = check(&b, &a);
    let a_reads_b = check(&a, &b);
    for incompatibility in b_reads_a.iter().chain(&a_reads_b) {
        assert!(!incompatibility.to_string().is_empty());
    }
    for level in Level::ALL {
        let expected = match level {
            Level::None => 0,
            _ if level.checks_backward() && level.checks_forward() => {
                b_reads_a.len() + a_reads_b.len()
            }
            _ if level.checks_backward() => b_reads_a.len(),
            _ => a_reads_b.len(),
        };
        // b registered after a; then after a and b again (b reads itself, so no more).
        assert_eq!(
            check_level(level, &b, std::slice::from_ref(&a)).len(),
            expected,
            "{level:?}"
        );
        let transitive = check_level(level, &b, &[a.clone(), b.clone()]).len();
        let want = if level.is_transitive() { expected } else { 0 };
        assert_eq!(transitive, want, "{level:?} over [a, b]");
        for found in check_level(level, &a, &[b.clone(), a.clone()]) {
            assert!(!found.to_string().is_empty());
        }
    }
}

fn assert_reads_itself(schema: &Schema) {
    let found = check(schema, schema);
    assert!(
        found.is_empty(),
        "a schema cannot read its own data: {}\n{}",
        found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        serde_json::to_string(schema).unwrap_or_default()
    );
}
