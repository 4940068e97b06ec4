//! `/`: stalled work waiting for an operator, every tournament by type and status, and when the next one
//! of each type starts.

use std::fmt::Write;

use actix_web::{HttpResponse, web};

use super::{error_page, escape, layout, optional_miner_link, when};
use crate::api::orchestrator::schedule;
use crate::api::{ApiState, read};
use crate::domain::TournamentType;

pub async fn page(state: web::Data<ApiState>) -> HttpResponse {
    let interval = state.rules.schedule.interval_hours;
    let found =
        read(&state, move |s| Ok((s.list_tournaments(None)?, schedule(s, interval, chrono::Utc::now())?))).await;
    let (mut tournaments, dates) = match found {
        Ok(found) => found,
        Err(e) => return error_page(&e),
    };
    tournaments.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.as_str().cmp(a.id.as_str())));
    let mut main = String::from("<h1>Tournaments</h1>");
    if let Some(control) = &state.control {
        stalled(&control.stalls, &mut main);
    }
    main.push_str(
        "<h2>Next</h2><div class=\"scroll\"><table>\
        <tr><th>type</th><th>status</th><th>round</th><th>starts</th></tr>",
    );
    for d in &dates {
        let status = match &d.live {
            Some(id) => format!("<a href=\"/tournaments/{0}\">{1}</a>", escape(id.as_str()), d.status),
            None => d.status.to_owned(),
        };
        let round = d.round.map_or("–".into(), |n| n.to_string());
        let _ = write!(main, "<tr><td>{}</td><td>{status}</td><td>{round}</td><td>{}</td></tr>", d.kind, when(d.start));
    }
    main.push_str("</table></div>");
    for kind in [TournamentType::Text, TournamentType::Image] {
        let _ = write!(main, "<h2>{kind}</h2>");
        let of_kind: Vec<_> = tournaments.iter().filter(|t| t.tournament_type == kind).collect();
        if of_kind.is_empty() {
            main.push_str("<p class=\"muted\">none yet</p>");
            continue;
        }
        main.push_str(
            "<div class=\"scroll\"><table><tr><th>tournament</th><th>status</th><th>champion</th><th>winner</th>\
             <th>created</th><th>ended</th></tr>",
        );
        for t in of_kind {
            let _ = write!(
                main,
                "<tr class=\"tournament\"><td><a href=\"/tournaments/{id}\"><code>{id}</code></a></td><td>{status}</td>\
                 <td>{champion}</td><td>{winner}</td><td>{created}</td><td>{ended}</td></tr>",
                id = escape(t.id.as_str()),
                status = t.status,
                champion = optional_miner_link(t.base_winner_hotkey.as_ref()),
                winner = optional_miner_link(t.winner_hotkey.as_ref()),
                created = when(Some(t.created_at)),
                ended = when(t.completed_at),
            );
        }
        main.push_str("</table></div>");
    }
    layout("tournaments", Some("/v1/events"), &main)
}

/// Work that stalled, first on the page: what, why, since when, and how to retry it.
fn stalled(stalls: &crate::actors::stalls::Stalls, main: &mut String) {
    let stalls = stalls.list();
    if stalls.is_empty() {
        return;
    }
    main.push_str(
        "<section class=\"stalled\"><h2>Stalled: waiting for an operator</h2><p>Each stopped retrying after the \
         failure shown; once its cause is repaired, <code>POST /v1/crucible/stalls/retry</code> resumes it from the \
         stored state.</p><div class=\"scroll\"><table><tr><th>what</th><th>tournament</th><th>failures</th>\
         <th>since</th><th>reason</th></tr>",
    );
    for s in stalls {
        let _ = write!(
            main,
            "<tr><td>{kind} <code>{id}</code></td><td>{t}</td><td>{failures}</td><td>{since}</td><td>{reason}</td></tr>",
            kind = s.kind,
            id = escape(&s.id),
            t = s.tournament_id.as_ref().map_or("–".to_owned(), |t| {
                format!("<a href=\"/tournaments/{0}\"><code>{0}</code></a>", escape(t.as_str()))
            }),
            failures = s.failures,
            since = when(Some(s.since)),
            reason = escape(&s.reason),
        );
    }
    main.push_str("</table></div></section>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::stalls::Stalls;
    use crate::domain::{Hotkey, TaskId, TournamentId, TrainingKey};

    #[test]
    fn stalled_work_heads_the_page_with_its_reason_and_how_to_retry_it() {
        let stalls = Stalls::default();
        let mut page = String::new();
        stalled(&stalls, &mut page);
        assert_eq!(page, "", "nothing stalled, nothing shown");
        let tournament = TournamentId::parse("tourn_0123456789abcdef_20261201").unwrap();
        let key = TrainingKey::new(TaskId::parse("task-1").unwrap(), Hotkey::synthetic(1));
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        stalls.training(&tournament, &key, "corrupt row in trainings: status: <paused>".into(), 1, at);
        stalled(&stalls, &mut page);
        assert!(page.contains("Stalled: waiting for an operator"), "{page}");
        assert!(page.contains(&format!("training <code>{key}</code>")), "{page}");
        assert!(page.contains("status: &lt;paused&gt;"), "the reason, escaped: {page}");
        assert!(page.contains("/v1/crucible/stalls/retry"), "{page}");
    }
}
