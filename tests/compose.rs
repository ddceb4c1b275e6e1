//! The container files, checked without a Docker engine (none runs on this machine):
//! - `docker-compose.yml` is valid for docker-compose, with every profile;
//! - every eosflow container (and the Airflow DAG's task) uses only flags and `EOSFLOW_*`
//!   variables that the binary accepts, as its `--help` lists them;
//! - the stack's wiring: topics created as eosflow expects them, health-gated dependencies,
//!   pinned images, a valid KRaft cluster id;
//! - the Dockerfile copies only what exists and what `.dockerignore` lets in, including every file
//!   the crate includes at compile time;
//! - Airflow's own `DagBag` loads `examples/airflow` without import errors.
//!
//! Needs `docker-compose` and the Airflow virtualenv: `scripts/test-env start` installs both.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use serde_yaml::Value;

#[path = "common/cli_help.rs"]
mod cli_help;
use cli_help::{assert_success, check_invocation};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel))
        .unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

fn docker_compose(args: &[&str]) -> Output {
    Command::new("docker-compose")
        .current_dir(ROOT)
        .args(["--file", "docker-compose.yml"])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run docker-compose ({e}): install it with `apt-get install -y --no-install-recommends docker-compose` \
                 (Debian's docker-compose 1.29; `scripts/test-env start` installs it)"
            )
        })
}

/// docker-compose.yml as docker-compose resolves it (anchors merged, every profile's services).
fn compose_config() -> Value {
    let out = docker_compose(&["--profile", "postgres", "--profile", "airflow", "config"]);
    assert_success("docker-compose config", &out);
    serde_yaml::from_slice(&out.stdout).expect("docker-compose config prints YAML")
}

