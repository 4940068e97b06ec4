//! Every number the rules use, in one typed value (`[rules]` in `config/default.toml`), with the
//! reference's defaults and a validation that names each offending key.

use serde::{Deserialize, Serialize};

use super::bracket::BracketRules;
use super::gpu::GpuRules;
use super::ids::Hotkey;
use super::kinds::TournamentType;
use super::scoring::ScoringRules;
use super::tasks::{ParamsRange, TaskRules};
use super::tracks::{Track, TrackConfig, default_config};
use super::weights::WeightRules;

/// The reference's house hotkey.
pub const REFERENCE_HOUSE_HOTKEY: &str = "5GU4Xkd3dCGTU3s8VLcHGc5wsD5M8XyxDca5yDQhYm1mVXFu";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// The reserved pseudo-participant that trains with the champion's repository and receives burn.
    pub house_hotkey: Hotkey,
    pub schedule: ScheduleRules,
    pub registration: RegistrationRules,
    pub bracket: BracketRules,
    pub tasks: TaskRules,
    pub gpu: GpuRules,
    pub training: TrainingRules,
    pub scoring: ScoringRules,
    pub weights: WeightRules,
    /// The tournament lines that run at once; empty runs the default `text` and `image` tracks.
    #[serde(default)]
    pub tracks: Vec<TrackConfig>,
}

/// When tournaments are created and how they complete (§3, §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRules {
    /// A new tournament of a type starts this long after the previous one of that type completed.
    pub interval_hours: f64,
    /// Repository and commit the house trains with while there is no champion; the commit is a full
    /// SHA, so every validator's house trains the same code whatever the repository's branches do.
    pub default_base_repo: String,
    pub default_base_commit: String,
    /// Hold a decided tournament for an operator's confirmation before completing it.
    pub require_operator_confirmation: bool,
}

/// Registration (§3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRules {
    pub ping_batch_size: usize,
    pub ping_timeout_secs: f64,
    pub max_response_bytes: usize,
    pub min_participants: usize,
    pub retry_minutes: f64,
    /// Without enough miners by then, the tournament is cancelled and every fee refunded.
    pub registration_deadline_hours: f64,
    pub text_fee_rao: u64,
    pub image_fee_rao: u64,
    /// Admit only the first hotkey (by stake) of each coldkey.
    pub one_entry_per_coldkey: bool,
}

/// Training attempts (§6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingRules {
    /// Real starts per training; failing to start does not count.
    pub max_training_attempts: u32,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            house_hotkey: Hotkey::parse(REFERENCE_HOUSE_HOTKEY).unwrap_or_else(|_| Hotkey::synthetic(0)),
            schedule: ScheduleRules {
                interval_hours: 72.0,
                default_base_repo: "https://github.com/rayonlabs/G.O.D".into(),
                // The reference's DEFAULT_PARTICIPANT_COMMIT.
                default_base_commit: "8631451156e2915070f77e5547ca0d5ed3d0eb8a".into(),
                require_operator_confirmation: false,
            },
            registration: RegistrationRules {
                ping_batch_size: 50,
                ping_timeout_secs: 10.0,
                max_response_bytes: 64 * 1024,
                min_participants: 8,
                retry_minutes: 30.0,
                registration_deadline_hours: 24.0,
                text_fee_rao: 200_000_000,
                image_fee_rao: 150_000_000,
                one_entry_per_coldkey: false,
            },
            bracket: BracketRules::default(),
            tasks: TaskRules::default(),
            gpu: GpuRules::default(),
            training: TrainingRules { max_training_attempts: 2 },
            scoring: ScoringRules::default(),
            weights: WeightRules::default(),
            tracks: Vec::new(),
        }
    }
}

impl RegistrationRules {
    pub fn fee_rao(&self, tournament_type: TournamentType) -> u64 {
        match tournament_type {
            TournamentType::Text => self.text_fee_rao,
            TournamentType::Image => self.image_fee_rao,
        }
    }
}

