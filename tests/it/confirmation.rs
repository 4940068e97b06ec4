//! `require_operator_confirmation = true`: a decided tournament stays active, with its result stored,
//! until an operator confirms it; a confirmation of anything else is refused.

use std::cell::RefCell;
use std::rc::Rc;

use crucible::actors::Event;
use crucible::actors::control::{ConfirmTournament, ControlError};
use crucible::domain::TournamentStatus;

use super::app::{Play, Running};
use crucible::app::Ended;
use crucible::domain::TournamentType;
use crucible::store::Store;
use std::sync::Arc;

#[test]
fn a_decided_tournament_waits_for_the_operators_confirmation() {
    // No limit on the schedule: the application runs until the watcher stops it, so it never ends
    // between the confirmation and the checks that follow it.
    let store = Arc::new(Store::open("sqlite::memory:").unwrap());
    store.migrate().unwrap();
    let mut play = Play::new(&store, 12, 9, "confirmation-test");
    play.schedule.limit = None;
    play.schedule.types = vec![TournamentType::Text];
    play.settings.rules.schedule.require_operator_confirmation = true;
    let seen: Rc<RefCell<Vec<String>>> = Rc::new(RefCell::new(Vec::new()));
    let first: Rc<RefCell<Option<crucible::domain::TournamentId>>> = Rc::default();
    let (log, watched) = (seen.clone(), first.clone());
    let ended = play.run(
        |simulated, _| Rc::new(simulated),
        move |Running { app, mut events, stop }| {
            let supervisor = app.supervisor().clone();
            actix::spawn(async move {
                while let Some(event) = crucible::actors::events::next(&mut events).await {
                    match event {
                        Event::TournamentCreated { id, .. } if watched.borrow().is_none() => {
                            *watched.borrow_mut() = Some(id.clone());
                            // Nothing is decided yet: refused.
                            let early = supervisor.send(ConfirmTournament { id }).await.unwrap();
                            assert!(matches!(early, Err(ControlError::Conflict(_))), "{early:?}");
                            log.borrow_mut().push("refused before the decision".into());
                        }
                        Event::AwaitingConfirmation { id, winner, .. } => {
                            // A day later the tournament still waits; then the operator confirms.
                            tokio::time::sleep(std::time::Duration::from_secs(86_400)).await;
                            log.borrow_mut().push("still waiting a day later".into());
                            let confirmed = supervisor.send(ConfirmTournament { id: id.clone() }).await.unwrap();
                            assert_eq!(confirmed, Ok(winner));
                            let again = supervisor.send(ConfirmTournament { id }).await.unwrap();
                            assert!(matches!(again, Err(ControlError::Conflict(_))), "{again:?}");
                            log.borrow_mut().push("confirmed once".into());
                        }
                        Event::TournamentCompleted { ref id, .. } if watched.borrow().as_ref() == Some(id) => {
                            log.borrow_mut().push("completed".into());
                            stop.stop();
                        }
                        _ => {}
                    }
                }
            });
        },
    );
    assert_eq!(ended, Ended::Stopped);
    assert_eq!(
        *seen.borrow(),
        ["refused before the decision", "still waiting a day later", "confirmed once", "completed"],
        "in this order"
    );
    let id = first.borrow().clone().unwrap();
    let tournaments = store.list_tournaments(None).unwrap();
    let t = tournaments.iter().find(|t| t.id == id).unwrap();
    assert_eq!(t.status, TournamentStatus::Completed);
    let decided = store.transitions(crucible::store::EntityKind::Tournament, t.id.as_str()).unwrap();
    assert!(decided.iter().any(|e| e.cause.starts_with("confirmed by an operator: won by ")), "{decided:?}");
    // Completed a day after it was decided, not when the boss round ended.
    let waited = decided.iter().find(|e| e.cause.contains("waiting for an operator's confirmation")).unwrap().at;
    assert!(t.completed_at.unwrap() - waited >= chrono::Duration::days(1));
}
