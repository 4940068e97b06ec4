//! Criterion benchmarks of the pure rules: bracket organisation, task planning, scheduling and the
//! weight computation, at sizes well past a real tournament's. Figures go to BENCHMARKS.md.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

use crucible::domain::bracket::{BracketRules, organise};
use crucible::domain::bundle::{
    BUNDLE_FORMAT, ParticipantRecord, ResultsBundle, RoundRecord, TaskRecord, TournamentRecord,
};
use crucible::domain::gpu::{GpuRequirement, GpuSlot, NodeView, QueuedJob};
use crucible::domain::gpu_queue::GpuQueue;
use crucible::domain::scoring::TrainingResult;
use crucible::domain::weights::{WeightRules, compute};
use crucible::domain::{
    GpuClass, Hotkey, JobPriority, RoundKind, RunStatus, TaskId, TaskType, TournamentId, TournamentStatus,
    TournamentType,
};

fn field(n: u64) -> Vec<Hotkey> {
    (0..n).map(Hotkey::synthetic).collect()
}

fn bracket(c: &mut Criterion) {
    let house = Hotkey::synthetic(u64::MAX);
    let rules = BracketRules::default();
    for n in [14u64, 256, 4096] {
        let entrants = field(n);
        c.bench_function(&format!("organise/{n}"), |b| {
            b.iter(|| organise(black_box(&entrants), &house, &rules, &mut ChaCha8Rng::seed_from_u64(7)))
        });
    }
}

/// One GPU freed on a full fleet with `n` jobs waiting: the cost of the placement it makes, which
/// must not grow with the queue.
fn scheduling(c: &mut Criterion) {
    let nodes: Vec<NodeView> = (0..32)
        .map(|i| NodeView {
            id: crucible::domain::NodeId::parse(&format!("node-{i}")).unwrap(),
            fenced: false,
            gpus: (0..8)
                .map(|g| GpuSlot {
                    index: g,
                    class: GpuClass::H100,
                    holder: (i + g > 0).then(|| training(&format!("running-{i}-{g}"), 0)),
                })
                .collect(),
        })
        .collect();
    for n in [512usize, 4096, 32768] {
        let mut queue = GpuQueue::new();
        for i in 0..n {
            let job = QueuedJob {
                key: training(&format!("job-{i}"), i as u64),
                priority: [JobPriority::Organic, JobPriority::Tournament, JobPriority::Benchmark][i % 3],
                enqueued: i as i64,
                requirement: match i % 4 {
                    0 => GpuRequirement { class: GpuClass::A100, count: 1 },
                    k => GpuRequirement { class: GpuClass::H100, count: 1 << (k - 1) },
                },
            };
            queue.push(job, ());
        }
        c.bench_function(&format!("queue/place-after-a-release/{n}-jobs-32-nodes"), |b| {
            b.iter_batched(
                || (queue.clone(), nodes.clone()),
                // Returned, so dropping the queue is not measured.
                |(mut queue, mut nodes)| {
                    let placed = queue.place(black_box(&mut nodes));
                    assert_eq!(placed.len(), 1);
                    (queue, nodes, placed)
                },
                BatchSize::LargeInput,
            )
        });
    }
}

fn training(task: &str, hotkey: u64) -> crucible::domain::TrainingKey {
    crucible::domain::TrainingKey::new(crucible::domain::TaskId::parse(task).unwrap(), Hotkey::synthetic(hotkey))
}

fn bundle(miners: u64, history: u64) -> ResultsBundle {
    let hotkeys = field(miners);
    let tournaments = (0..history)
        .map(|t| {
            let rounds = (1..=4u32)
                .map(|r| RoundRecord {
                    number: r,
                    kind: RoundKind::Knockout,
                    is_final: r == 4,
                    tasks: hotkeys
                        .chunks(2)
                        .enumerate()
                        .map(|(i, pair)| TaskRecord {
                            id: TaskId::parse(&format!("t{t}-r{r}-{i}")).unwrap(),
                            task_type: TaskType::InstructText,
                            reward_weights: Vec::new(),
                            results: pair
                                .iter()
                                .enumerate()
                                .map(|(j, h)| {
                                    let loss = 1.0 + j as f64 + i as f64 * 0.01;
                                    TrainingResult::new(h.clone(), RunStatus::Success, Some(loss))
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect();
            TournamentRecord {
                id: TournamentId::new(t, 2026, 1, 1),
                track: None,
                tournament_type: if t % 2 == 0 { TournamentType::Text } else { TournamentType::Image },
                status: if t + 1 == history { TournamentStatus::Active } else { TournamentStatus::Completed },
                base_winner_hotkey: Some(hotkeys[(t as usize) % hotkeys.len()].clone()),
                winner_hotkey: Some(hotkeys[(t as usize + 1) % hotkeys.len()].clone()),
                winning_performance_difference: Some(0.1),
                created_at: Utc.timestamp_opt(t as i64 * 86_400, 0).unwrap(),
                completed_at: Some(Utc.timestamp_opt(t as i64 * 86_400 + 3_600, 0).unwrap()),
                participants: hotkeys
                    .iter()
                    .map(|h| ParticipantRecord { hotkey: h.clone(), eliminated_in_round: None })
                    .collect(),
                rounds,
            }
        })
        .collect();
    ResultsBundle {
        format: BUNDLE_FORMAT.into(),
        house_hotkey: Hotkey::synthetic(u64::MAX),
        exported_at: None,
        tournaments,
    }
}

fn weights(c: &mut Criterion) {
    let rules = WeightRules::default();
    for (miners, history) in [(64u64, 4u64), (256, 20)] {
        let b = bundle(miners, history);
        c.bench_function(&format!("weights/{miners}-miners-{history}-tournaments"), |bench| {
            bench.iter(|| compute(black_box(&b), &rules))
        });
    }
}

criterion_group!(benches, bracket, scheduling, weights);
criterion_main!(benches);