impl Rules {
    /// The tracks that run: the configured ones, or the default `text` and `image` tracks when none is.
    pub fn tracks(&self) -> Vec<Track> {
        if self.tracks.is_empty() {
            return TournamentType::ALL.iter().map(|t| self.resolve(&default_config(*t))).collect();
        }
        self.tracks.iter().map(|c| self.resolve(c)).collect()
    }

    /// The track named `name`, if it runs.
    pub fn track(&self, name: &str) -> Option<Track> {
        if self.tracks.is_empty() {
            let default = TournamentType::ALL.iter().find(|t| t.as_str() == name)?;
            return Some(self.resolve(&default_config(*default)));
        }
        self.tracks.iter().find(|c| c.name == name).map(|c| self.resolve(c))
    }

    /// The entry fee of a tournament of `track` (of type `tournament_type`): the track's, or the type's
    /// when the track no longer runs.
    pub fn fee_rao(&self, track: &str, tournament_type: TournamentType) -> u64 {
        self.tracks
            .iter()
            .find(|c| c.name == track)
            .and_then(|c| c.fee_rao)
            .unwrap_or_else(|| self.registration.fee_rao(tournament_type))
    }

    fn resolve(&self, c: &TrackConfig) -> Track {
        Track {
            name: c.name.clone(),
            tournament_type: c.tournament_type,
            interval_hours: c.interval_hours.unwrap_or(self.schedule.interval_hours),
            fee_rao: c.fee_rao.unwrap_or_else(|| self.registration.fee_rao(c.tournament_type)),
            weight: c.weight.clone().unwrap_or_else(|| self.weights.of(c.tournament_type).clone()),
        }
    }
}

