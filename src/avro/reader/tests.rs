//! Reader schemas: validation, aliases onto User fields, writer checks, logical-type writers.

use super::*;
use crate::avro::codec::encode_user;
use crate::avro::history::user_schema_history;
use crate::model::User;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;

/// The sample user, without an external id.
fn sample() -> User {
    crate::model::sample::user(7)
}

fn version(v: u32) -> Schema {
    let file = user_schema_history()
        .iter()
        .find(|f| f.version == v)
        .expect("version in the history");
    parse_strict(file.text).expect("history schema parses strictly")
}

/// The v2 schema text with `edit` applied to its JSON.
fn v2_edited(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let file = user_schema_history()
        .iter()
        .find(|f| f.version == 2)
        .expect("v2");
    let mut json: serde_json::Value = serde_json::from_str(file.text).expect("json");
    edit(&mut json);
    json.to_string()
}

fn field_mut<'a>(json: &'a mut serde_json::Value, name: &str) -> &'a mut serde_json::Value {
    json["fields"]
        .as_array_mut()
        .expect("fields")
        .iter_mut()
        .find(|f| f["name"] == name)
        .expect("field")
}

fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// A reader copy of v2 where `phone` is `phone_number` (alias `phone`) and `cell` is `mobile`.
fn renaming_reader() -> String {
    v2_edited(|json| {
        let phone = field_mut(json, "phone");
        phone["name"] = "phone_number".into();
        phone["aliases"] = serde_json::json!(["phone"]);
        let cell = field_mut(json, "cell");
        cell["name"] = "mobile".into();
        cell["aliases"] = serde_json::json!(["cell_phone", "cell"]);
    })
}

#[test]
fn the_default_reader_is_the_newest_schema() {
    let reader = load_reader_schema(None).expect("newest");
    assert_eq!(&reader, newest_parsed());
    for file in user_schema_history() {
        let schema = parse_strict(file.text).expect("parses");
        validate_reader(&schema, file.name).expect("every history version is a User reader");
    }
}

#[test]
fn a_reader_renaming_fields_through_aliases_still_fills_the_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_file(&dir, "renamed.avsc", &renaming_reader());
    let reader = load_reader_schema(Some(&path)).expect("valid reader");
    let u = sample();
    for v in [1, 2] {
        let writer = version(v);
        let body = encode_user(&writer, &u).expect("encode");
        assert!(
            WriterChecks::new().check(v, &reader, &writer).is_ok(),
            "v{v} is readable by the renaming reader"
        );
        let got = decode_user(&writer, &reader, &body).expect("decodes");
        assert_eq!(got.phone, u.phone, "v{v}: phone via the alias");
        let cell = (v == 2).then(|| u.cell.clone()).flatten();
        assert_eq!(got.cell, cell, "v{v}: cell via the second alias");
        assert_eq!(got.key(), u.key());
    }
}

#[test]
fn a_writer_with_a_timestamp_millis_field() {
    // A producer that added `registered_ms` as timestamp-millis, read by a reader that knows it
    // as a plain long (with a default, so v1/v2 data still reads): apache-avro 0.22 fails this.
    let writer = parse_strict(&v2_edited(|json| {
        json["fields"].as_array_mut().expect("fields").push(serde_json::json!(
            {"name": "registered_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}}
        ));
    }))
    .expect("writer");
    let reader = parse_strict(&v2_edited(|json| {
        json["fields"]
            .as_array_mut()
            .expect("fields")
            .push(serde_json::json!({"name": "registered_ms", "type": "long", "default": 0}));
    }))
    .expect("reader");
    validate_reader(&reader, "reader").expect("extra reader fields are fine");
    let u = sample();
    let Value::Record(mut fields) =
        apache_avro::reader::datum::GenericDatumReader::builder(&version(2))
            .build()
            .and_then(|r| r.read_value(&mut encode_user(&version(2), &u).expect("v2").as_slice()))
            .expect("v2 datum")
    else {
        panic!("record")
    };
    fields.push((
        "registered_ms".into(),
        Value::TimestampMillis(1_184_000_000),
    ));
    let body = GenericDatumWriter::builder(&writer)
        .build()
        .and_then(|w| w.write_value_to_vec(Value::Record(fields)))
        .expect("writer datum");
    let mut checks = WriterChecks::new();
    checks.check(7, &reader, &writer).expect("compatible");
    assert_eq!(decode_user(&writer, &reader, &body).expect("decodes"), u);
    assert_eq!(decode_user(&writer, newest_parsed(), &body).expect("v2"), u);

    // `dob` itself as timestamp-millis is NOT readable into v2's string dob: a schema mismatch,
    // found once per schema id with the engine's reasons, before any record is decoded.
    let millis_dob = parse_strict(&v2_edited(|json| {
        field_mut(json, "dob")["type"] =
            serde_json::json!({"type": "long", "logicalType": "timestamp-millis"});
    }))
    .expect("writer");
    let err = checks
        .check(8, newest_parsed(), &millis_dob)
        .expect_err("long dob into string dob");
    let CodecError::Incompatible { id, reasons } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*id, 8);
    assert!(
        reasons.contains("TYPE_MISMATCH") && reasons.contains("dob"),
        "{reasons}"
    );
    assert_eq!(checks.check(8, newest_parsed(), &millis_dob), Err(err));
    // And a reader that wants `dob` as a long cannot fill User.dob (a string): refused at start.
    let long_dob_reader = parse_strict(&v2_edited(|json| {
        field_mut(json, "dob")["type"] = "long".into();
    }))
    .expect("reader");
    let msg = validate_reader(&long_dob_reader, "r.avsc")
        .expect_err("not a User")
        .to_string();
    assert!(msg.contains("User.dob") && msg.contains("r.avsc"), "{msg}");
}

