//! `crucible bench --tournaments N --miners M [--db URL] [--nodes SPEC] [--json]`: N tournaments at once,
//! one per track (`bench-00000`, … alternating text and image), each of the same M simulated miners,
//! through the real actors and the real store on the wall clock. Trainings end at once, every miner
//! answers and pays (no fee), so what is measured is the validator: actors, broker and database.
//!
//! Figures: training ends per second; durable transitions (rows of the transition log) per second,
//! against what the same database accepts in the same run (`Store::commit_limit`: the same rows, one
//! commit each, as fast as one connection can); the reaction, from a training's end to what it
//! unblocks (the next dispatch anywhere, or its tournament's round decision); peak memory.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::BenchArgs;
use crate::actors::Event;
use crate::app::{Application, Backends, Ended, Registration, Schedule, Trainings};
use crate::cli::CliError;
use crate::clock::{SharedClock, WallClock};
use crate::config::Settings;
use crate::domain::node_spec::NodeSpec;
use crate::domain::tracks::TrackConfig;
use crate::domain::weights::TypeWeightRules;
use crate::domain::{TournamentId, TournamentType};
use crate::sim::{Shares, SimSettings, SimWorld, SimulatedExecutor, SimulatedRegistration};
use crate::store::{Backend, Store};

/// The most tournaments and miners one bench runs.
const MAX_TOURNAMENTS: usize = 100_000;
const MAX_MINERS: usize = 4_096;
/// Memory one tournament of `m` miners needs at its peak, in KiB (measured, with a margin: see
/// BENCHMARKS.md); sizes that would not fit in the memory available are refused.
fn estimated_kib(n: usize, m: usize) -> u64 {
    (n as u64) * (200 + 12 * m as u64)
}
/// Log rows committed again to measure the database's own rate.
const LIMIT_SAMPLE: usize = 20_000;

fn failure(e: impl std::error::Error + Send + Sync + 'static) -> CliError {
    CliError::Failure(e.into())
}

/// What the observer gathers while the tournaments run.
#[derive(Default)]
struct Tally {
    trainings: usize,
    completed: usize,
    /// Milliseconds from a training's end to what it unblocked.
    reactions: Vec<f64>,
    /// Each live tournament's latest training end not yet followed by its round's decision.
    last_end: std::collections::HashMap<TournamentId, DateTime<Utc>>,
    /// The first training end since the last dispatch.
    end_since_start: Option<DateTime<Utc>>,
    /// Why the run cannot finish (a tournament stalled or was cancelled).
    broken: Option<String>,
}

impl Tally {
    fn see(&mut self, event: &Event) {
        let ms = |from: DateTime<Utc>, to: DateTime<Utc>| (to - from).num_microseconds().unwrap_or(0) as f64 / 1000.0;
        match event {
            Event::TrainingEnded { id, at, .. } => {
                self.trainings += 1;
                self.last_end.insert(id.clone(), *at);
                self.end_since_start.get_or_insert(*at);
            }
            Event::TrainingStarted { at, .. } => {
                if let Some(end) = self.end_since_start.take() {
                    self.reactions.push(ms(end, *at));
                }
            }
            Event::RoundDecided { id, at, .. } => {
                if let Some(end) = self.last_end.remove(id) {
                    self.reactions.push(ms(end, *at));
                }
            }
            Event::TournamentCompleted { id, .. } => {
                self.completed += 1;
                self.last_end.remove(id);
            }
            Event::TournamentCancelled { id, reason, .. } => {
                self.broken.get_or_insert(format!("tournament {id} was cancelled: {reason}"));
            }
            Event::Stalled { id, subject, reason, .. } => {
                self.broken.get_or_insert(format!("tournament {id} stalled on {subject}: {reason}"));
            }
            _ => {}
        }
    }
}

