//! randomuser.me's JSON and the classic pipeline's `format_data`: validate one raw result and
//! build a [`User`] from it, or a [`Rejection`] saying which field was wrong.
//!
//! A page is `{"results": [user, …], "info": {"seed", "results", "page", "version"}}`
//! ([`parse_page`]). Users stay [`serde_json::Value`]s until [`format_user`], so one odd user
//! (a missing field, a number where a string belongs) rejects that user, never the page.
//!
//! Secrets: `login.password`, `salt`, `md5`, `sha1` and `sha256` are never read, never copied into
//! a [`User`], and are stripped (at any depth) from the raw JSON a [`Rejection`] carries.

use serde_json::{Map, Value};

use crate::model::instant::{format_millis, to_millis};
pub use crate::model::instant::{parse_timestamp, Timestamp};
use crate::model::{SourceIdentity, User};

/// Keys never carried anywhere: randomuser's `login` secrets.
pub const SECRET_FIELDS: [&str; 5] = ["password", "salt", "md5", "sha1", "sha256"];

/// The genders randomuser.me serves.
pub const GENDERS: [&str; 2] = ["male", "female"];

/// A user the source served that did not validate. Its identity is its position in the page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("user {} rejected: {reason}", identity.canonical())]
pub struct Rejection {
    pub identity: SourceIdentity,
    /// Every problem found, `field: what was wrong`, joined by `"; "`.
    pub reason: String,
    /// The raw user as JSON, with the [`SECRET_FIELDS`] removed.
    pub raw: String,
}

/// The `info` block of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageInfo {
    pub seed: String,
    pub page: u64,
    pub results: u64,
    pub version: Option<String>,
}

/// A parsed page: its `info` and its raw users.
#[derive(Debug, Clone, PartialEq)]
pub struct RawPage {
    pub info: PageInfo,
    pub results: Vec<Value>,
}

/// Parses a page body; the error says what was wrong with it (not JSON, an `{"error": …}` body,
/// a missing or mistyped `results`/`info`).
pub fn parse_page(body: &[u8]) -> Result<RawPage, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let text = String::from_utf8_lossy(body);
        format!(
            "body is not JSON ({e}); it starts with {:?}",
            truncate_chars(&text, 200)
        )
    })?;
    let Value::Object(mut top) = value else {
        return Err(format!(
            "expected a JSON object with \"results\" and \"info\", got {}",
            kind(&value)
        ));
    };
    if let Some(error) = top.get("error") {
        let message = error
            .as_str()
            .map_or_else(|| error.to_string(), str::to_owned);
        return Err(format!(
            "the server answered with an error: {:?}",
            truncate_chars(&message, 200)
        ));
    }
    let results = match top.remove("results") {
        Some(Value::Array(results)) => results,
        Some(other) => return Err(format!("\"results\" is {}, not an array", kind(&other))),
        None => return Err("the body has no \"results\"".into()),
    };
    let info = match top.get("info") {
        Some(Value::Object(info)) => info,
        Some(other) => return Err(format!("\"info\" is {}, not an object", kind(other))),
        None => return Err("the body has no \"info\"".into()),
    };
    let seed = match info.get("seed") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        other => {
            return Err(format!(
                "info.seed: {}",
                describe_missing(other, "a string")
            ))
        }
    };
    let info = PageInfo {
        seed,
        page: info_count(info, "page")?,
        results: info_count(info, "results")?,
        version: info
            .get("version")
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    Ok(RawPage { info, results })
}

fn info_count(info: &Map<String, Value>, key: &str) -> Result<u64, String> {
    let value = info.get(key);
    let parsed = match value {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| format!("info.{key}: {}", describe_missing(value, "a whole number")))
}

fn describe_missing(value: Option<&Value>, wanted: &str) -> String {
    match value {
        None => "missing".into(),
        Some(v) => format!("expected {wanted}, got {} {}", kind(v), preview(v)),
    }
}

