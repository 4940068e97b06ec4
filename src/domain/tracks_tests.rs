use super::*;
use crate::domain::rules::Rules;

#[test]
fn without_configured_tracks_text_and_image_run_as_the_types_are_configured() {
    let mut rules = Rules::default();
    rules.schedule.interval_hours = 10.0;
    rules.registration.image_fee_rao = 7;
    let tracks = rules.tracks();
    let names: Vec<_> = tracks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["text", "image"]);
    assert!(tracks.iter().all(Track::is_default));
    assert_eq!((tracks[1].fee_rao, tracks[1].interval_hours), (7, 10.0));
    assert_eq!(tracks[0].weight, rules.weights.text);
    assert_eq!(rules.track("image").unwrap().tournament_type, TournamentType::Image);
    assert_eq!(rules.track("text-2"), None);
    assert_eq!(rules.fee_rao("image", TournamentType::Image), 7);
}

#[test]
fn a_configured_track_takes_what_it_leaves_out_from_its_type() {
    let mut rules = Rules::default();
    let share = TypeWeightRules { base: 0.01, cap: 0.05 };
    rules.tracks = vec![
        default_config(TournamentType::Text),
        TrackConfig {
            name: "text-fast".into(),
            tournament_type: TournamentType::Text,
            interval_hours: Some(6.0),
            fee_rao: None,
            weight: Some(share.clone()),
        },
    ];
    rules.weights.text.cap = 0.5;
    assert_eq!(crate::domain::rules::validate(&rules), Vec::<String>::new());
    let fast = rules.track("text-fast").unwrap();
    assert!(!fast.is_default());
    assert_eq!((fast.interval_hours, fast.fee_rao, fast.weight), (6.0, rules.registration.text_fee_rao, share));
    assert_eq!(rules.track("image"), None, "configured tracks replace the defaults");
    rules.tracks[1].fee_rao = Some(5);
    assert_eq!(rules.fee_rao("text-fast", TournamentType::Text), 5);
    assert_eq!(rules.fee_rao("gone", TournamentType::Text), rules.registration.text_fee_rao);
}

#[test]
fn bad_tracks_are_named() {
    let mut rules = Rules::default();
    let track = |name: &str| TrackConfig { name: name.into(), ..default_config(TournamentType::Image) };
    rules.tracks = vec![track("Image"), track("a"), track("a"), track(&"x".repeat(65)), track("-a")];
    rules.tracks[1].interval_hours = Some(0.0);
    rules.tracks[1].weight = Some(TypeWeightRules { base: 0.5, cap: 0.4 });
    let problems = crate::domain::rules::validate(&rules);
    for key in ["[0].name", "[1].interval_hours", "[1].weight", "[2].name: \"a\" names two", "[3].name", "[4].name"] {
        assert!(problems.iter().any(|p| p.starts_with(&format!("rules.tracks{key}"))), "{key}: {problems:?}");
    }
    assert!(problems.iter().any(|p| p.contains("caps sum to")), "{problems:?}");
    assert!(valid_name("text_2") && valid_name("9") && !valid_name(""));
}
