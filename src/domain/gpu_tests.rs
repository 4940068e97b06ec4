use proptest::prelude::*;

use super::*;
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
    let placed: Vec<String> =
        schedule(&queue, &[node("n", 3, 0, &[])]).into_iter().map(|(k, _)| k.task.to_string()).collect();
    assert_eq!(placed, vec!["organic", "tourn-old", "tourn-new"]);
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
    let placed = schedule(&[big, small], &[node("n", 4, 0, &[])]);
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0].0, key("small"));
}

proptest! {
    #[test]
    fn scheduling_never_double_books(sizes in proptest::collection::vec(0u32..4, 1..20), free in proptest::collection::vec(1u32..9, 1..5)) {
        let nodes: Vec<NodeView> = free.iter().enumerate().map(|(i, n)| node(&format!("n{i}"), *n, 1, &[])).collect();
        let queue: Vec<QueuedJob> = sizes.iter().enumerate().map(|(i, s)| QueuedJob {
            key: key(&format!("j{i}")),
            priority: JobPriority::Tournament,
            enqueued: i as i64,
            requirement: if *s == 0 { GpuRequirement { class: GpuClass::A100, count: 1 } } else { GpuRequirement { class: GpuClass::H100, count: 1 << (s - 1) } },
        }).collect();
        let placed = schedule(&queue, &nodes);
        let mut used = std::collections::HashSet::new();
        for (key, p) in &placed {
            let job = queue.iter().find(|j| &j.key == key).unwrap();
            prop_assert_eq!(p.gpu_indices.len() as u32, job.requirement.count);
            let node = nodes.iter().find(|n| n.id == p.node_id).unwrap();
            for i in &p.gpu_indices {
                prop_assert!(used.insert((p.node_id.clone(), *i)), "GPU booked twice");
                prop_assert_eq!(node.gpus[*i as usize].class, job.requirement.class);
            }
        }
    }
}
