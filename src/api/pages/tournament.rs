//! `/tournaments/{id}`: one tournament's bracket round by round (groups with their members and who
//! advanced, knockout pairs with their winners, the boss round task by task with both scores and the
//! threshold), every task's trainings (status, attempts, score, failure reason), and the admissions.

use std::fmt::Write;

use actix_web::{HttpResponse, web};

use super::{error_page, escape, layout, miner_link, optional_miner_link, score, training_row, when};
use crate::api::results::{TournamentResults, results};
use crate::api::{ApiState, read};
use crate::domain::{AdmissionOutcome, RoundKind, RoundStatus, TaskStatus};
use crate::store::{Participant, RoundSnapshot, TournamentSnapshot};

pub async fn page(state: web::Data<ApiState>, id: web::Path<String>) -> HttpResponse {
    let id = match crate::api::tournament_id(&id) {
        Ok(id) => id,
        Err(e) => return error_page(&e),
    };
    let rules = state.rules.clone();
    let found = read(&state, move |s| {
        let snapshot = s.tournament_snapshot(&id)?;
        let shown = results(&snapshot, &rules);
        Ok((snapshot, shown))
    })
    .await;
    match found {
        Ok((snapshot, shown)) => {
            let events = format!("/v1/events?tournament={}", snapshot.tournament.id);
            let title = format!("{} tournament {}", snapshot.tournament.tournament_type, snapshot.tournament.id);
            layout(&title, Some(&events), &render(&snapshot, &shown))
        }
        Err(e) => error_page(&e),
    }
}

fn render(s: &TournamentSnapshot, d: &TournamentResults) -> String {
    let t = &s.tournament;
    let mut out = format!(
        "<h1>{kind} tournament <code>{id}</code></h1><p>status <strong id=\"status\">{status}</strong> · champion \
         {champion} · winner {winner} · created {created} · ended {ended}</p>",
        kind = t.tournament_type,
        id = escape(t.id.as_str()),
        status = t.status,
        champion = optional_miner_link(t.base_winner_hotkey.as_ref()),
        winner = optional_miner_link(t.winner_hotkey.as_ref()),
        created = when(Some(t.created_at)),
        ended = when(t.completed_at),
    );
    if let Some(reason) = &t.cancel_reason {
        let _ = write!(out, "<p class=\"bad\">cancelled: {}</p>", escape(reason));
    }
    if let Some(report) = &d.diff_report {
        let _ = write!(out, "<p>{}</p>", escape(report));
    }
    let _ = write!(out, "<div id=\"bracket\">");
    if s.rounds.is_empty() {
        out.push_str("<p class=\"muted\">no round yet: registration is open</p>");
    }
    for (round, shown) in s.rounds.iter().zip(&d.rounds) {
        render_round(&mut out, round, s, d, shown.tasks.iter().map(|t| (t.task_id.as_str(), t.winner.as_deref())));
    }
    out.push_str("</div>");
    admissions(&mut out, &s.participants);
    out
}

