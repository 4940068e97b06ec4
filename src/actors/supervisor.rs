//! Supervisor: schedules tournaments per track and spawns or restores one TournamentActor per live one.
//!
//! Messages: `TournamentEnded` from its tournaments; `CreateTournament`, `CancelTournament`,
//! `ConfirmTournament` and `OverrideTask` from operators (the control API). At start it restores every unfinished tournament
//! from the store; a track without a live tournament gets a new one its `interval_hours` after its last
//! completion (at once when there has never been one). Any number of tracks run at once, each with its
//! own champion lineage. With a limit per track (`simulate`, `bench`), it says when every track has run
//! its share.
//!
//! Restart policy: stateless beyond the store; a restarted supervisor derives every timer from stored
//! completion times.

use std::collections::HashMap;
use std::rc::Rc;

use actix::prelude::*;
use chrono::{Datelike, Duration as Span};

use super::Runtime;
use super::control::{CancelTournament, ConfirmTournament, ControlError, CreateTournament, OverrideTask, RetryStalled};
use super::events::Event;
use super::tournament::{TournamentActor, TournamentEnded};
use crate::domain::backoff::{self, RetryPolicy};
use crate::domain::ids::stable_hash;
use crate::domain::standings;
use crate::domain::tracks::Track;
use crate::domain::{AdmissionOutcome, TournamentId, TournamentStatus, TournamentType};
use crate::store::{Participant, StoreError, Tournament};

pub struct Supervisor {
    rt: Rc<Runtime>,
    live: HashMap<TournamentId, Addr<TournamentActor>>,
    /// At most this many tournaments per track, then stop (for `simulate`); `None` runs forever.
    limit: Option<usize>,
    /// Seeds tournament ids, so a replayed simulation makes the same ids.
    seed: u64,
    /// The tracks scheduled, in configuration order; an operator may still create a tournament of
    /// another configured one.
    tracks: Vec<Track>,
    /// Where each scheduled track is in `tracks`, by name.
    positions: HashMap<String, usize>,
    /// Failed attempts in a row to create each track's next tournament.
    failures: HashMap<String, u32>,
    /// The tracks waiting for their next tournament to be due (or to be created again after a failure).
    waiting: std::collections::HashSet<String>,
    /// Told once every track has run its limit.
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Schedule {
    track: Track,
}

impl Supervisor {
    pub fn new(
        rt: Rc<Runtime>,
        limit: Option<usize>,
        seed: u64,
        types: Vec<TournamentType>,
        done: tokio::sync::oneshot::Sender<()>,
    ) -> Self {
        // The configured tracks of the scheduled types.
        let tracks: Vec<Track> = rt.rules.tracks().into_iter().filter(|t| types.contains(&t.tournament_type)).collect();
        let positions = tracks.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        let (live, failures, waiting) = (HashMap::new(), HashMap::new(), Default::default());
        Self { rt, live, limit, seed, tracks, positions, failures, waiting, done: Some(done) }
    }

    fn spawn(&mut self, ctx: &mut Context<Self>, id: TournamentId) {
        let actor = TournamentActor::new(self.rt.clone(), id.clone(), ctx.address().recipient()).start();
        self.live.insert(id, actor);
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let db = self.rt.db.clone();
        let restore = async move { db.run(|s| s.unfinished_tournaments()).await };
        ctx.wait(restore.into_actor(self).map(|result, act, ctx| {
            let unfinished = result.unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot read unfinished tournaments");
                Vec::new()
            });
            for t in &unfinished {
                tracing::info!(tournament = %t.id, status = %t.status, "restoring tournament");
                act.spawn(ctx, t.id.clone());
            }
            let live: std::collections::HashSet<&str> = unfinished.iter().map(|t| t.track.as_str()).collect();
            for track in &act.tracks {
                if !live.contains(track.name.as_str()) {
                    ctx.notify(Schedule { track: track.clone() });
                }
            }
        }));
    }
}

impl Handler<TournamentEnded> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: TournamentEnded, ctx: &mut Context<Self>) {
        tracing::info!(tournament = %msg.id, status = %msg.status, "tournament ended");
        self.live.remove(&msg.id);
        // The track's next tournament, when it is scheduled here and still configured.
        if let Some(&i) = self.positions.get(&msg.track) {
            ctx.notify(Schedule { track: self.tracks[i].clone() });
        } else {
            self.resolved(ctx, None);
        }
    }
}

impl Handler<CreateTournament> for Supervisor {
    type Result = ResponseActFuture<Self, Result<TournamentId, ControlError>>;

