//! Writes the seed corpora of the fuzz targets (`fuzz/`, see `src/fuzzing/mod.rs`) into
//! `fuzz/corpus/<target>/seed-*`: `cargo run --example fuzz_seeds`.
//!
//! - `wire_avro_decode`: generator users encoded by eosflow's codec with every writer schema of
//!   the target (v1, v2, v2 plus nested extras, promoted types), framed, plus broken frames.
//! - `randomuser_json`: the recorded pages in `tests/data/randomuser/`, each of their users alone
//!   on a page, and bodies the HTTP source must refuse.
//! - `schema_compat`: `avro/`'s history, the writer/reader pairs of `tests/schema_cases/compat.json`
//!   and the schemas of `tests/schema_cases/strict.json`.
//! - `registry_request`: registration, lookup, compatibility, config and mode requests.
//!
//! Seeds are rewritten on every run; `scripts/fuzz merge` later minimizes the corpus as a whole.

use std::fs;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use apache_avro::types::Value as Avro;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use eosflow::avro::{encode_user, frame, user_schema_history};
use eosflow::fuzzing::{wire_writer_schemas, SCHEMA_SEPARATOR};
use eosflow::model::User;
use eosflow::source::generator::generate_user;
use serde_json::{json, Value};

fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("fuzz/corpus");
    let mut written = 0;
    for (target, seeds) in [
        ("wire_avro_decode", wire_seeds()?),
        ("randomuser_json", randomuser_seeds(root)?),
        ("schema_compat", schema_seeds(root)?),
        ("registry_request", registry_seeds()),
    ] {
        let dir = corpus.join(target);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, bytes) in &seeds {
            let path = dir.join(format!("seed-{name}"));
            fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
        println!("{target}: {} seeds in {}", seeds.len(), dir.display());
        written += seeds.len();
    }
    println!("{written} seeds written");
    Ok(())
}

type Seeds = Vec<(String, Vec<u8>)>;

fn users() -> Vec<User> {
    let mut users: Vec<User> = (0..3)
        .map(|i| generate_user("fuzz", 1, i, "generator"))
        .collect();
    let mut v1_like = generate_user("fuzz", 7, 41, "randomuser");
    v1_like.external_id = Some("a6c8e0b2-d4f6-4a8c-9e1b-3c5d7f9a1b2c".into());
    (v1_like.nat, v1_like.age, v1_like.cell) = (None, None, None);
    users.push(v1_like);
    users
}

/// Avro zig-zag varint.
fn zigzag(n: i64, out: &mut Vec<u8>) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn avro_str(s: &str, out: &mut Vec<u8>) {
    zigzag(s.len() as i64, out);
    out.extend_from_slice(s.as_bytes());
}

/// The `extras` field of writer 3 (a union branch 1 record, `depth` more nested in `next`).
fn extras(depth: usize, out: &mut Vec<u8>) {
    zigzag(1, out); // union branch: Extras
    zigzag(2, out); // tags: a block of 2
    avro_str("a", out);
    avro_str("bc", out);
    zigzag(0, out);
    zigzag(1, out); // scores: a block of 1
    avro_str("x", out);
    out.extend_from_slice(&1.5f64.to_le_bytes());
    zigzag(0, out);
    zigzag(1, out); // level: HIGH
    out.extend_from_slice(b"\x01\x02\x03\x04"); // hash
    zigzag(3, out); // blob
    out.extend_from_slice(b"\x00\xff\x7f");
    out.extend_from_slice(&0.25f32.to_le_bytes()); // ratio
    out.push(1); // flag
    zigzag(1_700_000_000_000, out); // seen_ms
    if depth == 0 {
        zigzag(0, out); // next: null
    } else {
        extras(depth - 1, out);
    }
}