/// The raw user without its [`SECRET_FIELDS`] (removed from every object, at any depth).
pub fn redact(raw: &Value) -> Value {
    match raw {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !SECRET_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), redact(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// The classic pipeline's `format_data` for one randomuser result, with validation.
///
/// Builds every [`User`] field (see the module docs of [`crate::model`]) or rejects the user with
/// every problem found. `identity` becomes the user's `source_*` fields. The User v2 fields are
/// optional (missing or null is `None`) but checked when present: `nat` (a two-letter code),
/// `dob.age` (a whole number ≥ 0) and `cell` (a phone number, as `phone`).
pub fn format_user(raw: &Value, identity: &SourceIdentity) -> Result<User, Rejection> {
    let mut c = Checker {
        root: raw,
        problems: Vec::new(),
    };
    let user = c.build(identity);
    match user {
        Some(user) if c.problems.is_empty() => Ok(user),
        _ => Err(Rejection {
            identity: identity.clone(),
            reason: if c.problems.is_empty() {
                "invalid user".into()
            } else {
                c.problems.join("; ")
            },
            raw: serde_json::to_string(&redact(raw))
                .unwrap_or_else(|e| format!("<unprintable user: {e}>")),
        }),
    }
}

struct Checker<'a> {
    root: &'a Value,
    problems: Vec<String>,
}

impl<'a> Checker<'a> {
    fn build(&mut self, identity: &SourceIdentity) -> Option<User> {
        if !self.root.is_object() {
            self.problems.push(format!(
                "user: expected a JSON object, got {}",
                kind(self.root)
            ));
            return None;
        }
        let source_page = i64::try_from(identity.page).ok();
        if source_page.is_none() {
            self.problems
                .push(format!("source page {} exceeds a long", identity.page));
        }
        let source_index = i32::try_from(identity.index).ok();
        if source_index.is_none() {
            self.problems
                .push(format!("source index {} exceeds an int", identity.index));
        }
        let first_name = self.text("name.first");
        let last_name = self.text("name.last");
        let gender = self.text("gender").filter(|g| {
            let ok = GENDERS.contains(g);
            if !ok {
                self.problems
                    .push(format!("gender: {g:?} is neither \"male\" nor \"female\""));
            }
            ok
        });
        let number = self.street_number();
        let street = self.text("location.street.name");
        let city = self.text("location.city");
        let state = self.text("location.state");
        let country = self.text("location.country");
        let post_code = self.post_code();
        let email = self
            .text("email")
            .filter(|e| self.check("email", e, email_problem));
        let username = self.text("login.username");
        let dob = self.text("dob.date");
        let registered = self.text("registered.date");
        let dob_at = dob.and_then(|d| self.timestamp("dob.date", d));
        let registered_at = registered.and_then(|r| self.timestamp("registered.date", r));
        if let (Some(d), Some(r)) = (dob_at, registered_at) {
            if d > r {
                self.problems.push(format!(
                    "dob.date: {:?} is after registered.date {:?}",
                    dob.unwrap_or_default(),
                    registered.unwrap_or_default()
                ));
            }
        }
        let phone = self
            .text("phone")
            .filter(|p| self.check("phone", p, phone_problem));
        let picture = self.text("picture.medium");
        let external_id = self.external_id();
        let nat = self.nat();
        let age = self.age();
        let cell = self.cell();

        Some(User {
            source_name: identity.source.clone(),
            source_seed: identity.seed.clone(),
            source_page: source_page?,
            source_index: source_index?,
            external_id: external_id?,
            first_name: first_name?.to_owned(),
            last_name: last_name?.to_owned(),
            gender: gender?.to_owned(),
            address: format!(
                "{} {}, {}, {}, {}",
                number?, street?, city?, state?, country?
            ),
            post_code: post_code?,
            email: email?.to_owned(),
            username: username?.to_owned(),
            dob: format_millis(dob_at?),
            registered_date: format_millis(registered_at?),
            phone: phone?.to_owned(),
            picture: picture?.to_owned(),
            nat: nat?,
            age: age?,
            cell: cell?,
        })
    }

    /// The value at a dotted path; records why when it is missing.
    /// Record that `path` holds `other` where `wanted` was expected; always None.
    fn wrong_type<T>(&mut self, path: &str, wanted: &str, other: &Value) -> Option<T> {
        self.problems
            .push(format!("{path}: {}", describe_missing(Some(other), wanted)));
        None
    }

    fn lookup(&mut self, path: &str) -> Option<&'a Value> {
        let mut at = self.root;
        let mut walked = 0;
        for key in path.split('.') {
            let next = match at {
                Value::Object(map) => map.get(key),
                other => {
                    let parent = &path[..walked.max(1) - 1];
                    self.problems.push(format!(
                        "{path}: missing ({parent} is {}, not an object)",
                        kind(other)
                    ));
                    return None;
                }
            };
            let Some(next) = next else {
                self.problems.push(format!("{path}: missing"));
                return None;
            };
            walked += key.len() + 1;
            at = next;
        }
        Some(at)
    }

    /// A required, non-blank string.
    fn text(&mut self, path: &str) -> Option<&'a str> {
        match self.lookup(path)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.as_str()),
            Value::String(_) => {
                self.problems.push(format!("{path}: empty"));
                None
            }
            other => self.wrong_type(path, "a string", other),
        }
    }

    /// Runs `rule` on a present value, recording its complaint.
    fn check(&mut self, path: &str, value: &str, rule: fn(&str) -> Option<String>) -> bool {
        match rule(value) {
            None => true,
            Some(problem) => {
                self.problems
                    .push(format!("{path}: {:?} {problem}", truncate_chars(value, 80)));
                false
            }
        }
    }

    fn timestamp(&mut self, path: &str, value: &str) -> Option<i64> {
        to_millis(value)
            .map_err(|e| {
                let reason = e.about(truncate_chars(value, 80));
                self.problems.push(format!("{path}: {reason}"));
            })
            .ok()
    }

    /// `location.street.number`: a whole number (randomuser's form) or a non-blank string.
    fn street_number(&mut self) -> Option<String> {
        let path = "location.street.number";
        match self.lookup(path)? {
            Value::Number(n) if n.is_u64() => Some(n.to_string()),
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            other => self.wrong_type(path, "a whole number or a string", other),
        }
    }

    /// `location.postcode`: a number for some nationalities, a string for others; always stored
    /// as a string, never blank. Numbers are written as served (a leading zero lost by the
    /// server stays lost).
    fn post_code(&mut self) -> Option<String> {
        let path = "location.postcode";
        match self.lookup(path)? {
            Value::Number(n) if n.is_u64() => Some(n.to_string()),
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::String(_) => {
                self.problems.push(format!("{path}: empty"));
                None
            }
            other => self.wrong_type(path, "a whole number or a string", other),
        }
    }

    /// The value at a dotted path of an optional field: `None` when it (or a parent) is missing
    /// or null. Records nothing.
    fn optional(&self, path: &str) -> Option<&'a Value> {
        let mut at = self.root;
        for key in path.split('.') {
            at = at.as_object()?.get(key)?;
        }
        (!at.is_null()).then_some(at)
    }

    /// `nat`: optional; when present, a two-letter uppercase country code (`"GB"`).
    fn nat(&mut self) -> Option<Option<String>> {
        let Some(value) = self.optional("nat") else {
            return Some(None);
        };
        match value {
            Value::String(s) if s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()) => {
                Some(Some(s.clone()))
            }
            Value::String(s) => {
                self.problems.push(format!(
                    "nat: {:?} is not a two-letter uppercase country code",
                    truncate_chars(s, 80)
                ));
                None
            }
            other => self.wrong_type("nat", "a string", other),
        }
    }

    /// `dob.age`: optional; when present, a whole number of years (0 up to an Avro int).
    fn age(&mut self) -> Option<Option<i32>> {
        let Some(value) = self.optional("dob.age") else {
            return Some(None);
        };
        let age = match value {
            Value::Number(n) => n.as_u64().and_then(|n| i32::try_from(n).ok()),
            _ => None,
        };
        if age.is_none() {
            let problem = match value {
                Value::Number(n) if n.as_i64().is_some_and(|n| n < 0) => {
                    format!("{n} is negative")
                }
                Value::Number(n) if n.is_u64() => format!("{n} is too large for an int"),
                Value::Number(n) => format!("{n} is not a whole number"),
                other => describe_missing(Some(other), "a whole number"),
            };
            self.problems.push(format!("dob.age: {problem}"));
            return None;
        }
        Some(age)
    }

    /// `cell`: optional; when present, a phone number by the rules of `phone`.
    fn cell(&mut self) -> Option<Option<String>> {
        if self.optional("cell").is_none() {
            return Some(None);
        }
        let cell = self.text("cell")?;
        self.check("cell", cell, phone_problem)
            .then(|| Some(cell.to_owned()))
    }

    /// `login.uuid`: optional. Missing, null or blank is `None`; another type is a problem.
    fn external_id(&mut self) -> Option<Option<String>> {
        let uuid = self
            .root
            .get("login")
            .and_then(Value::as_object)
            .and_then(|login| login.get("uuid"));
        match uuid {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) if s.trim().is_empty() => Some(None),
            Some(Value::String(s)) => Some(Some(s.clone())),
            Some(other) => self.wrong_type("login.uuid", "a string", other),
        }
    }
}

