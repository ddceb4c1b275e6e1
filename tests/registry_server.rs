//! Black-box tests of eosflow's Confluent-compatible Schema Registry: start it on an ephemeral
//! port, talk to it over HTTP like the real clients do.

use std::net::SocketAddr;
use std::path::PathBuf;

use eosflow::registry::server::RegistryServer;
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::{json, Value};

const VND: &str = "application/vnd.schemaregistry.v1+json";

const V1: &str =
    r#"{"type":"record","name":"User","namespace":"t","fields":[{"name":"name","type":"string"}]}"#;
const V1_REFORMATTED: &str = r#"{
  "namespace": "t", "name": "User", "type": "record",
  "fields": [ { "type": "string", "name": "name" } ]
}"#;
const V2_DEFAULT: &str = r#"{"type":"record","name":"User","namespace":"t","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}"#;
const V2_NO_DEFAULT: &str = r#"{"type":"record","name":"User","namespace":"t","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}"#;
const OTHER: &str = r#"{"type":"record","name":"Other","fields":[{"name":"x","type":"long"}]}"#;

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

struct Sr {
    server: RegistryServer,
    http: reqwest::Client,
}

impl Sr {
    async fn start() -> Sr {
        Sr::start_in(None).await
    }

    async fn start_in(data: Option<PathBuf>) -> Sr {
        let server = RegistryServer::start(loopback(), data)
            .await
            .expect("registry starts");
        Sr {
            server,
            http: reqwest::Client::new(),
        }
    }

    /// Sends `body` (raw text) with `content_type` (None: no header); returns status and JSON.
    async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<String>,
    ) -> (u16, Value) {
        let url = format!("{}{}", self.server.url(), path);
        let mut request = self.http.request(method, url);
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body read");
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{path} answered non-JSON {text:?}: {error}"));
        (status, value)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.raw(method, path, Some(VND), body.map(|b| b.to_string()))
            .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, None).await
    }

    async fn register(&self, subject: &str, schema: &str) -> (u16, Value) {
        self.post(
            &format!("/subjects/{subject}/versions"),
            json!({ "schema": schema }),
        )
        .await
    }

    /// Registers and returns the id, failing the test on anything but 200.
    async fn id(&self, subject: &str, schema: &str) -> u64 {
        let (status, body) = self.register(subject, schema).await;
        assert_eq!(status, 200, "{body}");
        body["id"].as_u64().expect("id is a number")
    }
}

