//! The queue of jobs waiting for GPUs (tournament-rules.md §6), indexed so that an event costs
//! O(log n) in the queue: no sort of the whole queue for every release.
//!
//! Jobs wait in one ordered set per requirement (`2xH100`, `A100`, ...), in placement order: organic
//! before tournament before benchmark, oldest first, then by key. Placing takes the first job of all
//! the sets, skipping a set once its first job fits nowhere: the GPUs only get fewer while a pass
//! places, so no later job of that set (same class, same count) can fit either. The jobs placed, and
//! where, are those of placing the whole queue in order, job by job, with a job that does not fit not
//! blocking smaller ones behind it (`gpu_tests.rs` checks both against each other).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::gpu::{GpuRequirement, NodeView, Placement, QueuedJob, place};
use super::ids::TrainingKey;
use super::kinds::{GpuClass, JobPriority};

/// A job's place in the queue.
type Order = (JobPriority, i64, TrainingKey);

/// Jobs waiting for GPUs, each with what its owner keeps with it (`T`).
#[derive(Debug, Clone)]
pub struct GpuQueue<T> {
    /// Per requirement (class, count): the waiting jobs in placement order. No set is empty.
    sets: BTreeMap<(GpuClass, u32), BTreeSet<Order>>,
    jobs: HashMap<TrainingKey, (QueuedJob, T)>,
}

impl<T> Default for GpuQueue<T> {
    fn default() -> Self {
        Self { sets: BTreeMap::new(), jobs: HashMap::new() }
    }
}

fn order(job: &QueuedJob) -> Order {
    (job.priority, job.enqueued, job.key.clone())
}

fn set_of(req: GpuRequirement) -> (GpuClass, u32) {
    (req.class, req.count)
}

impl<T> GpuQueue<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    pub fn contains(&self, key: &TrainingKey) -> bool {
        self.jobs.contains_key(key)
    }

    /// Adds a job; a job of the same key already waiting is replaced and returned.
    pub fn push(&mut self, job: QueuedJob, payload: T) -> Option<(QueuedJob, T)> {
        let replaced = self.remove(&job.key);
        self.sets.entry(set_of(job.requirement)).or_default().insert(order(&job));
        self.jobs.insert(job.key.clone(), (job, payload));
        replaced
    }

    /// Takes a job out of the queue.
    pub fn remove(&mut self, key: &TrainingKey) -> Option<(QueuedJob, T)> {
        let (job, payload) = self.jobs.remove(key)?;
        let set = set_of(job.requirement);
        if let Some(jobs) = self.sets.get_mut(&set) {
            jobs.remove(&order(&job));
            if jobs.is_empty() {
                self.sets.remove(&set);
            }
        }
        Some((job, payload))
    }

    /// Takes out every job `matches` picks, in placement order. O(n): for rare events (a tournament
    /// cancelled, a node removed), not for every placement.
    pub fn take_where(&mut self, mut matches: impl FnMut(&QueuedJob, &T) -> bool) -> Vec<(QueuedJob, T)> {
        let mut keys: Vec<Order> =
            self.jobs.values().filter(|(job, payload)| matches(job, payload)).map(|(job, _)| order(job)).collect();
        keys.sort_unstable();
        keys.into_iter().filter_map(|(_, _, key)| self.remove(&key)).collect()
    }

    /// Places every job that fits on `nodes` now, in placement order, marking their GPUs as held on
    /// `nodes`; returns them with their placements. The rest keep waiting.
    pub fn place(&mut self, nodes: &mut [NodeView]) -> Vec<(QueuedJob, Placement, T)> {
        let mut full: BTreeSet<(GpuClass, u32)> = BTreeSet::new();
        let mut placed = Vec::new();
        loop {
            let next = self
                .sets
                .iter()
                .filter(|(set, _)| !full.contains(*set))
                .filter_map(|(set, jobs)| jobs.first().map(|first| (first, *set)))
                .min_by(|(a, _), (b, _)| a.cmp(b))
                .map(|((_, _, key), set)| (key.clone(), set));
            let Some((key, set)) = next else { break };
            let requirement = GpuRequirement { class: set.0, count: set.1 };
            let Some(placement) = place(requirement, nodes) else {
                full.insert(set);
                continue;
            };
            if let Some(node) = nodes.iter_mut().find(|n| n.id == placement.node_id) {
                for gpu in node.gpus.iter_mut().filter(|g| placement.gpu_indices.contains(&g.index)) {
                    gpu.holder = Some(key.clone());
                }
            }
            let (job, payload) = self.remove(&key).expect("the first job of a set is queued");
            placed.push((job, placement, payload));
        }
        placed
    }
}
