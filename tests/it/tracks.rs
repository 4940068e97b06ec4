//! Tracks: several tournament lines of one type run at the same time, each with its own fee, champion
//! lineage and weight share; operators start a tournament of a named track through the control API.

use std::rc::Rc;
use std::sync::Arc;

use chrono::Utc;
use crucible::app::Ended;
use crucible::config::Settings;
use crucible::domain::tracks::{TrackConfig, default_config};
use crucible::domain::weights::TypeWeightRules;
use crucible::domain::{AdmissionOutcome, TournamentStatus, TournamentType};
use crucible::http::Secret;
use crucible::store::{Store, Tournament};
use serde_json::json;

use super::app::{Play, call, spawn_app};

/// A second text track beside the default one: its own fee and a smaller weight share.
fn side_track() -> TrackConfig {
    TrackConfig {
        name: "text-side".into(),
        tournament_type: TournamentType::Text,
        interval_hours: Some(6.0),
        fee_rao: Some(1_000),
        weight: Some(TypeWeightRules { base: 0.05, cap: 0.2 }),
    }
}

#[test]
fn two_text_tracks_run_at_once_each_with_its_own_fee_champion_and_weight_share() {
    let store = Arc::new(Store::open("sqlite::memory:").unwrap());
    store.migrate().unwrap();
    let mut play = Play::new(&store, 12, 4, "tracks-test");
    play.schedule.types = vec![TournamentType::Text];
    play.schedule.limit = Some(2);
    play.settings.rules.tracks = vec![default_config(TournamentType::Text), side_track()];
    let rules = play.settings.rules.clone();
    assert_eq!(play.run(|simulated, _| Rc::new(simulated), |_| {}), Ended::Finished);

    let of = |track: &str| -> Vec<Tournament> {
        let mut ts = store.list_tournaments(Some(track)).unwrap();
        ts.sort_by_key(|t| t.created_at);
        ts
    };
    let (main, side) = (of("text"), of("text-side"));
    assert_eq!((main.len(), side.len()), (2, 2), "two tournaments per track");
    assert_eq!(store.list_tournaments(None).unwrap().len(), 4);
    for t in main.iter().chain(&side) {
        assert_eq!((t.status, t.tournament_type), (TournamentStatus::Completed, TournamentType::Text), "{}", t.id);
    }
    // The first of each track were live at the same time.
    assert!(side[0].created_at < main[0].completed_at.unwrap() && main[0].created_at < side[0].completed_at.unwrap());
    // Each line defends its own champion: the second of a track, the first's winner of that track.
    for line in [&main, &side] {
        assert_eq!(line[0].base_winner_hotkey, None);
        assert_eq!(line[1].base_winner_hotkey, line[0].winner_hotkey, "{}", line[1].id);
        assert_eq!(line[1].champion_wins, 1);
    }
    // The side track's next tournament waited its own interval, six hours, not the default 72.
    let gap = side[1].created_at - side[0].completed_at.unwrap();
    assert!(gap >= chrono::Duration::hours(6) && gap < chrono::Duration::hours(72), "{gap}");
    // Fees are the track's.
    for (line, fee) in [(&main, rules.registration.text_fee_rao), (&side, 1_000)] {
        let paid: Vec<_> = store
            .list_participants(&line[0].id)
            .unwrap()
            .into_iter()
            .filter(|p| p.admission == AdmissionOutcome::Admitted && !p.is_house)
            .map(|p| p.fee_rao)
            .collect();
        assert!(!paid.is_empty() && paid.iter().all(|f| *f == Some(fee)), "{paid:?}");
    }
    // Weights: one report per track, each with its own share.
    let report = crucible::report::build(&store, &rules, store.last_transition_at().unwrap().unwrap()).unwrap();
    let tracks: Vec<_> = report.weight_details.types.iter().map(|t| (t.track.as_str(), t.winner_weight)).collect();
    assert_eq!(tracks.len(), 2, "{tracks:?}");
    let side_weight = tracks.iter().find(|(name, _)| *name == "text-side").unwrap().1;
    assert!((0.05..=0.2).contains(&side_weight), "{tracks:?}");
    let main_weight = tracks.iter().find(|(name, _)| *name == "text").unwrap().1;
    assert!((rules.weights.text.base..=rules.weights.text.cap).contains(&main_weight), "{tracks:?}");
    let sum: f64 = report.weights.values().sum();
    assert!((sum - 1.0).abs() < 1e-9, "{sum}");
}

#[actix_rt::test]
async fn operators_start_a_tournament_of_a_named_track() {
    const TOKEN: &str = "op-token";
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("validator.db").display());
    let store = Store::open(&db).unwrap();
    store.migrate().unwrap();
    // The side track completed a tournament just now: its next waits for the interval unless asked.
    let mut done = super::app::completed_text_tournament(1, Utc::now());
    done.track = "text-side".into();
    store.insert_tournament(&done).unwrap();
    let configure = |settings: &mut Settings| {
        settings.database.url = db.clone();
        settings.api.token = Secret::new(TOKEN);
        settings.rules.registration.text_fee_rao = 0;
        settings.rules.tracks =
            vec![default_config(TournamentType::Text), TrackConfig { fee_rao: Some(0), ..side_track() }];
    };
    let mut app = spawn_app(configure).await;
    // The default track has no history: its first tournament is created at start.
    let started = app.store.clone();
    app.next(|event| match event {
        crucible::actors::Event::TournamentCreated { id, .. } => {
            (started.get_tournament(id).unwrap().track == "text").then_some(())
        }
        _ => None,
    })
    .await;
    let create = format!("{}/v1/tournaments", app.url);
    let post = async |body| call("POST", &create, Some(TOKEN), Some(body)).await;

    for (body, names) in [
        (json!({ "track": "nope" }), "no track is named \"nope\"; the tracks are text, text-side"),
        (json!({ "track": "text-side", "tournament_type": "image" }), "text-side runs text tournaments, not image"),
        (json!({ "tournament_type": "image" }), "no track is named \"image\""),
        (json!({}), "give a track or a tournament_type"),
    ] {
        let (status, answer) = post(body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(names), "{body}: {answer}");
    }
    let (status, created) = post(json!({ "track": "text-side" })).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!((&created["track"], &created["tournament_type"]), (&json!("text-side"), &json!("text")));
    let id = crucible::domain::TournamentId::parse(created["tournament_id"].as_str().unwrap()).unwrap();
    let t = store.get_tournament(&id).unwrap();
    assert_eq!((t.track.as_str(), t.status), ("text-side", TournamentStatus::Pending));
    let (status, answer) = post(json!({ "track": "text-side", "tournament_type": "text" })).await;
    assert_eq!(status, 409, "one live tournament per track: {answer}");
    assert!(answer["error"].as_str().unwrap().contains("track text-side"), "{answer}");
    // By type, it is the type's default track, live since the start.
    let (status, answer) = post(json!({ "tournament_type": "text" })).await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("track text is"), "{answer}");
    app.shutdown().await;
}
