use proptest::prelude::*;

use super::*;
use crate::domain::node_spec::NodeSpec;

fn fleet(spec: &str) -> Vec<NodeView> {
    NodeSpec::parse(spec).unwrap().views()
}

fn job(class: GpuClass, count: u32, hours: f64) -> PackJob {
    PackJob { requirement: GpuRequirement { class, count }, hours }
}

const PURE_REFERENCE: Policy = Policy::Reference { start_secs: 0.0, skip_secs: 0.0 };

#[test]
fn a_big_job_then_small_ones_fill_a_node_in_two_waves() {
    let mut jobs = vec![job(GpuClass::H100, 8, 1.0)];
    jobs.extend((0..8).map(|_| job(GpuClass::H100, 1, 1.0)));
    let nodes = fleet("1x8H100");
    assert_eq!(lower_bound(&jobs, &nodes), 2.0);
    for policy in [Policy::Crucible, PURE_REFERENCE] {
        let packed = pack(&jobs, &nodes, policy).unwrap();
        assert_eq!(packed.makespan_hours, 2.0, "{policy:?}");
        assert_eq!(packed.starts, [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], "{policy:?}");
    }
}

#[test]
fn the_reference_pauses_after_each_start_and_each_job_it_cannot_place() {
    // Two GPUs: the first two jobs start 10 s apart; the third is skipped (1 s) until the first ends.
    let jobs = [job(GpuClass::H100, 1, 1.0), job(GpuClass::H100, 1, 2.0), job(GpuClass::H100, 1, 1.0)];
    let packed = pack(&jobs, &fleet("1x2H100"), Policy::REFERENCE).unwrap();
    let secs = |s: f64| s / 3600.0;
    assert_eq!(packed.starts, [0.0, secs(10.0), 1.0]);
    assert_eq!(packed.makespan_hours, 2.0 + secs(10.0));
    assert_eq!(pack(&jobs, &fleet("1x2H100"), Policy::Crucible).unwrap().makespan_hours, 2.0);
}

#[test]
fn the_lower_bound_is_the_longest_job_or_a_class_s_gpu_hours_over_its_gpus() {
    let nodes = fleet("2x8H100,1x4A100");
    assert_eq!(lower_bound(&[job(GpuClass::H100, 1, 5.0)], &nodes), 5.0);
    let a100s: Vec<PackJob> = (0..8).map(|_| job(GpuClass::A100, 1, 2.0)).collect();
    assert_eq!(lower_bound(&a100s, &nodes), 4.0);
    assert_eq!(lower_bound(&[], &nodes), 0.0);
}

#[test]
fn a_job_no_node_can_host_and_a_job_without_time_are_refused() {
    let nodes = fleet("2x4H100");
    assert_eq!(
        pack(&[job(GpuClass::H100, 8, 1.0)], &nodes, Policy::Crucible),
        Err(PackError::NoNodeFits(GpuRequirement { class: GpuClass::H100, count: 8 }))
    );
    assert_eq!(pack(&[job(GpuClass::H100, 1, 0.0)], &nodes, Policy::Crucible), Err(PackError::BadHours(0, 0.0)));
    assert_eq!(pack(&[], &nodes, Policy::Crucible).unwrap().makespan_hours, 0.0);
}

fn jobs() -> impl Strategy<Value = Vec<PackJob>> {
    let one = (0u32..5, 1u32..13).prop_map(|(size, quarter_hours)| {
        let hours = f64::from(quarter_hours) / 4.0;
        match size {
            0 => job(GpuClass::A100, 1, hours),
            s => job(GpuClass::H100, 1 << (s - 1), hours),
        }
    });
    proptest::collection::vec(one, 1..40)
}

/// Every pair of jobs that share a GPU runs at different times, and each ran on its GPU class.
fn check_no_gpu_is_shared_at_once(jobs: &[PackJob], nodes: &[NodeView], packed: &Packed) -> Result<(), TestCaseError> {
    for (i, a) in packed.placements.iter().enumerate() {
        let node = nodes.iter().find(|n| n.id == a.node_id).unwrap();
        prop_assert_eq!(a.gpu_indices.len() as u32, jobs[i].requirement.count);
        for g in &a.gpu_indices {
            prop_assert_eq!(node.gpus.iter().find(|gpu| gpu.index == *g).unwrap().class, jobs[i].requirement.class);
        }
        for (j, b) in packed.placements.iter().enumerate().skip(i + 1) {
            let shared = a.node_id == b.node_id && a.gpu_indices.iter().any(|g| b.gpu_indices.contains(g));
            let (sa, sb) = (packed.starts[i], packed.starts[j]);
            let apart = sa + jobs[i].hours <= sb + 1e-9 || sb + jobs[j].hours <= sa + 1e-9;
            prop_assert!(!shared || apart, "jobs {} and {} share a GPU at once", i, j);
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn every_policy_runs_every_job_once_no_earlier_than_the_lower_bound(jobs in jobs(), spec in 0usize..3) {
        let nodes = fleet(["2x8H100,1x4A100", "1x4H100+2A100,1x8H100,1x1A100", "1x8H100+1A100,2x2H100+1A100"][spec]);
        for policy in [Policy::Crucible, PURE_REFERENCE, Policy::REFERENCE] {
            let packed = pack(&jobs, &nodes, policy).unwrap();
            prop_assert!(packed.starts.iter().all(|s| *s >= 0.0));
            prop_assert!(packed.makespan_hours + 1e-9 >= lower_bound(&jobs, &nodes));
            check_no_gpu_is_shared_at_once(&jobs, &nodes, &packed)?;
        }
    }

    /// On nodes of one class listed in id order, the reference's rule (the node with the fewest free
    /// GPUs that fits, the first on a tie) is crucible's tightest fit.
    #[test]
    fn on_nodes_of_one_class_the_reference_s_rule_places_as_crucible_does(jobs in jobs()) {
        let jobs: Vec<PackJob> = jobs.into_iter().filter(|j| j.requirement.class == GpuClass::H100).collect();
        let nodes = fleet("2x8H100,2x4H100,1x2H100");
        let ours = pack(&jobs, &nodes, Policy::Crucible).unwrap();
        let theirs = pack(&jobs, &nodes, PURE_REFERENCE).unwrap();
        prop_assert_eq!(ours, theirs);
    }
}
