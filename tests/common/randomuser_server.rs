//! A local randomuser.me-compatible API for binary-level tests: `GET /api/?results=N&seed=S&page=P`
//! answers a page in randomuser's exact JSON shape (nested name/location/login/dob/…, login
//! secrets included so tests can check they never travel), built from eosflow's generator. Every
//! 50th user of a page has a broken email, so validation has something to reject. Pages are a
//! pure function of (seed, page, results), like randomuser's.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use eosflow::source::generator::generate_user;
use serde_json::{json, Value};
use tokio::runtime::Runtime;

/// Index (within a page) of users served with an invalid email.
pub fn is_broken(index: u32) -> bool {
    index % 50 == 49
}

fn user_json(seed: &str, page: u64, index: u32) -> Value {
    let u = generate_user(seed, page, index, "randomuser");
    let mut parts = u.address.splitn(4, ", ");
    let street = parts.next().unwrap_or_default();
    let (number, street_name) = street.split_once(' ').unwrap_or(("1", street));
    let (city, state, country) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let postcode: Value = match u.post_code.parse::<u64>() {
        Ok(n) if !u.post_code.starts_with('0') => json!(n), // numeric for some nationalities
        _ => json!(u.post_code),
    };
    let email = if is_broken(index) {
        "not-an-email".to_string()
    } else {
        u.email.clone()
    };
    json!({
        "gender": u.gender,
        "name": {"title": "Mx", "first": u.first_name, "last": u.last_name},
        "location": {
            "street": {"number": number.parse::<u64>().unwrap_or(1), "name": street_name},
            "city": city, "state": state, "country": country, "postcode": postcode,
            "coordinates": {"latitude": "-69.8246", "longitude": "134.8719"},
            "timezone": {"offset": "+9:30", "description": "Adelaide, Darwin"}
        },
        "email": email,
        "login": {
            "uuid": u.external_id, "username": u.username, "password": "hunter2",
            "salt": "s4lt", "md5": "md5hash", "sha1": "sha1hash", "sha256": "sha256hash"
        },
        "dob": {"date": u.dob, "age": 40},
        "registered": {"date": u.registered_date, "age": 10},
        "phone": u.phone,
        "cell": u.phone,
        "id": {"name": "", "value": null},
        "picture": {
            "large": u.picture.replace("/med/", "/"), "medium": u.picture,
            "thumbnail": u.picture.replace("/med/", "/thumb/")
        },
        "nat": "US"
    })
}

async fn api(Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let results: u32 = q.get("results").and_then(|r| r.parse().ok()).unwrap_or(1);
    let page: u64 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let seed = q.get("seed").cloned().unwrap_or_else(|| "random".into());
    let users: Vec<Value> = (0..results).map(|i| user_json(&seed, page, i)).collect();
    Json(json!({
        "results": users,
        "info": {"seed": seed, "results": results, "page": page, "version": "1.4"}
    }))
}

/// A running server; stops with its runtime when dropped.
pub struct RandomUserServer {
    pub url: String,
    _runtime: Runtime,
}

impl RandomUserServer {
    pub fn start() -> RandomUserServer {
        let runtime = Runtime::new().expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(SocketAddr::from((
                [127, 0, 0, 1],
                0,
            ))))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        runtime.spawn(async move {
            let app = Router::new().route("/api/", get(api));
            let _ = axum::serve(listener, app).await;
        });
        RandomUserServer {
            url: format!("http://{addr}/api/"),
            _runtime: runtime,
        }
    }
}
