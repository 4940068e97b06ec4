use proptest::prelude::*;

use super::*;
use crate::domain::gpu_queue::GpuQueue;
use crate::domain::{Hotkey, TaskId};

fn req(task_type: TaskType, params: Option<u64>) -> String {
    requirement(task_type, params, &GpuRules::default()).to_string()
}

#[test]
fn requirement_table() {
    let b = |x: f64| Some((x * 1e9) as u64);
    let table = [
        (TaskType::Image, None, "A100"),
        (TaskType::Image, b(70.0), "A100"),
        (TaskType::InstructText, None, "1xH100"),
        (TaskType::InstructText, b(4.0), "1xH100"),
        (TaskType::InstructText, b(4.1), "2xH100"),
        (TaskType::Chat, b(12.0), "2xH100"),
        (TaskType::InstructText, b(12.5), "4xH100"),
        (TaskType::InstructText, b(40.0), "4xH100"),
        (TaskType::InstructText, b(41.0), "8xH100"),
        (TaskType::Dpo, b(1.5), "2xH100"),
        (TaskType::Dpo, b(1.3), "1xH100"),
        (TaskType::Dpo, b(14.0), "8xH100"),
        (TaskType::Grpo, b(2.0), "1xH100"),
        (TaskType::Grpo, b(6.0), "2xH100"),
        (TaskType::Grpo, b(20.0), "4xH100"),
        (TaskType::Grpo, b(20.5), "8xH100"),
    ];
    for (t, p, want) in table {
        assert_eq!(req(t, p), want, "{t} {p:?}");
    }
}

/// A training named by its task.
fn key(task: &str) -> TrainingKey {
    TrainingKey::new(TaskId::parse(task).unwrap(), Hotkey::synthetic(1))
}

fn node(id: &str, h100: u32, a100: u32, held: &[u32]) -> NodeView {
    let gpus = (0..h100 + a100)
        .map(|i| GpuSlot {
            index: i,
            class: if i < h100 { GpuClass::H100 } else { GpuClass::A100 },
            holder: held.contains(&i).then(|| key("busy")),
        })
        .collect();
    NodeView { id: NodeId::parse(id).unwrap(), fenced: false, gpus }
}

const TWO_H100: GpuRequirement = GpuRequirement { class: GpuClass::H100, count: 2 };

#[test]
fn tightest_fit_picks_the_node_left_with_fewest_free_gpus() {
    let nodes = [node("big", 8, 0, &[]), node("snug", 4, 0, &[0]), node("tiny", 1, 0, &[])];
    let p = place(TWO_H100, &nodes).unwrap();
    assert_eq!(p, Placement { node_id: NodeId::parse("snug").unwrap(), gpu_indices: vec![1, 2] });
}

#[test]
fn fenced_and_full_nodes_host_nothing() {
    let mut fenced = node("fenced", 8, 0, &[]);
    fenced.fenced = true;
    assert_eq!(place(TWO_H100, &[fenced, node("full", 2, 0, &[1])]), None);
}

#[test]
fn image_tasks_need_the_a100_class() {
    let a100 = GpuRequirement { class: GpuClass::A100, count: 1 };
    assert_eq!(place(a100, &[node("h", 8, 0, &[])]), None);
    assert_eq!(place(a100, &[node("mixed", 2, 2, &[2])]).unwrap().gpu_indices, vec![3]);
}

/// Placing the whole queue in order, job by job, a job that does not fit not blocking smaller ones
/// behind it: what `GpuQueue::place` must match.
fn one_by_one(queue: &[QueuedJob], nodes: &[NodeView]) -> Vec<(TrainingKey, Placement)> {
    let mut order: Vec<&QueuedJob> = queue.iter().collect();
    order.sort_by(|a, b| (a.priority, a.enqueued, &a.key).cmp(&(b.priority, b.enqueued, &b.key)));
    let mut nodes = nodes.to_vec();
    let mut placed = Vec::new();
    for job in order {
        let Some(placement) = place(job.requirement, &nodes) else { continue };
        let node = nodes.iter_mut().find(|n| n.id == placement.node_id).unwrap();
        for gpu in node.gpus.iter_mut().filter(|g| placement.gpu_indices.contains(&g.index)) {
            gpu.holder = Some(job.key.clone());
        }
        placed.push((job.key.clone(), placement));
    }
    placed
}

/// The jobs `GpuQueue::place` places from `queue` on `nodes`, in order, and the queue after it.
fn queued(queue: &[QueuedJob], nodes: &mut [NodeView]) -> (Vec<(TrainingKey, Placement)>, GpuQueue<()>) {
    let mut waiting = GpuQueue::new();
    for job in queue {
        assert!(waiting.push(job.clone(), ()).is_none());
    }
    let placed = waiting.place(nodes).into_iter().map(|(job, p, ())| (job.key, p)).collect();
    (placed, waiting)
}

#[test]
fn organic_jobs_go_first_then_oldest() {
    let one = GpuRequirement { class: GpuClass::H100, count: 1 };
    let job = |name: &str, priority, enqueued| QueuedJob { key: key(name), priority, enqueued, requirement: one };
    let queue = [
        job("bench", JobPriority::Benchmark, 0),
        job("tourn-new", JobPriority::Tournament, 9),
        job("tourn-old", JobPriority::Tournament, 1),
        job("organic", JobPriority::Organic, 5),
    ];
    let (placed, waiting) = queued(&queue, &mut [node("n", 3, 0, &[])]);
    let placed: Vec<String> = placed.into_iter().map(|(k, _)| k.task.to_string()).collect();
    assert_eq!(placed, vec!["organic", "tourn-old", "tourn-new"]);
    assert_eq!(waiting.len(), 1);
    assert!(waiting.contains(&key("bench")));
}

