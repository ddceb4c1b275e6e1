//! `deploy/kubernetes`, checked without a cluster (none runs on this machine):
//! - kubeconform validates every manifest in strict mode (unknown fields are errors) against
//!   Kubernetes' own schemas and KEDA's ScaledObject CRD, both made offline by
//!   `scripts/k8s-schemas`;
//! - every eosflow container uses only flags and `EOSFLOW_*` variables that the binary accepts;
//! - the ConfigMap's `eosflow.toml` loads with eosflow's own config loader, and it is the file the
//!   containers are told to read;
//! - the wiring: passwords from the Secret, probes on the metrics port, the processors' instance
//!   id from their pod name, requests and limits, pinned images, a single producer, the Service,
//!   the PodDisruptionBudget and KEDA aimed at the processors, no more processors than partitions.
//!
//! Each check is a function returning its problems; `each_check_catches_what_it_checks` breaks a
//! copy of the manifests once per check and asserts that the check reports it.
//! Needs kubeconform and the schemas: `scripts/test-env start` installs both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use eosflow::config::FileConfig;
use serde::Deserialize;
use serde_yaml::Value;

#[path = "common/cli_help.rs"]
mod cli_help;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kubernetes");

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run `scripts/test-env start && . <(scripts/test-env env)` (it \
             installs kubeconform and makes the Kubernetes and KEDA schemas under ~/.cache/eosflow)"
        )
    })
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Every YAML document under deploy/kubernetes.
#[derive(Clone)]
struct Manifests(Vec<Value>);

impl Manifests {
    fn load() -> Manifests {
        let mut docs = Vec::new();
        for path in yaml_files(Path::new(DIR)) {
            let text = std::fs::read_to_string(&path).expect("read manifest");
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let doc = Value::deserialize(doc);
                docs.push(doc.unwrap_or_else(|e| panic!("{}: {e}", path.display())));
            }
        }
        Manifests(docs)
    }

    fn of_kind(&self, kind: &'static str) -> impl Iterator<Item = &Value> {
        self.0.iter().filter(move |v| v["kind"] == kind)
    }

    fn find(&self, kind: &'static str, name: &str) -> Option<&Value> {
        self.of_kind(kind).find(|v| v["metadata"]["name"] == name)
    }

    /// The only object of `kind`.
    fn one(&self, kind: &'static str) -> &Value {
        let all: Vec<&Value> = self.of_kind(kind).collect();
        assert_eq!(all.len(), 1, "expected exactly one {kind}");
        all[0]
    }

    fn one_mut(&mut self, kind: &'static str) -> &mut Value {
        let mut all: Vec<&mut Value> = self.0.iter_mut().filter(|v| v["kind"] == kind).collect();
        assert_eq!(all.len(), 1, "expected exactly one {kind}");
        all.remove(0)
    }

    /// (who, pod spec, container) for every container of a Deployment or StatefulSet.
    fn containers(&self) -> Vec<(String, &Value, &Value)> {
        let workloads = self
            .of_kind("Deployment")
            .chain(self.of_kind("StatefulSet"));
        let mut out = Vec::new();
        for w in workloads {
            let pod = &w["spec"]["template"]["spec"];
            for c in items(&pod["containers"]) {
                let who = format!("{}/{}", text(&w["metadata"]["name"]), text(&c["name"]));
                out.push((who, pod, c));
            }
        }
        out
    }

    fn eosflow_containers(&self) -> Vec<(String, &Value, &Value)> {
        let mut all = self.containers();
        all.retain(|(_, _, c)| {
            let image = text(&c["image"]);
            let repository = image.rsplit('/').next().unwrap_or_default();
            repository.split([':', '@']).next() == Some("eosflow")
        });
        all
    }

    /// The ConfigMap's `eosflow.toml`, loaded with eosflow's own loader.
    fn config(&self) -> Result<FileConfig, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("eosflow.toml");
        std::fs::write(&path, text(&self.one("ConfigMap")["data"]["eosflow.toml"])).expect("write");
        FileConfig::load(Some(&path)).map_err(|e| e.to_string())
    }

    fn write_to(&self, dir: &Path) {
        for (i, v) in self.0.iter().enumerate() {
            let yaml = serde_yaml::to_string(v).expect("YAML");
            std::fs::write(dir.join(format!("{i}.yaml")), yaml).expect("write manifest");
        }
    }
}

fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_sequence().into_iter().flatten()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn words(c: &Value) -> Vec<String> {
    items(&c["args"]).map(text).collect()
}