fn render_round<'a>(
    out: &mut String,
    r: &RoundSnapshot,
    s: &TournamentSnapshot,
    d: &TournamentResults,
    winners: impl Iterator<Item = (&'a str, Option<&'a str>)>,
) {
    let round = &r.round.round;
    let name = match (round.kind, round.is_final) {
        (_, true) => "boss round",
        (RoundKind::Group, _) => "group stage",
        (RoundKind::Knockout, _) => "knockout",
    };
    let _ = write!(
        out,
        "<section class=\"round\" id=\"round-{n}\" data-round=\"{n}\"><h2>Round {n}: {name}</h2><p>status {status}</p>\
         <ul class=\"bracket\">",
        n = round.number,
        status = round.status,
    );
    let decided = round.status == RoundStatus::Completed;
    let advanced = |h: &crate::domain::Hotkey| {
        s.participants
            .iter()
            .find(|p| &p.hotkey == h)
            .is_none_or(|p| p.eliminated_in_round.is_none_or(|n| n > round.number))
    };
    for g in &r.round.groups {
        let members: Vec<String> = g
            .members
            .iter()
            .map(|h| {
                let mark = if decided && advanced(h) { " <span class=\"ok\">✓ advanced</span>" } else { "" };
                format!("{}{mark}", miner_link(h.as_str()))
            })
            .collect();
        let _ = write!(out, "<li class=\"group\"><strong>Group {}</strong>: {}</li>", g.number, members.join(", "));
    }
    for p in &r.round.pairs {
        let winner = match &p.winner {
            Some(w) => format!(" → <span class=\"ok\">{}</span>", miner_link(w.as_str())),
            None if decided => " → <span class=\"bad\">no winner</span>".into(),
            None => String::new(),
        };
        let _ = write!(
            out,
            "<li class=\"pair\"><strong>Pair {}</strong>: {} vs {}{winner}</li>",
            p.number,
            miner_link(p.hotkey_a.as_str()),
            miner_link(p.hotkey_b.as_str())
        );
    }
    out.push_str("</ul>");
    if round.is_final {
        boss_table(out, d);
    }
    let winners: std::collections::HashMap<&str, Option<&str>> = winners.collect();
    for task in &r.tasks {
        let t = &task.task;
        let replaced = if t.status == TaskStatus::Replaced { " <span class=\"bad\">replaced</span>" } else { "" };
        let won = winners.get(t.id.as_str()).copied().flatten();
        let _ = write!(
            out,
            "<h3 class=\"task\"><code>{id}</code>{replaced}</h3><p class=\"muted\">{kind} · {model} · {dataset} · {hours} h{winner}</p>\
             <div class=\"scroll\"><table><tr><th>miner</th><th>status</th><th>attempts</th><th>score</th><th>reason</th></tr>",
            id = escape(t.id.as_str()),
            kind = t.task_type,
            model = escape(&t.model),
            dataset = escape(&t.dataset),
            hours = t.hours_to_complete,
            winner = won.map_or(String::new(), |w| format!(" · won by {}", miner_link(w))),
        );
        let shown = d.rounds.iter().flat_map(|r| &r.tasks).find(|s| s.task_id == t.id.as_str());
        for tr in &task.trainings {
            let scored = shown.and_then(|s| s.trainings.iter().find(|x| x.hotkey == tr.hotkey.as_str()));
            training_row(out, &miner_link(tr.hotkey.as_str()), tr, scored);
        }
        out.push_str("</table></div>");
    }
    out.push_str("</section>");
}

/// The boss round task by task: both scores, the threshold and who took the task.
fn boss_table(out: &mut String, d: &TournamentResults) {
    let Some(tasks) = &d.boss_round else { return };
    out.push_str(
        "<div class=\"scroll\"><table class=\"boss\"><tr><th>task</th><th>type</th><th>champion (house)</th>\
         <th>challenger</th><th>threshold</th><th>taken by</th><th>why</th></tr>",
    );
    for decision in tasks {
        let p = &decision.performance;
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td></tr>",
            escape(&p.task_id),
            escape(&p.task_type),
            score(p.boss_score),
            score(p.challenger_score),
            p.threshold_used * 100.0,
            if p.challenger_won { "challenger" } else { "champion" },
            escape(&decision.decision_reason)
        );
    }
    out.push_str("</table></div>");
}

fn admissions(out: &mut String, participants: &[Participant]) {
    out.push_str(
        "<h2>Admissions</h2><div class=\"scroll\"><table><tr><th>miner</th><th>outcome</th><th>reason</th>\
         <th>fee (rao)</th><th>eliminated in</th></tr>",
    );
    for p in participants {
        let class = if p.admission == AdmissionOutcome::Admitted { "ok" } else { "bad" };
        let _ = write!(
            out,
            "<tr><td>{}{}</td><td class=\"{class}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            miner_link(p.hotkey.as_str()),
            if p.is_house { " (house)" } else { "" },
            p.admission,
            escape(&p.admission_reason),
            p.fee_rao.map_or("–".into(), |f| f.to_string()),
            p.eliminated_in_round.map_or("–".into(), |n| format!("round {n}")),
        );
    }
    out.push_str("</table></div>");
}
