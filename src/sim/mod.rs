//! The simulated world used by `simulate`, the tests and the load benchmark: miners with a seeded skill
//! and behaviour, a trainer fleet, and the task catalog they train on. Everything is a pure function
//! of the seed, so two runs with one seed see the same world.

pub mod executor;
pub mod real;
pub mod registration;
pub mod run;

use serde::{Deserialize, Serialize};

use crate::domain::catalog::{Catalog, CatalogDataset, CatalogModel};
use crate::domain::ids::stable_hash;
use crate::domain::{Coldkey, Hotkey, ModelType, TaskType};

pub use crate::config::Shares;
pub use crate::domain::node_spec::{NodeSpec, NodeSpecError};
pub use executor::SimulatedExecutor;
pub use registration::SimulatedRegistration;

/// How a simulated miner behaves at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    Good,
    /// Does not answer within the timeout.
    TimesOut,
    /// Answers something that is not the expected JSON.
    Garbage,
    /// Its coldkey cannot pay the fee.
    NoFee,
    /// Its repository fails the gates.
    BadRepo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimMiner {
    pub hotkey: Hotkey,
    pub coldkey: Coldkey,
    pub stake: f64,
    /// 0 (poor) to 1 (excellent): lowers the miner's losses.
    pub skill: f64,
    pub behaviour: Behaviour,
}

/// The knobs of the simulated world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimSettings {
    pub miners: usize,
    pub seed: u64,
    pub shares: Shares,
}

impl Default for SimSettings {
    fn default() -> Self {
        Self { miners: 32, seed: 1, shares: Shares::default() }
    }
}

/// A number in [0, 1) drawn from the seed and a key: the same key always draws the same number.
pub fn unit(seed: u64, key: &str) -> f64 {
    // FNV-1a spreads its last bytes poorly into the high bits: finish with the splitmix64 mixer.
    let mut h = stable_hash(format!("{seed}/{key}").as_bytes());
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimWorld {
    pub settings: SimSettings,
    pub miners: Vec<SimMiner>,
}

impl SimWorld {
    pub fn new(settings: SimSettings) -> Self {
        let seed = settings.seed;
        let miners = (0..settings.miners as u64)
            .map(|i| {
                let hotkey = Hotkey::synthetic(seed.wrapping_mul(1_000_003).wrapping_add(i));
                let coldkey = Coldkey::synthetic(seed.wrapping_mul(1_000_003).wrapping_add(i) ^ 0x5eed_c01d);
                let roll = unit(seed, &format!("behaviour/{i}"));
                let s = &settings.shares;
                let behaviour = [
                    (s.timeout_share, Behaviour::TimesOut),
                    (s.garbage_share, Behaviour::Garbage),
                    (s.no_fee_share, Behaviour::NoFee),
                    (s.bad_repo_share, Behaviour::BadRepo),
                ]
                .into_iter()
                .scan(0.0, |edge, (share, b)| {
                    *edge += share;
                    Some((*edge, b))
                })
                .find(|(edge, _)| roll < *edge)
                .map_or(Behaviour::Good, |(_, b)| b);
                SimMiner {
                    hotkey,
                    coldkey,
                    stake: 10.0 + 1000.0 * unit(seed, &format!("stake/{i}")),
                    skill: unit(seed, &format!("skill/{i}")),
                    behaviour,
                }
            })
            .collect();
        Self { settings, miners }
    }

    pub fn miner(&self, hotkey: &Hotkey) -> Option<&SimMiner> {
        self.miners.iter().find(|m| &m.hotkey == hotkey)
    }
}

/// The catalog the simulation draws tasks from: models of every size range the rules use, datasets for
/// every task type.
pub fn catalog() -> Catalog {
    let text = |id: &str, b: f64| CatalogModel { id: id.into(), params: Some((b * 1e9) as u64), model_type: None };
    let image = |id: &str, t| CatalogModel { id: id.into(), params: None, model_type: Some(t) };
    let dataset = |id: &str, rows, types: &[TaskType], mapping: serde_json::Value| CatalogDataset {
        id: id.into(),
        rows,
        task_types: types.to_vec(),
        dataset_type: mapping,
    };
    use serde_json::json;
    Catalog {
        models: vec![
            text("sim/text-0.5b", 0.5),
            text("sim/text-1.5b", 1.5),
            text("sim/text-3b", 3.0),
            text("sim/text-7b", 7.0),
            text("sim/text-8b", 8.0),
            text("sim/text-14b", 14.0),
            text("sim/text-32b", 32.0),
            text("sim/text-70b", 70.0),
            image("sim/sdxl-base", ModelType::Sdxl),
            image("sim/flux-dev", ModelType::Flux),
        ],
        datasets: vec![
            dataset(
                "sim/instruct-8k",
                8_000,
                &[TaskType::InstructText],
                json!({"field_instruction": "instruction", "field_output": "output"}),
            ),
            dataset(
                "sim/instruct-60k",
                60_000,
                &[TaskType::InstructText],
                json!({"field_instruction": "prompt", "field_output": "response"}),
            ),
            dataset(
                "sim/dpo-20k",
                20_000,
                &[TaskType::Dpo],
                json!({"field_prompt": "prompt", "field_chosen": "chosen", "field_rejected": "rejected"}),
            ),
            dataset(
                "sim/grpo-30k",
                30_000,
                &[TaskType::Grpo],
                json!({"field_prompt": "prompt", "reward_functions": []}),
            ),
            dataset(
                "sim/chat-12k",
                12_000,
                &[TaskType::Chat],
                json!({"chat_template": "chatml", "chat_column": "conversations"}),
            ),
            dataset("sim/images-40", 40, &[TaskType::Image], serde_json::Value::Null),
        ],
        historical: vec![],
        reward_functions: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_is_a_function_of_the_seed() {
        let a = SimWorld::new(SimSettings { miners: 50, seed: 7, ..SimSettings::default() });
        assert_eq!(a, SimWorld::new(SimSettings { miners: 50, seed: 7, ..SimSettings::default() }));
        assert_ne!(a, SimWorld::new(SimSettings { miners: 50, seed: 8, ..SimSettings::default() }));
        let hotkeys: std::collections::HashSet<_> = a.miners.iter().map(|m| &m.hotkey).collect();
        assert_eq!(hotkeys.len(), 50);
    }

    #[test]
    fn behaviour_shares_are_respected() {
        let shares = Shares {
            timeout_share: 0.1,
            garbage_share: 0.2,
            no_fee_share: 0.0,
            bad_repo_share: 0.1,
            ..Shares::default()
        };
        let settings = SimSettings { miners: 4000, shares, ..SimSettings::default() };
        let world = SimWorld::new(settings);
        let share = |b| world.miners.iter().filter(|m| m.behaviour == b).count() as f64 / 4000.0;
        assert!((share(Behaviour::TimesOut) - 0.1).abs() < 0.02);
        assert!((share(Behaviour::Garbage) - 0.2).abs() < 0.02);
        assert_eq!(share(Behaviour::NoFee), 0.0);
        assert!((share(Behaviour::Good) - 0.6).abs() < 0.03);
    }
}