/// The container's env entries by name.
fn env(c: &Value) -> BTreeMap<String, &Value> {
    items(&c["env"]).map(|e| (text(&e["name"]), e)).collect()
}

/// The value of `--flag VALUE` (or `--flag=VALUE`) in the args, else of the env variable.
fn setting(c: &Value, flag: &str, var: &str) -> Option<String> {
    let w = words(c);
    let from_args = w
        .iter()
        .enumerate()
        .find_map(|(i, word)| match word.strip_prefix(flag) {
            Some("") => w.get(i + 1).cloned(),
            Some(rest) => rest.strip_prefix('=').map(str::to_string),
            None => None,
        });
    from_args.or_else(|| env(c).get(var).map(|e| text(&e["value"])))
}

/// `selector` (a matchLabels mapping) selects pods labelled `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let pairs = selector.as_mapping().filter(|m| !m.is_empty());
    pairs.is_some_and(|m| m.iter().all(|(k, v)| &labels[k] == v))
}

fn pod_labels(workload: &Value) -> &Value {
    &workload["spec"]["template"]["metadata"]["labels"]
}

/// A Kubernetes quantity ("250m", "1", "128Mi") as a number.
fn quantity(v: &Value) -> Option<f64> {
    let q = text(v);
    let units = [
        ("Ki", 1024f64),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("m", 1e-3),
    ];
    let (number, factor) = units
        .iter()
        .find_map(|(suffix, f)| q.strip_suffix(suffix).map(|n| (n, *f)))
        .unwrap_or((q.as_str(), 1.0));
    let n = number.parse::<f64>().ok().filter(|n| *n > 0.0);
    n.map(|n| n * factor)
}

// ---- the checks: each returns what is wrong ---------------------------------------------------

fn flag_problems(m: &Manifests) -> Vec<String> {
    let mut problems = Vec::new();
    let containers = m.eosflow_containers();
    for (who, _, c) in &containers {
        if !(c["command"].is_null() || c["command"] == Value::from(vec!["eosflow"])) {
            problems.push(format!(
                "{who}: command must be the image's ENTRYPOINT, eosflow"
            ));
        }
        let vars = env(c).into_keys().map(|k| (k, String::new())).collect();
        problems.extend(cli_help::check_invocation(who, &words(c), &vars));
    }
    if containers.len() != 2 {
        problems.push(format!(
            "expected 2 eosflow containers, found {}",
            containers.len()
        ));
    }
    problems
}

fn config_problems(m: &Manifests) -> Vec<String> {
    let config = match m.config() {
        Ok(c) => c,
        Err(e) => return vec![format!("the ConfigMap's eosflow.toml: {e}")],
    };
    let mut problems = Vec::new();
    let (kafka, registry) = (&config.kafka, &config.registry);
    if kafka.sasl_password.is_some()
        || kafka.ssl_key_password.is_some()
        || registry.password.is_some()
    {
        problems.push("eosflow.toml holds a password: it belongs in the Secret".into());
    }
    match config
        .process
        .sink
        .as_deref()
        .unwrap_or("sqlite: (the default)")
    {
        sink if sink.starts_with("sqlite:") => problems.push(format!(
            "sink {sink}: every processor needs the same sink, and a SQLite file is one pod's"
        )),
        sink if url::Url::parse(sink).is_ok_and(|u| u.password().is_some()) => {
            problems.push("the sink URL holds a password: use EOSFLOW_SINK_PASSWORD".into())
        }
        _ => {}
    }
    // The file each container reads is the ConfigMap's key, mounted whole.
    let config_map = text(&m.one("ConfigMap")["metadata"]["name"]);
    for (who, pod, c) in m.eosflow_containers() {
        let path = setting(c, "--config", "EOSFLOW_CONFIG").unwrap_or_default();
        let mounted = items(&c["volumeMounts"]).any(|mount| {
            let volume = items(&pod["volumes"]).find(|v| v["name"] == mount["name"]);
            volume.is_some_and(|v| v["configMap"]["name"] == config_map.as_str())
                && mount["subPath"].is_null()
                && path == format!("{}/eosflow.toml", text(&mount["mountPath"]))
        });
        if !mounted {
            problems.push(format!(
                "{who}: the config file {path:?} is not the ConfigMap's eosflow.toml mounted"
            ));
        }
    }
    problems
}

