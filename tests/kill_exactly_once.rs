//! Kafka's transactions system test, on the components that run here: a producer and two
//! processors (one into PostgreSQL, one into SQLite, each in its own group) run at once; each is
//! SIGKILLed at seeded random moments (5 times by default) and restarted; the broker is SIGKILLed
//! and restarted once mid-run; then the producer finishes, the processors drain, the topic holds
//! exactly the produced users and `eosflow verify --json` of each sink is exact
//! (expected = present = users, missing 0, duplicates 0, extra 0).
//!
//! - `tansu`: a PRIVATE tansu (own port and data directory, `tests/common/tansu.rs`), idempotent
//!   delivery (tansu has no transactions), SIGKILLed and restarted once.
//! - `mockcluster`: `eosflow mock-broker`, transactional delivery. No broker restart: MockCluster
//!   keeps its data in the mock-broker process's memory.
//!
//! Kill moments: each process gets `rounds` progress targets (one at a random point of each equal
//! slice of 5 %..85 % of the users) and a random delay; it is killed that delay after its progress
//! passes the target. The producer's progress is the topic's end offsets; its odd lives run at one
//! page per `EOSFLOW_KILL_EVERY_MS` (so it overlaps the processors and the broker restart), its even
//! lives flat out (so those kills land inside a page). A processor's progress is the offsets stored
//! in its sink, which move only when a batch commits, so its kill lands inside the next batch (and
//! only after the life has committed once). The schedule comes from the seed and is printed first;
//! where each kill landed (pages committed, records of an unfinished page, backlog) is measured and
//! printed.
//!
//! The broker restart waits until every processor has committed in its current life (and no
//! processor is killed while it is pending): tansu 0.6 can leave a consumer group unassignable for
//! good when it crashes while a static member's join is in flight. A process that exits with an
//! error because the broker crashed under it is restarted once, as a supervisor would, and reported.
//!
//! Knobs: `EOSFLOW_KILL_USERS` (default 20000, a multiple of 100), `EOSFLOW_KILL_ROUNDS` (kills per
//! process, default 5), `EOSFLOW_KILL_SEED` (replays a schedule), `EOSFLOW_KILL_EVERY_MS` (default
//! 60), `EOSFLOW_KILL_DEBUG=1` (librdkafka group debug logs in the kept logs of a failed run). The
//! full size:
//! `EOSFLOW_KILL_USERS=100000 cargo test --release --test kill_exactly_once -- --nocapture --test-threads=1`.

mod common;
#[path = "common/kill_harness.rs"]
mod kill_harness;
#[path = "common/tansu.rs"]
mod tansu;