    fn handle(&mut self, msg: CreateTournament, _ctx: &mut Context<Self>) -> Self::Result {
        let Some(track) = self.rt.rules.track(&msg.track) else {
            let names: Vec<String> = self.rt.rules.tracks().into_iter().map(|t| t.name).collect();
            let problem = format!("no track is named {:?}; the tracks are {}", msg.track, names.join(", "));
            return Box::pin(actix::fut::ready(Err(ControlError::Invalid(problem))));
        };
        let name = track.name.clone();
        let created = create(self.rt.clone(), track, self.seed);
        Box::pin(created.into_actor(self).map(move |result, act, ctx| match result {
            Ok(Some(id)) => {
                tracing::info!(tournament = %id, track = %name, "tournament created by an operator");
                act.spawn(ctx, id.clone());
                Ok(id)
            }
            Ok(None) => Err(ControlError::Conflict(format!("a tournament of track {name} is already live"))),
            Err(e) => Err(e.into()),
        }))
    }
}

impl Supervisor {
    /// Forwards `msg` to the actor of live tournament `id`; a tournament that is not live (or whose
    /// actor has just stopped) is refused with its stored status and `only`, an unknown one not found.
    fn to_live<M, T>(
        &self,
        id: TournamentId,
        msg: M,
        only: &'static str,
    ) -> ResponseActFuture<Self, Result<T, ControlError>>
    where
        M: Message<Result = Result<T, ControlError>> + Send + 'static,
        T: Send + 'static,
        TournamentActor: Handler<M>,
    {
        let actor = self.live.get(&id).cloned();
        let db = self.rt.db.clone();
        let asked = async move {
            if let Some(actor) = actor
                && let Ok(answer) = actor.send(msg).timeout(super::ASK_TIMEOUT).await
            {
                return answer;
            }
            let lookup = id.clone();
            let t = db.run(move |s| s.get_tournament(&lookup)).await?;
            Err(ControlError::Conflict(format!("tournament {id} is {}: {only}", t.status)))
        };
        Box::pin(asked.into_actor(self))
    }
}

impl Handler<CancelTournament> for Supervisor {
    type Result = ResponseActFuture<Self, Result<(), ControlError>>;

    fn handle(&mut self, msg: CancelTournament, _ctx: &mut Context<Self>) -> Self::Result {
        self.to_live(msg.id.clone(), msg, "only a live tournament is cancelled")
    }
}

impl Handler<ConfirmTournament> for Supervisor {
    type Result = ResponseActFuture<Self, Result<crate::domain::Hotkey, ControlError>>;

    fn handle(&mut self, msg: ConfirmTournament, _ctx: &mut Context<Self>) -> Self::Result {
        self.to_live(msg.id.clone(), msg, "only a decided live tournament is confirmed")
    }
}

impl Handler<OverrideTask> for Supervisor {
    type Result = ResponseActFuture<Self, Result<String, ControlError>>;

    fn handle(&mut self, msg: OverrideTask, _ctx: &mut Context<Self>) -> Self::Result {
        self.to_live(msg.tournament.clone(), msg, "only a live tournament's tasks are overridden")
    }
}

impl Handler<RetryStalled> for Supervisor {
    type Result = ResponseActFuture<Self, Result<String, ControlError>>;

    fn handle(&mut self, msg: RetryStalled, _ctx: &mut Context<Self>) -> Self::Result {
        self.to_live(msg.tournament.clone(), msg, "only a live tournament's stalled work is retried")
    }
}

impl Handler<Schedule> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Schedule, ctx: &mut Context<Self>) {
        let (rt, limit, seed) = (self.rt.clone(), self.limit, self.seed);
        let track = msg.track;
        self.waiting.insert(track.name.clone());
        let fut = create_when_due(rt, track.clone(), limit, seed);
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| match result {
            Ok(found) => {
                act.waiting.remove(&track.name);
                if act.failures.remove(&track.name).is_some() {
                    act.rt.stalls.clear("schedule", &track.name);
                }
                act.resolved(ctx, found);
            }
            Err(e) => act.creation_failed(ctx, track, e),
        }));
    }
}

impl Supervisor {
    /// The next tournament of `track` could not be created: tried again after a backoff; past the retry
    /// budget the schedule is shown stalled, and tried again at the longest backoff until it works.
    fn creation_failed(&mut self, ctx: &mut Context<Self>, track: Track, e: StoreError) {
        let failures = self.failures.entry(track.name.clone()).or_default();
        *failures += 1;
        let n = *failures;
        let policy = RetryPolicy::ACTORS;
        let pause = backoff::delay(
            n,
            policy.base,
            policy.cap,
            backoff::jitter_of(stable_hash(format!("{}#{n}", track.name).as_bytes())),
        );
        tracing::error!(track = %track.name, error = %e, failures = n, retry_in = ?pause, "could not create a tournament");
        if n >= policy.budget {
            self.rt.stalls.schedule(&track.name, e.to_string(), n, self.rt.clock.now());
        }
        ctx.notify_later(Schedule { track }, pause);
    }
}

