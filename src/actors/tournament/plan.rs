//! Between the stored records and the progression rules: views of a stored round for
//! `domain::progress`, and the records of a new round (round, groups or pairs, tasks, trainings) from a
//! planned step. No IO here; the actor persists what these build.

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

use crate::domain::bracket::Bracket;
use crate::domain::catalog::{Catalog, CatalogError, TaskDraft};
use crate::domain::ids::{expected_repo_name, stable_hash};
use crate::domain::progress::{TaskView, TrainingView, task_id, trainees};
use crate::domain::rules::Rules;
use crate::domain::task_scores::EvalFacts;
use crate::domain::tasks::{Slot, TaskSpec};
use crate::domain::{Hotkey, RoundKind, RoundStatus, TaskStatus, TournamentId, TrainingStatus};
use crate::exec::TrainingJob;
use crate::store::{Group, Pair, Participant, Round, RoundSnapshot, RoundWithBracket, Task, TaskSnapshot, Training};

/// The bracket stored with a round.
pub fn bracket_of(round: &RoundWithBracket) -> Bracket {
    match round.round.kind {
        RoundKind::Group => Bracket::Groups { groups: round.groups.iter().map(|g| g.members.clone()).collect() },
        RoundKind::Knockout => Bracket::Knockout {
            pairs: round.pairs.iter().map(|p| [p.hotkey_a.clone(), p.hotkey_b.clone()]).collect(),
            is_final: round.round.is_final,
        },
    }
}

/// Where a stored task sits in its round's bracket.
pub fn slot_of(round: &RoundWithBracket, task: &Task) -> Option<Slot> {
    if let Some(group) = &task.group_id {
        return round.groups.iter().position(|g| &g.id == group).map(Slot::Group);
    }
    let pair = task.pair_id.as_ref()?;
    round.pairs.iter().position(|p| &p.id == pair).map(Slot::Pair)
}

/// The round's tasks as progression sees them.
pub fn task_views(round: &RoundSnapshot) -> Vec<TaskView> {
    round.tasks.iter().filter_map(|t| task_view(round, t)).collect()
}

/// One task of `round` as the progression rules see it (`None` for a task in no slot of the bracket).
pub fn task_view(round: &RoundSnapshot, t: &TaskSnapshot) -> Option<TaskView> {
    Some(TaskView {
        id: t.task.id.clone(),
        slot: slot_of(&round.round, &t.task)?,
        task_type: t.task.task_type,
        // An accepted task is never replaced, like a replacement.
        is_replacement: t.task.replaces_task_id.is_some() || t.task.status == TaskStatus::Accepted,
        replaced: t.task.status == TaskStatus::Replaced,
        reward_weights: t.task.reward_weights(),
        trainings: t
            .trainings
            .iter()
            .map(|tr| TrainingView {
                hotkey: tr.hotkey.clone(),
                status: tr.status,
                test_loss: tr.test_loss,
                synth_loss: tr.synth_loss,
                eval: tr.eval.clone(),
                reason: tr.failure_reason.clone(),
            })
            .collect(),
    })
}

/// The catalog with the store's proven historical tasks of the tournament's type added (from other
/// tournaments, at least `historical_min_successes` scored trainings), as far as the catalog still
/// offers their model and dataset: a boss round may copy them (tournament-rules.md §5).
pub fn with_history(
    tx: &mut crate::store::Tx<'_>,
    catalog: &Catalog,
    t: &crate::store::Tournament,
    rules: &Rules,
) -> Result<Catalog, crate::store::StoreError> {
    let types: Vec<crate::domain::TaskType> =
        crate::domain::TaskType::ALL.iter().copied().filter(|k| k.tournament_type() == t.tournament_type).collect();
    let mut catalog = catalog.clone();
    for (task, successes) in tx.proven_tasks(&types, rules.tasks.historical_min_successes, &t.id)? {
        let offered = catalog.models.iter().any(|m| m.id == task.model)
            && catalog.datasets.iter().any(|d| d.id == task.dataset && d.task_types.contains(&task.task_type));
        if !offered {
            continue;
        }
        let draft = TaskDraft {
            task_type: task.task_type,
            model: task.model.clone(),
            model_params: task.model_params,
            model_type: task.model_type,
            dataset: task.dataset.clone(),
            dataset_rows: task.dataset_rows,
            dataset_type: serde_json::from_str(&task.dataset_type_json).unwrap_or(serde_json::Value::Null),
            hours_to_complete: task.hours_to_complete.round().max(0.0) as u32,
        };
        catalog.historical.push(crate::domain::catalog::HistoricalTask { draft, successful_scores: successes });
    }
    Ok(catalog)
}

