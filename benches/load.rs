//! The load benchmark: whole simulated tournament cycles (a text and an image tournament, registration
//! to weights) through the real actors and an in-memory SQLite store, on virtual time, at growing
//! numbers of miners. Prints wall time and throughput; the figures go to BENCHMARKS.md.
//!
//! `cargo bench --bench load` (add `-- 64 256` to choose the sizes).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use crucible::actors::Event;
use crucible::domain::rules::Rules;
use crucible::sim::NodeSpec;
use crucible::sim::run::{Execution, SimRun, run};

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![32, 128, 512] } else { sizes };
    let nodes_spec = "16x8H100,8x4A100";
    let nodes = NodeSpec::parse(nodes_spec).expect("a valid node spec");
    println!("fleet {nodes_spec}; in-memory SQLite; virtual time");
    println!(
        "{:>7} {:>10} {:>8} {:>10} {:>14} {:>16}",
        "miners", "trainings", "events", "wall (s)", "trainings/s", "virtual (hours)"
    );
    for miners in sizes {
        let opts = SimRun {
            miners,
            seed: 42,
            db: None,
            nodes: nodes.clone(),
            nodes_spec: nodes_spec.into(),
            shares: Default::default(),
            execution: Execution::Simulated,
            types: crucible::domain::TournamentType::ALL.to_vec(),
            content: None,
        };
        let (trainings, events) = (Rc::new(Cell::new(0usize)), Rc::new(Cell::new(0usize)));
        let (t, e) = (trainings.clone(), events.clone());
        let began = Instant::now();
        let (report, info) = run(&opts, &Rules::default(), move |event| {
            e.set(e.get() + 1);
            if matches!(event, Event::TrainingEnded { .. }) {
                t.set(t.get() + 1);
            }
        })
        .expect("the simulation completes");
        let wall = began.elapsed().as_secs_f64();
        let hours = (info.ended_at - info.started_at).num_seconds() as f64 / 3600.0;
        assert_eq!(report.tournaments.len(), 2);
        println!(
            "{miners:>7} {:>10} {:>8} {wall:>10.3} {:>14.0} {hours:>16.1}",
            trainings.get(),
            events.get(),
            trainings.get() as f64 / wall
        );
    }
}
