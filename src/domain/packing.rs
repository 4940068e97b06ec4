//! How well a placement policy packs trainings on a fleet: each policy placed on the same jobs,
//! event by event, to the last end (the makespan), against a lower bound no policy can beat.
//!
//! * [`Policy::Crucible`]: the broker's placement ([`GpuQueue`]: priority order, tightest fit), at
//!   every start and every end.
//! * [`Policy::Reference`]: the reference's scheduler (G.O.D `validator/tournament/orchestrator.py`,
//!   `schedule_tasks_for_training` and `_check_suitable_gpus`): jobs in its order (oldest first), each
//!   on the trainer with the largest ratio of GPUs needed to GPUs free (the first in list order on a
//!   tie), on that trainer's first free GPUs of the class; a job that fits nowhere is skipped. Its
//!   passes run back to back: every start is followed by a pause of `start_secs` (its 10 s), every
//!   skipped job by `skip_secs` (its 1 s); a pass that starts nothing waits for the next end. With
//!   both pauses 0 it is its placement rule alone.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::gpu::{GpuRequirement, NodeView, Placement, QueuedJob, could_ever_fit};
use super::gpu_queue::GpuQueue;
use super::ids::{Hotkey, TaskId, TrainingKey};
use super::kinds::{GpuClass, JobPriority};

/// One training to place: the GPUs it holds and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PackJob {
    pub requirement: GpuRequirement,
    pub hours: f64,
}

/// Who places the jobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Policy {
    Crucible,
    Reference { start_secs: f64, skip_secs: f64 },
}

impl Policy {
    /// The reference with its own pauses: 10 s after a start, 1 s after a job it cannot place.
    pub const REFERENCE: Policy = Policy::Reference { start_secs: 10.0, skip_secs: 1.0 };
}

/// Where the jobs ran, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Packed {
    /// When the last job ended, in hours from the start.
    pub makespan_hours: f64,
    /// Each job's start, in hours, in job order.
    pub starts: Vec<f64>,
    /// Each job's node and GPUs, in job order.
    pub placements: Vec<Placement>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PackError {
    #[error("no node of the fleet can ever host {0}")]
    NoNodeFits(GpuRequirement),
    #[error("job {0} has {1} hours: a job takes a finite, positive time")]
    BadHours(usize, f64),
}

/// No placement ends before this: the longest job, and for each GPU class its GPU-hours spread over
/// all its GPUs.
pub fn lower_bound(jobs: &[PackJob], nodes: &[NodeView]) -> f64 {
    let longest = jobs.iter().map(|j| j.hours).fold(0.0, f64::max);
    [GpuClass::H100, GpuClass::A100]
        .into_iter()
        .map(|class| {
            let gpus = nodes.iter().flat_map(|n| &n.gpus).filter(|g| g.class == class).count();
            let work: f64 = jobs
                .iter()
                .filter(|j| j.requirement.class == class)
                .map(|j| f64::from(j.requirement.count) * j.hours)
                .sum();
            if gpus == 0 { 0.0 } else { work / gpus as f64 }
        })
        .fold(longest, f64::max)
}

/// A running job's end, earliest first (then by job index), for a min-heap.
#[derive(Debug, PartialEq)]
struct End(f64, usize);

impl Eq for End {}

impl Ord for End {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then_with(|| other.1.cmp(&self.1))
    }
}

