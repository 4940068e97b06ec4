//! `/nodes`: the trainer nodes, fenced or not, and every GPU slot with the training holding it.

use std::fmt::Write;

use actix_web::{HttpResponse, web};

use super::{error_page, escape, layout, when};
use crate::api::{ApiState, read};

pub async fn page(state: web::Data<ApiState>) -> HttpResponse {
    let nodes = match read(&state, |s| s.list_nodes()).await {
        Ok(nodes) => nodes,
        Err(e) => return error_page(&e),
    };
    let mut main = String::from("<h1>Trainer nodes</h1>");
    if nodes.is_empty() {
        main.push_str("<p class=\"muted\">no trainer node is registered</p>");
    }
    for node in &nodes {
        let held = node.gpus.iter().filter(|g| g.holder.is_some()).count();
        let state = if node.fenced { "<span class=\"bad\">fenced</span>" } else { "<span class=\"ok\">in use</span>" };
        let _ = write!(
            main,
            "<section class=\"node\"><h2><code>{id}</code></h2><p>{state} · {address} · {held} of {total} GPUs held · \
             last seen {seen}</p><div class=\"scroll\"><table><tr><th>GPU</th><th>class</th><th>model</th><th>VRAM</th>\
             <th>held by</th></tr>",
            id = escape(node.id.as_str()),
            address = escape(&node.address),
            total = node.gpus.len(),
            seen = when(node.last_seen),
        );
        for g in &node.gpus {
            let holder = g.holder.as_ref().map_or("<span class=\"muted\">free</span>".into(), |h| {
                format!("<code>{}</code>", escape(&h.to_string()))
            });
            let _ = write!(
                main,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} GB</td><td>{holder}</td></tr>",
                g.index,
                g.class,
                escape(&g.model_name),
                g.vram_gb
            );
        }
        main.push_str("</table></div></section>");
    }
    layout("nodes", Some("/v1/events"), &main)
}
