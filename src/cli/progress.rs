//! What `simulate` shows while it runs and when it ends. On a terminal, a live status line counts the
//! trainings; elsewhere (a log, a pipe) only plain lines for the milestones are printed.

use std::collections::HashMap;
use std::io::Write;

use crate::actors::Event;
use crate::domain::{Hotkey, TournamentId, TrainingStatus};
use crate::report::Report;

pub struct Progress {
    live: bool,
    started: usize,
    ended: HashMap<TrainingStatus, usize>,
    names: HashMap<TournamentId, String>,
    /// Print a line for every training that ends (runs on the wall clock, where they are few).
    trainings: bool,
}

fn short(h: &Hotkey) -> String {
    h.as_str().chars().take(12).collect()
}

impl Progress {
    pub fn new(live: bool) -> Self {
        Self { live, started: 0, ended: HashMap::new(), names: HashMap::new(), trainings: false }
    }

    /// Also prints a line for every training that ends.
    pub fn with_trainings(mut self) -> Self {
        self.trainings = true;
        self
    }

    fn line(&self, text: String) {
        if self.live {
            print!("\r\x1b[2K");
        }
        println!("{text}");
        self.status();
    }

    fn status(&self) {
        if self.live {
            let ok = self.ended.get(&TrainingStatus::Success).copied().unwrap_or(0);
            let failed = self.ended.get(&TrainingStatus::Failure).copied().unwrap_or(0);
            print!("\r\x1b[2K  trainings: {} started, {ok} succeeded, {failed} failed", self.started);
            let _ = std::io::stdout().flush();
        }
    }

    pub fn show(&mut self, event: &Event) {
        let day = |at: &chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%d %H:%M");
        let name = |names: &HashMap<TournamentId, String>, id: &TournamentId| {
            names.get(id).cloned().unwrap_or_else(|| id.to_string())
        };
        match event {
            Event::TournamentCreated { id, tournament_type, at } => {
                self.names.insert(id.clone(), format!("{tournament_type} {id}"));
                self.line(format!("[{}] {tournament_type} tournament {id} created; registration opens", day(at)));
            }
            Event::RegistrationEnded { id, admitted, rejected, at } => self.line(format!(
                "[{}] {}: {admitted} miners admitted, {rejected} not admitted",
                day(at),
                name(&self.names, id)
            )),
            Event::RoundStarted { id, round, kind, is_final, players, tasks, at } => {
                let what = if *is_final { "boss round".to_owned() } else { format!("{kind} round") };
                self.line(format!(
                    "[{}] {}: round {round} ({what}) starts: {players} players, {tasks} tasks",
                    day(at),
                    name(&self.names, id)
                ))
            }
            Event::TrainingStarted { .. } => {
                self.started += 1;
                self.status();
            }
            Event::TrainingEnded { task, hotkey, status, reason, test_loss, at, .. } => {
                if status.is_finished() {
                    *self.ended.entry(*status).or_default() += 1;
                }
                if self.trainings {
                    let how = match (test_loss, reason) {
                        (Some(v), _) => format!("value {v:.4}"),
                        (None, Some(why)) => why.clone(),
                        (None, None) => String::new(),
                    };
                    self.line(format!("[{}]   {} on {task}: {status} {how}", day(at), short(hotkey)));
                } else {
                    self.status();
                }
            }
            Event::TaskReplaced { id, task, replacement, at } => self.line(format!(
                "[{}] {}: task {task} replaced by {replacement} (more than half of its trainings failed)",
                day(at),
                name(&self.names, id)
            )),
            Event::RoundDecided { id, round, winners, at } => self.line(format!(
                "[{}] {}: round {round} decided, {} advance",
                day(at),
                name(&self.names, id),
                winners.len()
            )),
            Event::AwaitingConfirmation { id, winner, at } => self.line(format!(
                "[{}] {}: decided for {}; waiting for an operator's confirmation",
                day(at),
                name(&self.names, id),
                short(winner)
            )),
            Event::TournamentCompleted { id, winner, at, .. } => {
                self.line(format!("[{}] {}: completed, winner {}", day(at), name(&self.names, id), short(winner)))
            }
            Event::TournamentCancelled { id, reason, at } => {
                self.line(format!("[{}] {}: cancelled: {reason}", day(at), name(&self.names, id)))
            }
            Event::Stalled { id, kind, subject, reason, at } => self.line(format!(
                "[{}] {}: {kind} {subject} stalled, waiting for an operator: {reason}",
                day(at),
                name(&self.names, id)
            )),
        }
    }
}

/// The bracket round by round, the champion, and the weights.
pub fn print_summary(report: &Report) {
    println!();
    for t in &report.tournaments {
        println!("== {} tournament {} ({}) ==", t.tournament_type, t.id, t.status);
        println!("  {} admitted, {} not admitted", t.admitted, t.not_admitted.len());
        for r in &t.rounds {
            let what = if r.is_final { "boss round".to_owned() } else { format!("{} round", r.kind) };
            println!("  round {} ({what}): {} brackets, {} advanced", r.number, r.brackets.len(), r.advanced.len());
            for (i, b) in r.brackets.iter().enumerate() {
                let members: Vec<String> = b
                    .iter()
                    .map(|h| {
                        let mark = if r.advanced.contains(h) { "*" } else { "" };
                        format!("{}{mark}", short(h))
                    })
                    .collect();
                if members.len() <= 2 {
                    println!("    {:>3}. {}", i + 1, members.join(" vs "));
                } else {
                    println!("    {:>3}. group of {}: {}", i + 1, members.len(), members.join(" "));
                }
            }
        }
        match (&t.winner, t.winning_performance_difference) {
            (Some(w), d) => println!("  winner: {}  (performance difference {:.4})", w, d.unwrap_or(0.0)),
            (None, _) => println!("  no winner"),
        }
    }
    println!("\nweights (top 10 of {}):", report.weights.len());
    let mut weights: Vec<(&Hotkey, &f64)> = report.weights.iter().collect();
    weights.sort_by(|a, b| b.1.total_cmp(a.1).then_with(|| a.0.cmp(b.0)));
    for (h, w) in weights.iter().take(10) {
        println!("  {h}  {w:.6}");
    }
}
