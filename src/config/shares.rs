//! `[simulation.shares]`: how often simulated miners and runs misbehave (the simulator reads them).

use serde::{Deserialize, Serialize};

/// How often simulated things go wrong (`[simulation.shares]` in the configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shares {
    /// Shares of miners that misbehave at registration; together at most 1.
    pub timeout_share: f64,
    pub garbage_share: f64,
    pub no_fee_share: f64,
    pub bad_repo_share: f64,
    /// Probabilities per attempt; together at most 1.
    pub crash_rate: f64,
    pub hang_rate: f64,
    pub no_output_rate: f64,
}

impl Default for Shares {
    fn default() -> Self {
        Self {
            timeout_share: 0.05,
            garbage_share: 0.05,
            no_fee_share: 0.05,
            bad_repo_share: 0.05,
            crash_rate: 0.06,
            hang_rate: 0.02,
            no_output_rate: 0.02,
        }
    }
}

impl Shares {
    /// Nobody misbehaves and no run fails by chance: every miner answers and pays, every run ends as
    /// its executor makes it end.
    pub fn none() -> Self {
        Self {
            timeout_share: 0.0,
            garbage_share: 0.0,
            no_fee_share: 0.0,
            bad_repo_share: 0.0,
            crash_rate: 0.0,
            hang_rate: 0.0,
            no_output_rate: 0.0,
        }
    }

    /// Every problem, naming its key under `simulation.shares.`.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let fields = [
            ("timeout_share", self.timeout_share),
            ("garbage_share", self.garbage_share),
            ("no_fee_share", self.no_fee_share),
            ("bad_repo_share", self.bad_repo_share),
            ("crash_rate", self.crash_rate),
            ("hang_rate", self.hang_rate),
            ("no_output_rate", self.no_output_rate),
        ];
        for (key, value) in fields {
            if !(0.0..=1.0).contains(&value) {
                problems.push(format!("simulation.shares.{key}: must be between 0 and 1"));
            }
        }
        if self.timeout_share + self.garbage_share + self.no_fee_share + self.bad_repo_share > 1.0 {
            problems.push("simulation.shares: the four registration shares together exceed 1".into());
        }
        if self.crash_rate + self.hang_rate + self.no_output_rate > 1.0 {
            problems.push("simulation.shares: the three run rates together exceed 1".into());
        }
        problems
    }
}