fn secret_problems(m: &Manifests) -> Vec<String> {
    let mut problems = Vec::new();
    for (who, _, c) in m.containers() {
        for (name, e) in env(c) {
            let secret = &e["valueFrom"]["secretKeyRef"];
            if secret.is_null() {
                if name.ends_with("_PASSWORD") {
                    problems.push(format!("{who}: {name} must come from a secretKeyRef"));
                }
                continue;
            }
            let (secret_name, key) = (text(&secret["name"]), text(&secret["key"]));
            let held = m.find("Secret", &secret_name).is_some_and(|s| {
                !s["stringData"][key.as_str()].is_null() || !s["data"][key.as_str()].is_null()
            });
            if !held && secret["optional"] != true {
                problems.push(format!(
                    "{who}: {name} is secret {secret_name} key {key}, which the Secret lacks"
                ));
            }
        }
    }
    problems
}

fn probe_problems(m: &Manifests) -> Vec<String> {
    let mut problems = Vec::new();
    for (who, _, c) in m.eosflow_containers() {
        let listen = setting(c, "--metrics-listen", "EOSFLOW_METRICS_LISTEN").unwrap_or_default();
        let Some(("0.0.0.0" | "[::]", port)) = listen.rsplit_once(':') else {
            problems.push(format!(
                "{who}: --metrics-listen {listen:?} must be 0.0.0.0:PORT (the kubelet probes the pod's IP)"
            ));
            continue;
        };
        for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
            let get = &c[probe]["httpGet"];
            if get["path"] != path {
                problems.push(format!(
                    "{who}: {probe} must GET {path}, not {:?}",
                    text(&get["path"])
                ));
            }
            let probed = match &get["port"] {
                Value::String(name) => items(&c["ports"])
                    .find(|p| p["name"] == name.as_str())
                    .map(|p| text(&p["containerPort"])),
                number => Some(text(number)),
            };
            if probed.as_deref() != Some(port) {
                problems.push(format!(
                    "{who}: {probe} probes port {probed:?}, but eosflow listens on {port}"
                ));
            }
        }
    }
    problems
}

fn instance_id_problems(m: &Manifests) -> Vec<String> {
    let mut problems = Vec::new();
    for c in items(&m.one("StatefulSet")["spec"]["template"]["spec"]["containers"]) {
        if words(c).iter().any(|w| w.starts_with("--instance-id")) {
            problems.push("processor: --instance-id would give every pod the same id".into());
        }
        let source = env(c)
            .get("EOSFLOW_INSTANCE_ID")
            .map(|e| &e["valueFrom"]["fieldRef"]["fieldPath"]);
        if source.is_none_or(|p| p != "metadata.name") {
            problems.push(
                "processor: EOSFLOW_INSTANCE_ID must come from fieldRef metadata.name".into(),
            );
        }
    }
    problems
}

fn selector_problems(m: &Manifests) -> Vec<String> {
    let mut problems = Vec::new();
    let sts = m.one("StatefulSet");
    let (processors, producer) = (pod_labels(sts), pod_labels(m.one("Deployment")));
    match m.find("Service", &text(&sts["spec"]["serviceName"])) {
        Some(s) if s["spec"]["clusterIP"] == "None" => {
            if !selects(&s["spec"]["selector"], processors) {
                problems.push("the headless Service does not select the processors".into());
            }
        }
        _ => problems.push("the StatefulSet's serviceName is not a headless Service".into()),
    }
    if !selects(&sts["spec"]["selector"]["matchLabels"], processors) {
        problems.push("the StatefulSet's selector does not match its pods".into());
    }
    let pdb = &m.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"];
    if !selects(pdb, processors) || selects(pdb, producer) {
        problems.push("the PodDisruptionBudget must select the processors, and only them".into());
    }
    problems
}

fn resource_problems(m: &Manifests) -> Vec<String> {
    let mut problems = Vec::new();
    for (who, _, c) in m.containers() {
        for resource in ["cpu", "memory"] {
            let request = quantity(&c["resources"]["requests"][resource]);
            let limit = quantity(&c["resources"]["limits"][resource]);
            match (request, limit) {
                (Some(r), Some(l)) if r <= l => {}
                (Some(_), Some(_)) => {
                    problems.push(format!("{who}: {resource} request above its limit"))
                }
                _ => problems.push(format!("{who}: no {resource} request and limit")),
            }
        }
    }
    problems
}