/// A user field as an Avro value of `schema` (promotions and union branches included).
fn field_value(user: &User, name: &str, schema: &Schema) -> Result<Avro> {
    let plain = match name {
        "source_name" => Avro::String(user.source_name.clone()),
        "source_seed" => Avro::String(user.source_seed.clone()),
        "source_page" => Avro::Long(user.source_page),
        "source_index" => Avro::Int(user.source_index),
        "external_id" => user.external_id.clone().map_or(Avro::Null, Avro::String),
        "first_name" => Avro::String(user.first_name.clone()),
        "last_name" => Avro::String(user.last_name.clone()),
        "gender" => Avro::String(user.gender.clone()),
        "address" => Avro::String(user.address.clone()),
        "post_code" => Avro::String(user.post_code.clone()),
        "email" => Avro::String(user.email.clone()),
        "username" => Avro::String(user.username.clone()),
        "dob" => Avro::String(user.dob.clone()),
        "registered_date" => Avro::String(user.registered_date.clone()),
        "phone" => Avro::String(user.phone.clone()),
        "picture" => Avro::String(user.picture.clone()),
        "nat" => user.nat.clone().map_or(Avro::Null, Avro::String),
        "age" => user.age.map_or(Avro::Null, Avro::Int),
        "cell" => user.cell.clone().map_or(Avro::Null, Avro::String),
        other => return Err(anyhow!("no user field {other}")),
    };
    fit(plain, schema)
}

fn fit(value: Avro, schema: &Schema) -> Result<Avro> {
    Ok(match (value, schema) {
        (Avro::Long(n), Schema::Int) => Avro::Int(i32::try_from(n)?),
        (Avro::String(s), Schema::Bytes) => Avro::Bytes(s.into_bytes()),
        (value, Schema::Union(union)) => {
            let wanted = matches!(value, Avro::Null);
            let (index, branch) = union
                .variants()
                .iter()
                .enumerate()
                .find(|(_, b)| matches!(b, Schema::Null) == wanted)
                .ok_or_else(|| anyhow!("no union branch for {value:?}"))?;
            Avro::Union(u32::try_from(index)?, Box::new(fit(value, branch)?))
        }
        (value, _) => value,
    })
}

/// `user` written with `schema` field by field (for writers the codec does not target).
fn write_generic(schema: &Schema, user: &User) -> Result<Vec<u8>> {
    let Schema::Record(record) = schema else {
        return Err(anyhow!("not a record schema"));
    };
    let mut fields = Vec::new();
    for field in &record.fields {
        fields.push((
            field.name.clone(),
            field_value(user, &field.name, &field.schema)?,
        ));
    }
    let writer = GenericDatumWriter::builder(schema).build()?;
    Ok(writer.write_value_to_vec(Avro::Record(fields))?)
}

fn wire_seeds() -> Result<Seeds> {
    let writers: Vec<(u32, Schema)> = wire_writer_schemas()
        .into_iter()
        .map(|(id, text)| Ok((id, Schema::parse_str(&text)?)))
        .collect::<Result<_>>()?;
    let v2 = Schema::parse_str(history_text(2)?)?;
    let mut seeds = Seeds::new();
    for (n, user) in users().iter().enumerate() {
        for (id, writer) in &writers {
            // Writer 4 has no null for the v2 fields.
            if *id == 4 && user.nat.is_none() {
                continue;
            }
            let body = match id {
                1 | 2 => encode_user(writer, user)?,
                3 => {
                    let mut body = encode_user(&v2, user)?;
                    extras(n % 3, &mut body);
                    body
                }
                _ => write_generic(writer, user)?,
            };
            seeds.push((format!("writer{id}-user{n}"), frame(*id, &body)));
        }
    }
    let v2_body = encode_user(&v2, &users()[0])?;
    seeds.push(("empty".into(), Vec::new()));
    seeds.push(("bad-magic".into(), b"{\"first_name\":\"x\"}".to_vec()));
    seeds.push(("truncated-header".into(), vec![0, 0, 2]));
    seeds.push(("header-only".into(), frame(2, &[])));
    seeds.push(("unknown-id".into(), frame(9, &v2_body)));
    seeds.push((
        "truncated-body".into(),
        frame(2, &v2_body[..v2_body.len() - 3]),
    ));
    let mut trailing = v2_body.clone();
    trailing.push(0);
    seeds.push(("trailing-byte".into(), frame(2, &trailing)));
    seeds.push(("v2-body-as-v1".into(), frame(1, &v2_body)));
    Ok(seeds)
}