/// Why `email` is not a plausible address: exactly one `@`, a non-empty local part, a dotted
/// domain of non-empty labels, no whitespace or control characters, none of `,;:<>()[]\"`.
pub fn email_problem(email: &str) -> Option<String> {
    if let Some(c) = email
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || ",;:<>()[]\\\"".contains(*c))
    {
        return Some(format!("contains {c:?}"));
    }
    let ats = email.matches('@').count();
    if ats != 1 {
        return Some(format!("has {ats} '@' (expected exactly one)"));
    }
    let (local, domain) = email.split_once('@')?;
    if local.is_empty() {
        return Some("has an empty local part".into());
    }
    if !domain.contains('.') {
        return Some("has no dot in the domain".into());
    }
    if domain.split('.').any(str::is_empty) {
        return Some("has an empty domain label".into());
    }
    None
}

/// Why `phone` is not a phone number: it must hold at least four digits and only digits,
/// spaces and `+-().`/` characters.
pub fn phone_problem(phone: &str) -> Option<String> {
    if let Some(c) = phone
        .chars()
        .find(|c| !(c.is_ascii_digit() || " +-()./".contains(*c)))
    {
        return Some(format!("contains {c:?}, not a phone character"));
    }
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    if digits < 4 {
        return Some(format!("has {digits} digits (at least 4 expected)"));
    }
    None
}

/// The JSON type of a value, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A short rendering of a (redacted) value, for messages.
fn preview(v: &Value) -> String {
    let text = redact(v).to_string();
    let short = truncate_chars(&text, 60);
    if short.len() < text.len() {
        format!("{short}…")
    } else {
        text
    }
}

/// The first `n` characters of `s`.
pub(crate) fn truncate_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
