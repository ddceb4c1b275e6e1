//! The run loop of the kill and crash tests (`tests/kill_exactly_once.rs` on one node,
//! `tests/crash_cluster.rs` on three), shaped like Kafka's own transactions system test
//! (`tests/kafkatest/tests/core/transactions_test.py`) and Jepsen's Kafka checks: a producer and
//! processors SIGKILLed at seeded moments and restarted, brokers SIGKILLed and restarted, and, as
//! the [`Scenario`] asks, aborted transactions, a concurrent `read_committed` observer and a
//! PostgreSQL crash. Afterwards every anomaly is counted and printed, then asserted to be zero.
//!
//! Include it with `#[path = "common/kill_run.rs"] mod kill_run;` beside `common/kafka.rs`,
//! `common/kill_harness.rs` and `common/observer.rs`.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::{eosflow, run_ok, stdout, unique, Registry};
use crate::kafka::Signal;
use crate::kill_harness::{
    check_topic, expected_keys, paced, tail, Broker, Ctx, Ends, Probe, Rng, Role, Settings,
    TopicScan, Victim, PAGE_SIZE, PARTITIONS, TOPIC,
};
use crate::observer::Observer;
use eosflow::kafka::KafkaSettings;

/// What one run does besides killing the producer and the processors.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub label: &'static str,
    /// Broker SIGKILLs (each of the node leading the most partitions, restarted after a pause).
    pub broker_kills: usize,
    /// The producer precedes this share of chunks with an aborted canary transaction.
    pub aborts: Option<f64>,
    /// A concurrent `read_committed` reader of the topic, the whole time.
    pub observer: bool,
    /// PostgreSQL crashes (immediate shutdown) and restarts once mid-run.
    pub postgres_crash: bool,
    /// The Cassandra node is SIGKILLed and restarted this many times mid-run.
    pub cassandra_crashes: usize,
    /// Afterwards every sink row must equal the generated user it stores, column for column.
    pub check_rows: bool,
    /// Processor kills land in slices from this share (percent) of the users up to 85 %.
    pub kill_from: u64,
    /// Users and kills per process unless `EOSFLOW_KILL_USERS` / `EOSFLOW_KILL_ROUNDS` say
    /// otherwise.
    pub users: u64,
    pub rounds: usize,
}

const POLL: Duration = Duration::from_millis(20);

fn say(label: &str, wall: Instant, line: &str) {
    eprintln!(
        "[kill {label} +{:.1}s] {line}",
        wall.elapsed().as_secs_f64()
    );
}

