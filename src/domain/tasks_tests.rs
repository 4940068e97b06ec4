use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use serde_json::json;

use super::*;
use crate::domain::bracket::{BracketRules, organise};
use crate::domain::catalog::{Catalog, CatalogDataset, CatalogError, CatalogModel, HistoricalTask, TaskDraft};
use crate::domain::ids::Hotkey;
use crate::domain::kinds::ModelType;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn bracket(n: usize) -> Bracket {
    let field: Vec<Hotkey> = (0..n as u64).map(Hotkey::synthetic).collect();
    organise(&field, &Hotkey::synthetic(9999), &BracketRules::default(), &mut rng(1))
}

fn boss() -> Bracket {
    Bracket::Knockout { pairs: vec![[Hotkey::synthetic(1), Hotkey::synthetic(2)]], is_final: true }
}

#[test]
fn one_instruct_task_per_group_for_two_hours() {
    let specs = plan_round(TournamentType::Text, &bracket(97), &TaskRules::default(), &mut rng(0));
    assert_eq!(specs.len(), 4);
    for (i, s) in specs.iter().enumerate() {
        assert_eq!(
            s,
            &TaskSpec {
                slot: Slot::Group(i),
                task_type: TaskType::InstructText,
                params_b: Some([0.1, 4.0]),
                hours: Some(2)
            }
        );
    }
}

#[test]
fn one_task_per_pair_with_the_knockout_type_mix() {
    let rules = TaskRules::default();
    let specs = plan_round(TournamentType::Text, &bracket(12), &rules, &mut rng(0));
    assert_eq!(specs.len(), 6);
    assert!(specs.iter().all(|s| s.params_b == Some([0.1, 12.0]) && s.hours.is_none()));
    let mut counts = std::collections::HashMap::new();
    let mut r = rng(5);
    for _ in 0..16_000 {
        *counts.entry(draw_type(&rules.knockout_types, &mut r)).or_insert(0usize) += 1;
    }
    for (t, p) in [(TaskType::InstructText, 0.5), (TaskType::Dpo, 0.1875), (TaskType::Grpo, 0.3125)] {
        let seen = counts[&t] as f64 / 16_000.0;
        assert!((seen - p).abs() < 0.02, "{t}: {seen}");
    }
}

#[test]
fn text_boss_round_has_two_of_each_type() {
    let specs = plan_round(TournamentType::Text, &boss(), &TaskRules::default(), &mut rng(3));
    let types: Vec<TaskType> = specs.iter().map(|s| s.task_type).collect();
    use TaskType::*;
    assert_eq!(types, vec![InstructText, InstructText, Dpo, Dpo, Grpo, Grpo]);
    assert!(specs.iter().all(|s| s.slot == Slot::Pair(0)));
    assert!(specs.iter().all(|s| s.params_b == Some([0.1, 12.0]) || s.params_b == Some([12.0, 71.0])));
}

#[test]
fn image_rounds_have_image_tasks() {
    let rules = TaskRules::default();
    assert_eq!(plan_round(TournamentType::Image, &boss(), &rules, &mut rng(0)).len(), 6);
    let specs = plan_round(TournamentType::Image, &bracket(40), &rules, &mut rng(0));
    assert_eq!(specs.len(), 2);
    assert!(specs.iter().all(|s| s.task_type == TaskType::Image && s.params_b.is_none()));
}

#[test]
fn hours_follow_the_dataset_size() {
    let rules = TaskRules::default();
    let table = [
        (500, 1, 3),
        (5_000, 1, 3),
        (10_000, 2, 4),
        (30_000, 3, 5),
        (60_000, 3, 6),
        (400_000, 4, 6),
        (9_000_000, 4, 6),
    ];
    let mut r = rng(0);
    for (rows, lo, hi) in table {
        let seen: Vec<u32> = (0..200).map(|_| text_hours(rows, &rules, &mut r)).collect();
        assert!(seen.iter().all(|h| (lo..=hi).contains(h)), "{rows} rows");
        assert!(seen.contains(&lo) && seen.contains(&hi), "{rows} rows cover the band");
    }
}

fn catalog() -> Catalog {
    let model = |id: &str, b: f64| CatalogModel { id: id.into(), params: Some((b * 1e9) as u64), model_type: None };
    Catalog {
        models: vec![
            model("small", 1.0),
            model("mid", 8.0),
            model("big", 70.0),
            CatalogModel { id: "sdxl-base".into(), params: None, model_type: Some(ModelType::Sdxl) },
        ],
        datasets: vec![
            CatalogDataset {
                id: "instruct".into(),
                rows: 30_000,
                task_types: vec![TaskType::InstructText],
                dataset_type: json!({"field_instruction": "q"}),
            },
            CatalogDataset {
                id: "prefs".into(),
                rows: 2_000,
                task_types: vec![TaskType::Dpo],
                dataset_type: json!({"field_chosen": "c"}),
            },
            CatalogDataset {
                id: "faces".into(),
                rows: 50,
                task_types: vec![TaskType::Image],
                dataset_type: serde_json::Value::Null,
            },
        ],
        historical: vec![],
        reward_functions: vec![],
    }
}