fn image_problems(m: &Manifests) -> Vec<String> {
    let mut problems = Vec::new();
    let eosflow: Vec<String> = m
        .eosflow_containers()
        .into_iter()
        .map(|(who, _, _)| who)
        .collect();
    for (who, _, c) in m.containers() {
        let image = text(&c["image"]);
        let tag = image
            .rsplit('/')
            .next()
            .and_then(|r| r.split_once(':'))
            .map(|(_, t)| t);
        let versioned =
            |t: &str| t != "latest" && t.contains('.') && t.contains(|c: char| c.is_ascii_digit());
        if !(image.contains("@sha256:") || tag.is_some_and(versioned)) {
            problems.push(format!("{who}: image {image:?} is not pinned to a version"));
        } else if eosflow.contains(&who) && tag != Some(env!("CARGO_PKG_VERSION")) {
            problems.push(format!(
                "{who}: image {image} is not this release, {}",
                env!("CARGO_PKG_VERSION")
            ));
        }
    }
    problems
}

fn producer_problems(m: &Manifests) -> Vec<String> {
    let spec = &m.one("Deployment")["spec"];
    let mut problems = Vec::new();
    if spec["replicas"] != 1 {
        problems.push("the producer must have replicas: 1 (one transactional.id)".into());
    }
    if spec["strategy"]["type"] != "Recreate" {
        problems.push("the producer's strategy must be Recreate, so two never run at once".into());
    }
    problems
}

fn scaling_problems(m: &Manifests) -> Vec<String> {
    let config = m.config().expect("config_problems checks that it loads");
    let Some(partitions) = config.produce.partitions.map(i64::from) else {
        return vec!["eosflow.toml names no [produce] partitions: scaling needs the count".into()];
    };
    let mut problems = Vec::new();
    let sts = m.one("StatefulSet");
    if sts["spec"]["replicas"]
        .as_i64()
        .is_some_and(|r| r > partitions)
    {
        problems.push(format!("more processors than the {partitions} partitions"));
    }
    let spec = &m.one("ScaledObject")["spec"];
    let target = &spec["scaleTargetRef"];
    if target["kind"] != "StatefulSet" || target["name"] != sts["metadata"]["name"] {
        problems.push("the ScaledObject does not scale the processors' StatefulSet".into());
    }
    let (min, max) = (
        spec["minReplicaCount"].as_i64(),
        spec["maxReplicaCount"].as_i64(),
    );
    if !matches!((min, max), (Some(lo), Some(hi)) if 1 <= lo && lo <= hi && hi <= partitions) {
        problems.push(format!("the ScaledObject's replicas {min:?}..{max:?} are not within 1..{partitions} partitions"));
    }
    for trigger in items(&spec["triggers"]) {
        let meta = &trigger["metadata"];
        let same = [
            ("bootstrapServers", &config.kafka.bootstrap),
            ("consumerGroup", &config.process.group),
            ("topic", &config.kafka.topic),
        ];
        for (key, value) in same {
            if trigger["type"] != "kafka" || value.as_deref().is_none_or(|v| meta[key] != v) {
                problems.push(format!(
                    "the kafka trigger's {key} {:?} is not eosflow.toml's",
                    text(&meta[key])
                ));
            }
        }
        if meta["allowIdleConsumers"] == "true" {
            problems.push("allowIdleConsumers would scale beyond the partitions".into());
        }
    }
    problems
}

type Check = fn(&Manifests) -> Vec<String>;

