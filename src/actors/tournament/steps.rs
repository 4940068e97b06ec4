//! The store-changing steps of a tournament, each one atomic write (group-committed, `store::group`),
//! each followed by its events. The actor reloads its snapshot after every step and decides again.

use std::rc::Rc;

use chrono::Duration as Span;

use super::admission::{admit, cancel};
use super::plan::{self, NewRound};
use crate::actors::Runtime;
use crate::actors::events::Event;
use crate::domain::progress::{NextStep, RoundOutcome, first_round as plan_first_round, next_step};
use crate::domain::{AdmissionOutcome, Hotkey, RoundStatus, TaskId, TournamentStatus};
use crate::store::{EntityKind, StatusChange, StoreError, Tournament, TournamentSnapshot, Tx};

fn catalog_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Conflict(format!("tasks cannot be prepared from the catalog: {e}"))
}

/// One registration attempt, at the time the rules give (now, or `retry_minutes` after the last
/// attempt); activates the tournament with its first round when enough miners are in, cancels it with
/// refunds once the deadline has passed.
pub async fn registration(rt: Rc<Runtime>, tournament: Tournament) -> Result<(), StoreError> {
    let id = tournament.id.clone();
    let log = rt.db.run(move |s| s.transitions(EntityKind::Registration, id.as_str())).await?;
    let retry = Span::seconds((rt.rules.registration.retry_minutes * 60.0).round() as i64);
    let due = log.last().map_or(tournament.created_at, |last| last.at + retry);
    tokio::time::sleep(rt.clock.until(due)).await;
    let candidates = rt.registration.ping_all(&tournament.id, tournament.tournament_type, due).await;
    let at = rt.clock.now();
    let rules = rt.rules.clone();
    let catalog = rt.catalog.clone();
    let t = tournament.clone();
    let (summary, outcome) = rt
        .db
        .write(move |tx| {
            // An operator may have cancelled it while the miners were pinged: charge nobody then.
            tx.hold_tournament(&t.id, TournamentStatus::Pending)?;
            let summary = admit(tx, &t, &candidates, &rules, at)?;
            let cause = format!("registration: {} admitted, {} not admitted", summary.admitted, summary.rejected);
            tx.log_event(EntityKind::Registration, t.id.as_str(), "attempted", &cause, at)?;
            let deadline =
                t.created_at + Span::seconds((rules.registration.registration_deadline_hours * 3600.0).round() as i64);
            let outcome = if summary.admitted >= rules.registration.min_participants {
                tx.set_tournament_status(&t.id, &StatusChange::new(t.status, TournamentStatus::Active, cause, at))?;
                let admitted: Vec<Hotkey> = tx
                    .list_participants(&t.id)?
                    .into_iter()
                    .filter(|p| !p.is_house && p.admission == AdmissionOutcome::Admitted)
                    .map(|p| p.hotkey)
                    .collect();
                let step = plan_first_round(&t.id, t.tournament_type, &admitted, &rules);
                Some(Ok(insert_step(tx, &t, &step, &catalog, &rules, at)?))
            } else if at >= deadline {
                let reason = format!(
                    "only {} of the {} miners needed were admitted by the registration deadline",
                    summary.admitted, rules.registration.min_participants
                );
                cancel(tx, &t, &reason, at)?;
                Some(Err(reason))
            } else {
                None
            };
            Ok((summary, outcome))
        })
        .await?;
    tracing::info!(admitted = summary.admitted, rejected = summary.rejected, "registration attempt");
    let _ = rt.events.send(Event::RegistrationEnded {
        id: tournament.id.clone(),
        admitted: summary.admitted,
        rejected: summary.rejected,
        at,
    });
    match outcome {
        Some(Ok(Some(round))) => announce_round(&rt, &tournament, &round, at),
        Some(Err(reason)) => {
            let _ = rt.events.send(Event::TournamentCancelled { id: tournament.id.clone(), reason, at });
        }
        _ => {}
    }
    Ok(())
}

/// Creates round 1 for an active tournament that has none (it was activated without one).
pub async fn first_round(rt: Rc<Runtime>, snapshot: TournamentSnapshot) -> Result<(), StoreError> {
    let t = snapshot.tournament.clone();
    let admitted: Vec<Hotkey> = snapshot
        .participants
        .iter()
        .filter(|p| !p.is_house && p.admission == AdmissionOutcome::Admitted)
        .map(|p| p.hotkey.clone())
        .collect();
    let step = plan_first_round(&t.id, t.tournament_type, &admitted, &rt.rules);
    let (rules, catalog, at) = (rt.rules.clone(), rt.catalog.clone(), rt.clock.now());
    let tt = t.clone();
    let round = rt.db.write(move |tx| insert_step(tx, &tt, &step, &catalog, &rules, at)).await?;
    if let Some(round) = round {
        announce_round(&rt, &t, &round, at);
    }
    Ok(())
}

/// Replaces tasks that failed round sanity.
pub async fn replace_tasks(
    rt: Rc<Runtime>,
    snapshot: TournamentSnapshot,
    tasks: Vec<TaskId>,
    cause: &'static str,
) -> Result<(), StoreError> {
    let Some(round) = snapshot.rounds.last().cloned() else { return Ok(()) };
    let (rules, catalog, at) = (rt.rules.clone(), rt.catalog.clone(), rt.clock.now());
    let id = snapshot.tournament.id.clone();
    let ids = tasks.clone();
    let replaced = rt
        .db
        .write(move |tx| {
            let mut pairs = Vec::new();
            for old in &ids {
                let Some(old_task) = round.tasks.iter().find(|t| &t.task.id == old) else { continue };
                let (task, trainings) =
                    plan::replacement(&id, &round, &old_task.task, &catalog, &rules, at).map_err(catalog_error)?;
                tx.replace_task(&task, cause, at)?;
                for training in &trainings {
                    tx.insert_training(training)?;
                }
                pairs.push((old.clone(), task.id.clone()));
            }
            Ok(pairs)
        })
        .await?;
    for (task, replacement) in replaced {
        let _ = rt.events.send(Event::TaskReplaced { id: snapshot.tournament.id.clone(), task, replacement, at });
    }
    Ok(())
}