fn history_text(version: u32) -> Result<&'static str> {
    user_schema_history()
        .iter()
        .find(|f| f.version == version)
        .map(|f| f.text)
        .ok_or_else(|| anyhow!("no avro/user.v{version}.avsc"))
}

fn randomuser_seeds(root: &Path) -> Result<Seeds> {
    let mut seeds = Seeds::new();
    let dir = root.join("tests/data/randomuser");
    let mut files: Vec<_> = fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
    files.sort_by_key(|e| e.file_name());
    for file in files {
        let name = file.file_name().to_string_lossy().replace(".json", "");
        let bytes = fs::read(file.path())?;
        let page: Value = serde_json::from_slice(&bytes)?;
        for (i, user) in page["results"].as_array().into_iter().flatten().enumerate() {
            let mut alone = page.clone();
            alone["results"] = json!([user]);
            alone["info"]["results"] = json!(1);
            seeds.push((format!("{name}-user{i}"), alone.to_string().into_bytes()));
        }
        seeds.push((name, bytes));
    }
    for (name, body) in [
        (
            "error",
            r#"{"error": "Uh oh, something has gone wrong. Please tweet us @randomapi about the issue. Thank you."}"#,
        ),
        ("not-json", "<html><body>502 Bad Gateway</body></html>"),
        ("array", "[]"),
        (
            "results-object",
            r#"{"results": {}, "info": {"seed": "s", "results": 0, "page": 1}}"#,
        ),
        (
            "info-strings",
            r#"{"results": [], "info": {"seed": 42, "results": "0", "page": " 3 ", "version": "1.4"}}"#,
        ),
        ("no-info", r#"{"results": []}"#),
        (
            "user-not-object",
            r#"{"results": [null, 1, "x", []], "info": {"seed": "s", "results": 4, "page": 1}}"#,
        ),
    ] {
        seeds.push((name.to_string(), body.as_bytes().to_vec()));
    }
    Ok(seeds)
}

fn schema_seeds(root: &Path) -> Result<Seeds> {
    let mut seeds = Seeds::new();
    let pair = |a: &str, b: &str| format!("{a}{SCHEMA_SEPARATOR}{b}").into_bytes();
    seeds.push((
        "history-v1-v2".into(),
        pair(history_text(1)?, history_text(2)?),
    ));
    for (id, text) in wire_writer_schemas() {
        seeds.push((format!("writer{id}-v2"), pair(&text, history_text(2)?)));
    }
    let cases_dir = root.join("tests/schema_cases");
    let compat: Value = serde_json::from_slice(&fs::read(cases_dir.join("compat.json"))?)?;
    for (i, case) in compat["cases"].as_array().into_iter().flatten().enumerate() {
        let (writer, reader) = (case["writer"].to_string(), case["reader"].to_string());
        seeds.push((format!("compat-{i:03}"), pair(&writer, &reader)));
    }
    let strict: Value = serde_json::from_slice(&fs::read(cases_dir.join("strict.json"))?)?;
    for (i, case) in strict["cases"].as_array().into_iter().flatten().enumerate() {
        seeds.push((
            format!("strict-{i:03}"),
            case["schema"].to_string().into_bytes(),
        ));
    }
    Ok(seeds)
}

fn registry_seeds() -> Seeds {
    let v1 = user_schema_history()[0].text;
    let schema = |text: &str| json!({ "schema": text }).to_string();
    let needs_loyalty = r#"{"type":"record","name":"User","namespace":"dev.eosflow.users","fields":[{"name":"source_name","type":"string"},{"name":"loyalty_tier","type":"string"}]}"#;
    let address2 = r#"{"type":"record","name":"Address","namespace":"ns","fields":[{"name":"city","type":"string"},{"name":"zip","type":["null","string"],"default":null}]}"#;
    let person = r#"{"type":"record","name":"Person","namespace":"ns","fields":[{"name":"home","type":"ns.Address"}]}"#;
    let refs = |version: i64| {
        json!({ "schema": person, "references": [
            {"name": "ns.Address", "subject": "address", "version": version}] })
        .to_string()
    };
    let requests: Vec<(&str, Vec<String>)> = vec![
        ("register-again", vec![format!("POST /subjects/users-value/versions\n{}", schema(v1))]),
        ("register-new-then-compat", vec![
            format!("POST /subjects/orders-value/versions\n{}", schema(r#""string""#)),
            format!("POST /compatibility/subjects/orders-value/versions/latest?verbose=true\n{}", schema(r#""bytes""#)),
        ]),
        ("lookup-deleted", vec![format!("POST /subjects/users-value?deleted=true\n{}", schema(v1))]),
        ("compat-verbose", vec![format!("POST /compatibility/subjects/users-value/versions?verbose=true\n{}", schema(needs_loyalty))]),
        ("compat-version-1", vec![format!("POST /compatibility/subjects/strict/versions/1\n{}", schema(needs_loyalty))]),
        ("compat-bad-version", vec![format!("POST /compatibility/subjects/users-value/versions/abc\n{}", schema(v1))]),
        ("compat-minus-one", vec![format!("POST /compatibility/subjects/nobody/versions/-1\n{}", schema(v1))]),
        ("config", vec![
            "PUT /config\n{\"compatibility\": \"full\"}".into(),
            "PUT /config/strict\n{\"compatibilityLevel\": \"NONE\"}".into(),
            format!("POST /subjects/strict/versions\n{}", schema(needs_loyalty)),
        ]),
        ("config-invalid", vec!["PUT /config/users-value\n{\"compatibility\": 5}".into(), "PUT /config\n{\"compatibility\": \"SIDEWAYS\"}".into(), "PUT /config\n{\"normalize\": true}".into()]),
        ("import", vec![
            "PUT /mode/imported?force=true\n{\"mode\": \"import\"}".into(),
            format!(
                "POST /subjects/imported/versions\n{}",
                json!({"schema": r#""long""#, "id": 100, "version": 7})
            ),
        ]),
        ("import-refused", vec!["PUT /mode\n{\"mode\": \"IMPORT\"}".into(), "PUT /mode/users-value\n{\"mode\": 1}".into(), "PUT /mode\n{}".into()]),
        ("readonly", vec!["PUT /mode\n{\"mode\": \"READONLY\"}".into(), format!("POST /subjects/fresh/versions\n{}", schema(r#""int""#))]),
        ("frozen", vec![format!("POST /subjects/frozen/versions\n{}", schema(r#""int""#))]),
        ("references", vec![
            format!("POST /subjects/address/versions\n{}", schema(address2)),
            format!("POST /subjects/person2/versions\n{}", refs(-1)),
            format!("POST /subjects/person3/versions\n{}", refs(0)),
            format!("POST /subjects/person4/versions\n{}", refs(9)),
            format!("POST /subjects/person/versions\n{}", refs(2)),
        ]),
        ("schema-type", vec![format!("POST /subjects/p/versions\n{}", json!({"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"}))]),
        ("bad-bodies", vec![
            "POST /subjects/users-value/versions\n{not json".into(),
            "POST /subjects/users-value/versions\n[1, 2]".into(),
            "POST /subjects/users-value/versions\n{\"schema\": 42}".into(),
            "POST /subjects/users-value/versions\n{\"schema\": \"{\\\"type\\\": \\\"record\\\"}\"}".into(),
            "POST /subjects/users-value/versions\n{\"schema\": \"\\\"string\\\"\", \"id\": -1, \"version\": 0}".into(),
            format!("POST /subjects//versions\n{}", schema(r#""int""#)),
        ]),
    ];
    requests
        .into_iter()
        .map(|(name, parts)| (name.to_string(), parts.join("\0").into_bytes()))
        .collect()
}
