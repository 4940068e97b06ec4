//! An operator's confirmation of a decided tournament (`require_operator_confirmation`): its boss round
//! is decided and its result stored, but it stays active until the confirmation completes it.

use actix::prelude::*;

use super::TournamentActor;
use crate::actors::Event;
use crate::actors::control::{ConfirmTournament, ControlError};
use crate::domain::TournamentStatus;
use crate::store::{StatusChange, Tournament};

/// Whether the tournament is decided and waits for an operator's confirmation.
pub(super) fn awaiting(t: &Tournament) -> bool {
    t.status == TournamentStatus::Active && t.winner_hotkey.is_some()
}

impl Handler<ConfirmTournament> for TournamentActor {
    type Result = AtomicResponse<Self, Result<crate::domain::Hotkey, ControlError>>;

    /// Completes the tournament if it waits for a confirmation, then reloads: it ends and the actor
    /// stops; anything else is refused with what the tournament is doing.
    fn handle(&mut self, msg: ConfirmTournament, _ctx: &mut Context<Self>) -> Self::Result {
        let (db, id, at) = (self.rt.db.clone(), msg.id, self.rt.clock.now());
        let persist = async move {
            db.write(move |tx| {
                let t = tx.get_tournament(&id)?;
                let Some(winner) = t.winner_hotkey.clone().filter(|_| awaiting(&t)) else {
                    return Ok(Err(t.status));
                };
                let cause = format!("confirmed by an operator: won by {winner}");
                let change = StatusChange::new(t.status, TournamentStatus::Completed, cause, at);
                tx.set_tournament_status(&t.id, &change)?;
                Ok(Ok((winner, t.tournament_type)))
            })
            .await
        };
        AtomicResponse::new(Box::pin(persist.into_actor(self).map(move |result, act, ctx| match result {
            Ok(Ok((winner, tournament_type))) => {
                tracing::info!(tournament = %act.id, %winner, "completion confirmed by an operator");
                let event =
                    Event::TournamentCompleted { id: act.id.clone(), tournament_type, winner: winner.clone(), at };
                let _ = act.rt.events.send(event);
                act.step(ctx, async { Ok(()) });
                Ok(winner)
            }
            Ok(Err(status)) => Err(ControlError::Conflict(format!(
                "tournament {} is {status} and not waiting for a confirmation (its boss round is not decided, or \
                 require_operator_confirmation is off)",
                act.id
            ))),
            Err(e) => Err(e.into()),
        })))
    }
}
