//! The server-rendered pages, from the same stored data as the JSON API: `/` (tournaments by type and
//! status, with the next start), `/tournaments/{id}` (the bracket round by round, every task's
//! trainings), `/nodes` (trainer nodes and their GPU slots) and `/miners/{hotkey}` (one miner's
//! history). Plain HTML with inline CSS: no CDN, no build step; readable on a phone and in a terminal
//! browser. With JavaScript, the index, tournament and nodes pages re-render themselves from the
//! server when `/v1/events` reports a change; without, they are static pages to reload. A browser
//! sends no bearer token: serve the pages with `api.public_reads = true`.

mod index;
mod miner;
mod nodes;
mod tournament;

use std::fmt::Write;

use actix_web::{HttpResponse, web};

use super::endpoint::at;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(at("/").get(index::page))
        .service(at("/tournaments/{tournament_id}").get(tournament::page))
        .service(at("/nodes").get(nodes::page))
        .service(at("/miners/{hotkey}").get(miner::page));
}

/// Text made safe for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A score for people: a few significant digits, or a dash.
pub fn score(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        Some(v) => v.to_string(),
        None => "–".into(),
    }
}

/// A time for people, in UTC.
pub fn when(at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    at.map_or_else(|| "–".into(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// A hotkey shortened for tables, linking to its miner page.
pub fn miner_link(hotkey: &str) -> String {
    let short =
        if hotkey.len() > 12 { format!("{}…{}", &hotkey[..6], &hotkey[hotkey.len() - 4..]) } else { hotkey.into() };
    format!("<a href=\"/miners/{0}\" title=\"{0}\"><code>{1}</code></a>", escape(hotkey), escape(&short))
}

/// An optional hotkey as a miner link, or a dash.
pub fn optional_miner_link(hotkey: Option<&crate::domain::Hotkey>) -> String {
    hotkey.map_or_else(|| "–".into(), |h| miner_link(h.as_str()))
}

/// One training as a table row: `first` (the miner or the task), status, attempts, score, reason. With
/// `scored` (the task has ended), the reason also gives the task score and why: where the result
/// ranked, or why it is invalid.
pub fn training_row(
    out: &mut String,
    first: &str,
    t: &crate::store::Training,
    scored: Option<&crate::api::results::TrainingResults>,
) {
    let class = match t.status {
        crate::domain::TrainingStatus::Success => "ok",
        crate::domain::TrainingStatus::Failure => "bad",
        _ => "muted",
    };
    let _ = write!(
        out,
        "<tr><td>{first}</td><td class=\"{class}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        t.status,
        t.attempts,
        score(t.test_loss),
        escape(&reason_of(t, scored))
    );
}

fn reason_of(t: &crate::store::Training, scored: Option<&crate::api::results::TrainingResults>) -> String {
    let failure = t.failure_reason.clone().unwrap_or_default();
    match scored.and_then(|s| s.quality_score.map(|q| (q, s.score_reason.as_deref()))) {
        Some((q, Some(why))) if failure.is_empty() => format!("task score {q} · {why}"),
        Some((q, _)) if failure.is_empty() => format!("task score {q}"),
        Some((q, _)) => format!("task score {q} · {failure}"),
        None => failure,
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:0 .75rem;\
line-height:1.4;color:#1b1b1b;background:#fff}header{border-bottom:1px solid #ccc;padding:.5rem 0}\
nav a{margin-right:1rem}table{border-collapse:collapse;width:100%;margin:.5rem 0}\
th,td{border:1px solid #ddd;padding:.25rem .4rem;text-align:left;vertical-align:top}\
.scroll{overflow-x:auto}.ok{color:#116611}.bad{color:#a11}.muted{color:#666}\
section.round{border:1px solid #ccc;border-radius:4px;padding:.25rem .75rem;margin:1rem 0}\
ul.bracket{list-style:none;padding-left:0}ul.bracket li{margin:.25rem 0}\
#live{font-size:.85rem}@media (max-width:40rem){th,td{font-size:.85rem;padding:.2rem}}";

/// Re-renders `<main>` from the server when the event stream reports a change (at most twice a second),
/// after a reconnect (events may have been missed) and when the stream says it lagged; a slower older
/// answer never overwrites a newer one.
const LIVE: &str = "(function(){if(!window.EventSource||!window.fetch)return;var s=document.getElementById('live');\
var src=new EventSource(s.getAttribute('data-events'));var t=null,seq=0,shown=0,opened=false;\
function refresh(){t=null;var n=++seq;fetch(location.href,{headers:{'Accept':'text/html'}})\
.then(function(r){return r.text()}).then(function(h){if(n<shown)return;shown=n;\
var d=new DOMParser().parseFromString(h,'text/html');var m=d.querySelector('main');\
if(m){document.querySelector('main').innerHTML=m.innerHTML;}}).catch(function(){});}\
function soon(){if(!t)t=setTimeout(refresh,500);}\
['tournament_created','registration_ended','round_started','training_started','training_ended',\
'task_replaced','round_decided','tournament_completed','tournament_cancelled','lagged']\
.forEach(function(k){src.addEventListener(k,soon);});\
src.onopen=function(){s.textContent='live';s.className='ok';if(opened)soon();opened=true;};\
src.onerror=function(){s.textContent='reconnecting…';s.className='muted';};})();";

/// A whole page: `events` is the event stream it follows (`None`: a static page).
pub fn layout(title: &str, events: Option<&str>, main: &str) -> HttpResponse {
    let mut html = String::with_capacity(main.len() + 4096);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · crucible</title><style>{STYLE}</style></head><body>\
         <header><nav><strong>crucible</strong> · <a href=\"/\">tournaments</a><a href=\"/nodes\">nodes</a>\
         <a href=\"/swagger-ui/\">API</a></nav></header>",
        title = escape(title)
    );
    if let Some(events) = events {
        let _ = write!(html, "<p id=\"live\" class=\"muted\" data-events=\"{}\">static</p>", escape(events));
    }
    let _ = write!(html, "<main>{main}</main>");
    if events.is_some() {
        let _ = write!(html, "<script>{LIVE}</script>");
    }
    html.push_str("</body></html>");
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html)
}

/// An error as a page, with its status.
pub fn error_page(error: &crate::http::error::ApiError) -> HttpResponse {
    use actix_web::ResponseError;
    let mut page =
        layout("error", None, &format!("<h1>{}</h1><p>{}</p>", error.status_code(), escape(&error.to_string())));
    *page.status_mut() = error.status_code();
    page
}