impl Supervisor {
    /// What a schedule found: the new tournament, or none due (its limit used, or one live). With a
    /// limit, the run is done once no tournament is live and no track waits for its next one.
    fn resolved(&mut self, ctx: &mut Context<Self>, found: Option<TournamentId>) {
        match found {
            Some(id) => self.spawn(ctx, id),
            None => {
                if self.live.is_empty()
                    && self.waiting.is_empty()
                    && self.limit.is_some()
                    && let Some(done) = self.done.take()
                {
                    tracing::info!("every tournament has run");
                    let _ = done.send(());
                }
            }
        }
    }
}

/// Waits until the track is due, then creates its next tournament (see [`create`]). `None` when the
/// track has used up its limit or one of it is live already.
async fn create_when_due(
    rt: Rc<Runtime>,
    track: Track,
    limit: Option<usize>,
    seed: u64,
) -> Result<Option<TournamentId>, StoreError> {
    let name = track.name.clone();
    let held = rt.db.run(move |s| s.count_tournaments_of_track(&name)).await?;
    if limit.is_some_and(|l| held >= l as u64) {
        return Ok(None);
    }
    // Re-read after every wait: an operator may have run a tournament of the track meanwhile.
    loop {
        let name = track.name.clone();
        let latest = rt.db.run(move |s| s.latest_completed_tournament(&name)).await?;
        let Some(done) = latest.and_then(|t| t.completed_at) else { break };
        let due = done + Span::seconds((track.interval_hours * 3600.0).round() as i64);
        if rt.clock.now() >= due {
            break;
        }
        tokio::time::sleep(rt.clock.until(due)).await;
    }
    create(rt, track, seed).await
}

/// Creates the next tournament of the track now, with the house as a participant training with the
/// champion's repository. `None` when one of the track is live already (an operator created it).
async fn create(rt: Rc<Runtime>, track: Track, seed: u64) -> Result<Option<TournamentId>, StoreError> {
    let (name, tournament_type) = (track.name.clone(), track.tournament_type);
    let history = rt.db.run(move |s| s.list_tournaments(Some(&name))).await?;
    // The completed ones, newest first: the latest's real winner is the champion to defend.
    let mut done: Vec<&Tournament> = history.iter().filter(|h| h.status == TournamentStatus::Completed).collect();
    done.sort_by(|a, b| (b.completed_at, b.created_at, &b.id).cmp(&(a.completed_at, a.created_at, &a.id)));
    let now = rt.clock.now();
    let house = rt.rules.house_hotkey.clone();
    let (champion, champion_wins, house_repo) = match done.first() {
        None => (None, 0, None),
        Some(t) => {
            let titles = done.iter().map(|h| (h.winner_hotkey.as_ref(), h.base_winner_hotkey.as_ref()));
            let (champion, wins) = standings::next_champion(titles, &house);
            // The house trains with the champion's repository: the winner's, or the house's own when it held.
            let retained = t.winner_hotkey.as_ref() == Some(&house);
            let repo_holder = if retained { house.clone() } else { t.winner_hotkey.clone().unwrap_or(house.clone()) };
            let (id, holder) = (t.id.clone(), repo_holder);
            let repo = rt.db.run(move |s| s.get_participant(&id, &holder)).await.ok();
            (champion, wins, repo)
        }
    };
    let number = history.len() as u64;
    // A default track is named after its type: its ids are those of the per-type schedule before tracks.
    let random = stable_hash(format!("{seed}/{}/{number}", track.name).as_bytes());
    let id = TournamentId::new(random, now.year(), now.month(), now.day());
    let tournament = Tournament {
        id: id.clone(),
        tournament_type,
        status: TournamentStatus::Pending,
        base_winner_hotkey: champion,
        winner_hotkey: None,
        winning_performance_difference: None,
        champion_wins,
        created_at: now,
        started_at: None,
        completed_at: None,
        cancel_reason: None,
        track: track.name.clone(),
    };
    let schedule = &rt.rules.schedule;
    let house_participant = Participant {
        tournament_id: id.clone(),
        hotkey: house.clone(),
        coldkey: None,
        repo_url: house_repo.as_ref().map_or(schedule.default_base_repo.clone(), |p| p.repo_url.clone()),
        commit_hash: house_repo.as_ref().map_or(schedule.default_base_commit.clone(), |p| p.commit_hash.clone()),
        is_house: true,
        admission: AdmissionOutcome::Admitted,
        admission_reason: "the house trains with the champion's repository".into(),
        eliminated_in_round: None,
        fee_rao: None,
        created_at: now,
    };
    let created = rt
        .db
        .run(move |s| {
            s.transaction(|tx| {
                if tx.unfinished_of_track(&tournament.track)?.is_some() {
                    return Ok(false);
                }
                tx.insert_tournament(&tournament)?;
                tx.upsert_participant(&house_participant)?;
                Ok(true)
            })
        })
        .await?;
    if !created {
        return Ok(None);
    }
    let _ = rt.events.send(Event::TournamentCreated { id: id.clone(), tournament_type, at: now });
    Ok(Some(id))
}