pub fn run(args: &BenchArgs, n: usize, settings: &Settings) -> Result<(), CliError> {
    let m = args.miners.unwrap_or(32);
    if !(1..=MAX_TOURNAMENTS).contains(&n) {
        return Err(CliError::Usage(format!("--tournaments {n}: between 1 and {MAX_TOURNAMENTS}")));
    }
    if !(2..=MAX_MINERS).contains(&m) {
        return Err(CliError::Usage(format!("--miners {m}: between 2 and {MAX_MINERS} miners per tournament")));
    }
    let needed = estimated_kib(n, m);
    if let Some(available) = meminfo_kib("MemAvailable:")
        && needed > available
    {
        return Err(CliError::Usage(format!(
            "--tournaments {n} --miners {m} needs about {} MiB of memory; {} MiB are available here",
            needed / 1024,
            available / 1024
        )));
    }
    let spec = NodeSpec::parse(&args.nodes).map_err(|e| CliError::Usage(format!("--nodes: {e}")))?;
    let scratch = tempfile::tempdir().map_err(anyhow::Error::from)?;
    let mut settings = bench_settings(settings, n, m);
    settings.database.url = match &args.db {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", scratch.path().join("bench.db").display()),
    };
    let store = Arc::new(settings.database.open().map_err(|e| CliError::Usage(format!("--db: {e}")))?);
    store.migrate().map_err(failure)?;
    let held = store.list_tournaments(None).map_err(failure)?.len();
    if held > 0 {
        return Err(CliError::Usage(format!(
            "--db {}: the database holds {held} tournaments already; the bench needs an empty one",
            store.url()
        )));
    }
    let world = Arc::new(SimWorld::new(SimSettings { miners: m, seed: args.seed, shares: Shares::none() }));
    let identity = json!({ "bench": { "tournaments": n, "miners": m, "nodes": args.nodes, "seed": args.seed } });
    crate::sim::run::prepare(&store, &world, &spec, &identity.to_string(), Utc::now()).map_err(failure)?;
    let transitions_before = store.count_transitions().map_err(failure)?;
    let rss_before = status_kib("VmRSS:");

    let tally = Rc::new(RefCell::new(Tally::default()));
    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| Bar::new(n));
    let began = Instant::now();
    let ended = play(&settings, store.clone(), world, args.seed, tally.clone(), bar)?;
    let wall = began.elapsed().as_secs_f64();
    let tally = tally.take();
    if let Some(problem) = tally.broken {
        return Err(CliError::Usage(format!("the bench could not finish: {problem}")));
    }
    if ended != Ended::Finished || tally.completed != n {
        return Err(CliError::Usage(format!("the bench ended with {} of {n} tournaments completed", tally.completed)));
    }
    let peak = status_kib("VmHWM:");
    let transitions = store.count_transitions().map_err(failure)?.saturating_sub(transitions_before);
    let limit = store.commit_limit(LIMIT_SAMPLE).map_err(failure)?;
    let mut reactions = tally.reactions;
    reactions.sort_by(f64::total_cmp);
    let transitions_per_sec = transitions as f64 / wall;
    let summary = json!({
        "tournaments": n,
        "miners": m,
        "nodes": args.nodes,
        "trainings": tally.trainings,
        "wall_secs": wall,
        "trainings_per_sec": tally.trainings as f64 / wall,
        "transitions": transitions,
        "transitions_per_sec": transitions_per_sec,
        "db_limit_transitions_per_sec": limit,
        "transitions_vs_db_limit": limit.map(|l| transitions_per_sec / l),
        "reactions": reactions.len(),
        "reaction_p50_ms": percentile(&reactions, 0.50),
        "reaction_p99_ms": percentile(&reactions, 0.99),
        "peak_rss_mb": peak.map(|k| k as f64 / 1024.0),
        "rss_per_tournament_kb": peak.zip(rss_before).map(|(p, b)| p.saturating_sub(b) as f64 / n as f64),
        "backend": match store.backend() { Backend::Sqlite => "sqlite", Backend::Postgres => "postgres" },
        "sqlite_synchronous": store.sqlite_synchronous().map_err(failure)?.map(str::to_lowercase),
    });
    if args.json {
        println!("{summary}");
    } else {
        print_table(&summary);
    }
    Ok(())
}

/// The operator's settings with `n` bench tracks of no fee and an equal weight share, every miner
/// admitted, and an in-memory store's single connection replaced by the bench's database.
fn bench_settings(base: &Settings, n: usize, m: usize) -> Settings {
    let mut settings = base.clone();
    let cap = 1.0 / n as f64;
    settings.rules.tracks = (0..n)
        .map(|i| TrackConfig {
            name: format!("bench-{i:05}"),
            tournament_type: if i % 2 == 0 { TournamentType::Text } else { TournamentType::Image },
            interval_hours: None,
            fee_rao: Some(0),
            weight: Some(TypeWeightRules { base: cap / 4.0, cap }),
        })
        .collect();
    settings.rules.registration.min_participants = settings.rules.registration.min_participants.min(m);
    settings.rules.registration.one_entry_per_coldkey = false;
    settings.rules.schedule.require_operator_confirmation = false;
    settings
}

