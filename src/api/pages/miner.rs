//! `/miners/{hotkey}`: one miner's history: its directory entry, every admission with its reason, its
//! trainings, its placements and its current weight.

use std::fmt::Write;

use actix_web::{HttpResponse, web};

use super::{error_page, escape, layout, training_row, when};
use crate::api::{ApiState, read};
use crate::http::error::ApiError;
use crate::store::{Participant, StoreError, Tournament};

pub async fn page(state: web::Data<ApiState>, hotkey: web::Path<String>) -> HttpResponse {
    let hotkey = match crate::api::hotkey(&hotkey) {
        Ok(h) => h,
        Err(e) => return error_page(&e),
    };
    let (key, rules) = (hotkey.clone(), state.rules.clone());
    let found = read(&state, move |s| {
        let miner = match s.get_miner(&key) {
            Ok(m) => Some(m),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let mut entries: Vec<(Tournament, Participant)> = Vec::new();
        for t in s.list_tournaments(None)? {
            match s.get_participant(&t.id, &key) {
                Ok(p) => entries.push((t, p)),
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let trainings = s.trainings_for_hotkey(&key)?;
        let weight = crate::api::current_weights(s, &rules)?.weights.get(&key).copied();
        Ok((miner, entries, trainings, weight))
    })
    .await;
    let (miner, entries, trainings, weight) = match found {
        Ok(found) => found,
        Err(e) => return error_page(&e),
    };
    if miner.is_none() && entries.is_empty() && trainings.is_empty() {
        return error_page(&ApiError::NotFound(format!("no miner {hotkey} is known")));
    }
    let mut main = format!("<h1>Miner <code>{}</code></h1>", escape(hotkey.as_str()));
    match &miner {
        Some(m) => {
            let _ = write!(
                main,
                "<p>coldkey <code>{}</code> · {} · stake {} TAO · listed since {}</p>",
                escape(m.coldkey.as_str()),
                escape(&m.address),
                m.stake,
                when(Some(m.updated_at))
            );
        }
        None => main.push_str("<p class=\"muted\">not in the miner directory</p>"),
    }
    let _ = write!(main, "<p>current weight <strong>{}</strong></p>", weight.map_or("0".into(), |w| format!("{w:.6}")));
    main.push_str(
        "<h2>Tournaments</h2><div class=\"scroll\"><table><tr><th>tournament</th><th>admission</th><th>reason</th>\
         <th>placement</th></tr>",
    );
    for (t, p) in &entries {
        let placement = match (&t.winner_hotkey, p.eliminated_in_round) {
            (Some(w), _) if w == &hotkey => "<span class=\"ok\">winner</span>".to_owned(),
            (_, Some(n)) => format!("eliminated in round {n}"),
            _ if t.base_winner_hotkey.as_ref() == Some(&hotkey) => "defending champion".into(),
            _ if t.status.is_finished() => "–".into(),
            _ => "still in".into(),
        };
        let _ = write!(
            main,
            "<tr><td><a href=\"/tournaments/{id}\"><code>{id}</code></a> ({kind}, {status})</td><td>{}</td><td>{}</td>\
             <td>{placement}</td></tr>",
            p.admission,
            escape(&p.admission_reason),
            id = escape(t.id.as_str()),
            kind = t.tournament_type,
            status = t.status,
        );
    }
    main.push_str(
        "</table></div><h2>Trainings</h2><div class=\"scroll\"><table><tr><th>task</th><th>status</th><th>attempts</th>\
         <th>score</th><th>reason</th></tr>",
    );
    for tr in &trainings {
        training_row(&mut main, &format!("<code>{}</code>", escape(tr.task_id.as_str())), tr, None);
    }
    main.push_str("</table></div>");
    layout(&format!("miner {hotkey}"), None, &main)
}
