use super::*;
use crate::domain::NodeTaskStatus;
use crate::exec::remote::wire::{StartAnswer, parse_start_answer, parse_task_report, start_body};

fn job(task_type: TaskType) -> TrainingJob {
    TrainingJob {
        tournament_id: TournamentId::new(5, 2026, 11, 25),
        task_id: TaskId::parse("3f2a9c1e-0000-4000-8000-000000000001").unwrap(),
        hotkey: Hotkey::synthetic(3),
        attempt: 2,
        task_type,
        model: "org/Model-7B".into(),
        model_params: Some(7_000_000_000),
        model_type: (task_type == TaskType::Image).then_some(ModelType::Flux),
        dataset: if task_type == TaskType::Image { "https://x/d.zip".into() } else { "org/data".into() },
        dataset_type_json: if task_type == TaskType::Image {
            String::new()
        } else {
            r#"{"field_prompt":"p","field_chosen":"c"}"#.into()
        },
        file_format: if task_type == TaskType::Image {
            crate::domain::FileFormat::S3
        } else {
            crate::domain::FileFormat::Json
        },
        hours_to_complete: 2.5,
        expected_repo_name: "tournament-x".into(),
        repo_url: "https://github.com/m/r".into(),
        commit_hash: "a".repeat(40),
        placement: Placement { node_id: crate::domain::NodeId::parse("gpu-host-1").unwrap(), gpu_indices: vec![2, 3] },
    }
}

#[test]
fn a_validator_job_crosses_the_wire_unchanged_but_for_its_node() {
    for task_type in [TaskType::Dpo, TaskType::Image] {
        let sent = job(task_type);
        let body = start_body(&sent);
        let parsed = parse_start(body.to_string().as_bytes()).unwrap();
        let expected = TrainingJob {
            placement: Placement { node_id: crate::domain::NodeId::local(), ..sent.placement.clone() },
            ..sent
        };
        assert_eq!(parsed.job, expected);
        assert_eq!(parsed.attempt, Some(2));
        assert_eq!(Value::Object(parsed.raw), body);
    }
}

#[test]
fn the_text_and_image_shapes_are_the_references() {
    let text = start_body(&job(TaskType::InstructText));
    let keys: Vec<&str> = text["training_data"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["model", "task_id", "hours_to_complete", "expected_repo_name", "dataset", "dataset_type", "file_format"]
    );
    assert!(text["training_data"]["dataset_type"].is_object());
    let image = start_body(&job(TaskType::Image));
    assert_eq!(image["training_data"]["model_type"], "flux");
    assert_eq!(image["training_data"]["dataset_zip"], "https://x/d.zip");
    assert_eq!(image["gpu_ids"], json!([2, 3]));
}

#[test]
fn a_reference_request_without_extras_gets_an_inferred_type_and_a_stand_in_tournament() {
    let body = json!({
        "training_data": {
            "model": "m", "task_id": "t-1", "hours_to_complete": 1, "expected_repo_name": "r",
            "dataset": "d", "dataset_type": {"field_prompt": "p", "reward_functions": []}, "file_format": "s3"
        },
        "github_repo": "https://github.com/m/r", "github_commit_hash": null, "github_branch": "dev",
        "gpu_ids": [0], "hotkey": Hotkey::synthetic(1)
    });
    let parsed = parse_start(body.to_string().as_bytes()).unwrap();
    assert_eq!(parsed.job.task_type, TaskType::Grpo);
    assert_eq!(parsed.job.commit_hash, "dev");
    assert_eq!((parsed.attempt, parsed.job.attempt), (None, 1));
    let again = parse_start(body.to_string().as_bytes()).unwrap();
    assert_eq!(parsed.job.tournament_id, again.job.tournament_id, "the stand-in is stable");
}

#[test]
fn every_bad_request_names_its_field_as_pydantic_would() {
    let good = start_body(&job(TaskType::Dpo));
    let text = ["body", "training_data", "TrainRequestText"];
    let cases: [(&str, Value, &str, &str); 8] = [
        ("/hotkey", Value::Null, "string_type", "hotkey"),
        ("/hotkey", json!("not base58!"), "value_error", "hotkey"),
        ("/gpu_ids", json!("0"), "list_type", "gpu_ids"),
        ("/gpu_ids", json!([]), "too_short", "gpu_ids"),
        ("/training_data/hours_to_complete", json!("two"), "float_parsing", "hours_to_complete"),
        ("/training_data/hours_to_complete", json!(-1), "value_error", "hours_to_complete"),
        ("/training_data/task_id", json!("a/b"), "value_error", "task_id"),
        ("/github_repo", json!(""), "string_too_short", "github_repo"),
    ];
    for (pointer, value, kind, field) in cases {
        let mut body = good.clone();
        *body.pointer_mut(pointer).unwrap() = value;
        let issues = parse_start(body.to_string().as_bytes()).unwrap_err();
        assert_eq!(issues.len(), 1, "{pointer}: {issues:?}");
        assert_eq!(issues[0].kind, kind, "{pointer}: {issues:?}");
        let mut loc = if pointer.starts_with("/training_data") { text.to_vec() } else { vec!["body"] };
        loc.push(field);
        assert_eq!(issues[0].loc, loc.iter().map(|l| json!(l)).collect::<Vec<_>>(), "{pointer}");
    }
    assert_eq!(parse_start(b"{").unwrap_err()[0].kind, "json_invalid");
    assert_eq!(parse_start(b"[1]").unwrap_err()[0].kind, "model_attributes_type");
    assert_eq!(parse_start(b"null").unwrap_err()[0].kind, "missing");
}