/// One run: the processes, the broker's plan, and what the probes last saw.
struct Run {
    label: &'static str,
    s: Settings,
    wall: Instant,
    ctx: Ctx,
    kafka: KafkaSettings,
    topic_ends: Ends,
    progress_ends: Ends,
    victims: Vec<Victim>,
    scenario: Scenario,
    /// SIGKILL a broker when the topic passes `.0` records; restart it `.1` ms later.
    broker_plan: VecDeque<(i64, u64)>,
    /// The node down, since when, and for how long.
    broker_down: Option<(Instant, u64, u32)>,
    /// When each outage (a broker or the database) began and ended.
    outages: Vec<(Instant, Instant)>,
    /// Crash a database (the sink's name) when its processor's stored offsets pass the target.
    db_plan: Vec<(&'static str, i64)>,
    /// The database crashed and restarting (in the background): its sink's name, since when.
    db_down: Option<(&'static str, Instant, JoinHandle<()>)>,
    /// The topic's and the progress topic's ends, last seen.
    w: i64,
    q: i64,
    /// The topic check, started in the background when the producer finishes.
    topic_check: Option<JoinHandle<TopicScan>>,
    /// The final scan (its ends: per partition, the offset after its last record).
    scan: Option<TopicScan>,
    ends: Option<BTreeMap<i32, i64>>,
}

impl Run {
    fn say(&self, line: &str) {
        say(self.label, self.wall, line);
    }

    /// Drive the kills until the producer finished and every processor drained the topic.
    fn drive(&mut self, broker: &mut Broker) -> Result<(), String> {
        let deadline = self.wall + Duration::from_secs(900 + self.s.users / 50);
        for v in self.victims.iter_mut() {
            self.ctx.spawn(v, 0, 0);
        }
        loop {
            if Instant::now() > deadline {
                return Err(format!("not finished after {:?}", self.wall.elapsed()));
            }
            if self.broker_down.is_none() {
                self.w = self.topic_ends.sum().unwrap_or(self.w);
                self.q = self.progress_ends.sum().unwrap_or(self.q);
            }
            self.step_broker(broker);
            self.step_database();
            self.step_topic_check()?;
            for i in 0..self.victims.len() {
                self.step_victim(i)?;
            }
            if self.victims.iter().all(|v| v.done) && self.db_down.is_none() {
                return Ok(());
            }
            std::thread::sleep(POLL);
        }
    }

    fn step_broker(&mut self, broker: &mut Broker) {
        match (self.broker_plan.front().copied(), self.broker_down) {
            (Some((target, down)), None) if self.w >= target => {
                let node = broker.busiest_leader();
                broker.0.signal(node, Signal::Kill);
                let past = self.w - target;
                self.say(&format!(
                    "broker {node} (leading the most partitions) SIGKILLed: topic at {} offsets ({past} past the target {target}); down for {down} ms",
                    self.w
                ));
                self.broker_plan.pop_front();
                self.broker_down = Some((Instant::now(), down, node));
            }
            (_, Some((since, down, node))) if since.elapsed() >= Duration::from_millis(down) => {
                broker.0.restart(node);
                self.say(&format!(
                    "broker {node} restarted on the same ports and data; every node answering Metadata {} ms after the crash",
                    since.elapsed().as_millis()
                ));
                self.outages.push((since, Instant::now()));
                self.broker_down = None;
            }
            _ => {}
        }
    }

    /// Whether a broker or a database is down (processors are neither killed nor asked for
    /// progress then: a restart would only wait for it).
    fn outage(&self) -> bool {
        self.broker_down.is_some() || self.db_down.is_some()
    }

    /// Crash a database (PostgreSQL: immediate shutdown; Cassandra: SIGKILL) once its processor
    /// passed the next target, and restart it in the background while the run goes on.
    fn step_database(&mut self) {
        if let Some((name, since, handle)) = self.db_down.take() {
            if !handle.is_finished() {
                self.db_down = Some((name, since, handle));
                return;
            }
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
            self.outages.push((since, Instant::now()));
            self.say(&format!(
                "{name}: the database answers again {} ms after its crash",
                since.elapsed().as_millis()
            ));
            return;
        }
        if self.broker_down.is_some() {
            return;
        }
        let Some(&(name, target)) = self.db_plan.first() else {
            return;
        };
        let progress: i64 = self
            .victims
            .iter_mut()
            .filter_map(|v| match &mut v.role {
                Role::Processor(p) if p.name == name => Some(p.offsets().values().sum::<i64>()),
                _ => None,
            })
            .sum();
        if progress < target {
            return;
        }
        self.db_plan.remove(0);
        let (how, crash): (&str, fn()) = match name {
            "postgres" => (
                "PostgreSQL crashed (immediate shutdown), restarting",
                crate::common::crash_postgres,
            ),
            "cassandra" => (
                "the Cassandra node SIGKILLed, restarting on its data",
                crate::common::crash_cassandra,
            ),
            other => panic!("no crash for the {other} sink"),
        };
        self.say(&format!(
            "{how} at sink offsets {progress} (target {target})"
        ));
        self.db_down = Some((name, Instant::now(), std::thread::spawn(crash)));
    }

    fn step_topic_check(&mut self) -> Result<(), String> {
        if !self.topic_check.as_ref().is_some_and(|h| h.is_finished()) {
            return Ok(());
        }
        let handle = self.topic_check.take().expect("finished check");
        let scan = handle.join().map_err(|panic| {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            format!("the topic check failed: {text}")
        })?;
        self.say(&format!(
            "topic: {} records, {} committed users missing, {} other keys; ends {:?}",
            scan.records, scan.missing, scan.unexpected, scan.ends
        ));
        self.ends = Some(scan.ends.clone());
        self.scan = Some(scan);
        Ok(())
    }

    fn step_victim(&mut self, i: usize) -> Result<(), String> {
        let (label, wall, rounds) = (self.label, self.wall, self.s.rounds);
        let producer_done = self.victims[0].done;
        let db_down = self.db_down.is_some();
        let outage = self.outage();
        let v = &mut self.victims[i];
        if v.done {
            return Ok(());
        }
        if v.waiting {
            if !outage {
                v.waiting = false;
                say(
                    label,
                    wall,
                    &format!("{} restarted: the outage is over", v.name),
                );
                self.ctx.spawn(v, v.seen.0, self.q);
            }
            return Ok(());
        }
        let progress = match &mut v.role {
            Role::Producer => self.w,
            Role::Processor(_) if db_down => v.seen.0,
            Role::Processor(p) => p.offsets().values().sum(),
        };
        if progress != v.seen.0 {
            v.seen = (progress, Instant::now());
        }
        let exited = match v.child.as_mut() {
            Some(c) => c.try_wait().map_err(|e| format!("try_wait: {e}"))?,
            None => None,
        };
        if let Some(status) = exited {
            v.child = None;
            if let Some((_, planned)) = v.due.take() {
                v.plan.push_front(planned);
            }
            if !status.success() {
                // A process the broker crashed under may give up (README: kill test); it is
                // restarted, as a supervisor would, once per process. Any other failure fails.
                let outages = self.outages.len() as u32
                    + u32::from(self.broker_down.is_some())
                    + u32::from(self.db_down.is_some());
                let under_outage =
                    outage || self.outages.iter().any(|(_, up)| v.life_started <= *up);
                if !under_outage || v.outage_failures >= outages {
                    return Err(format!(
                        "{} life {} failed on its own ({status})",
                        v.name, v.lives
                    ));
                }
                v.outage_failures += 1;
                let error = v
                    .log_tail(5)
                    .lines()
                    .rfind(|l| l.starts_with("error:"))
                    .unwrap_or("")
                    .to_string();
                if outage {
                    say(label, wall, &format!("{} life {} exited ({status}) when a broker or the database crashed under it, restarted when it is back: {error}", v.name, v.lives));
                    v.waiting = true;
                } else {
                    say(label, wall, &format!("{} life {} exited ({status}) when a broker or the database crashed under it, restarted: {error}", v.name, v.lives));
                    self.ctx.spawn(v, progress, self.q);
                }
                return Ok(());
            }
            match &mut v.role {
                Role::Producer if !v.plan.is_empty() => {
                    return Err(format!(
                        "the producer finished all pages before its kill {} of {rounds}: raise EOSFLOW_KILL_EVERY_MS (now {})",
                        v.kills + 1,
                        self.s.every_ms
                    ));
                }
                Role::Producer => {
                    v.done = true;
                    let summary = tail(&v.log, 100)
                        .lines()
                        .rfind(|l| l.starts_with("produced "))
                        .unwrap_or("(no summary)")
                        .to_string();
                    say(label, wall, &format!("producer finished: {summary}"));
                    let (kafka, users) = (self.kafka.clone(), self.s.users);
                    self.topic_check = Some(std::thread::spawn(move || check_topic(&kafka, users)));
                }
                Role::Processor(p) => {
                    let complete = producer_done
                        && v.plan.is_empty()
                        && self.ends.as_ref().is_some_and(|ends| {
                            let stored = p.offsets();
                            ends.iter()
                                .all(|(part, end)| stored.get(part).is_some_and(|o| o >= end))
                        });
                    if complete {
                        v.done = true;
                        say(
                            label,
                            wall,
                            &format!("{} drained the topic and exited idle", v.name),
                        );
                    } else {
                        v.natural_exits += 1;
                        if v.natural_exits > 30 {
                            return Err(format!("{} keeps exiting idle before the end", v.name));
                        }
                        self.ctx.spawn(v, progress, self.q);
                    }
                }
            }
            return Ok(());
        }
        if let Some((at, (target, delay))) = v.due {
            // A processor restarted now would join while the broker is down: wait for it.
            let processor = matches!(v.role, Role::Processor(_));
            if Instant::now() < at || (processor && outage) {
                return Ok(());
            }
            v.due = None;
            let lived = v.kill().as_millis();
            let (w, q) = match self.broker_down {
                None => (
                    self.topic_ends.sum().unwrap_or(self.w),
                    self.progress_ends.sum().unwrap_or(self.q),
                ),
                Some(_) => (self.w, self.q),
            };
            let life = v.lives;
            let (line, base) = match &v.role {
                Role::Producer => {
                    // A committed page adds its records and a commit marker on each partition
                    // it touched, and one progress record plus its marker.
                    let (per_page, per_progress) =
                        (i64::from(PAGE_SIZE) + i64::from(PARTITIONS), 2);
                    let (dw, dq) = (w - v.base.0, q - v.base.1);
                    let pages = dq / per_progress;
                    let unfinished = dw - pages * per_page;
                    let (pace, at) = match (paced(life), unfinished > 0) {
                        (true, true) => ("paced", "mid-page: the page's records are in, its progress record is not"),
                        (false, true) => ("flat out", "mid-page: the page's records are in, its progress record is not"),
                        (true, false) => ("paced", "between pages (waiting for the next tick), or before the page's first record was written"),
                        (false, false) => ("flat out", "before the next page's first record was written (generating or sending it)"),
                    };
                    let line = format!("{lived} ms into life {life} ({pace}), {delay} ms after the topic passed {target}: this life committed {pages} pages and wrote {unfinished} records of an unfinished page (+{dw} topic, +{dq} progress offsets) -> {at}");
                    (line, w)
                }
                Role::Processor(_) => {
                    let backlog = (w - progress).max(0);
                    let at = match (progress > v.base.0, backlog > 0) {
                        (true, true) => "mid-stream, inside the next batch",
                        (true, false) => "caught up, between batches",
                        (false, _) => "starting up (caught up: nothing to commit in this life)",
                    };
                    let line = format!("{lived} ms into life {life}, {} ms after its last sink commit (target {target}, delay {delay} ms): sink offsets {progress} (+{} this life), {backlog} records not yet in the sink -> {at}", v.seen.1.elapsed().as_millis(), progress - v.base.0);
                    (line, progress)
                }
            };
            say(
                label,
                wall,
                &format!("SIGKILL {} #{}/{rounds}: {line}", v.name, v.kills),
            );
            self.ctx.spawn(v, base, q);
        } else if let Some(&(target, delay)) = v.plan.front() {
            let processor = matches!(v.role, Role::Processor(_));
            // A processor is killed inside a batch: after its life committed once. One that
            // has caught up with the topic commits no more; it is killed where it stands.
            let committed_this_life = !processor || progress > v.base.0 || self.w <= progress;
            // Processors are not killed while the broker is down (a restart then would only
            // wait for it).
            let held = self.broker_down.is_some() || (processor && self.db_down.is_some());
            if progress >= target && committed_this_life && !held {
                v.plan.pop_front();
                v.due = Some((
                    Instant::now() + Duration::from_millis(delay),
                    (target, delay),
                ));
            }
        }
        Ok(())
    }

    /// The end of every log, for a failure.
    fn report(&self, broker: &Broker) -> String {
        let _ = self.scenario;
        let mut out = String::new();
        for v in &self.victims {
            out += &format!("--- {} ({} lives)\n{}\n", v.name, v.lives, v.log_tail(25));
        }
        out + &format!("--- broker\n{}", broker.log_tail(20))
    }
}

/// Run `scenario` on `broker` into `sinks` and assert that it was exactly once.
pub fn kill_run(scenario: Scenario, broker: &mut Broker, sinks: Vec<(&'static str, String)>) {
    let s = Settings::from_env_or(scenario.users, scenario.rounds);
    let wall = Instant::now();
    let label = scenario.label;
    say(label, wall, &format!(
        "{} users ({} pages of {PAGE_SIZE}), {} kills each of the producer and {} processors; replay: EOSFLOW_KILL_SEED={} EOSFLOW_KILL_USERS={} EOSFLOW_KILL_ROUNDS={}",
        s.users, s.users / u64::from(PAGE_SIZE), s.rounds, sinks.len(), s.seed, s.users, s.rounds
    ));
    let mut rng = Rng(s.seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::start();
    broker.create_topics();
    let kafka = KafkaSettings::new(broker.bootstrap());
    let producer_plan = rng.plan(s.rounds, s.users, 2 * s.every_ms, 5);
    let mut victims = vec![Victim::new(
        "producer".into(),
        Role::Producer,
        producer_plan,
        dir.path(),
    )];
    for (name, url) in sinks {
        let table = unique("kill_users");
        let mut sink = eosflow::sink::open(&url, &table).expect("open sink");
        sink.ensure_schema().expect("sink schema");
        let group = unique(&format!("kill_{name}"));
        let probe = Probe {
            name,
            url,
            table,
            group,
            sink,
        };
        let plan = rng.plan(s.rounds, s.users, 300, scenario.kill_from);
        victims.push(Victim::new(
            format!("processor[{name}]"),
            Role::Processor(probe),
            plan,
            dir.path(),
        ));
    }
    // Broker kills in equal slices of 20 %..70 % of the topic's offsets.
    let broker_plan: VecDeque<(i64, u64)> = (0..scenario.broker_kills as u64)
        .map(|k| {
            let n = scenario.broker_kills as u64;
            let pct = 20 + 50 * k / n + rng.below(50 / n);
            ((s.users * pct / 100) as i64, 300 + rng.below(1701))
        })
        .collect();
    // Database crashes: PostgreSQL once at 30-60 % of its processor's run; Cassandra's in equal
    // slices of 25 %..75 %.
    let mut db_plan: Vec<(&'static str, i64)> = Vec::new();
    if scenario.postgres_crash {
        db_plan.push(("postgres", (s.users * (30 + rng.below(31)) / 100) as i64));
    }
    let n = scenario.cassandra_crashes as u64;
    for k in 0..n {
        let pct = 25 + 50 * k / n + rng.below(50 / n);
        db_plan.push(("cassandra", (s.users * pct / 100) as i64));
    }
    for v in &victims {
        say(
            label,
            wall,
            &format!(
                "schedule {}: (progress target, delay ms) {:?}",
                v.name, v.plan
            ),
        );
    }
    for (target, down) in &broker_plan {
        say(label, wall, &format!("schedule broker: SIGKILL the busiest leader when the topic passes {target} offsets, restart {down} ms later"));
    }
    for (name, target) in &db_plan {
        say(
            label,
            wall,
            &format!("schedule {name}: crash when its processor passes {target} offsets"),
        );
    }
    let observer = scenario
        .observer
        .then(|| Observer::start(&broker.bootstrap(), TOPIC, broker.partitions()));
    let mut run = Run {
        label,
        s,
        wall,
        ctx: Ctx {
            bootstrap: broker.bootstrap(),
            aborts: scenario.aborts.map(|ratio| (ratio, s.seed)),
            registry: registry.url.clone(),
            producer_id: unique("killed_producer"),
            last_page: s.users / u64::from(PAGE_SIZE),
            every_ms: s.every_ms,
            partitions: broker.partitions(),
            started: wall,
        },
        topic_ends: Ends::new(&kafka, TOPIC, broker.partitions()),
        progress_ends: Ends::new(&kafka, &format!("{TOPIC}.progress"), 1),
        kafka,
        victims,
        scenario,
        broker_plan,
        broker_down: None,
        outages: Vec::new(),
        db_plan,
        db_down: None,
        w: 0,
        q: 0,
        topic_check: None,
        scan: None,
        ends: None,
    };
    if let Err(failure) = run.drive(broker) {
        let report = run.report(broker);
        drop(run);
        let kept = dir.keep();
        panic!(
            "[kill {label}] {failure} (EOSFLOW_KILL_SEED={}; every process's full log kept in {})\n{report}",
            s.seed,
            kept.display()
        );
    }

    assert_eq!(
        broker.0.restarts as usize, scenario.broker_kills,
        "every broker kill was followed by its restart"
    );
    assert!(
        run.db_plan.is_empty(),
        "every database crash happened: {:?} left",
        run.db_plan
    );
    for v in &run.victims {
        run.say(&format!(
            "{}: {} lives, {} kills, {} idle exits and {} failures under the broker crash restarted",
            v.name, v.lives, v.kills, v.natural_exits, v.outage_failures
        ));
        assert_eq!(
            v.kills, s.rounds,
            "{} was killed {} times",
            v.name, s.rounds
        );
    }
    let mut verified = Vec::new();
    for v in &run.victims {
        let Role::Processor(p) = &v.role else {
            continue;
        };
        let out = run_ok(
            eosflow()
                .args([
                    "verify",
                    "--bootstrap",
                    &run.ctx.bootstrap,
                    "--registry",
                    &registry.url,
                ])
                .args([
                    "--topic", TOPIC, "--sink", &p.url, "--table", &p.table, "--json",
                ]),
        );
        let text = stdout(&out);
        run.say(&format!("verify {}: {}", p.name, text.trim()));
        let report: serde_json::Value =
            serde_json::from_str(text.trim()).expect("verify prints JSON");
        verified.push((p.name, report));
    }
    let mut unequal_rows = Vec::new();
    if scenario.check_rows {
        for v in run.victims.iter_mut() {
            if let Role::Processor(p) = &mut v.role {
                let unequal = crate::kill_harness::unequal_rows(p, s.users);
                say(
                    label,
                    wall,
                    &format!("{}: {unequal} rows differ from the user they store", p.name),
                );
                unequal_rows.push((p.name, unequal));
            }
        }
    }
    let scan = run.scan.take().expect("the final scan ran");
    let observed = observer.map(|o| o.finish(scan.ends.clone(), Duration::from_secs(120)));
    let expected = expected_keys(s.users);
    let mut anomalies: Vec<(String, u64)> = vec![
        (
            "aborted read: other keys (canaries) in the final read_committed scan".into(),
            scan.unexpected as u64,
        ),
        (
            "lost write: committed users absent from the final scan".into(),
            scan.missing as u64,
        ),
    ];
    if let Some(o) = &observed {
        let canaries = o.keys.keys().filter(|k| !expected.contains(*k)).count() as u64;
        let unseen = expected.iter().filter(|k| !o.keys.contains_key(*k)).count() as u64;
        let differs = o.keys.len() as u64 != scan.keys.len() as u64
            || o.keys.keys().any(|k| !scan.keys.contains(k));
        anomalies.push((
            format!(
                "aborted read: canary records the concurrent observer ({}) saw",
                crate::observer::isolation()
            ),
            canaries,
        ));
        anomalies.push((
            "poll skip: committed users the observer never saw".into(),
            unseen,
        ));
        anomalies.push((
            "non-monotonic poll: observer offsets not increasing within a partition".into(),
            o.backwards,
        ));
        anomalies.push((
            "observer's key set differs from the final scan".into(),
            u64::from(differs),
        ));
        run.say(&format!(
            "observer: {} records, {} keys, {} transient consumer errors",
            o.records,
            o.keys.len(),
            o.errors
        ));
    }
    for (name, report) in &verified {
        let n = |field: &str| report[field].as_u64().unwrap_or(u64::MAX);
        anomalies.push((
            format!("lost: committed users absent from {name}"),
            n("lost") + n("missing"),
        ));
        anomalies.push((
            format!("duplicate: users stored more than once in {name}"),
            n("duplicates"),
        ));
        anomalies.push((
            format!("aborted read: extra rows (canaries) in {name}"),
            n("extra"),
        ));
        anomalies.push((
            format!("{name} does not hold exactly the committed users"),
            u64::from(n("present") != s.users || n("committed") != s.users),
        ));
    }
    for (name, unequal) in unequal_rows {
        anomalies.push((
            format!("corrupt row: {name} rows whose columns differ from the decoded user"),
            unequal,
        ));
    }
    let replays = scan.records.saturating_sub(s.users);
    run.say(&format!(
        "anomalies checked (each must be 0; topic records beyond the users: {replays}, re-sent pages, deduplicated by key):"
    ));
    for (what, count) in &anomalies {
        run.say(&format!("  {count:>6}  {what}"));
    }
    anomalies.retain(|(_, count)| *count > 0);
    assert!(
        anomalies.is_empty(),
        "[kill {label}] not exactly once (EOSFLOW_KILL_SEED={}): {anomalies:?}",
        s.seed
    );
    run.say(&format!(
        "EXACT in every sink, no anomaly; wall time {:.1}s",
        wall.elapsed().as_secs_f64()
    ));
}