/// Records a decided round and what follows it: the next round, or the tournament's completion.
pub async fn decide_round(
    rt: Rc<Runtime>,
    snapshot: TournamentSnapshot,
    outcome: RoundOutcome,
) -> Result<(), StoreError> {
    let Some(round) = snapshot.rounds.last().cloned() else { return Ok(()) };
    let t = snapshot.tournament.clone();
    let r = round.round.round.clone();
    let step = next_step(&t.id, t.tournament_type, r.number, r.is_final, &outcome, &rt.rules);
    let (rules, catalog, at) = (rt.rules.clone(), rt.catalog.clone(), rt.clock.now());
    let (tt, o, st) = (t.clone(), outcome.clone(), step.clone());
    let pairs = round.round.pairs.clone();
    let new_round = rt
        .db
        .write(move |tx| {
            for (pair, winner) in pairs.iter().zip(&o.pair_winners) {
                tx.set_pair_winner(&pair.id, winner.as_ref())?;
            }
            tx.set_eliminated_in_round(&tt.id, &o.eliminated, r.number)?;
            let cause = format!("{} winners, {} eliminated", o.winners.len(), o.eliminated.len());
            tx.set_round_status(&r.id, &StatusChange::new(r.status, RoundStatus::Completed, cause, at))?;
            insert_step(tx, &tt, &st, &catalog, &rules, at)
        })
        .await?;
    tracing::info!(
        round = r_number(&round),
        winners = outcome.winners.len(),
        eliminated = outcome.eliminated.len(),
        "round decided"
    );
    let _ = rt.events.send(Event::RoundDecided {
        id: t.id.clone(),
        round: round.round.round.number,
        winners: outcome.winners.clone(),
        at,
    });
    match (step, new_round) {
        (NextStep::Complete(done), _) if rt.rules.schedule.require_operator_confirmation => {
            tracing::info!(winner = %done.winner, "decided; waiting for an operator's confirmation");
            let _ = rt.events.send(Event::AwaitingConfirmation { id: t.id.clone(), winner: done.winner, at });
        }
        (NextStep::Complete(done), _) => {
            let _ = rt.events.send(Event::TournamentCompleted {
                id: t.id.clone(),
                tournament_type: t.tournament_type,
                winner: done.winner,
                at,
            });
        }
        (NextStep::Round { .. }, Some(round)) => announce_round(&rt, &t, &round, at),
        _ => {}
    }
    Ok(())
}

/// Writes a planned step: a new active round with its tasks and trainings, or the completion.
fn insert_step(
    tx: &mut Tx<'_>,
    t: &Tournament,
    step: &NextStep,
    catalog: &crate::domain::catalog::Catalog,
    rules: &crate::domain::rules::Rules,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Option<NewRound>, StoreError> {
    match step {
        NextStep::Complete(done) => {
            tx.set_tournament_result(&t.id, &done.winner, done.performance_difference)?;
            if rules.schedule.require_operator_confirmation {
                // Decided but not completed: an operator's confirmation completes it (the actor waits).
                let cause = format!("decided for {}; waiting for an operator's confirmation", done.winner);
                tx.log_event(EntityKind::Tournament, t.id.as_str(), "awaiting confirmation", &cause, at)?;
                return Ok(None);
            }
            let cause = format!("won by {}", done.winner);
            tx.set_tournament_status(
                &t.id,
                &StatusChange::new(TournamentStatus::Active, TournamentStatus::Completed, cause, at),
            )?;
            Ok(None)
        }
        NextStep::Round { number, seed, bracket, tasks } => {
            let with_history;
            let catalog = if bracket.is_final() && rules.tasks.boss_tasks == BossTaskSource::Historical {
                with_history = plan::with_history(tx, catalog, t, rules)?;
                &with_history
            } else {
                catalog
            };
            let new =
                plan::new_round(&t.id, *number, *seed, bracket, tasks, catalog, rules, at).map_err(catalog_error)?;
            tx.insert_round(&new.round)?;
            tx.set_round_status(
                &new.round.round.id,
                &StatusChange::new(RoundStatus::Pending, RoundStatus::Active, "round started", at),
            )?;
            for (task, trainings) in &new.tasks {
                tx.insert_task(task)?;
                for training in trainings {
                    tx.insert_training(training)?;
                }
            }
            Ok(Some(new))
        }
    }
}

use crate::domain::tasks::BossTaskSource;

fn r_number(round: &crate::store::RoundSnapshot) -> u32 {
    round.round.round.number
}

fn announce_round(rt: &Runtime, t: &Tournament, new: &NewRound, at: chrono::DateTime<chrono::Utc>) {
    let r = &new.round.round;
    tracing::info!(round = r.number, kind = %r.kind, is_final = r.is_final, tasks = new.tasks.len(), "round started");
    let players = new.round.groups.iter().map(|g| g.members.len()).sum::<usize>() + new.round.pairs.len() * 2;
    let _ = rt.events.send(Event::RoundStarted {
        id: t.id.clone(),
        round: r.number,
        kind: r.kind,
        is_final: r.is_final,
        players,
        tasks: new.tasks.len(),
        at,
    });
}
