//! Compute rules (tournament-rules.md §6): how many GPUs of which class a task needs, which node hosts
//! it (tightest fit on one node, fenced nodes skipped). `gpu_queue` holds the jobs waiting for GPUs.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ids::{NodeId, TrainingKey};
use super::kinds::{GpuClass, JobPriority, TaskType};

/// The GPU thresholds of text tasks, in billions of (multiplied) parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuRules {
    /// DPO trains a policy and a reference model: its size counts this many times.
    pub dpo_multiplier: f64,
    /// GRPO keeps extra model copies for generation: its size counts this many times.
    pub grpo_multiplier: f64,
    /// Up to this many billions: 1 GPU.
    pub one_gpu_max_b: f64,
    /// Up to this many billions: 2 GPUs.
    pub two_gpus_max_b: f64,
    /// Up to this many billions: 4 GPUs; above: 8.
    pub four_gpus_max_b: f64,
}

impl Default for GpuRules {
    fn default() -> Self {
        Self {
            dpo_multiplier: 3.0,
            grpo_multiplier: 2.0,
            one_gpu_max_b: 4.0,
            two_gpus_max_b: 12.0,
            four_gpus_max_b: 40.0,
        }
    }
}

/// How many GPUs of one class a training holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GpuRequirement {
    pub class: GpuClass,
    pub count: u32,
}

impl fmt::Display for GpuRequirement {
    /// `1xH100`, `2xH100`, `4xH100`, `8xH100`, or `A100` (image tasks take one A100-class GPU).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.class {
            GpuClass::A100 if self.count == 1 => f.write_str("A100"),
            class => write!(f, "{}x{}", self.count, class),
        }
    }
}

/// The GPUs a task needs. `params` is the model's parameter count; unknown size → 1×H100.
pub fn requirement(task_type: TaskType, params: Option<u64>, rules: &GpuRules) -> GpuRequirement {
    let h100 = |count| GpuRequirement { class: GpuClass::H100, count };
    let mut billions = match (task_type, params) {
        (TaskType::Image, _) => return GpuRequirement { class: GpuClass::A100, count: 1 },
        (_, None) => return h100(1),
        (_, Some(params)) => params as f64 / 1e9,
    };
    match task_type {
        TaskType::Dpo => billions *= rules.dpo_multiplier,
        TaskType::Grpo => billions *= rules.grpo_multiplier,
        _ => {}
    }
    if billions <= rules.one_gpu_max_b {
        h100(1)
    } else if billions <= rules.two_gpus_max_b {
        h100(2)
    } else if billions <= rules.four_gpus_max_b {
        h100(4)
    } else {
        h100(8)
    }
}

/// One GPU of a trainer node as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuSlot {
    pub index: u32,
    pub class: GpuClass,
    /// The training that holds it; `None` when free.
    pub holder: Option<TrainingKey>,
}

/// A trainer node with its GPU slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    pub id: NodeId,
    /// A node that stopped answering: none of its GPUs are used until it answers again.
    pub fenced: bool,
    pub gpus: Vec<GpuSlot>,
}

impl NodeView {
    fn free(&self, class: GpuClass) -> impl Iterator<Item = &GpuSlot> {
        self.gpus.iter().filter(move |g| g.class == class && g.holder.is_none())
    }
}

/// Where a training runs: one node, and exactly these GPU indices on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub node_id: NodeId,
    pub gpu_indices: Vec<u32>,
}

impl Placement {
    /// Where a job not placed yet runs: nowhere. A trainer's template job carries it until the broker
    /// places the training.
    pub fn unplaced() -> Self {
        Self { node_id: NodeId::parse("unplaced").expect("a valid node id"), gpu_indices: Vec::new() }
    }
}

/// Picks the node that can host `req` and leaves the fewest free GPUs of that class ("tightest fit");
/// ties go to the node with fewer free GPUs overall, then to the lower id. Takes the lowest free indices.
pub fn place(req: GpuRequirement, nodes: &[NodeView]) -> Option<Placement> {
    nodes
        .iter()
        .filter(|n| !n.fenced)
        .filter_map(|n| {
            let free = n.free(req.class).count();
            let spare = free.checked_sub(req.count as usize)?;
            let total_free = n.gpus.iter().filter(|g| g.holder.is_none()).count();
            Some(((spare, total_free, n.id.as_str()), n))
        })
        .min_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, node)| {
            let mut indices: Vec<u32> = node.free(req.class).map(|g| g.index).collect();
            indices.sort_unstable();
            indices.truncate(req.count as usize);
            Placement { node_id: node.id.clone(), gpu_indices: indices }
        })
}

/// Whether any of `nodes` could ever host `req`: has that many GPUs of its class, held or free, fenced
/// or not (a fenced node may come back).
pub fn could_ever_fit(nodes: &[NodeView], req: GpuRequirement) -> bool {
    nodes.iter().any(|n| n.gpus.iter().filter(|g| g.class == req.class).count() >= req.count as usize)
}

/// A job waiting for GPUs (`gpu_queue` orders and places them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedJob {
    pub key: TrainingKey,
    pub priority: JobPriority,
    /// Monotonic enqueue order (or time in ms): oldest first within a priority.
    pub enqueued: i64,
    pub requirement: GpuRequirement,
}

#[cfg(test)]
#[path = "gpu_tests.rs"]
mod tests;