use std::collections::BTreeMap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{eosflow, run_ok, stdout, unique, Registry};
use eosflow::kafka::KafkaSettings;
use kill_harness::{
    check_topic, paced, tail, Broker, Ctx, Ends, Probe, Rng, Role, Settings, Victim,
    MOCK_MAX_USERS, PAGE_SIZE, TOPIC,
};
use tansu::Stop;

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
    /// SIGKILL the broker when the topic passes `.0` records; restart it `.1` ms later.
    broker_plan: Option<(i64, u64)>,
    broker_down: Option<(Instant, u64)>,
    /// When the broker went down and came back up.
    outage: Option<(Instant, Instant)>,
    /// The topic's and the progress topic's ends, last seen.
    w: i64,
    q: i64,
    /// The topic check, started in the background when the producer finishes.
    topic_check: Option<JoinHandle<(BTreeMap<i32, i64>, u64)>>,
    /// Per partition, the offset after its last record (known once the producer finished).
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
            self.step_topic_check()?;
            for i in 0..self.victims.len() {
                self.step_victim(i)?;
            }
            if self.victims.iter().all(|v| v.done) {
                return Ok(());
            }
            std::thread::sleep(POLL);
        }
    }

    fn step_broker(&mut self, broker: &mut Broker) {
        let Broker::Tansu(tansu) = broker else { return };
        // tansu 0.6 can lose a consumer group for good when it crashes while a static member's
        // join is in flight (README: kill test): crash it only while the current life of every
        // processor has its partitions (it committed, or logged the assignment).
        let joining: Vec<&str> = self
            .victims
            .iter()
            .filter(|v| matches!(v.role, Role::Processor(_)) && !v.done)
            .filter(|v| {
                v.child.is_none() || v.due.is_some() || !(v.seen.0 > v.base.0 || v.assigned())
            })
            .map(|v| v.name.as_str())
            .collect();
        match (self.broker_plan, self.broker_down) {
            (Some((target, down)), None) if self.w >= target && joining.is_empty() => {
                tansu.stop(Stop::Kill);
                let past = self.w - target;
                self.say(&format!(
                    "broker SIGKILLed: topic at {} records ({past} past the target {target}); down for {down} ms",
                    self.w
                ));
                self.broker_down = Some((Instant::now(), down));
            }
            (_, Some((since, down))) if since.elapsed() >= Duration::from_millis(down) => {
                tansu.restart();
                self.say(&format!(
                    "broker restarted on the same port and data after {} ms",
                    since.elapsed().as_millis()
                ));
                self.outage = Some((since, Instant::now()));
                self.broker_down = None;
                self.broker_plan = None;
            }
            _ => {}
        }
    }

    fn step_topic_check(&mut self) -> Result<(), String> {
        if !self.topic_check.as_ref().is_some_and(|h| h.is_finished()) {
            return Ok(());
        }
        let handle = self.topic_check.take().expect("finished check");
        let (ends, records) = handle.join().map_err(|panic| {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            format!("the topic check failed: {text}")
        })?;
        self.say(&format!(
            "topic: {records} records hold exactly the {} users (the rest are re-sent pages); ends {ends:?}",
            self.s.users
        ));
        if records < self.s.users {
            return Err(format!("the topic holds only {records} records"));
        }
        self.ends = Some(ends);
        Ok(())
    }

    fn step_victim(&mut self, i: usize) -> Result<(), String> {
        let (label, wall, rounds) = (self.label, self.wall, self.s.rounds);
        let producer_done = self.victims[0].done;
        let v = &mut self.victims[i];
        if v.done {
            return Ok(());
        }
        let progress = match &mut v.role {
            Role::Producer => self.w,
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
                let under_outage = self.broker_down.is_some()
                    || self.outage.is_some_and(|(_, up)| v.life_started <= up);
                if !under_outage || v.outage_failures > 0 {
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
                say(label, wall, &format!("{} life {} exited ({status}) when the broker crashed under it, restarted: {error}", v.name, v.lives));
                self.ctx.spawn(v, progress, self.q);
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
            if Instant::now() < at || (processor && self.broker_down.is_some()) {
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
                    // A committed page adds its records to the topic and one progress record
                    // (neither tansu nor MockCluster writes transaction markers).
                    let (per_page, per_progress) = (i64::from(PAGE_SIZE), 1);
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
            // Processors are not killed while the broker restart is pending (they must not be
            // joining when it crashes: see step_broker) or under way.
            let broker_pending = self
                .broker_plan
                .is_some_and(|(broker_target, _)| self.w >= broker_target);
            if progress >= target
                && committed_this_life
                && self.broker_down.is_none()
                && !(processor && broker_pending)
            {
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
        let mut out = String::new();
        for v in &self.victims {
            out += &format!("--- {} ({} lives)\n{}\n", v.name, v.lives, v.log_tail(25));
        }
        out + &format!("--- broker\n{}", broker.log_tail(20))
    }
}

fn kill_run(broker: &mut Broker, sinks: Vec<(&'static str, String)>) {
    let s = Settings::from_env();
    let wall = Instant::now();
    let label = if broker.transactional() {
        "mockcluster"
    } else {
        "tansu"
    };
    say(label, wall, &format!(
        "{} users ({} pages of {PAGE_SIZE}), {} kills each of the producer and {} processors; replay: EOSFLOW_KILL_SEED={} EOSFLOW_KILL_USERS={} EOSFLOW_KILL_ROUNDS={}",
        s.users, s.users / u64::from(PAGE_SIZE), s.rounds, sinks.len(), s.seed, s.users, s.rounds
    ));
    assert!(
        !broker.transactional() || s.users <= MOCK_MAX_USERS,
        "MockCluster deletes the oldest records past 5 MiB per partition: its variant holds at most {MOCK_MAX_USERS} users, not {}",
        s.users
    );
    let mut rng = Rng(s.seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::start();
    broker.create_topics();
    let kafka = KafkaSettings::new(broker.bootstrap());
    let producer_plan = rng.plan(s.rounds, s.users, 2 * s.every_ms);
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
        let plan = rng.plan(s.rounds, s.users, 300);
        victims.push(Victim::new(
            format!("processor[{name}]"),
            Role::Processor(probe),
            plan,
            dir.path(),
        ));
    }
    let broker_plan = (!broker.transactional()).then(|| {
        (
            (s.users * (20 + rng.below(31)) / 100) as i64,
            300 + rng.below(1701),
        )
    });
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
    say(label, wall, &match broker_plan {
        Some((target, down)) => format!("schedule broker: SIGKILL when the topic passes {target} records, restart {down} ms later"),
        None => "no broker restart: MockCluster keeps its data in the mock-broker process's memory, so a restart would lose the topic".into(),
    });
    let mut run = Run {
        label,
        s,
        wall,
        ctx: Ctx {
            bootstrap: broker.bootstrap(),
            registry: registry.url.clone(),
            producer_id: unique("killed_producer"),
            delivery: if broker.transactional() {
                "transactional"
            } else {
                "idempotent"
            },
            last_page: s.users / u64::from(PAGE_SIZE),
            every_ms: s.every_ms,
            partitions: broker.partitions(),
            started: wall,
        },
        topic_ends: Ends::new(&kafka, TOPIC, broker.partitions()),
        progress_ends: Ends::new(&kafka, &format!("{TOPIC}.progress"), 1),
        kafka,
        victims,
        broker_plan,
        broker_down: None,
        outage: None,
        w: 0,
        q: 0,
        topic_check: None,
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

    if let Broker::Tansu(tansu) = broker {
        assert_eq!(tansu.restarts, 1, "the broker was restarted once");
    }
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
        assert_eq!(
            report,
            serde_json::json!({"expected": s.users, "present": s.users, "missing": 0, "duplicates": 0, "extra": 0}),
            "[kill {label}] {} is not exactly once (EOSFLOW_KILL_SEED={})",
            p.name,
            s.seed
        );
    }
    run.say(&format!(
        "EXACT in every sink; wall time {:.1}s",
        wall.elapsed().as_secs_f64()
    ));
}

fn sinks(dir: &tempfile::TempDir) -> Vec<(&'static str, String)> {
    vec![
        ("postgres", common::postgres_url()),
        (
            "sqlite",
            format!("sqlite://{}", dir.path().join("kill.db").display()),
        ),
    ]
}

#[test]
fn tansu_producer_processors_and_broker_killed_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = Broker::Tansu(tansu::PrivateTansu::start());
    kill_run(&mut broker, sinks(&dir));
}

#[test]
fn mockcluster_transactional_producer_and_processors_killed_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = Broker::mock();
    kill_run(&mut broker, sinks(&dir));
}