#[test]
fn a_missing_repository_name_is_derived_and_kept_in_the_record() {
    let mut body = start_body(&job(TaskType::InstructText));
    body["training_data"]["expected_repo_name"] = Value::Null;
    let parsed = parse_start(body.to_string().as_bytes()).unwrap();
    let expected =
        crate::domain::ids::expected_repo_name(&parsed.job.tournament_id, &parsed.job.task_id, &parsed.job.hotkey);
    assert_eq!(parsed.job.expected_repo_name, expected, "our validator's tournament id names it");
    assert_eq!(parsed.raw["training_data"]["expected_repo_name"], json!(expected));
    body.as_object_mut().unwrap().remove("tournament_id");
    let parsed = parse_start(body.to_string().as_bytes()).unwrap();
    assert_eq!(parsed.job.expected_repo_name, format!("organic_{}", parsed.job.task_id));
    assert_eq!(parsed.job.file_format, crate::domain::FileFormat::Json);
}

#[test]
fn task_reports_read_from_our_node_and_from_a_reference_node() {
    let ours = json!({"status": "success", "logs": ["a", "b"], "attempt": 2, "test_loss": 0.5, "synth_loss": null,
                      "failure_kind": null});
    let report = parse_task_report(ours.to_string().as_bytes()).unwrap();
    assert_eq!((report.status, report.test_loss, report.attempt), (NodeTaskStatus::Success, Some(0.5), Some(2)));
    let reference = json!({"status": "failure", "logs": "line 1\nError cloning github repository", "wandb_url": null});
    let report = parse_task_report(reference.to_string().as_bytes()).unwrap();
    assert_eq!(report.logs, ["line 1", CLONE_ERROR]);
    assert_eq!((report.test_loss, report.failure), (None, None));
    assert!(parse_task_report(br#"{"status": "done"}"#).unwrap_err().contains("field `status`"));
    assert!(parse_task_report(b"<html>").unwrap_err().contains("not JSON"));
}

#[test]
fn start_answers_are_the_references_messages() {
    assert_eq!(parse_start_answer(br#"{"message": "Started Training!", "task_id": "t"}"#), Ok(StartAnswer::Started));
    let clone =
        br#"{"message": "Error cloning github repository", "task_id": "t", "error": "no commit", "success": false}"#;
    assert_eq!(parse_start_answer(clone), Ok(StartAnswer::CloneError("no commit".into())));
    assert!(parse_start_answer(br#"{"message": "ok"}"#).unwrap_err().contains("unexpected message"));
}

#[test]
fn a_cancel_request_is_what_the_validator_sends_and_every_problem_is_named() {
    let job = job(TaskType::InstructText);
    let body = crate::exec::remote::wire::cancel_body(&job);
    let parsed = parse_cancel(body.to_string().as_bytes()).unwrap();
    assert_eq!(parsed, CancelRequest { task_id: job.task_id.clone(), hotkey: job.hotkey.clone(), attempt: Some(2) });
    let any_attempt = json!({ "task_id": job.task_id, "hotkey": job.hotkey });
    assert_eq!(parse_cancel(any_attempt.to_string().as_bytes()).unwrap().attempt, None);

    let issues = parse_cancel(br#"{"task_id": "", "hotkey": 7, "attempt": 0}"#).unwrap_err();
    let named: Vec<(&str, Value)> = issues.iter().map(|i| (i.kind, i.loc.last().cloned().unwrap())).collect();
    assert_eq!(
        named,
        [("string_too_short", json!("task_id")), ("string_type", json!("hotkey")), ("value_error", json!("attempt"))]
    );
    assert_eq!(parse_cancel(b"[1]").unwrap_err()[0].kind, "model_attributes_type");
    assert_eq!(parse_cancel(b"null").unwrap_err()[0].kind, "missing");
}