fn assert_clean(check: Check) {
    let problems = check(&Manifests::load());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn eosflow_containers_use_only_flags_and_variables_the_binary_accepts() {
    assert_clean(flag_problems);
}

#[test]
fn the_config_file_loads_and_is_the_one_the_containers_read() {
    assert_clean(config_problems);
}

#[test]
fn passwords_come_from_the_secret() {
    assert_clean(secret_problems);
}

#[test]
fn probes_get_healthz_and_readyz_on_the_metrics_port() {
    assert_clean(probe_problems);
}

#[test]
fn each_processor_is_a_static_member_named_after_its_pod() {
    assert_clean(instance_id_problems);
}

#[test]
fn service_and_disruption_budget_select_the_processors() {
    assert_clean(selector_problems);
}

#[test]
fn every_container_has_requests_and_limits() {
    assert_clean(resource_problems);
}

#[test]
fn images_are_pinned() {
    assert_clean(image_problems);
}

#[test]
fn the_producer_is_a_single_instance() {
    assert_clean(producer_problems);
}

#[test]
fn keda_scales_the_processors_up_to_the_partition_count() {
    assert_clean(scaling_problems);
}

/// kubeconform's JSON report of `dir`: (exit status success, summary, invalid resources).
fn kubeconform(dir: &Path) -> (bool, serde_json::Value) {
    let bin = required_env("EOSFLOW_TEST_KUBECONFORM");
    let schemas = required_env("EOSFLOW_TEST_K8S_SCHEMAS");
    let out = Command::new(&bin)
        .args(["-strict", "-summary", "-output", "json", "-schema-location"])
        .arg(format!(
            "{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json"
        ))
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin} ({e}): run `scripts/test-env start` again"));
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "kubeconform printed no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

#[test]
fn kubeconform_validates_every_manifest_strictly() {
    let documents = Manifests::load().0.len();
    let (ok, report) = kubeconform(Path::new(DIR));
    assert!(ok, "kubeconform -strict found problems:\n{report:#}");
    assert_eq!(
        report["summary"],
        serde_json::json!({"valid": documents, "invalid": 0, "errors": 0, "skipped": 0}),
        "every document must be validated against a schema:\n{report:#}"
    );
}

/// A change to a copy of the manifests: `Yaml(kind, path, value)` sets the field at `path` of the
/// only object of `kind` to the YAML `value` (in the path, `pod` is the pod template's spec and
/// `[NAME]` the list element of that name); `Toml(from, to)` edits the ConfigMap's eosflow.toml.
enum Break {
    Yaml(&'static str, &'static str, &'static str),
    Toml(&'static str, &'static str),
}
use Break::{Toml, Yaml};

impl Break {
    fn apply(&self, m: &mut Manifests) {
        match self {
            Yaml(kind, path, value) => {
                let mut node = m.one_mut(kind);
                for segment in path.split('/') {
                    let named = segment.strip_prefix('[').and_then(|s| s.strip_suffix(']'));
                    node = match (segment, named, segment.parse::<usize>()) {
                        ("pod", _, _) => &mut node["spec"]["template"]["spec"],
                        (_, Some(name), _) => {
                            let list = node.as_sequence_mut().expect("a list");
                            list.iter_mut()
                                .find(|e| e["name"] == name)
                                .expect("the element")
                        }
                        (_, _, Ok(i)) => &mut node[i],
                        _ => &mut node[segment],
                    };
                }
                *node = serde_yaml::from_str(value).expect("a YAML value");
            }
            Toml(from, to) => {
                let data = &mut m.one_mut("ConfigMap")["data"]["eosflow.toml"];
                let toml = text(data);
                assert!(toml.contains(from), "no {from:?} in eosflow.toml");
                *data = Value::from(toml.replace(from, to));
            }
        }
    }
}

#[test]
fn kubeconform_rejects_unknown_fields_and_wrong_types() {
    let mut m = Manifests::load();
    Yaml("StatefulSet", "pod/containers/0/envFrom_", "typo").apply(&mut m);
    Yaml("Deployment", "spec/replicas", "one").apply(&mut m);
    Yaml("ScaledObject", "spec/maxReplicas", "6").apply(&mut m);
    Yaml("PodDisruptionBudget", "metadata/label", "typo").apply(&mut m);
    let dir = tempfile::tempdir().expect("temp dir");
    m.write_to(dir.path());
    let (ok, report) = kubeconform(dir.path());
    assert!(!ok, "kubeconform accepted broken manifests:\n{report:#}");
    let messages = report.to_string();
    for wanted in [
        "additional properties 'envFrom_' not allowed",
        "got string, want integer",
        "additional properties 'maxReplicas' not allowed",
        "additional properties 'label' not allowed",
    ] {
        assert!(messages.contains(wanted), "no {wanted:?} in:\n{report:#}");
    }
    assert_eq!(report["summary"]["invalid"], 4, "{report:#}");
}

#[test]
fn each_check_catches_what_it_checks() {
    let processor = |path: &'static str, value| Yaml("StatefulSet", path, value);
    #[rustfmt::skip]
    let cases: Vec<(&str, Break, Check, &str)> = vec![
        ("unknown flag", processor("pod/containers/0/args/1", "--metrics-listn"), flag_problems, "has no flag --metrics-listn"),
        ("unknown variable", processor("pod/containers/0/env/[EOSFLOW_INSTANCE_ID]/name", "EOSFLOW_INSTANCE"), flag_problems, "reads no variable EOSFLOW_INSTANCE"),
        ("process's variable on produce", processor("pod/containers/0/args/0", "produce"), flag_problems, "reads no variable EOSFLOW_SINK_PASSWORD"),
        ("unknown config key", Toml("batch_max", "batch_size"), config_problems, "unknown field `batch_size`"),
        ("invalid config value", Toml("timeout = \"30s\"", "timeout = \"30 sec\""), config_problems, "[kafka] timeout: unknown unit"),
        ("SQLite sink", Toml("postgres://eosflow@postgres:5432/eosflow", "sqlite://eosflow.db"), config_problems, "a SQLite file is one pod's"),
        ("password in the sink URL", Toml("eosflow@postgres", "eosflow:pw@postgres"), config_problems, "use EOSFLOW_SINK_PASSWORD"),
        ("config file not mounted", processor("pod/containers/0/env/[EOSFLOW_CONFIG]/value", "/etc/eosflow.toml"), config_problems, "is not the ConfigMap's eosflow.toml mounted"),
        ("password as a value", processor("pod/containers/0/env/[EOSFLOW_SINK_PASSWORD]/valueFrom", "null"), secret_problems, "EOSFLOW_SINK_PASSWORD must come from a secretKeyRef"),
        ("missing secret key", processor("pod/containers/0/env/[EOSFLOW_SINK_PASSWORD]/valueFrom/secretKeyRef/key", "sink-pasword"), secret_problems, "key sink-pasword"),
        ("liveness path", processor("pod/containers/0/livenessProbe/httpGet/path", "/metrics"), probe_problems, "livenessProbe must GET /healthz"),
        ("readiness path", processor("pod/containers/0/readinessProbe/httpGet/path", "/healthz"), probe_problems, "readinessProbe must GET /readyz"),
        ("probed port", processor("pod/containers/0/ports/[metrics]/containerPort", "9465"), probe_problems, "but eosflow listens on 9464"),
        ("metrics on loopback", processor("pod/containers/0/args/2", "127.0.0.1:9464"), probe_problems, "must be 0.0.0.0:PORT"),
        ("instance id not the pod name", processor("pod/containers/0/env/[EOSFLOW_INSTANCE_ID]/valueFrom/fieldRef/fieldPath", "metadata.uid"), instance_id_problems, "fieldRef metadata.name"),
        ("one id for every pod", processor("pod/containers/0/args", "[process, --metrics-listen, 0.0.0.0:9464, --instance-id=p]"), instance_id_problems, "the same id"),
        ("PDB on every pod", Yaml("PodDisruptionBudget", "spec/selector/matchLabels", "{app.kubernetes.io/name: eosflow}"), selector_problems, "and only them"),
        ("Service not headless", Yaml("Service", "spec/clusterIP", "null"), selector_problems, "not a headless Service"),
        ("no memory request", processor("pod/containers/0/resources/requests/memory", "null"), resource_problems, "no memory request and limit"),
        ("request above limit", processor("pod/containers/0/resources/requests/cpu", "2"), resource_problems, "cpu request above its limit"),
        ("latest image", processor("pod/containers/0/image", "eosflow:latest"), image_problems, "is not pinned"),
        ("another release", processor("pod/containers/0/image", "eosflow:0.0.9"), image_problems, "is not this release"),
        ("two producers", Yaml("Deployment", "spec/replicas", "2"), producer_problems, "replicas: 1"),
        ("rolling producer", Yaml("Deployment", "spec/strategy/type", "RollingUpdate"), producer_problems, "Recreate"),
        ("more processors than partitions", Yaml("ScaledObject", "spec/maxReplicaCount", "7"), scaling_problems, "not within 1..6 partitions"),
        ("StatefulSet above the partitions", Yaml("StatefulSet", "spec/replicas", "8"), scaling_problems, "more processors than the 6 partitions"),
        ("KEDA watches another group", Yaml("ScaledObject", "spec/triggers/0/metadata/consumerGroup", "other"), scaling_problems, "consumerGroup \"other\""),
        ("KEDA allows idle processors", Yaml("ScaledObject", "spec/triggers/0/metadata/allowIdleConsumers", "'true'"), scaling_problems, "beyond the partitions"),
        ("KEDA scales the producer", Yaml("ScaledObject", "spec/scaleTargetRef/name", "eosflow-producer"), scaling_problems, "does not scale the processors"),
    ];
    let clean = Manifests::load();
    let mut failures = Vec::new();
    for (what, change, check, wanted) in &cases {
        assert!(
            check(&clean).is_empty(),
            "{what}: the check fails on the real manifests"
        );
        let mut broken = clean.clone();
        change.apply(&mut broken);
        let problems = check(&broken);
        if !problems.iter().any(|p| p.contains(wanted)) {
            failures.push(format!(
                "{what}: expected a problem with {wanted:?}, got {problems:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
