//! The reference's response models, transcribed field by field from G.O.D 86623e97 (pydantic, with
//! `extra="forbid"` in mind): every reference route of a finished simulated run's API must parse with
//! them. Keys no model has fail (`deny_unknown_fields`), an `int` field refuses `72.0`, a required key
//! is required even when its value may be `null` (see [`required`]), and enums take only the
//! reference's values. Fields that only later versions of the reference have (gradients-ai/G.O.D) are
//! accepted as optional and marked so.

mod details;
mod operations;
mod schedule;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::api::{TOKEN, call, serve_on};
use super::api_reads::simulated;
use details::{
    DetailedTournamentTaskScore, LatestTournamentsDetailsResponse, TournamentDetailsResponse, TournamentScore,
};
use operations::{
    BalanceEventResponse, ColdkeyBalanceResponse, RefundResponse, TournamentFeesResponse, TrainerInfo, TrainingStats,
};
use schedule::{
    ActiveTournamentsResponse, NextTournamentDates, NextTournamentInfo, TournamentGpuRequirementsResponse,
    TournamentHistoryResponse,
};

type Time = DateTime<FixedOffset>;

/// A nullable key that must be present: serde fills a missing `Option` with `None` unless the field
/// has its own deserializer, so this one makes `str | None` without a default a required key.
fn required<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

/// Parses `value` as `T`, naming the route when it does not.
fn parse<T: serde::de::DeserializeOwned>(route: &str, value: Value) -> T {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{route}: {e}\n{value:#}"))
}

fn get<T: serde::de::DeserializeOwned>(url: &str, route: &str) -> T {
    let (status, value) = call("GET", &format!("{url}{route}"), None, None);
    assert_eq!(status, 200, "{route}: {value}");
    parse(route, value)
}

#[test]
fn the_strict_models_refuse_what_pydantic_with_extra_forbid_refuses() {
    let info = |v: Value| serde_json::from_value::<NextTournamentInfo>(v);
    assert!(info(serde_json::json!({ "tournament_type": "text", "interval_hours": 72 })).is_ok());
    assert!(info(serde_json::json!({ "tournament_type": "text", "interval_hours": 72.0 })).is_err(), "int");
    assert!(info(serde_json::json!({ "tournament_type": "environment" })).is_err(), "enum");
    assert!(info(serde_json::json!({ "tournament_type": "text", "node_id": "n" })).is_err(), "extra key");
    let score = |v: Value| serde_json::from_value::<TournamentScore>(v);
    assert!(score(serde_json::json!({ "hotkey": "h", "score": 1 })).is_ok(), "an int is a valid float");
    let task = serde_json::json!({ "task_id": "t", "group_id": null, "winner": null, "participant_scores": [] });
    assert!(serde_json::from_value::<DetailedTournamentTaskScore>(task).is_err(), "pair_id is required");
}

#[test]
fn every_reference_route_of_a_simulated_run_parses_with_the_reference_models() {
    let (_dir, db, report) = simulated();
    let (url, store, ()) = serve_on(&db);
    for t in &report.tournaments {
        let details: TournamentDetailsResponse = get(&url, &format!("/v1/tournaments/{}/details", t.id));
        assert_eq!(details.tournament_id, t.id.as_str());
        assert!(details.boss_round_performance.is_some());
    }
    let latest: LatestTournamentsDetailsResponse = get(&url, "/v1/tournaments/latest/details");
    assert!(latest.text.is_some() && latest.image.is_some());
    let _: NextTournamentDates = get(&url, "/v1/tournaments/next-dates");
    let _: ActiveTournamentsResponse = get(&url, "/v1/tournaments/active");
    let history: TournamentHistoryResponse = get(&url, "/v1/tournaments/history");
    assert_eq!(history.tournaments.len(), report.tournaments.len());
    let _: TournamentGpuRequirementsResponse = get(&url, "/v1/tournaments/gpu-requirements");
    let trainers: Vec<TrainerInfo> = get(&url, "/v1/tournament_orchestrator/trainers");
    assert!(!trainers.is_empty());
    let _: TrainingStats = get(&url, "/v1/tournament_orchestrator/training_stats");
    let _: TournamentFeesResponse = get(&url, "/tournament/fees");

    let first = crucible::domain::TournamentId::parse(&report.tournaments[0].id).unwrap();
    let paid = store.list_participants(&first).unwrap();
    let coldkey = paid.iter().find_map(|p| p.fee_rao.and(p.coldkey.clone())).expect("a miner paid a fee");
    let _: ColdkeyBalanceResponse = get(&url, &format!("/transfer/balance/{coldkey}"));
    let events: Vec<BalanceEventResponse> = get(&url, &format!("/balance/events/coldkey/{coldkey}"));
    assert!(!events.is_empty());
    let events: Vec<BalanceEventResponse> =
        get(&url, &format!("/balance/events/tournament/{}", report.tournaments[0].id));
    assert!(!events.is_empty());

    // The live shapes too: an active tournament with unfinished tasks, a pending one, a refund.
    let live = super::live_fixture::live_fixture(&store);
    let active: ActiveTournamentsResponse = get(&url, "/v1/tournaments/active");
    assert!(active.text.is_some());
    let _: NextTournamentDates = get(&url, "/v1/tournaments/next-dates");
    let needs: TournamentGpuRequirementsResponse = get(&url, "/v1/tournaments/gpu-requirements");
    assert!(needs.total_tasks > 0);
    let _: Vec<TrainerInfo> = get(&url, "/v1/tournament_orchestrator/trainers");
    let stats: TrainingStats = get(&url, "/v1/tournament_orchestrator/training_stats");
    assert!(stats.training.is_some());
    let _: TournamentDetailsResponse = get(&url, &format!("/v1/tournaments/{}/details", live.active));
    let (status, refund) = call("POST", &format!("{url}/tournament/{}/refund", live.cancelled), Some(TOKEN), None);
    assert_eq!(status, 200, "{refund}");
    let _: RefundResponse = parse("/tournament/{id}/refund", refund);
    let _: Vec<BalanceEventResponse> = get(&url, &format!("/balance/events/tournament/{}", live.cancelled));
}