fn assert_error(answer: (u16, Value), status: u16, code: u64) {
    let (got_status, body) = answer;
    assert_eq!(got_status, status, "{body}");
    assert_eq!(body["error_code"], json!(code), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn root_types_unknown_paths_and_content_type() {
    let sr = Sr::start().await;
    assert_eq!(sr.get("/").await, (200, json!({})));
    assert_eq!(sr.get("/schemas/types").await, (200, json!(["AVRO"])));
    assert_error(sr.get("/no/such/thing").await, 404, 404);
    assert_error(sr.call(Method::PATCH, "/subjects", None).await, 405, 405);

    let url = format!("{}/subjects/nope/versions", sr.server.url());
    let response = reqwest::get(url).await.expect("request sent");
    assert_eq!(response.status().as_u16(), 404);
    let content_type = response.headers().get(CONTENT_TYPE).cloned();
    assert_eq!(
        content_type.as_ref().and_then(|v| v.to_str().ok()),
        Some(VND)
    );
    assert!(sr.server.url().starts_with("http://127.0.0.1:"));
    assert_eq!(sr.server.local_addr().ip().to_string(), "127.0.0.1");
    sr.server.stop().await;
}

#[tokio::test]
async fn register_fetch_and_idempotent_reregistration() {
    let sr = Sr::start().await;
    assert_eq!(sr.register("u-value", V1).await, (200, json!({ "id": 1 })));
    // Same schema, other formatting: same id, no new version.
    assert_eq!(sr.id("u-value", V1_REFORMATTED).await, 1);
    assert_eq!(sr.get("/subjects").await, (200, json!(["u-value"])));
    assert_eq!(
        sr.get("/subjects/u-value/versions").await,
        (200, json!([1]))
    );

    let expected = json!({ "subject": "u-value", "version": 1, "id": 1, "schema": V1 });
    for version in ["1", "latest", "-1"] {
        let answer = sr
            .get(&format!("/subjects/u-value/versions/{version}"))
            .await;
        assert_eq!(answer, (200, expected.clone()), "version {version}");
    }
    let raw = sr.get("/subjects/u-value/versions/latest/schema").await;
    assert_eq!(raw.0, 200);
    assert_eq!(
        raw.1,
        serde_json::from_str::<Value>(V1).expect("V1 is JSON")
    );

    // By id: no schemaType for AVRO, no references when there are none.
    assert_eq!(
        sr.get("/schemas/ids/1").await,
        (200, json!({ "schema": V1 }))
    );
    let with_extras = sr
        .get("/schemas/ids/1?subject=u-value&deleted=true&fetchMaxId=true&whatever=1")
        .await;
    assert_eq!(with_extras, (200, json!({ "schema": V1, "maxId": 1 })));
    let raw = sr.get("/schemas/ids/1/schema").await;
    assert_eq!(raw.1["name"], json!("User"));
    assert_eq!(
        sr.get("/schemas/ids/1/subjects").await,
        (200, json!(["u-value"]))
    );
    assert_eq!(
        sr.get("/schemas/ids/1/versions").await,
        (200, json!([{ "subject": "u-value", "version": 1 }]))
    );
    assert_error(sr.get("/schemas/ids/99").await, 404, 40403);
    assert_error(sr.get("/schemas/ids/abc").await, 404, 40403);
    assert_error(sr.get("/schemas/ids/99/subjects").await, 404, 40403);
    assert_error(sr.get("/schemas/ids/99/schema").await, 404, 40403);

    // A compatible v2 gets the next id and version.
    assert_eq!(sr.id("u-value", V2_DEFAULT).await, 2);
    assert_eq!(
        sr.get("/subjects/u-value/versions").await,
        (200, json!([1, 2]))
    );
    let latest = sr.get("/subjects/u-value/versions/latest").await;
    assert_eq!(latest.1["version"], json!(2));
    assert_eq!(latest.1["id"], json!(2));
    let all = sr.get("/schemas?subjectPrefix=u-&latestOnly=TRUE").await;
    assert_eq!(all.1.as_array().map(Vec::len), Some(1));
    assert_eq!(
        sr.get("/subjects?foo=bar&limit=-1&offset=0").await.1,
        json!(["u-value"])
    );
    sr.server.stop().await;
}

#[tokio::test]
async fn ids_are_global_across_subjects() {
    let sr = Sr::start().await;
    assert_eq!(sr.id("a", V1).await, 1);
    sr.put("/config/b", json!({ "compatibility": "NONE" }))
        .await;
    assert_eq!(sr.id("b", OTHER).await, 2);
    assert_eq!(sr.id("b", V1).await, 1);
    assert_eq!(sr.get("/subjects/b/versions").await.1, json!([1, 2]));
    let b2 = sr.get("/subjects/b/versions/2").await.1;
    assert_eq!(
        (b2["id"].clone(), b2["version"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(sr.get("/schemas/ids/1/subjects").await.1, json!(["a", "b"]));
    assert_eq!(
        sr.get("/schemas/ids/1/versions").await.1,
        json!([{ "subject": "a", "version": 1 }, { "subject": "b", "version": 2 }])
    );
    assert_eq!(sr.id("c", V2_DEFAULT).await, 3);
    sr.server.stop().await;
}

#[tokio::test]
async fn request_bodies_and_their_errors() {
    let sr = Sr::start().await;
    let body = json!({ "schema": V1 }).to_string();
    for (i, content_type) in [
        Some("application/vnd.schemaregistry.v1+json"),
        Some("application/vnd.schemaregistry+json"),
        Some("application/json"),
        None,
    ]
    .into_iter()
    .enumerate()
    {
        let subject = format!("/subjects/ct{i}/versions");
        let answer = sr
            .raw(Method::POST, &subject, content_type, Some(body.clone()))
            .await;
        assert_eq!(answer, (200, json!({ "id": 1 })), "{content_type:?}");
    }

    assert_error(
        sr.raw(
            Method::POST,
            "/subjects/x/versions",
            Some(VND),
            Some("{oops".into()),
        )
        .await,
        400,
        400,
    );
    assert_error(
        sr.post("/subjects/x/versions", json!({ "nope": 1 })).await,
        422,
        42201,
    );
    let invalid = sr.register("x", r#"{"type":"record","name":"R"}"#).await;
    assert!(
        invalid.1["message"]
            .as_str()
            .is_some_and(|m| m.contains("Avro")),
        "{}",
        invalid.1
    );
    assert_error(invalid, 422, 42201);
    assert_error(sr.register("x", "not json at all").await, 422, 42201);
    // A 422 says where the schema is wrong, as `eosflow schema check` does.
    let bad_default = sr
        .register(
            "x",
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}"#,
        )
        .await;
    assert!(
        bad_default.1["message"]
            .as_str()
            .is_some_and(|m| m.contains("/fields/0/default")),
        "{}",
        bad_default.1
    );
    assert_error(bad_default, 422, 42201);
    let protobuf = sr
        .post(
            "/subjects/x/versions",
            json!({ "schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF" }),
        )
        .await;
    assert!(
        protobuf.1["message"]
            .as_str()
            .is_some_and(|m| m.contains("AVRO")),
        "{}",
        protobuf.1
    );
    assert_error(protobuf, 422, 42201);
    // An explicit AVRO schemaType and an empty references list are fine.
    let explicit = sr
        .post(
            "/subjects/ct0/versions",
            json!({ "schema": V1, "schemaType": "AVRO", "references": [] }),
        )
        .await;
    assert_eq!(explicit, (200, json!({ "id": 1 })));
    assert_eq!(
        sr.get("/subjects").await.1,
        json!(["ct0", "ct1", "ct2", "ct3"])
    );
    sr.server.stop().await;
}

#[tokio::test]
async fn version_errors_and_lookup() {
    let sr = Sr::start().await;
    sr.id("s", V1).await;
    assert_error(sr.get("/subjects/nope/versions").await, 404, 40401);
    assert_error(sr.get("/subjects/nope/versions/1").await, 404, 40401);
    assert_error(sr.get("/subjects/nope/versions/latest").await, 404, 40401);
    assert_error(sr.get("/subjects/s/versions/7").await, 404, 40402);
    assert_error(sr.get("/subjects/s/versions/abc").await, 422, 42202);
    assert_error(sr.get("/subjects/s/versions/0").await, 422, 42202);
    assert_error(sr.get("/subjects/s/versions/-2").await, 422, 42202);

    let expected = json!({ "subject": "s", "version": 1, "id": 1, "schema": V1 });
    for path in [
        "/subjects/s",
        "/subjects/s?deleted=false",
        "/subjects/s?normalize=False",
    ] {
        let answer = sr.post(path, json!({ "schema": V1_REFORMATTED })).await;
        assert_eq!(answer, (200, expected.clone()), "{path}");
    }
    assert_error(
        sr.post("/subjects/nope", json!({ "schema": V1 })).await,
        404,
        40401,
    );
    assert_error(
        sr.post("/subjects/s", json!({ "schema": OTHER })).await,
        404,
        40403,
    );
    // The same schema with a default is a different schema.
    assert_error(
        sr.post("/subjects/s", json!({ "schema": V2_DEFAULT }))
            .await,
        404,
        40403,
    );
    sr.server.stop().await;
}

#[tokio::test]
async fn backward_compatibility_is_enforced() {
    let sr = Sr::start().await;
    sr.id("s", V1).await;

    // Compatibility tests against v1.
    let no_default = json!({ "schema": V2_NO_DEFAULT });
    let answer = sr
        .post(
            "/compatibility/subjects/s/versions/latest",
            no_default.clone(),
        )
        .await;
    assert_eq!(answer, (200, json!({ "is_compatible": false })));
    let verbose = sr
        .post(
            "/compatibility/subjects/s/versions/1?verbose=True",
            no_default.clone(),
        )
        .await;
    assert_eq!(verbose.1["is_compatible"], json!(false));
    assert!(
        verbose.1["messages"]
            .as_array()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        verbose.1
    );
    let ok = sr
        .post(
            "/compatibility/subjects/s/versions?verbose=true",
            json!({ "schema": V2_DEFAULT }),
        )
        .await;
    assert_eq!(ok, (200, json!({ "is_compatible": true, "messages": [] })));
    let all = sr
        .post("/compatibility/subjects/s/versions", no_default.clone())
        .await;
    assert_eq!(all, (200, json!({ "is_compatible": false })));

    // Registration: a field without default is rejected, with a default accepted.
    let rejected = sr.register("s", V2_NO_DEFAULT).await;
    assert!(
        rejected.1["message"]
            .as_str()
            .is_some_and(|m| m.contains("age")),
        "{}",
        rejected.1
    );
    assert_error(rejected, 409, 409);
    assert_eq!(sr.get("/subjects/s/versions").await.1, json!([1]));
    assert_eq!(sr.id("s", V2_DEFAULT).await, 2);

    // Now v2 (which has `age`) is the latest: readable from it, not from v1.
    for path in [
        "/compatibility/subjects/s/versions/latest",
        "/compatibility/subjects/s/versions/-1",
        "/compatibility/subjects/s/versions",
    ] {
        let answer = sr.post(path, no_default.clone()).await;
        assert_eq!(answer, (200, json!({ "is_compatible": true })), "{path}");
    }
    let against_v1 = sr
        .post("/compatibility/subjects/s/versions/1", no_default.clone())
        .await;
    assert_eq!(against_v1, (200, json!({ "is_compatible": false })));

    // Unknown subjects: nothing to be incompatible with, unless a version is named.
    for path in [
        "/compatibility/subjects/new/versions",
        "/compatibility/subjects/new/versions/latest",
    ] {
        assert_eq!(
            sr.post(path, no_default.clone()).await,
            (200, json!({ "is_compatible": true })),
            "{path}"
        );
    }
    assert_error(
        sr.post("/compatibility/subjects/new/versions/1", no_default.clone())
            .await,
        404,
        40401,
    );
    assert_error(
        sr.post("/compatibility/subjects/s/versions/9", no_default.clone())
            .await,
        404,
        40402,
    );
    assert_error(
        sr.post(
            "/compatibility/subjects/s/versions/zero",
            no_default.clone(),
        )
        .await,
        422,
        42202,
    );
    assert_error(
        sr.post(
            "/compatibility/subjects/s/versions",
            json!({ "schema": "{" }),
        )
        .await,
        422,
        42201,
    );
    sr.server.stop().await;
}

#[tokio::test]
async fn transitive_forward_full_and_none_levels() {
    let sr = Sr::start().await;
    let a = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#;
    let ab = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":"int","default":0}]}"#;
    let b = r#"{"type":"record","name":"R","fields":[{"name":"b","type":"int"}]}"#;
    sr.id("t", a).await;
    sr.id("t", ab).await;
    // `b` reads `ab` data (latest) but not `a` data (no b, no default).
    let body = json!({ "schema": b });
    assert_eq!(
        sr.post("/compatibility/subjects/t/versions", body.clone())
            .await
            .1,
        json!({ "is_compatible": true })
    );
    let put = sr
        .put(
            "/config/t",
            json!({ "compatibility": "BACKWARD_TRANSITIVE" }),
        )
        .await;
    assert_eq!(
        put,
        (200, json!({ "compatibility": "BACKWARD_TRANSITIVE" }))
    );
    assert_eq!(
        sr.post("/compatibility/subjects/t/versions", body.clone())
            .await
            .1,
        json!({ "is_compatible": false })
    );
    assert_error(sr.register("t", b).await, 409, 409);
    // Against version 2 alone it is fine whatever the level.
    assert_eq!(
        sr.post("/compatibility/subjects/t/versions/2", body.clone())
            .await
            .1,
        json!({ "is_compatible": true })
    );

    // FORWARD: adding a field without default is fine (old readers skip it), removing a
    // field old readers need is not.
    sr.put("/config/f", json!({ "compatibility": "FORWARD" }))
        .await;
    sr.id("f", V1).await;
    assert_eq!(sr.id("f", V2_NO_DEFAULT).await, 4);
    assert_error(sr.register("f", OTHER).await, 409, 409);

    // FULL rejects what FORWARD accepted.
    sr.put("/config/g", json!({ "compatibility": "full" }))
        .await;
    sr.id("g", V1).await;
    assert_error(sr.register("g", V2_NO_DEFAULT).await, 409, 409);
    assert_eq!(sr.id("g", V2_DEFAULT).await, 5);

    // NONE accepts anything.
    sr.put("/config/n", json!({ "compatibility": "NONE" }))
        .await;
    sr.id("n", V1).await;
    assert_eq!(sr.id("n", OTHER).await, 6);
    sr.server.stop().await;
}

#[tokio::test]
async fn config_flows() {
    let sr = Sr::start().await;
    assert_eq!(
        sr.get("/config").await,
        (200, json!({ "compatibilityLevel": "BACKWARD" }))
    );
    assert_eq!(
        sr.put("/config", json!({ "compatibility": "FULL" })).await,
        (200, json!({ "compatibility": "FULL" }))
    );
    assert_eq!(
        sr.get("/config").await.1,
        json!({ "compatibilityLevel": "FULL" })
    );
    assert_error(
        sr.put("/config", json!({ "compatibility": "SIDEWAYS" }))
            .await,
        422,
        42203,
    );
    assert_error(
        sr.put("/config", json!({ "compatibility": 7 })).await,
        422,
        42203,
    );
    assert_error(
        sr.raw(
            Method::PUT,
            "/config",
            Some("application/json"),
            Some("nope".into()),
        )
        .await,
        400,
        400,
    );

    assert_error(sr.get("/config/s").await, 404, 40408);
    assert_eq!(
        sr.get("/config/s?defaultToGlobal=TRUE").await,
        (200, json!({ "compatibilityLevel": "FULL" }))
    );
    assert_eq!(
        sr.put(
            "/config/s",
            json!({ "compatibility": "forward_transitive" })
        )
        .await,
        (200, json!({ "compatibility": "FORWARD_TRANSITIVE" }))
    );
    assert_eq!(
        sr.get("/config/s").await.1,
        json!({ "compatibilityLevel": "FORWARD_TRANSITIVE" })
    );
    // A subject with only a config is not a subject with schemas.
    assert_eq!(sr.get("/subjects").await.1, json!([]));
    assert_eq!(
        sr.delete("/config/s").await,
        (200, json!({ "compatibilityLevel": "FORWARD_TRANSITIVE" }))
    );
    assert_error(sr.get("/config/s").await, 404, 40408);
    assert_error(sr.delete("/config/never").await, 404, 40401);
    sr.server.stop().await;
}

#[tokio::test]
async fn mode_flows_and_readonly_blocks_writes() {
    let sr = Sr::start().await;
    sr.id("s", V1).await;
    assert_eq!(sr.get("/mode").await, (200, json!({ "mode": "READWRITE" })));
    assert_error(
        sr.put("/mode", json!({ "mode": "WRITEONLY" })).await,
        422,
        42204,
    );
    assert_error(sr.put("/mode", json!({})).await, 422, 42204);
    assert_eq!(
        sr.put("/mode", json!({ "mode": "READONLY" })).await,
        (200, json!({ "mode": "READONLY" }))
    );
    assert_eq!(sr.get("/mode").await.1, json!({ "mode": "READONLY" }));
    assert_error(sr.register("s", V2_DEFAULT).await, 422, 42205);
    assert_error(sr.register("other", OTHER).await, 422, 42205);
    assert_error(sr.delete("/subjects/s").await, 422, 42205);
    assert_error(sr.delete("/subjects/s/versions/1").await, 422, 42205);
    // Reads still work.
    assert_eq!(sr.get("/subjects/s/versions").await.1, json!([1]));
    assert_eq!(
        sr.post("/subjects/s", json!({ "schema": V1 })).await.1["id"],
        json!(1)
    );

    // A subject-level mode overrides the global one.
    assert_error(sr.get("/mode/s").await, 404, 40409);
    assert_eq!(
        sr.get("/mode/s?defaultToGlobal=true").await.1,
        json!({ "mode": "READONLY" })
    );
    assert_eq!(
        sr.put("/mode/s", json!({ "mode": "READWRITE" })).await,
        (200, json!({ "mode": "READWRITE" }))
    );
    assert_eq!(sr.get("/mode/s").await.1, json!({ "mode": "READWRITE" }));
    assert_eq!(sr.id("s", V2_DEFAULT).await, 2);
    assert_eq!(
        sr.delete("/mode/s").await,
        (200, json!({ "mode": "READWRITE" }))
    );
    assert_error(sr.register("s", V1_REFORMATTED).await, 422, 42205);

    // Subject READONLY under a READWRITE registry.
    sr.put("/mode", json!({ "mode": "READWRITE" })).await;
    sr.put("/mode/s", json!({ "mode": "READONLY" })).await;
    assert_error(
        sr.register("s", r#"{"type":"record","name":"User","namespace":"t","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":1}]}"#).await,
        422,
        42205,
    );
    assert_eq!(sr.id("free", OTHER).await, 3);

    // IMPORT over existing schemas needs force.
    assert_error(
        sr.put("/mode", json!({ "mode": "IMPORT" })).await,
        422,
        42205,
    );
    assert_eq!(
        sr.put("/mode?force=true", json!({ "mode": "IMPORT" }))
            .await
            .1,
        json!({ "mode": "IMPORT" })
    );
    sr.server.stop().await;
}

#[tokio::test]
async fn import_mode_keeps_given_ids() {
    let sr = Sr::start().await;
    sr.put("/mode", json!({ "mode": "IMPORT" })).await;
    let imported = sr
        .post(
            "/subjects/s/versions",
            json!({ "schema": V1, "id": 42, "version": 3 }),
        )
        .await;
    assert_eq!(imported, (200, json!({ "id": 42 })));
    assert_eq!(sr.get("/subjects/s/versions").await.1, json!([3]));
    let clash = sr
        .post("/subjects/o/versions", json!({ "schema": OTHER, "id": 42 }))
        .await;
    assert_error(clash, 422, 42207);
    sr.put("/mode", json!({ "mode": "READWRITE" })).await;
    assert_error(
        sr.post("/subjects/o/versions", json!({ "schema": OTHER, "id": 7 }))
            .await,
        422,
        42205,
    );
    assert_eq!(sr.id("o", OTHER).await, 43);
    sr.server.stop().await;
}

#[tokio::test]
async fn soft_and_permanent_deletes() {
    let sr = Sr::start().await;
    sr.id("s", V1).await;
    sr.id("s", V2_DEFAULT).await;
    sr.id("keep", OTHER).await;

    assert_error(sr.delete("/subjects/s?permanent=true").await, 404, 40405);
    assert_error(sr.delete("/subjects/nope").await, 404, 40401);
    assert_eq!(sr.delete("/subjects/s").await, (200, json!([1, 2])));
    assert_error(sr.delete("/subjects/s").await, 404, 40404);
    assert_eq!(sr.get("/subjects").await.1, json!(["keep"]));
    assert_eq!(
        sr.get("/subjects?deleted=TRUE").await.1,
        json!(["keep", "s"])
    );
    assert_eq!(sr.get("/subjects?deletedOnly=true").await.1, json!(["s"]));
    assert_error(sr.get("/subjects/s/versions").await, 404, 40401);
    assert_eq!(
        sr.get("/subjects/s/versions?deleted=true").await.1,
        json!([1, 2])
    );
    assert_error(sr.get("/subjects/s/versions/1").await, 404, 40401);
    assert_eq!(
        sr.get("/subjects/s/versions/1?deleted=true").await.1["id"],
        json!(1)
    );
    // Ids stay resolvable: old records still carry them.
    assert_eq!(
        sr.get("/schemas/ids/1?deleted=true").await.1,
        json!({ "schema": V1 })
    );
    assert_eq!(sr.get("/schemas/ids/2").await.0, 200);
    assert_eq!(sr.get("/schemas/ids/1/subjects").await.1, json!([]));
    assert_eq!(
        sr.get("/schemas/ids/1/subjects?deleted=true").await.1,
        json!(["s"])
    );
    assert_error(
        sr.post("/subjects/s", json!({ "schema": V1 })).await,
        404,
        40401,
    );
    assert_eq!(
        sr.post("/subjects/s?deleted=true", json!({ "schema": V1 }))
            .await
            .1["version"],
        json!(1)
    );

    // Registering again continues the numbering and keeps the id.
    assert_eq!(sr.register("s", V1).await, (200, json!({ "id": 1 })));
    assert_eq!(sr.get("/subjects/s/versions").await.1, json!([3]));
    assert_eq!(
        sr.get("/subjects/s/versions?deleted=true").await.1,
        json!([1, 2, 3])
    );

    // Version deletes.
    assert_error(
        sr.delete("/subjects/s/versions/3?permanent=true").await,
        404,
        40407,
    );
    assert_error(sr.delete("/subjects/s/versions/1").await, 404, 40406);
    assert_error(sr.delete("/subjects/s/versions/9").await, 404, 40402);
    assert_error(sr.delete("/subjects/s/versions/x").await, 422, 42202);
    assert_eq!(
        sr.delete("/subjects/s/versions/latest").await,
        (200, json!(3))
    );
    assert_eq!(
        sr.delete("/subjects/s/versions/3?permanent=True").await,
        (200, json!(3))
    );
    assert_eq!(
        sr.get("/subjects/s/versions?deleted=true").await.1,
        json!([1, 2])
    );
    assert_eq!(
        sr.delete("/subjects/s?permanent=true").await,
        (200, json!([1, 2]))
    );
    assert_error(
        sr.get("/subjects/s/versions?deleted=true").await,
        404,
        40401,
    );
    assert_error(sr.delete("/subjects/s?permanent=true").await, 404, 40401);
    assert_eq!(sr.get("/subjects?deleted=true").await.1, json!(["keep"]));

    // Soft-delete a single version of a live subject.
    sr.id("k2", V1).await;
    sr.id("k2", V2_DEFAULT).await;
    assert_eq!(sr.delete("/subjects/k2/versions/1").await, (200, json!(1)));
    assert_eq!(sr.get("/subjects/k2/versions").await.1, json!([2]));
    sr.server.stop().await;
}

#[tokio::test]
async fn references_resolve_and_protect_their_targets() {
    let sr = Sr::start().await;
    let address = r#"{"type":"record","name":"Address","namespace":"ns","fields":[{"name":"city","type":"string"}]}"#;
    let user = r#"{"type":"record","name":"User","namespace":"ns","fields":[{"name":"home","type":"ns.Address"}]}"#;
    assert_eq!(sr.id("address", address).await, 1);
    assert_error(sr.register("user", user).await, 422, 42201);
    let reference = json!([{ "name": "ns.Address", "subject": "address", "version": 1 }]);
    let registered = sr
        .post(
            "/subjects/user/versions",
            json!({ "schema": user, "schemaType": "AVRO", "references": reference }),
        )
        .await;
    assert_eq!(registered, (200, json!({ "id": 2 })));
    assert_eq!(
        sr.get("/schemas/ids/2").await.1,
        json!({ "schema": user, "references": reference })
    );
    assert_eq!(
        sr.get("/subjects/user/versions/1").await.1["references"],
        reference
    );
    assert_eq!(
        sr.get("/subjects/address/versions/1/referencedby").await.1,
        json!([2])
    );
    assert_error(sr.delete("/subjects/address").await, 422, 42206);
    let dangling = json!([{ "name": "ns.Address", "subject": "address", "version": 5 }]);
    assert_error(
        sr.post(
            "/subjects/u2/versions",
            json!({ "schema": user, "references": dangling }),
        )
        .await,
        422,
        42201,
    );
    sr.server.stop().await;
}

#[tokio::test]
async fn associations_answer_404_so_python_falls_back() {
    let sr = Sr::start().await;
    let answer = sr
        .get("/associations/resources/-/users?resourceType=topic&associationTypes=value")
        .await;
    assert_eq!(answer.0, 404);
    assert!(answer.1["error_code"].is_u64());
    assert_eq!(
        sr.call(Method::POST, "/associations", Some(json!({})))
            .await
            .0,
        404
    );
    sr.server.stop().await;
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("registry-data");
    let sr = Sr::start_in(Some(data.clone())).await;
    sr.id("s", V1).await;
    sr.id("s", V2_DEFAULT).await;
    sr.id("o", OTHER).await;
    sr.put("/config/s", json!({ "compatibility": "FULL" }))
        .await;
    sr.put("/mode/o", json!({ "mode": "READONLY" })).await;
    sr.delete("/subjects/s/versions/1").await;
    sr.server.stop().await;
    assert!(data.join("registry.json").exists());

    let sr = Sr::start_in(Some(data.clone())).await;
    assert_eq!(sr.get("/subjects").await.1, json!(["o", "s"]));
    assert_eq!(sr.get("/subjects/s/versions").await.1, json!([2]));
    assert_eq!(
        sr.get("/subjects/s/versions?deleted=true").await.1,
        json!([1, 2])
    );
    assert_eq!(sr.get("/subjects/s/versions/2").await.1["id"], json!(2));
    assert_eq!(sr.get("/schemas/ids/1").await.1, json!({ "schema": V1 }));
    assert_eq!(sr.get("/schemas/ids/3").await.1, json!({ "schema": OTHER }));
    assert_eq!(
        sr.get("/config/s").await.1,
        json!({ "compatibilityLevel": "FULL" })
    );
    assert_eq!(sr.get("/mode/o").await.1, json!({ "mode": "READONLY" }));
    assert_eq!(sr.id("s", V2_DEFAULT).await, 2);
    let v3 = r#"{"type":"record","name":"User","namespace":"t","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0},{"name":"x","type":"string","default":""}]}"#;
    assert_eq!(sr.id("s", v3).await, 4);
    assert_eq!(sr.get("/subjects/s/versions").await.1, json!([2, 3]));
    sr.server.stop().await;
}

#[tokio::test]
async fn corrupt_state_file_is_refused_with_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("registry.json");
    std::fs::write(&file, b"{\"format\": 1, \"schemas\": [tru").expect("write");
    let error = match RegistryServer::start(loopback(), Some(dir.path().to_path_buf())).await {
        Ok(_) => panic!("started over a corrupt state file"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains(&file.display().to_string()), "{error}");
    assert!(error.contains("corrupt"), "{error}");
    // The file is left alone.
    let kept = std::fs::read(&file).expect("read");
    assert_eq!(kept, b"{\"format\": 1, \"schemas\": [tru");
}

#[tokio::test]
async fn bind_error_names_the_address() {
    let sr = Sr::start().await;
    let taken = sr.server.local_addr();
    let error = match RegistryServer::start(taken, None).await {
        Ok(_) => panic!("bound an address in use"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains(&taken.to_string()), "{error}");
    sr.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_of_one_schema_get_one_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sr = Sr::start_in(Some(dir.path().to_path_buf())).await;
    let url = format!("{}/subjects/c/versions", sr.server.url());
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let http = sr.http.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let response = http
                .post(url)
                .header(CONTENT_TYPE, VND)
                .body(json!({ "schema": V1 }).to_string())
                .send()
                .await
                .expect("request sent");
            assert_eq!(response.status().as_u16(), 200);
            let body: Value = response.json().await.expect("JSON body");
            body["id"].as_u64().expect("id")
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task"), 1);
    }
    assert_eq!(sr.get("/subjects/c/versions").await.1, json!([1]));
    sr.server.stop().await;
}

/// The Rust client the pipeline uses: encode with registration, decode by id.
#[tokio::test]
async fn schema_registry_converter_round_trip() {
    use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
    use schema_registry_converter::async_impl::schema_registry::SrSettings;
    use schema_registry_converter::schema_registry_common::{
        SchemaType, SubjectNameStrategy, SuppliedSchema,
    };

    let sr = Sr::start().await;
    let settings = SrSettings::new(sr.server.url());
    let encoder = AvroEncoder::new(settings.clone());
    let supplied = SuppliedSchema::new(Some("t.User".into()), SchemaType::Avro, V1.to_string());
    let strategy =
        SubjectNameStrategy::TopicNameStrategyWithSchema("users".into(), false, supplied);
    let bytes = encoder
        .encode(
            vec![("name", apache_avro::types::Value::String("ada".into()))],
            strategy,
        )
        .await
        .expect("encoded");
    assert_eq!(&bytes[..5], &[0, 0, 0, 0, 1]);
    assert_eq!(sr.get("/subjects").await.1, json!(["users-value"]));

    let decoder = AvroDecoder::new(settings);
    let decoded = decoder.decode(Some(&bytes)).await.expect("decoded");
    assert_eq!(
        decoded.value,
        apache_avro::types::Value::Record(vec![(
            "name".into(),
            apache_avro::types::Value::String("ada".into())
        )])
    );
    sr.server.stop().await;
}

/// Python confluent-kafka's `SchemaRegistryClient`, `AvroSerializer` (which asks
/// `/associations` first) and `AvroDeserializer` against this registry. Fails (never skips) when
/// python3 lacks the clients: `scripts/test-env start` installs confluent-kafka, fastavro, authlib,
/// httpx, attrs and cachetools (the `[schemaregistry]` extra pins a certifi release the package
/// index here does not have).
const PYTHON_INTEROP: &str = r#"
import sys
from confluent_kafka.schema_registry import SchemaRegistryClient, Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.avro import AvroSerializer, AvroDeserializer
from confluent_kafka.serialization import SerializationContext, MessageField

url = sys.argv[1]
c = SchemaRegistryClient({"url": url})
s1 = '{"type":"record","name":"User","namespace":"t","fields":[{"name":"name","type":"string"}]}'
ctx = SerializationContext("py-users", MessageField.VALUE)
data = AvroSerializer(c, s1)({"name": "ada"}, ctx)
assert data[:5] == b"\x00\x00\x00\x00\x01", data[:5]
assert AvroDeserializer(SchemaRegistryClient({"url": url}))(data, ctx) == {"name": "ada"}
assert c.register_schema("py-other", Schema(s1, "AVRO")) == 1
assert c.lookup_schema("py-other", Schema(s1, "AVRO")).version == 1
latest = c.get_latest_version("py-users-value")
assert (latest.schema_id, latest.version) == (1, 1), latest
assert c.get_version("py-users-value", 1).schema.schema_str == s1
assert c.get_subjects() == ["py-other", "py-users-value"], c.get_subjects()
assert c.get_versions("py-users-value") == [1]
assert c.get_compatibility() == "BACKWARD"
c.set_compatibility("py-other", "FULL")
assert c.get_compatibility("py-other") == "FULL"
bad = '{"type":"record","name":"User","namespace":"t","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}'
assert c.test_compatibility("py-users-value", Schema(bad, "AVRO")) is False
assert c.test_compatibility_all_versions("py-users-value", Schema(bad, "AVRO")) is False
try:
    c.register_schema("py-users-value", Schema(bad, "AVRO"))
    raise SystemExit("incompatible schema accepted")
except SchemaRegistryError as e:
    assert (e.http_status_code, e.error_code) == (409, 409), e
try:
    c.get_version("py-users-value", 9)
    raise SystemExit("unknown version found")
except SchemaRegistryError as e:
    assert (e.http_status_code, e.error_code) == (404, 40402), e
assert c.get_global_mode() == "READWRITE"
assert c.update_mode("py-users-value", "READONLY") == "READONLY"
assert c.get_mode("py-users-value") == "READONLY"
assert c.delete_mode("py-users-value") == "READONLY"
assert c.get_schema_types() == ["AVRO"]
assert c.get_subjects_by_schema_id(1) == ["py-other", "py-users-value"]
assert c.delete_subject("py-other") == [1]
assert c.delete_subject("py-other", permanent=True) == [1]
assert SchemaRegistryClient({"url": url}).get_schema(1).schema_str == s1
print("python interop ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_confluent_kafka_client_interop() {
    let available = std::process::Command::new("python3")
        .args(["-c", "import confluent_kafka.schema_registry.avro"])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        available,
        "python3 cannot import confluent_kafka.schema_registry.avro: run `scripts/test-env start`"
    );
    let sr = Sr::start().await;
    let url = sr.server.url();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-c", PYTHON_INTEROP, &url])
            .output()
    })
    .await
    .expect("python task")
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("python interop ok"),
        "python client failed:\n{stdout}\n{stderr}"
    );
    sr.server.stop().await;
}