#[test]
fn drafts_respect_size_range_type_and_hours() {
    let rules = TaskRules::default();
    let spec = TaskSpec {
        slot: Slot::Group(0),
        task_type: TaskType::InstructText,
        params_b: Some([0.1, 4.0]),
        hours: Some(2),
    };
    let d = catalog().draft(&spec, &rules, &mut rng(0)).unwrap();
    assert_eq!((d.model.as_str(), d.dataset.as_str(), d.hours_to_complete), ("small", "instruct", 2));
    let spec = TaskSpec { slot: Slot::Pair(0), task_type: TaskType::Dpo, params_b: Some([12.0, 71.0]), hours: None };
    let d = catalog().draft(&spec, &rules, &mut rng(0)).unwrap();
    assert_eq!(d.model, "big");
    assert!((1..=3).contains(&d.hours_to_complete));
    let spec = TaskSpec { slot: Slot::Pair(0), task_type: TaskType::Image, params_b: None, hours: None };
    let d = catalog().draft(&spec, &rules, &mut rng(0)).unwrap();
    assert_eq!((d.model.as_str(), d.model_type, d.dataset.as_str()), ("sdxl-base", Some(ModelType::Sdxl), "faces"));
}

#[test]
fn an_unservable_spec_names_what_is_missing() {
    let rules = TaskRules::default();
    let spec = TaskSpec { slot: Slot::Pair(0), task_type: TaskType::Grpo, params_b: Some([0.1, 12.0]), hours: None };
    let err = catalog().draft(&spec, &rules, &mut rng(0)).unwrap_err();
    assert_eq!(err, CatalogError::NoDataset(TaskType::Grpo));
    let spec = TaskSpec { params_b: Some([100.0, 200.0]), ..spec };
    assert_eq!(err.to_string(), "the catalog has no dataset for GrpoTask");
    let err = catalog().draft(&spec, &rules, &mut rng(0)).unwrap_err();
    assert_eq!(err.to_string(), "the catalog has no GrpoTask model between 100B and 200B parameters");
}

#[test]
fn a_spec_no_model_fits_is_drawn_at_another_size_of_the_same_type() {
    let rules = TaskRules::default();
    let spec =
        TaskSpec { slot: Slot::Pair(0), task_type: TaskType::InstructText, params_b: Some([20.0, 40.0]), hours: None };
    assert!(matches!(catalog().draft(&spec, &rules, &mut rng(0)), Err(CatalogError::NoModel { .. })));
    let draft = catalog().draft_same_type(&spec, &rules, &mut rng(0)).unwrap();
    assert_eq!(draft.task_type, TaskType::InstructText);
    // A type the catalog has no dataset for still fails, naming it.
    let grpo = TaskSpec { task_type: TaskType::Grpo, ..spec };
    assert_eq!(catalog().draft_same_type(&grpo, &rules, &mut rng(0)), Err(CatalogError::NoDataset(TaskType::Grpo)));
}

#[test]
fn a_replacement_draws_within_twenty_percent_of_the_original_size() {
    let rules = TaskRules::default();
    let spec =
        TaskSpec { slot: Slot::Pair(0), task_type: TaskType::InstructText, params_b: Some([0.1, 100.0]), hours: None };
    let near = spec.near(Some(8_000_000_000));
    let [lo, hi] = near.params_b.unwrap();
    assert!((lo - 6.4).abs() < 1e-9 && (hi - 9.6).abs() < 1e-9, "{lo}..{hi}");
    for seed in 0..20 {
        assert_eq!(catalog().draft(&near, &rules, &mut rng(seed)).unwrap().model, "mid");
    }
    // An image task (no size) keeps its spec.
    let image = TaskSpec { task_type: TaskType::Image, params_b: None, ..spec };
    assert_eq!(image.near(None), image);
}

#[test]
fn boss_round_reuses_proven_historical_tasks() {
    let rules = TaskRules::default();
    let mut cat = catalog();
    let spec =
        TaskSpec { slot: Slot::Pair(0), task_type: TaskType::InstructText, params_b: Some([0.1, 12.0]), hours: None };
    let mut proven = cat.draft(&spec, &rules, &mut rng(1)).unwrap();
    proven.model = "proven-model".into();
    cat.historical = vec![
        HistoricalTask { draft: proven.clone(), successful_scores: 2 },
        HistoricalTask { draft: TaskDraft { model: "unproven".into(), ..proven.clone() }, successful_scores: 1 },
    ];
    let drafts = cat.draft_boss(&[spec.clone(), spec.clone()], &rules, &mut rng(2)).unwrap();
    assert_eq!(drafts[0], proven);
    assert_ne!(drafts[1].model, "unproven");
    let fresh = TaskRules { boss_tasks: BossTaskSource::Fresh, ..rules };
    let drafts = cat.draft_boss(&[spec], &fresh, &mut rng(2)).unwrap();
    assert_ne!(drafts[0].model, "proven-model");
}

#[test]
fn a_catalog_that_cannot_serve_the_rules_names_each_gap_and_where_it_is_drawn() {
    let rules = TaskRules::default();
    // The test catalog has no GRPO dataset, and no chat one (chat is not drawn by default).
    let gaps = catalog().gaps(&rules);
    assert!(gaps.contains(&"knockout rounds: the catalog has no dataset for GrpoTask".to_owned()), "{gaps:?}");
    assert!(gaps.contains(&"boss round: the catalog has no dataset for GrpoTask".to_owned()), "{gaps:?}");
    assert!(!gaps.iter().any(|g| g.contains("ChatTask")), "{gaps:?}");
    let narrow = TaskRules { knockout_params_b: [20.0, 30.0], ..rules.clone() };
    let gaps = catalog().gaps(&narrow);
    assert!(
        gaps.contains(&"knockout rounds: the catalog has no DpoTask model between 20B and 30B parameters".to_owned()),
        "{gaps:?}"
    );
    let no_big = TaskRules { boss_big_probability: 0.0, boss_big_params_b: [500.0, 600.0], ..rules };
    assert!(!catalog().gaps(&no_big).iter().any(|g| g.contains("big models")), "a range never drawn is no gap");
}
