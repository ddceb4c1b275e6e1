//! The resolver against hand-made writer/reader pairs, one gap of apache-avro 0.22 per test first.

use super::*;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;

fn schema(json: &str) -> Schema {
    Schema::parse_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

fn record(fields: &str) -> Schema {
    schema(&format!(
        r#"{{"type":"record","name":"R","namespace":"t","fields":[{fields}]}}"#
    ))
}

/// Write `value` with `writer`, read it back with the writer alone, project onto `reader`.
fn through(writer: &Schema, reader: &Schema, value: Value) -> Result<Value, ProjectError> {
    let bytes = GenericDatumWriter::builder(writer)
        .build()
        .and_then(|w| w.write_value_to_vec(value))
        .expect("writes");
    let decoded = GenericDatumReader::builder(writer)
        .build()
        .and_then(|r| r.read_value(&mut bytes.as_slice()))
        .expect("reads with the writer");
    project(writer, reader, decoded)
}

/// What apache-avro's own resolving reader makes of the same bytes.
fn library(writer: &Schema, reader: &Schema, value: Value) -> Result<Value, String> {
    let bytes = GenericDatumWriter::builder(writer)
        .build()
        .and_then(|w| w.write_value_to_vec(value))
        .expect("writes");
    GenericDatumReader::builder(writer)
        .reader_schema(reader)
        .build()
        .and_then(|r| r.read_value(&mut bytes.as_slice()))
        .map_err(|e| e.to_string())
}

fn rec(fields: Vec<(&str, Value)>) -> Value {
    Value::Record(
        fields
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect(),
    )
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

#[test]
fn gap_a_reader_field_aliases_are_honoured() {
    let writer = record(r#"{"name":"id","type":"string"},{"name":"phone","type":"string"}"#);
    let reader = record(
        r#"{"name":"id","type":"string"},
           {"name":"phone_number","type":"string","aliases":["phone"],"default":"none"}"#,
    );
    let value = rec(vec![("id", s("1")), ("phone", s("555"))]);
    let ours = through(&writer, &reader, value.clone()).expect("projects");
    assert_eq!(ours, rec(vec![("id", s("1")), ("phone_number", s("555"))]));
    // apache-avro 0.22 falls back to the default (or fails): the gap this module closes.
    assert_ne!(library(&writer, &reader, value), Ok(ours));
    // Any alias: the first one the writer has.
    let two = record(
        r#"{"name":"id","type":"string"},
           {"name":"tel","type":"string","aliases":["telephone","phone"]}"#,
    );
    let got = through(
        &writer,
        &two,
        rec(vec![("id", s("1")), ("phone", s("555"))]),
    )
    .expect("projects");
    assert_eq!(got, rec(vec![("id", s("1")), ("tel", s("555"))]));
}

#[test]
fn gap_b_writer_logical_types_read_as_their_physical_type() {
    let writer = record(
        r#"{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
           {"name":"day","type":{"type":"int","logicalType":"date"}},
           {"name":"id","type":{"type":"string","logicalType":"uuid"}}"#,
    );
    let reader = record(
        r#"{"name":"ts","type":"long"},{"name":"day","type":"long"},{"name":"id","type":"string"}"#,
    );
    let uuid = "0b4f6a0e-3d55-4c0e-9f3b-0d6f1d0b8b11";
    let value = rec(vec![
        ("ts", Value::TimestampMillis(1_700_000_000_123)),
        ("day", Value::Date(19_000)),
        ("id", Value::Uuid(uuid.parse().expect("uuid"))),
    ]);
    let ours = through(&writer, &reader, value.clone()).expect("projects");
    assert_eq!(
        ours,
        rec(vec![
            ("ts", Value::Long(1_700_000_000_123)),
            ("day", Value::Long(19_000)),
            ("id", s(uuid)),
        ])
    );
    assert!(
        library(&writer, &reader, value).is_err(),
        "apache-avro 0.22 fails timestamp-millis -> long; if it stops failing, this workaround can go"
    );
    // Into a nullable double: the union branch a promotion reaches.
    let to_double = record(
        r#"{"name":"ts","type":["null","double"]},{"name":"day","type":"int"},
           {"name":"id","type":"bytes"}"#,
    );
    let got = through(
        &writer,
        &to_double,
        rec(vec![
            ("ts", Value::TimestampMillis(5)),
            ("day", Value::Date(7)),
            ("id", Value::Uuid(uuid.parse().expect("uuid"))),
        ]),
    )
    .expect("projects");
    assert_eq!(
        got,
        rec(vec![
            ("ts", Value::Union(1, Box::new(Value::Double(5.0)))),
            ("day", Value::Int(7)),
            ("id", Value::Bytes(uuid.as_bytes().to_vec())),
        ])
    );
}

#[test]
fn promotions_follow_the_specification() {
    let writer = record(
        r#"{"name":"a","type":"int"},{"name":"b","type":"int"},{"name":"c","type":"long"},
           {"name":"d","type":"float"},{"name":"e","type":"string"},{"name":"f","type":"bytes"}"#,
    );
    let reader = record(
        r#"{"name":"a","type":"long"},{"name":"b","type":"double"},{"name":"c","type":"float"},
           {"name":"d","type":"double"},{"name":"e","type":"bytes"},{"name":"f","type":"string"}"#,
    );
    let got = through(
        &writer,
        &reader,
        rec(vec![
            ("a", Value::Int(-3)),
            ("b", Value::Int(4)),
            ("c", Value::Long(1 << 20)),
            ("d", Value::Float(1.5)),
            ("e", s("hé")),
            ("f", Value::Bytes(b"ok".to_vec())),
        ]),
    )
    .expect("projects");
    assert_eq!(
        got,
        rec(vec![
            ("a", Value::Long(-3)),
            ("b", Value::Double(4.0)),
            ("c", Value::Float(1_048_576.0)),
            ("d", Value::Double(1.5)),
            ("e", Value::Bytes("hé".as_bytes().to_vec())),
            ("f", s("ok")),
        ])
    );
    // No demotion.
    let long_w = record(r#"{"name":"a","type":"long"}"#);
    let int_r = record(r#"{"name":"a","type":"int"}"#);
    let err = through(&long_w, &int_r, rec(vec![("a", Value::Long(1))])).expect_err("demotion");
    assert_eq!(err.path, "/a");
    // Invalid UTF-8 bytes read as a string is a clear error, not a panic.
    let bytes_w = record(r#"{"name":"a","type":"bytes"}"#);
    let str_r = record(r#"{"name":"a","type":"string"}"#);
    let err = through(&bytes_w, &str_r, rec(vec![("a", Value::Bytes(vec![0xff]))]))
        .expect_err("not UTF-8");
    assert!(err.detail.contains("string"), "{err}");
}

#[test]
fn unions_on_either_side() {
    let opt = record(r#"{"name":"a","type":["null","int"],"default":null}"#);
    let plain_long = record(r#"{"name":"a","type":"long"}"#);
    let opt_long = record(r#"{"name":"a","type":["null","string","long"],"default":null}"#);
    let some = rec(vec![("a", Value::Union(1, Box::new(Value::Int(9))))]);
    let none = rec(vec![("a", Value::Union(0, Box::new(Value::Null)))]);
    // A writer union reads its written branch.
    assert_eq!(
        through(&opt, &plain_long, some.clone()).expect("int branch"),
        rec(vec![("a", Value::Long(9))])
    );
    let err = through(&opt, &plain_long, none.clone()).expect_err("null into long");
    assert_eq!(err.path, "/a");
    // A reader union picks the same type first, else a promotion.
    assert_eq!(
        through(&opt, &opt_long, some).expect("promoted"),
        rec(vec![("a", Value::Union(2, Box::new(Value::Long(9))))])
    );
    assert_eq!(
        through(&opt, &opt_long, none).expect("null"),
        rec(vec![("a", Value::Union(0, Box::new(Value::Null)))])
    );
    let no_branch = record(r#"{"name":"a","type":["null","boolean"],"default":null}"#);
    let err =
        through(&plain_long, &no_branch, rec(vec![("a", Value::Long(1))])).expect_err("no branch");
    assert!(err.detail.contains("no branch"), "{err}");
}

#[test]
fn missing_fields_take_defaults_and_extra_writer_fields_are_dropped() {
    let writer = record(r#"{"name":"gone","type":"string"},{"name":"id","type":"long"}"#);
    let reader = schema(
        r#"{"type":"record","name":"R","namespace":"t","fields":[
        {"name":"id","type":"long"},
        {"name":"n","type":"int","default":7},
        {"name":"o","type":["null","string"],"default":null},
        {"name":"c","type":{"type":"enum","name":"Color","symbols":["RED","BLUE"]},"default":"BLUE"},
        {"name":"l","type":{"type":"array","items":"string"},"default":["x"]},
        {"name":"p","type":{"type":"record","name":"P","fields":[
            {"name":"x","type":"double"},{"name":"y","type":"double","default":2.5}]},
         "default":{"x":1}},
        {"name":"q","type":"P","default":{"x":3,"y":4}},
        {"name":"b","type":"bytes","default":"\u00ff"}]}"#,
    );
    let got = through(
        &writer,
        &reader,
        rec(vec![("gone", s("x")), ("id", Value::Long(1))]),
    )
    .expect("projects");
    let point = |x: f64, y: f64| rec(vec![("x", Value::Double(x)), ("y", Value::Double(y))]);
    assert_eq!(
        got,
        rec(vec![
            ("id", Value::Long(1)),
            ("n", Value::Int(7)),
            ("o", Value::Union(0, Box::new(Value::Null))),
            ("c", Value::Enum(1, "BLUE".into())),
            ("l", Value::Array(vec![s("x")])),
            ("p", point(1.0, 2.5)),
            ("q", point(3.0, 4.0)),
            ("b", Value::Bytes(vec![0xff])),
        ])
    );
    let no_default = record(r#"{"name":"id","type":"long"},{"name":"n","type":"int"}"#);
    let err = through(
        &writer,
        &no_default,
        rec(vec![("gone", s("x")), ("id", Value::Long(1))]),
    )
    .expect_err("no default");
    assert_eq!(err.path, "/n");
    assert!(err.detail.contains("no default"), "{err}");
}

#[test]
fn enums_nested_records_and_references() {
    let writer = schema(
        r#"{"type":"record","name":"R","namespace":"t","fields":[
        {"name":"c","type":{"type":"enum","name":"Color","symbols":["RED","GREEN","BLUE"]}},
        {"name":"d","type":"Color"},
        {"name":"inner","type":{"type":"record","name":"In","fields":[{"name":"x","type":"int"}]}},
        {"name":"more","type":{"type":"array","items":"In"}},
        {"name":"m","type":{"type":"map","values":"int"}}]}"#,
    );
    let reader = schema(
        r#"{"type":"record","name":"R","namespace":"t","fields":[
        {"name":"c","type":{"type":"enum","name":"Color","symbols":["BLUE","RED","OTHER"],"default":"OTHER"}},
        {"name":"d","type":"Color"},
        {"name":"inner","type":{"type":"record","name":"Inner","aliases":["t.In"],"fields":[{"name":"x","type":"long"}]}},
        {"name":"more","type":{"type":"array","items":"Inner"}},
        {"name":"m","type":{"type":"map","values":"double"}}]}"#,
    );
    let inner = |x: i32| rec(vec![("x", Value::Int(x))]);
    let value = |c: u32, sym: &str| {
        rec(vec![
            ("c", Value::Enum(c, sym.into())),
            ("d", Value::Enum(0, "RED".into())),
            ("inner", inner(1)),
            ("more", Value::Array(vec![inner(2)])),
            ("m", Value::Map([("k".to_string(), Value::Int(3))].into())),
        ])
    };
    let got = through(&writer, &reader, value(1, "GREEN")).expect("projects");
    let inner_l = |x: i64| rec(vec![("x", Value::Long(x))]);
    assert_eq!(
        got,
        rec(vec![
            ("c", Value::Enum(2, "OTHER".into())),
            ("d", Value::Enum(1, "RED".into())),
            ("inner", inner_l(1)),
            ("more", Value::Array(vec![inner_l(2)])),
            (
                "m",
                Value::Map([("k".to_string(), Value::Double(3.0))].into())
            ),
        ])
    );
    // Without a reader default, an unknown symbol is an error at its field.
    let strict = schema(
        r#"{"type":"record","name":"R","namespace":"t","fields":[
        {"name":"c","type":{"type":"enum","name":"Color","symbols":["RED"]}}]}"#,
    );
    let small = schema(
        r#"{"type":"record","name":"R","namespace":"t","fields":[
        {"name":"c","type":{"type":"enum","name":"Color","symbols":["RED","BLUE"]}}]}"#,
    );
    let err = through(
        &small,
        &strict,
        rec(vec![("c", Value::Enum(1, "BLUE".into()))]),
    )
    .expect_err("unknown symbol");
    assert_eq!(err.path, "/c");
    // Errors in nested records name the whole path.
    let w = schema(
        r#"{"type":"record","name":"R","fields":[{"name":"inner","type":{"type":"record","name":"I","fields":[{"name":"x","type":"string"}]}}]}"#,
    );
    let r = schema(
        r#"{"type":"record","name":"R","fields":[{"name":"inner","type":{"type":"record","name":"I","fields":[{"name":"x","type":"int"}]}}]}"#,
    );
    let err = through(&w, &r, rec(vec![("inner", rec(vec![("x", s("a"))]))]))
        .expect_err("string into int");
    assert_eq!(err.path, "/inner/x");
}