#[test]
fn unusable_reader_schemas_are_refused_with_every_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = write_file(&dir, "missing.avsc", "");
    let _ = std::fs::remove_file(&missing);
    assert!(matches!(
        load_reader_schema(Some(&missing)),
        Err(ReaderSchemaError::Read { .. })
    ));
    // Not strictly valid: a union default of its second branch (apache-avro alone accepts it).
    let lax = write_file(
        &dir,
        "lax.avsc",
        &v2_edited(|json| field_mut(json, "nat")["default"] = "GB".into()),
    );
    let err = load_reader_schema(Some(&lax)).expect_err("lax default");
    assert!(matches!(err, ReaderSchemaError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("/fields/16/default"), "{err}");
    // Several problems at once: a required field missing, a nullable required one, a wrong type,
    // two fields mapping to the same User field.
    let bad = write_file(
        &dir,
        "bad.avsc",
        &v2_edited(|json| {
            let fields = json["fields"].as_array_mut().expect("fields");
            fields.retain(|f| f["name"] != "email");
            fields.push(serde_json::json!(
                {"name": "phone_number", "type": "string", "aliases": ["phone"], "default": ""}
            ));
            field_mut(json, "gender")["type"] = serde_json::json!(["null", "string"]);
            field_mut(json, "gender")["default"] = serde_json::Value::Null;
            field_mut(json, "age")["type"] = serde_json::json!(["null", "string"]);
        }),
    );
    let err = load_reader_schema(Some(&bad)).expect_err("not a User");
    let msg = err.to_string();
    let ReaderSchemaError::NotUser { problems, .. } = err else {
        panic!("{msg}")
    };
    assert_eq!(problems.len(), 4, "{problems:#?}");
    for needle in ["User.email", "User.gender", "User.age", "User.phone"] {
        assert!(msg.contains(needle), "{needle}: {msg}");
    }
    let not_record = write_file(&dir, "string.avsc", r#""string""#);
    assert!(matches!(
        load_reader_schema(Some(&not_record)),
        Err(ReaderSchemaError::NotUser { .. })
    ));
}

#[test]
fn an_old_reader_reads_new_data_and_drops_the_new_fields() {
    let u = sample();
    let body = encode_user(&version(2), &u).expect("v2");
    let got = decode_user(&version(2), &version(1), &body).expect("v2 -> v1");
    assert_eq!((got.nat, got.age, got.cell), (None, None, None));
    assert_eq!(got.email, u.email);
}

#[test]
fn a_writer_with_fewer_fields_and_a_reader_with_more_defaults_project() {
    let writer = Schema::parse_str(
        r#"{"type":"record","name":"User","namespace":"dev.eosflow.users","fields":[
        {"name":"source_name","type":"string"}]}"#,
    )
    .expect("writer");
    let body = GenericDatumWriter::builder(&writer)
        .build()
        .and_then(|w| {
            w.write_value_to_vec(Value::Record(vec![(
                "source_name".into(),
                Value::String("g".into()),
            )]))
        })
        .expect("datum");
    // The real reader needs fields the writer lacks and that have no defaults: a mismatch.
    let err = decode_user(&writer, newest_parsed(), &body).expect_err("no defaults");
    assert!(matches!(err, CodecError::Mismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("/source_seed"), "{err}");
}
