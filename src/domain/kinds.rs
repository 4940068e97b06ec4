//! The small closed vocabularies of the rules: tournament types, task types, round kinds, statuses of
//! results. Each parses from and prints to the exact strings of the reference's wire format.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A value outside a closed vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?} (expected one of: {})", expected.trim_end_matches([',', ' ']))]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// A closed vocabulary: every value, for messages that list them.
pub trait Vocabulary: Sized + Copy + fmt::Display + FromStr + 'static {
    fn all() -> &'static [Self];
}

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident, $kind:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl Vocabulary for $name {
            fn all() -> &'static [Self] {
                Self::ALL
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(value: &str) -> Result<Self, UnknownVariant> {
                match value {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownVariant {
                        kind: $kind,
                        value: value.to_owned(),
                        expected: concat!($($text, ", "),+),
                    }),
                }
            }
        }
    };
}

vocabulary!(
    /// The two kinds of tournament; they schedule independently.
    TournamentType, "tournament type", { Text => "text", Image => "image" }
);

vocabulary!(
    /// Task types, spelled as the reference spells them.
    TaskType, "task type", {
        InstructText => "InstructTextTask",
        Dpo => "DpoTask",
        Grpo => "GrpoTask",
        Chat => "ChatTask",
        Image => "ImageTask",
    }
);

vocabulary!(
    /// Image model families.
    ModelType, "model type", { Sdxl => "sdxl", Flux => "flux" }
);

vocabulary!(
    /// How a text task's dataset is stored, as the reference's `FileFormat` spells it; the training
    /// container gets it as `--file-format`.
    FileFormat, "file format", { Csv => "csv", Json => "json", Hf => "hf", S3 => "s3" }
);

impl Default for FileFormat {
    /// The reference's tasks are datasets uploaded to object storage.
    fn default() -> Self {
        FileFormat::S3
    }
}

vocabulary!(
    /// Group stage or knockout; the boss round is the final knockout.
    RoundKind, "round kind", { Group => "group", Knockout => "knockout" }
);

vocabulary!(
    /// Whether a training run (and so its evaluation) succeeded.
    RunStatus, "run status", { Success => "success", Failure => "failure" }
);

vocabulary!(
    /// Who takes precedence for scarce GPUs: organic before tournament before benchmark.
    JobPriority, "job priority", { Organic => "organic", Tournament => "tournament", Benchmark => "benchmark" }
);

vocabulary!(
    /// The two GPU classes a training can ask for. Newer cards count in the class configured for them.
    GpuClass, "GPU class", { H100 => "H100", A100 => "A100" }
);

vocabulary!(
    /// The outcome of pinging one miner at registration, stored with a free-text reason.
    AdmissionOutcome, "admission outcome", {
        Admitted => "admitted",
        Timeout => "timeout",
        ConnectionRefused => "connection_refused",
        HttpStatus => "http_status",
        InvalidJson => "invalid_json",
        MissingField => "missing_field",
        GateFailed => "gate_failed",
        BalanceTooLow => "balance_too_low",
        DuplicateColdkey => "duplicate_coldkey",
    }
);

vocabulary!(
    /// Kinds of movement in the append-only fee ledger.
    LedgerKind, "ledger event kind", {
        Credit => "credit",
        ParticipationFee => "participation_fee",
        Refund => "refund",
    }
);

vocabulary!(
    /// The status of a task on a trainer node, spelled as the trainer API spells it.
    NodeTaskStatus, "node task status", { Training => "training", Success => "success", Failure => "failure" }
);

vocabulary!(
    /// Why a task failed on a trainer node: an extra field of our trainer API (the reference has none),
    /// so a validator can tell a run that failed from one that never started.
    NodeFailure, "node failure kind", { Failed => "failed", NotStarted => "not_started", Unfetchable => "unfetchable" }
);

impl TaskType {
    /// The text task type a dataset-type JSON object describes, from its keys (miner-contract.md §3):
    /// any `chat_*` key → Chat; `reward_functions`/`extra_column` → GRPO; a DPO field → DPO; else
    /// Instruct.
    pub fn infer_text<'a>(keys: impl IntoIterator<Item = &'a str>) -> TaskType {
        let keys: Vec<&str> = keys.into_iter().collect();
        let any = |names: &[&str]| keys.iter().any(|k| names.contains(k));
        if keys.iter().any(|k| k.starts_with("chat_")) {
            TaskType::Chat
        } else if any(&["reward_functions", "extra_column"]) {
            TaskType::Grpo
        } else if any(&["field_chosen", "field_rejected", "prompt_format", "chosen_format", "rejected_format"]) {
            TaskType::Dpo
        } else {
            TaskType::InstructText
        }
    }

    /// `GrpoTask` scores a reward (higher is better); every other type scores a loss.
    pub fn higher_is_better(self) -> bool {
        self == TaskType::Grpo
    }

    pub fn tournament_type(self) -> TournamentType {
        match self {
            TaskType::Image => TournamentType::Image,
            _ => TournamentType::Text,
        }
    }
}

impl TournamentType {
    /// The path segment of the miner's registration endpoint (`/training_repo/{text|image}`).
    pub fn endpoint(self) -> &'static str {
        self.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_task_types_are_inferred_from_dataset_type_keys() {
        let cases: [(&[&str], TaskType); 5] = [
            (&["field_instruction", "field_output"], TaskType::InstructText),
            (&["field_prompt", "field_chosen"], TaskType::Dpo),
            (&["field_prompt", "reward_functions"], TaskType::Grpo),
            (&["chat_template", "field_chosen"], TaskType::Chat),
            (&[], TaskType::InstructText),
        ];
        for (keys, expected) in cases {
            assert_eq!(TaskType::infer_text(keys.iter().copied()), expected, "{keys:?}");
        }
    }

    #[test]
    fn task_types_round_trip_through_reference_spelling() {
        for t in TaskType::ALL {
            assert_eq!(t.as_str().parse::<TaskType>().unwrap(), *t);
            assert_eq!(serde_json::to_string(t).unwrap(), format!("\"{}\"", t.as_str()));
        }
        let err = "TextTask".parse::<TaskType>().unwrap_err();
        assert!(err.to_string().contains("unknown task type \"TextTask\""), "{err}");
    }

    #[test]
    fn only_grpo_prefers_higher_values() {
        assert!(TaskType::Grpo.higher_is_better());
        assert!(!TaskType::Dpo.higher_is_better());
        assert_eq!(TaskType::Image.tournament_type(), TournamentType::Image);
        assert_eq!(TaskType::Chat.tournament_type(), TournamentType::Text);
    }
}