fn services(config: &Value) -> Vec<(String, &Value)> {
    config["services"]
        .as_mapping()
        .expect("services")
        .iter()
        .map(|(k, v)| (k.as_str().expect("service name").to_string(), v))
        .collect()
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

/// A service's environment, whether written as a mapping or as a list of `K=V`.
fn environment(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Mapping(m) => m.iter().map(|(k, v)| (scalar(k), scalar(v))).collect(),
        Value::Sequence(items) => items
            .iter()
            .map(|i| {
                let s = scalar(i);
                let (k, v) = s.split_once('=').unwrap_or((&s, ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        Value::Null => BTreeMap::new(),
        other => panic!("environment: unexpected {other:?}"),
    }
}

/// A service's command as words.
fn command(service: &Value) -> Vec<String> {
    match &service["command"] {
        Value::Sequence(items) => items.iter().map(scalar).collect(),
        Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
        Value::Null => Vec::new(),
        other => panic!("command: unexpected {other:?}"),
    }
}

/// The command the Airflow DAG's task runs: the string literal that starts with `eosflow `.
fn dag_command() -> Vec<String> {
    let dag = read("examples/airflow/eosflow_users.py");
    let start = dag
        .find("\"eosflow ")
        .expect("the DAG has a string literal \"eosflow ...\"")
        + 1;
    let len = dag[start..].find('"').expect("closing quote");
    dag[start..start + len]
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn compose_file_is_valid_with_and_without_profiles() {
    assert_success(
        "docker-compose config -q",
        &docker_compose(&["config", "-q"]),
    );
    assert_success(
        "docker-compose --profile postgres --profile airflow config -q",
        &docker_compose(&[
            "--profile",
            "postgres",
            "--profile",
            "airflow",
            "config",
            "-q",
        ]),
    );
    let out = docker_compose(&[
        "--profile",
        "postgres",
        "--profile",
        "airflow",
        "config",
        "--services",
    ]);
    assert_success("docker-compose config --services", &out);
    let listed: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    for wanted in [
        "broker",
        "topics",
        "schema-registry",
        "control-center",
        "cassandra",
        "eosflow-producer",
        "eosflow-processor",
        "postgres",
        "eosflow-processor-postgres",
        "airflow",
    ] {
        assert!(listed.contains(wanted), "no service {wanted}: {listed:?}");
    }
}

#[test]
fn eosflow_containers_use_only_flags_and_variables_the_binary_accepts() {
    let config = compose_config();
    let mut checked = Vec::new();
    let mut problems = Vec::new();
    for (name, service) in services(&config) {
        if service["build"].is_null() {
            continue;
        }
        let env = environment(service);
        let words = match service["build"]["target"].as_str() {
            Some("runtime") => command(service),
            // The Airflow image runs the DAG's task, with the container's environment.
            Some("airflow") => dag_command()[1..].to_vec(),
            other => panic!("{name}: unexpected build target {other:?}"),
        };
        problems.extend(check_invocation(&name, &words, &env));
        checked.push(name);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        checked,
        [
            "airflow",
            "eosflow-processor",
            "eosflow-processor-postgres",
            "eosflow-producer"
        ],
        "the eosflow containers checked"
    );
}

#[test]
fn the_checker_catches_an_unknown_flag_or_variable() {
    let env = BTreeMap::from([
        ("EOSFLOW_SINK".to_string(), "x".to_string()),
        ("EOSFLOW_SINKK".to_string(), "x".to_string()),
    ]);
    let words: Vec<String> = [
        "process",
        "--sink",
        "x",
        "--instance-id=a",
        "--instance",
        "--bogus",
    ]
    .map(str::to_string)
    .to_vec();
    assert_eq!(
        check_invocation("t", &words, &env),
        [
            "t: `eosflow process` has no flag --instance",
            "t: `eosflow process` has no flag --bogus",
            "t: `eosflow process` reads no variable EOSFLOW_SINKK",
        ]
    );
}

#[test]
fn topics_service_creates_every_topic_eosflow_uses() {
    let config = compose_config();
    let script = command(&config["services"]["topics"]).join("\n");
    let created: BTreeMap<String, String> = script
        .lines()
        .filter(|l| l.trim_start().starts_with("create --topic "))
        .map(|l| {
            let topic = l.split_whitespace().nth(2).expect("topic name");
            (topic.to_string(), l.to_string())
        })
        .collect();
    let producer = environment(&config["services"]["eosflow-producer"]);
    let topic = &producer["EOSFLOW_TOPIC"];
    for suffix in ["", ".rejects", ".dlq", ".progress"] {
        let t = format!("{topic}{suffix}");
        assert!(
            created.contains_key(&t),
            "topics does not create {t}: {script}"
        );
    }
    let partitions = |line: &str| -> String {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "--partitions");
        at.and_then(|i| words.get(i + 1))
            .unwrap_or_else(|| panic!("no --partitions in {line}"))
            .to_string()
    };
    let progress = &created[&format!("{topic}.progress")];
    assert!(
        partitions(progress) == "1" && progress.contains("--config cleanup.policy=compact"),
        "the progress topic must be compacted with one partition: {progress}"
    );
    assert_eq!(
        partitions(&created[topic]),
        producer["EOSFLOW_PARTITIONS"],
        "the topic's partitions and the producer's EOSFLOW_PARTITIONS differ"
    );
}

#[test]
fn dependencies_wait_for_health_and_for_the_topics() {
    let config = compose_config();
    let mut problems = Vec::new();
    for (name, service) in services(&config) {
        if let Some(deps) = service["depends_on"].as_mapping() {
            for (dep, how) in deps {
                let dep = dep.as_str().expect("name");
                let condition = how["condition"].as_str().unwrap_or("service_started");
                if condition == "service_healthy"
                    && config["services"][dep]["healthcheck"]["test"].is_null()
                {
                    problems.push(format!(
                        "{name} waits for {dep} to be healthy, but {dep} has no healthcheck"
                    ));
                }
            }
        }
        if !service["build"].is_null() {
            for (dep, condition) in [
                ("topics", "service_completed_successfully"),
                ("schema-registry", "service_healthy"),
            ] {
                if service["depends_on"][dep]["condition"].as_str() != Some(condition) {
                    problems.push(format!("{name} must depend on {dep} with {condition}"));
                }
            }
        }
    }
    for needs_health in [
        "broker",
        "schema-registry",
        "cassandra",
        "postgres",
        "airflow",
    ] {
        if config["services"][needs_health]["healthcheck"]["test"].is_null() {
            problems.push(format!("{needs_health} has no healthcheck"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn images_are_pinned_and_agree_with_the_dockerfile_and_the_test_env() {
    let config = compose_config();
    let mut confluent = BTreeSet::new();
    for (name, service) in services(&config) {
        let image = service["image"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no image"));
        if !service["build"].is_null() {
            assert!(
                image.ends_with(":local"),
                "{name}: built image {image} should be tagged :local"
            );
            continue;
        }
        let (repo, tag) = image
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{name}: image {image} is not pinned to a tag"));
        assert!(
            tag != "latest" && tag.chars().any(|c| c.is_ascii_digit()) && tag.contains('.'),
            "{name}: image {image} is not pinned to a version"
        );
        if repo.starts_with("confluentinc/") {
            confluent.insert(tag.to_string());
        }
    }
    assert_eq!(
        confluent.len(),
        1,
        "Confluent images of different versions: {confluent:?}"
    );

    let dockerfile = read("Dockerfile");
    let arg = |name: &str| -> String {
        dockerfile
            .lines()
            .find_map(|l| l.strip_prefix(&format!("ARG {name}=")))
            .unwrap_or_else(|| panic!("Dockerfile has no ARG {name}="))
            .to_string()
    };
    let cargo = read("Cargo.toml");
    let rust_version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("Cargo.toml rust-version");
    assert!(
        arg("RUST_IMAGE").starts_with(&format!("rust:{rust_version}-")),
        "the build image {} is not the crate's rust-version {rust_version}",
        arg("RUST_IMAGE")
    );
    let airflow = arg("AIRFLOW_IMAGE");
    let version = airflow
        .strip_prefix("apache/airflow:")
        .expect("AIRFLOW_IMAGE is apache/airflow:VERSION");
    assert!(
        read("scripts/test-env").contains(&format!("\nAIRFLOW_VERSION={version}\n")),
        "scripts/test-env checks the DAG with another Airflow than the image's {version}"
    );
    assert!(
        read("tests/python/airflow-constraints.txt")
            .contains(&format!("\napache-airflow=={version}\n")),
        "tests/python/airflow-constraints.txt does not pin apache-airflow=={version}"
    );
}

#[test]
fn kraft_cluster_id_is_a_base64url_uuid() {
    let config = compose_config();
    let id = environment(&config["services"]["broker"])["CLUSTER_ID"].clone();
    // Kafka decodes it as URL-safe base64 of 16 bytes, unpadded: 22 characters.
    assert!(
        id.len() == 22
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "CLUSTER_ID {id:?} is not a base64url UUID (22 characters); make one with `kafka-storage random-uuid`"
    );
}

/// `.dockerignore` decides whether `path` (relative, `/`-separated) is sent to the build:
/// patterns in order, the last match wins, `!` re-includes, a pattern matching a parent
/// directory matches what is inside it.
fn dockerignore_lets_in(dockerignore: &str, path: &str) -> bool {
    fn glob(pattern: &str, text: &str) -> bool {
        match pattern.split_once('*') {
            None => pattern == text,
            Some((head, tail)) => {
                text.starts_with(head)
                    && (head.len()..=text.len())
                        .any(|i| !text[head.len()..i].contains('/') && glob(tail, &text[i..]))
            }
        }
    }
    let mut included = true;
    for line in dockerignore.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (negated, pattern) = match line.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, line),
        };
        let pattern = pattern.trim_start_matches('/').trim_end_matches('/');
        let mut prefix = String::new();
        let matched = path.split('/').any(|part| {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            glob(pattern, &prefix)
        });
        if matched {
            included = negated;
        }
    }
    included
}

#[test]
fn dockerignore_evaluation() {
    let allow = "*\n!Cargo.toml\n!src/\n";
    assert!(dockerignore_lets_in(allow, "src"));
    assert!(dockerignore_lets_in(allow, "src/main.rs"));
    assert!(dockerignore_lets_in(allow, "Cargo.toml"));
    assert!(!dockerignore_lets_in(allow, "target"));
    assert!(!dockerignore_lets_in(allow, "avro"));
    let deny = "target/\n*.db\n";
    assert!(!dockerignore_lets_in(deny, "target/release/eosflow"));
    assert!(!dockerignore_lets_in(deny, "eosflow.db"));
    assert!(dockerignore_lets_in(deny, "src/lib.rs"));
}

#[test]
fn dockerfile_copies_what_exists_and_what_the_build_needs() {
    let dockerfile = read("Dockerfile");
    let dockerignore = read(".dockerignore");
    let mut stages: Vec<String> = Vec::new();
    let mut copied: BTreeMap<String, Vec<String>> = BTreeMap::new(); // stage -> sources
    let mut problems = Vec::new();
    for line in dockerfile.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first().copied() {
            Some("FROM") => {
                let name = match words.as_slice() {
                    [_, _, as_, name] if as_.eq_ignore_ascii_case("as") => name.to_string(),
                    _ => format!("stage{}", stages.len()),
                };
                stages.push(name);
            }
            Some("COPY") => {
                let stage = stages.last().expect("COPY after FROM").clone();
                let args: Vec<&str> = words[1..].to_vec();
                if let Some(from) = args.iter().find_map(|a| a.strip_prefix("--from=")) {
                    if !stages[..stages.len() - 1].iter().any(|s| s == from) {
                        problems.push(format!("COPY --from={from}: no earlier stage {from}"));
                    }
                    continue;
                }
                let paths: Vec<&str> = args.into_iter().filter(|a| !a.starts_with("--")).collect();
                let (_dest, sources) = paths.split_last().expect("COPY SRC... DEST");
                for src in sources {
                    let src = src.trim_start_matches("./").trim_end_matches('/');
                    if !Path::new(ROOT).join(src).exists() {
                        problems.push(format!("COPY {src}: no such file in the repository"));
                    } else if !dockerignore_lets_in(&dockerignore, src) {
                        problems.push(format!(
                            "COPY {src}: .dockerignore keeps it out of the build context"
                        ));
                    }
                    copied
                        .entry(stage.clone())
                        .or_default()
                        .push(src.to_string());
                }
            }
            _ => {}
        }
    }
    assert_eq!(stages, ["build", "airflow", "runtime"], "Dockerfile stages");
    let built = copied.get("build").cloned().unwrap_or_default();
    for needed in ["Cargo.toml", "Cargo.lock", "src"] {
        if !built.iter().any(|c| c == needed) {
            problems.push(format!("the build stage does not copy {needed}"));
        }
    }
    if Path::new(ROOT).join("build.rs").exists() && !built.iter().any(|c| c == "build.rs") {
        problems.push("build.rs exists but the build stage does not copy it".into());
    }
    // Every path the manifest names (targets, path dependencies) must be in the build stage.
    for line in read("Cargo.toml").lines() {
        let Some(at) = line.find("path = \"") else {
            continue;
        };
        let rest = &line[at + "path = \"".len()..];
        let path = rest
            .split('"')
            .next()
            .unwrap_or_default()
            .trim_start_matches("./");
        let top = path.split('/').next().unwrap_or_default();
        if !built.iter().any(|c| c == path || c == top) {
            problems.push(format!(
                "Cargo.toml names {path}, which the build stage does not copy"
            ));
        }
    }
    // Every file the crate includes at compile time must be in the build stage.
    for (file, included) in compile_time_includes(&Path::new(ROOT).join("src")) {
        let top = included.split('/').next().unwrap_or_default();
        if !built.iter().any(|c| c == &included || c == top) {
            problems.push(format!(
                "{file} includes {included}, which the build stage does not copy"
            ));
        }
    }
    let tail: Vec<&str> = dockerfile
        .lines()
        .skip_while(|l| !l.starts_with("FROM ${RUNTIME_IMAGE} AS runtime"))
        .collect();
    for wanted in ["USER 10001:10001", "ENTRYPOINT [\"eosflow\"]"] {
        if !tail.contains(&wanted) {
            problems.push(format!("the runtime stage lacks `{wanted}`"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// (file, included path relative to the repository) for every `include_str!`/`include_bytes!`
/// with a literal path under `dir`.
fn compile_time_includes(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            for macro_ in ["include_str!(\"", "include_bytes!(\""] {
                for (i, _) in text.match_indices(macro_) {
                    let rest = &text[i + macro_.len()..];
                    let rel = &rest[..rest.find('"').expect("closing quote")];
                    let target = path.parent().expect("parent").join(rel);
                    let target = normalize(&target);
                    let repo_rel = target
                        .strip_prefix(ROOT)
                        .unwrap_or_else(|_| {
                            panic!("{} includes {rel} outside the repository", path.display())
                        })
                        .to_string_lossy()
                        .replace('\\', "/");
                    let file = path
                        .strip_prefix(ROOT)
                        .unwrap_or(&path)
                        .display()
                        .to_string();
                    found.push((file, repo_rel));
                }
            }
        }
    }
    found
}

/// `a/b/../c` -> `a/c`, without touching the file system.
fn normalize(path: &Path) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn airflow_loads_the_dag_without_import_errors() {
    let python = std::env::var("EOSFLOW_TEST_AIRFLOW_PYTHON").unwrap_or_else(|_| {
        panic!(
            "EOSFLOW_TEST_AIRFLOW_PYTHON is not set: run `scripts/test-env start && . <(scripts/test-env env)` \
             (it installs apache-airflow into a virtualenv under ~/.cache/eosflow)"
        )
    });
    let home = tempfile::tempdir().expect("AIRFLOW_HOME");
    let dags = Path::new(ROOT).join("examples/airflow");
    let out = Command::new(&python)
        .arg(Path::new(ROOT).join("tests/python/check_airflow_dag.py"))
        .arg(&dags)
        .env("AIRFLOW_HOME", home.path())
        .env("AIRFLOW__CORE__DAGS_FOLDER", &dags)
        .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {python} ({e}): run `scripts/test-env start` again")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the DAG check failed:\n{stdout}\n{stderr}"
    );
    // Airflow logs to stdout too: the summary is the last line.
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("no JSON summary ({e}):\n{stdout}\n{stderr}"));
    let image_version = read("Dockerfile")
        .lines()
        .find_map(|l| l.strip_prefix("ARG AIRFLOW_IMAGE=apache/airflow:"))
        .expect("ARG AIRFLOW_IMAGE")
        .to_string();
    assert_eq!(
        summary["airflow"],
        serde_json::json!(image_version),
        "{summary}"
    );
    assert_eq!(
        summary["dag_ids"],
        serde_json::json!(["eosflow_users"]),
        "{summary}"
    );
    assert_eq!(summary["problems"], serde_json::json!([]), "{summary}");
    assert_eq!(
        summary["bash_command"],
        serde_json::json!(dag_command().join(" ")),
        "the command Airflow runs is the one checked against `eosflow produce --help`"
    );
}