impl PartialOrd for End {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn key(job: usize) -> TrainingKey {
    let task = TaskId::parse(&format!("job-{job}")).expect("a valid task id");
    TrainingKey::new(task, Hotkey::synthetic(job as u64))
}

/// Places `jobs` (in creation order, all waiting at time 0) on `nodes` (all GPUs free, none fenced)
/// with `policy`, to the last end.
pub fn pack(jobs: &[PackJob], nodes: &[NodeView], policy: Policy) -> Result<Packed, PackError> {
    if let Some((i, job)) = jobs.iter().enumerate().find(|(_, j)| !(j.hours.is_finite() && j.hours > 0.0)) {
        return Err(PackError::BadHours(i, job.hours));
    }
    for job in jobs {
        if !could_ever_fit(nodes, job.requirement) {
            return Err(PackError::NoNodeFits(job.requirement));
        }
    }
    let mut nodes: Vec<NodeView> = nodes.to_vec();
    for node in &mut nodes {
        node.fenced = false;
        node.gpus.iter_mut().for_each(|g| g.holder = None);
    }
    // Each job waits with its index.
    let mut queue = GpuQueue::new();
    for (i, job) in jobs.iter().enumerate() {
        let queued = QueuedJob {
            key: key(i),
            priority: JobPriority::Tournament,
            enqueued: i as i64,
            requirement: job.requirement,
        };
        queue.push(queued, i);
    }
    let mut starts = vec![f64::NAN; jobs.len()];
    let mut placements = vec![Placement::unplaced(); jobs.len()];
    let mut running = BinaryHeap::new();
    let mut now = 0.0;
    loop {
        let placed: Vec<(usize, f64, Placement)> = match policy {
            Policy::Crucible => queue.place(&mut nodes).into_iter().map(|(_, at, job)| (job, now, at)).collect(),
            Policy::Reference { start_secs, skip_secs } => {
                let (placed, end) = reference_pass(&mut queue, &mut nodes, &mut running, now, start_secs, skip_secs);
                now = end;
                placed
            }
        };
        for (job, at, placement) in placed {
            starts[job] = at;
            placements[job] = placement;
            running.push(End(at + jobs[job].hours, job));
        }
        if queue.is_empty() {
            break;
        }
        // Wait for the next end (every end at that instant) and free its GPUs. A pass of the reference
        // that started nothing would be repeated until then; the next one starts at that end.
        let End(end, job) = running.pop().expect("a job that fits runs or waits for one that runs");
        free(&mut nodes, &key(job));
        now = f64::max(now, end);
        while running.peek().is_some_and(|next: &End| next.0 <= now) {
            let End(_, job) = running.pop().expect("peeked");
            free(&mut nodes, &key(job));
        }
    }
    let makespan_hours = jobs.iter().zip(&starts).map(|(job, start)| start + job.hours).fold(0.0, f64::max);
    Ok(Packed { makespan_hours, starts, placements })
}

fn free(nodes: &mut [NodeView], key: &TrainingKey) {
    for gpu in nodes.iter_mut().flat_map(|n| n.gpus.iter_mut()).filter(|g| g.holder.as_ref() == Some(key)) {
        gpu.holder = None;
    }
}

/// One pass of the reference's scheduler from `now` over every waiting job, oldest first: the jobs it
/// starts with their start times, and when the pass ends. Jobs that end during the pass free their
/// GPUs as the pass reaches their end.
fn reference_pass(
    queue: &mut GpuQueue<usize>,
    nodes: &mut [NodeView],
    running: &mut BinaryHeap<End>,
    mut now: f64,
    start_secs: f64,
    skip_secs: f64,
) -> (Vec<(usize, f64, Placement)>, f64) {
    let waiting = queue.take_where(|_, _| true);
    let mut placed = Vec::new();
    for (job, index) in waiting {
        while running.peek().is_some_and(|next| next.0 <= now) {
            let End(_, ended) = running.pop().expect("peeked");
            free(nodes, &key(ended));
        }
        match reference_place(job.requirement, nodes) {
            Some((node, positions)) => {
                let node = &mut nodes[node];
                let mut gpu_indices = Vec::new();
                for position in positions {
                    node.gpus[position].holder = Some(job.key.clone());
                    gpu_indices.push(node.gpus[position].index);
                }
                placed.push((index, now, Placement { node_id: node.id.clone(), gpu_indices }));
                now += start_secs / 3600.0;
            }
            None => {
                queue.push(job, index);
                now += skip_secs / 3600.0;
            }
        }
    }
    (placed, now)
}

/// The reference's choice for `req`: the node (by position) with the largest GPUs-needed to GPUs-free
/// ratio among those with enough free GPUs of the class, the first on a tie, and the positions of its
/// first free GPUs of the class.
fn reference_place(req: GpuRequirement, nodes: &[NodeView]) -> Option<(usize, Vec<usize>)> {
    let mut best: Option<(f64, usize, Vec<usize>)> = None;
    for (n, node) in nodes.iter().enumerate() {
        let free: Vec<usize> = (0..node.gpus.len())
            .filter(|&g| node.gpus[g].holder.is_none() && node.gpus[g].class == req.class)
            .take(req.count as usize)
            .collect();
        if free.len() < req.count as usize {
            continue;
        }
        let free_total = node.gpus.iter().filter(|g| g.holder.is_none()).count();
        let ratio = f64::from(req.count) / free_total as f64;
        if best.as_ref().is_none_or(|(b, _, _)| ratio > *b) {
            best = Some((ratio, n, free));
        }
    }
    best.map(|(_, n, free)| (n, free))
}

#[cfg(test)]
#[path = "packing_tests.rs"]
mod tests;