/// A new round with its tasks and trainings, ready to insert.
pub struct NewRound {
    pub round: RoundWithBracket,
    pub tasks: Vec<(Task, Vec<Training>)>,
}

/// Builds the records of round `number` from its bracket and task specs, drawing models and datasets
/// from the catalog with a generator seeded from the round's seed.
#[allow(clippy::too_many_arguments)]
pub fn new_round(
    tournament: &TournamentId,
    number: u32,
    seed: u64,
    bracket: &Bracket,
    specs: &[TaskSpec],
    catalog: &Catalog,
    rules: &Rules,
    at: DateTime<Utc>,
) -> Result<NewRound, CatalogError> {
    let round_id = tournament.round(number);
    let mut rng = ChaCha8Rng::seed_from_u64(stable_hash(format!("{seed}/drafts").as_bytes()));
    let drafts: Vec<TaskDraft> = if bracket.is_final() {
        catalog.draft_boss(specs, &rules.tasks, &mut rng)?
    } else {
        specs.iter().map(|s| catalog.draft_same_type(s, &rules.tasks, &mut rng)).collect::<Result<_, _>>()?
    };
    let (groups, pairs) = match bracket {
        Bracket::Groups { groups } => (
            groups
                .iter()
                .enumerate()
                .map(|(i, members)| Group {
                    id: round_id.group(i as u32 + 1),
                    number: i as u32 + 1,
                    members: members.clone(),
                })
                .collect(),
            Vec::new(),
        ),
        Bracket::Knockout { pairs, .. } => (
            Vec::new(),
            pairs
                .iter()
                .enumerate()
                .map(|(i, [a, b])| Pair {
                    id: round_id.pair(i as u32 + 1),
                    number: i as u32 + 1,
                    hotkey_a: a.clone(),
                    hotkey_b: b.clone(),
                    winner: None,
                })
                .collect(),
        ),
    };
    let round = RoundWithBracket {
        round: Round {
            id: round_id.clone(),
            tournament_id: tournament.clone(),
            number,
            kind: bracket.kind(),
            is_final: bracket.is_final(),
            status: RoundStatus::Pending,
            seed,
            created_at: at,
            completed_at: None,
        },
        groups,
        pairs,
    };
    let tasks = specs
        .iter()
        .zip(drafts)
        .enumerate()
        .map(|(index, (spec, draft))| {
            let task =
                task_record(tournament, &round, spec.slot, task_id(tournament, number, index, 0), draft, None, at);
            let trainings = pending_trainings(&task, &trainees(bracket, spec.slot), at);
            (task, trainings)
        })
        .collect();
    Ok(NewRound { round, tasks })
}

/// A replacement for `old`: same slot and type, a model within ±20 % of the original's size (the
/// round's range when the catalog has none there), the next generation id. Its trainings keep the
/// original's expected repository names ([`name_root`]).
pub fn replacement(
    tournament: &TournamentId,
    round: &RoundSnapshot,
    old: &Task,
    catalog: &Catalog,
    rules: &Rules,
    at: DateTime<Utc>,
) -> Result<(Task, Vec<Training>), CatalogError> {
    let slot = slot_of(&round.round, old).unwrap_or(Slot::Pair(0));
    let root = name_root(round, old);
    let index =
        round.tasks.iter().filter(|t| t.task.replaces_task_id.is_none()).position(|t| t.task.id == root).unwrap_or(0);
    let generation = round.tasks.iter().filter(|t| t.task.replaces_task_id.is_some()).count() as u32 + 1;
    let is_final = round.round.round.is_final;
    let tasks = &rules.tasks;
    let params_b = match (old.task_type, slot) {
        (crate::domain::TaskType::Image, _) => None,
        (_, Slot::Group(_)) => Some(tasks.group_params_b),
        _ if is_final && old.model_params.is_some_and(|p| p as f64 / 1e9 > tasks.boss_params_b[1]) => {
            Some(tasks.boss_big_params_b)
        }
        _ if is_final => Some(tasks.boss_params_b),
        _ => Some(tasks.knockout_params_b),
    };
    let hours = matches!(slot, Slot::Group(_)).then_some(tasks.group_hours);
    let spec = TaskSpec { slot, task_type: old.task_type, params_b, hours };
    let key = format!("{}/replacement/{generation}", round.round.round.seed);
    let mut rng = ChaCha8Rng::seed_from_u64(stable_hash(key.as_bytes()));
    let draft = match catalog.draft(&spec.near(old.model_params), &rules.tasks, &mut rng) {
        Ok(draft) => draft,
        Err(CatalogError::NoModel { .. }) => catalog.draft_same_type(&spec, &rules.tasks, &mut rng)?,
        Err(e) => return Err(e),
    };
    let id = task_id(tournament, round.round.round.number, index, generation);
    let task = task_record(tournament, &round.round, slot, id, draft, Some(old.id.clone()), at);
    let members: Vec<Hotkey> = round
        .tasks
        .iter()
        .find(|t| t.task.id == old.id)
        .map(|t| t.trainings.iter().map(|tr| tr.hotkey.clone()).collect())
        .unwrap_or_default();
    let trainings = pending_trainings(&task, &members, at);
    Ok((task, trainings))
}