/// Checks the relations serde cannot; every problem names its key under `rules.`.
pub fn validate(rules: &Rules) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |ok: bool, key: &str, what: &str| {
        if !ok {
            problems.push(format!("rules.{key}: {what}"));
        }
    };
    let positive = |x: f64| x.is_finite() && x > 0.0;
    let fraction = |x: f64| (0.0..=1.0).contains(&x);
    let range = |r: ParamsRange| r[0].is_finite() && r[1].is_finite() && 0.0 <= r[0] && r[0] <= r[1];

    check(positive(rules.schedule.interval_hours), "schedule.interval_hours", "must be a positive number of hours");
    let sha = &rules.schedule.default_base_commit;
    check(
        sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
        "schedule.default_base_commit",
        "must be a full 40-hex commit SHA (a branch would let the house's code change under it)",
    );
    let reg = &rules.registration;
    check(reg.ping_batch_size >= 1, "registration.ping_batch_size", "must be at least 1");
    check(positive(reg.ping_timeout_secs), "registration.ping_timeout_secs", "must be positive");
    check(reg.max_response_bytes >= 64, "registration.max_response_bytes", "must be at least 64 bytes");
    check(reg.min_participants >= 1, "registration.min_participants", "must be at least 1");
    check(positive(reg.retry_minutes), "registration.retry_minutes", "must be positive");
    check(positive(reg.registration_deadline_hours), "registration.registration_deadline_hours", "must be positive");

    let b = &rules.bracket;
    check(b.knockout_max_entrants >= 2, "bracket.knockout_max_entrants", "must be at least 2");
    check(b.group_max_size >= 2, "bracket.group_max_size", "must be at least 2");
    check(b.group_min_size <= b.group_max_size, "bracket.group_min_size", "must not exceed bracket.group_max_size");

    let t = &rules.tasks;
    for (key, r) in [
        ("tasks.group_params_b", t.group_params_b),
        ("tasks.knockout_params_b", t.knockout_params_b),
        ("tasks.boss_params_b", t.boss_params_b),
        ("tasks.boss_big_params_b", t.boss_big_params_b),
    ] {
        check(range(r), key, "must be [low, high] billions with 0 <= low <= high");
    }
    check(t.group_hours >= 1, "tasks.group_hours", "must be at least 1");
    check(
        !t.knockout_types.is_empty()
            && t.knockout_types.iter().all(|w| w.weight >= 0.0 && w.weight.is_finite())
            && t.knockout_types.iter().map(|w| w.weight).sum::<f64>() > 0.0,
        "tasks.knockout_types",
        "needs non-negative weights with a positive sum",
    );
    check(
        t.knockout_types.iter().all(|w| w.task_type.tournament_type() == TournamentType::Text)
            && t.boss_text_types.iter().all(|ty| ty.tournament_type() == TournamentType::Text),
        "tasks.knockout_types",
        "text rounds may only use text task types",
    );
    check(fraction(t.boss_big_probability), "tasks.boss_big_probability", "must be between 0 and 1");
    check(
        t.image_hours[0] >= 1 && t.image_hours[0] <= t.image_hours[1],
        "tasks.image_hours",
        "must be [low, high] with 1 <= low <= high",
    );
    check(!t.text_hours.is_empty(), "tasks.text_hours", "needs at least one band");
    check(
        t.text_hours.windows(2).all(|w| w[0].min_rows < w[1].min_rows)
            && t.text_hours.iter().all(|b| b.min_hours >= 1 && b.min_hours <= b.max_hours),
        "tasks.text_hours",
        "bands must ascend by min_rows with 1 <= min_hours <= max_hours",
    );

    let g = &rules.gpu;
    check(
        positive(g.dpo_multiplier) && positive(g.grpo_multiplier),
        "gpu.dpo_multiplier",
        "multipliers must be positive",
    );
    check(
        positive(g.one_gpu_max_b) && g.one_gpu_max_b <= g.two_gpus_max_b && g.two_gpus_max_b <= g.four_gpus_max_b,
        "gpu.one_gpu_max_b",
        "thresholds must be positive and ascending (one <= two <= four)",
    );
    check(rules.training.max_training_attempts >= 1, "training.max_training_attempts", "must be at least 1");

    let s = &rules.scoring;
    check(s.group_advance >= 1, "scoring.group_advance", "must be at least 1");
    check(fraction(s.boss_threshold_floor), "scoring.boss_threshold_floor", "must be between 0 and 1");
    check(
        fraction(s.boss_threshold_initial) && s.boss_threshold_floor <= s.boss_threshold_initial,
        "scoring.boss_threshold_initial",
        "must be between boss_threshold_floor and 1",
    );
    check(
        s.boss_threshold_decay > 0.0 && s.boss_threshold_decay <= 1.0,
        "scoring.boss_threshold_decay",
        "must be in (0, 1]",
    );

    let w = &rules.weights;
    for (key, tw) in [("weights.text", &w.text), ("weights.image", &w.image)] {
        check(fraction(tw.base) && tw.base <= tw.cap && fraction(tw.cap), key, "needs 0 <= base <= cap <= 1");
    }
    check(
        w.text.cap + w.image.cap <= 1.0 + 1e-12,
        "weights.text.cap",
        "text and image caps together must not exceed 1",
    );
    check(w.decline > 0.0 && w.decline <= 1.0, "weights.decline", "must be in (0, 1]");
    check(fraction(w.participation), "weights.participation", "must be between 0 and 1");
    check(w.performance_threshold >= 0.0, "weights.performance_threshold", "must not be negative");
    check(w.performance_multiplier >= 0.0, "weights.performance_multiplier", "must not be negative");
    check(w.streak_penalty >= 0.0, "weights.streak_penalty", "must not be negative");
    problems.extend(super::tracks::validate(&rules.tracks, &rules.tracks()));
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_defaults_are_valid() {
        assert_eq!(validate(&Rules::default()), Vec::<String>::new());
        assert_eq!(Rules::default().house_hotkey.as_str(), REFERENCE_HOUSE_HOTKEY);
    }

    #[test]
    fn each_bad_value_is_named() {
        let mut rules = Rules::default();
        rules.weights.text.cap = 0.9;
        rules.tasks.boss_big_probability = 1.5;
        rules.bracket.group_min_size = 40;
        let problems = validate(&rules);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("rules.weights.text.cap:")));
        assert!(problems.iter().any(|p| p.starts_with("rules.tasks.boss_big_probability:")));
        assert!(problems.iter().any(|p| p.starts_with("rules.bracket.group_min_size:")));
    }
}