#[test]
fn a_big_job_that_does_not_fit_does_not_block_small_ones() {
    let big = QueuedJob {
        key: key("big"),
        priority: JobPriority::Tournament,
        enqueued: 0,
        requirement: GpuRequirement { class: GpuClass::H100, count: 8 },
    };
    let small = QueuedJob { key: key("small"), enqueued: 1, requirement: TWO_H100, ..big.clone() };
    let mut nodes = [node("n", 4, 0, &[])];
    let (placed, mut waiting) = queued(&[big, small], &mut nodes);
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0].0, key("small"));
    // The placed job's GPUs are held on the nodes; the big job waits until a node can host it.
    assert_eq!(nodes[0].gpus.iter().filter(|g| g.holder == Some(key("small"))).count(), 2);
    assert!(waiting.place(&mut nodes).is_empty());
    let mut bigger = [node("n", 4, 0, &[]), node("m", 8, 0, &[])];
    let again = waiting.place(&mut bigger);
    assert_eq!(again.iter().map(|(job, _, ())| job.key.clone()).collect::<Vec<_>>(), [key("big")]);
    assert!(waiting.is_empty());
}

#[test]
fn a_job_pushed_again_replaces_the_waiting_one_and_removed_jobs_are_gone() {
    let one = GpuRequirement { class: GpuClass::H100, count: 1 };
    let job = QueuedJob { key: key("j"), priority: JobPriority::Tournament, enqueued: 1, requirement: one };
    let mut waiting = GpuQueue::new();
    assert!(waiting.push(job.clone(), "first").is_none());
    let again = QueuedJob { requirement: TWO_H100, ..job.clone() };
    assert_eq!(waiting.push(again, "second"), Some((job, "first")));
    assert_eq!(waiting.len(), 1);
    let other = QueuedJob { key: key("k"), priority: JobPriority::Benchmark, enqueued: 0, requirement: one };
    waiting.push(other, "other");
    let taken = waiting.take_where(|job, _| job.priority == JobPriority::Benchmark);
    assert_eq!(taken.into_iter().map(|(_, p)| p).collect::<Vec<_>>(), ["other"]);
    assert_eq!(waiting.remove(&key("j")).map(|(j, p)| (j.requirement, p)), Some((TWO_H100, "second")));
    assert!(waiting.is_empty() && waiting.place(&mut [node("n", 8, 0, &[])]).is_empty());
}

/// A random queue: requirements from A100 to 8xH100, three priorities, enqueue times that tie.
fn random_queue() -> impl Strategy<Value = Vec<QueuedJob>> {
    let job = (0u32..5, 0usize..3, 0i64..6);
    proptest::collection::vec(job, 0..40).prop_map(|jobs| {
        let priorities = [JobPriority::Organic, JobPriority::Tournament, JobPriority::Benchmark];
        jobs.into_iter()
            .enumerate()
            .map(|(i, (size, priority, enqueued))| QueuedJob {
                key: key(&format!("j{i}")),
                priority: priorities[priority],
                enqueued,
                requirement: match size {
                    0 => GpuRequirement { class: GpuClass::A100, count: 1 },
                    s => GpuRequirement { class: GpuClass::H100, count: 1 << (s - 1) },
                },
            })
            .collect()
    })
}

/// A random fleet: nodes of H100s and A100s, some GPUs held, some nodes fenced.
fn random_nodes() -> impl Strategy<Value = Vec<NodeView>> {
    proptest::collection::vec((0u32..9, 0u32..5, 0u32..256, proptest::bool::weighted(0.2)), 1..6).prop_map(|nodes| {
        nodes
            .into_iter()
            .enumerate()
            .map(|(i, (h100, a100, held, fenced))| {
                let held: Vec<u32> = (0..h100 + a100).filter(|g| held & (1 << g) != 0).collect();
                NodeView { fenced, ..node(&format!("n{i}"), h100, a100, &held) }
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn the_queue_places_what_placing_one_by_one_places(queue in random_queue(), nodes in random_nodes()) {
        let mut on = nodes.clone();
        let (placed, waiting) = queued(&queue, &mut on);
        prop_assert_eq!(&placed, &one_by_one(&queue, &nodes));
        prop_assert_eq!(waiting.len() + placed.len(), queue.len());
        let mut used = std::collections::HashSet::new();
        for (key, p) in &placed {
            let job = queue.iter().find(|j| &j.key == key).unwrap();
            prop_assert_eq!(p.gpu_indices.len() as u32, job.requirement.count);
            let node = on.iter().find(|n| n.id == p.node_id).unwrap();
            prop_assert!(!node.fenced);
            for i in &p.gpu_indices {
                prop_assert!(used.insert((p.node_id.clone(), *i)), "GPU booked twice");
                let gpu = &node.gpus[*i as usize];
                prop_assert_eq!(gpu.class, job.requirement.class);
                prop_assert_eq!(gpu.holder.as_ref(), Some(key));
            }
        }
    }
}