/// The task a task's expected repository names are derived from: the original it replaces (through
/// every replacement in between), or itself; as the reference copies the original's names.
pub fn name_root(round: &RoundSnapshot, task: &Task) -> crate::domain::TaskId {
    let mut root = task;
    while let Some(replaced) =
        root.replaces_task_id.as_ref().and_then(|id| round.tasks.iter().find(|t| &t.task.id == id))
    {
        root = &replaced.task;
    }
    root.id.clone()
}

fn task_record(
    tournament: &TournamentId,
    round: &RoundWithBracket,
    slot: Slot,
    id: crate::domain::TaskId,
    draft: TaskDraft,
    replaces: Option<crate::domain::TaskId>,
    at: DateTime<Utc>,
) -> Task {
    let (group_id, pair_id) = match slot {
        Slot::Group(i) => (round.groups.get(i).map(|g| g.id.clone()), None),
        Slot::Pair(i) => (None, round.pairs.get(i).map(|p| p.id.clone())),
    };
    Task {
        id,
        tournament_id: tournament.clone(),
        round_id: round.round.id.clone(),
        group_id,
        pair_id,
        task_type: draft.task_type,
        model: draft.model,
        model_params: draft.model_params,
        dataset: draft.dataset,
        dataset_rows: draft.dataset_rows,
        dataset_type_json: draft.dataset_type.to_string(),
        model_type: draft.model_type,
        hours_to_complete: f64::from(draft.hours_to_complete),
        replaces_task_id: replaces,
        status: TaskStatus::Active,
        created_at: at,
    }
}

fn pending_trainings(task: &Task, hotkeys: &[Hotkey], at: DateTime<Utc>) -> Vec<Training> {
    hotkeys
        .iter()
        .map(|h| Training {
            task_id: task.id.clone(),
            hotkey: h.clone(),
            status: TrainingStatus::Pending,
            attempts: 0,
            failure_reason: None,
            test_loss: None,
            synth_loss: None,
            eval: EvalFacts::default(),
            updated_at: at,
        })
        .collect()
}

/// The executor job of `participant` on `task`, its attempt and GPUs left to fill in; its expected
/// repository name is derived from `named_for` ([`name_root`]).
pub fn job_for(task: &Task, named_for: &crate::domain::TaskId, participant: &Participant) -> TrainingJob {
    TrainingJob {
        tournament_id: task.tournament_id.clone(),
        task_id: task.id.clone(),
        hotkey: participant.hotkey.clone(),
        attempt: 0,
        task_type: task.task_type,
        model: task.model.clone(),
        model_params: task.model_params,
        model_type: task.model_type,
        dataset: task.dataset.clone(),
        dataset_type_json: task.dataset_type_json.clone(),
        file_format: crate::domain::FileFormat::default(),
        hours_to_complete: task.hours_to_complete,
        expected_repo_name: expected_repo_name(&task.tournament_id, named_for, &participant.hotkey),
        repo_url: participant.repo_url.clone(),
        commit_hash: participant.commit_hash.clone(),
        placement: crate::domain::gpu::Placement::unplaced(),
    }
}