/// Runs the application until every track has run its one tournament, or one cannot finish.
fn play(
    settings: &Settings,
    store: Arc<Store>,
    world: Arc<SimWorld>,
    seed: u64,
    tally: Rc<RefCell<Tally>>,
    mut bar: Option<Bar>,
) -> Result<Ended, CliError> {
    let system = crate::app::system(false).map_err(anyhow::Error::from)?;
    let settings = settings.clone();
    system.block_on(async move {
        let clock: SharedClock = Arc::new(WallClock);
        let broken = Rc::new(tokio::sync::Notify::new());
        let (seen, stop) = (tally.clone(), broken.clone());
        let observe = move |event: &Event| {
            let mut tally = seen.borrow_mut();
            tally.see(event);
            if tally.broken.is_some() {
                stop.notify_one();
            }
            if let Some(bar) = &mut bar {
                bar.show(tally.completed, tally.trainings);
            }
        };
        let backends = Backends {
            store,
            clock: clock.clone(),
            catalog: crate::sim::catalog(),
            trainings: Trainings::Given(Rc::new(SimulatedExecutor::new(world.clone(), clock.clone()).instant())),
            registration: Registration::Given(Rc::new(SimulatedRegistration::new(world, clock).at_once())),
            schedule: Schedule { types: TournamentType::ALL.to_vec(), limit: Some(1), seed },
            api: None,
            events: tokio::sync::broadcast::channel::<Event>(65_536).0,
            observe: Some(Box::new(observe)),
        };
        let app = Application::build(&settings, backends).await.map_err(anyhow::Error::from)?;
        Ok(app.run_until_stopped(async move { broken.notified().await }).await)
    })
}

/// A progress bar on the terminal: tournaments completed and trainings ended, redrawn at most ten
/// times a second.
struct Bar {
    n: usize,
    drawn: Instant,
}

impl Bar {
    fn new(n: usize) -> Self {
        Self { n, drawn: Instant::now() }
    }

    fn show(&mut self, completed: usize, trainings: usize) {
        if self.drawn.elapsed().as_millis() < 100 && completed < self.n {
            return;
        }
        self.drawn = Instant::now();
        let width = 30;
        let filled = completed * width / self.n.max(1);
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\r\x1b[2K[{}{}] {completed}/{} tournaments, {trainings} trainings",
            "#".repeat(filled),
            ".".repeat(width - filled),
            self.n
        );
        if completed == self.n {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

fn print_table(summary: &serde_json::Value) {
    let Some(fields) = summary.as_object() else { return };
    for (key, value) in fields {
        let shown = match value {
            serde_json::Value::Number(x) if x.is_f64() => format!("{:.3}", x.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        println!("{key:<30} {shown:>16}");
    }
}

/// The value at quantile `q` of sorted samples (the smallest one at least `q` of them do not exceed).
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// A `kB` line of `/proc/self/status` (`VmRSS:`, `VmHWM:`), where there is one.
fn status_kib(key: &str) -> Option<u64> {
    proc_kib("/proc/self/status", key)
}

fn meminfo_kib(key: &str) -> Option<u64> {
    proc_kib("/proc/meminfo", key)
}

fn proc_kib(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_taken_from_the_samples() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&samples, 0.5), Some(50.0));
        assert_eq!(percentile(&samples, 0.99), Some(99.0));
        assert_eq!(percentile(&samples[..1], 0.99), Some(1.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn a_training_end_is_timed_to_the_dispatch_and_the_decision_it_unblocks() {
        let at = |ms: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::milliseconds(ms);
        let id = TournamentId::new(1, 2026, 12, 1);
        let task = crate::domain::TaskId::parse("task-1").unwrap();
        let hotkey = crate::domain::Hotkey::synthetic(1);
        let ended = |ms| Event::TrainingEnded {
            id: id.clone(),
            task: task.clone(),
            hotkey: hotkey.clone(),
            status: crate::domain::TrainingStatus::Success,
            reason: None,
            test_loss: Some(1.0),
            at: at(ms),
        };
        let started = |ms| Event::TrainingStarted {
            id: id.clone(),
            task: task.clone(),
            hotkey: hotkey.clone(),
            attempt: 1,
            node: crate::domain::NodeId::parse("node-1").unwrap(),
            at: at(ms),
        };
        let mut tally = Tally::default();
        for event in [
            started(0),
            ended(10),
            ended(11),
            started(13),
            started(14),
            ended(20),
            Event::RoundDecided { id: id.clone(), round: 1, winners: vec![], at: at(25) },
        ] {
            tally.see(&event);
        }
        // The first end since a start to that start (3 ms), none for a start without an end before it;
        // the last end of the tournament to its decision (5 ms).
        assert_eq!(tally.reactions, vec![3.0, 5.0]);
        assert_eq!(tally.trainings, 3);
    }
}
