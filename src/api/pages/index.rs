//! `/`: every tournament by type and status, and when the next one of each type starts.

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
    let mut main = String::from(
        "<h1>Tournaments</h1><h2>Next</h2><div class=\"scroll\"><table>\
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
