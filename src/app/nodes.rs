//! The stored trainer nodes as the GPU broker sees them: holders included, so reservations survive a
//! restart, and only the nodes the executor drives.

use chrono::{DateTime, Utc};

use super::executors::{Built, LOCAL_NODE};
use crate::domain::gpu::{GpuSlot, NodeView};
use crate::domain::node_spec::NodeSpec;
use crate::store::{Db, Gpu, Store, StoreError, TrainerNode};

/// Every stored node.
pub fn node_views(store: &Store) -> Result<Vec<NodeView>, StoreError> {
    Ok(store
        .list_nodes()?
        .into_iter()
        .map(|n| NodeView {
            id: n.id,
            fenced: n.fenced,
            gpus: n.gpus.into_iter().map(|g| GpuSlot { index: g.index, class: g.class, holder: g.holder }).collect(),
        })
        .collect())
}

/// The nodes `built` drives. Nodes of an earlier configuration (or simulation) stay in the store but are
/// not used.
pub(super) async fn in_use(db: &Db, built: &Built) -> Result<Vec<NodeView>, StoreError> {
    let mut views = db.run(node_views).await?;
    if let Some(remote) = &built.remote {
        let ids = remote.node_ids();
        views.retain(|view| ids.contains(&view.id));
    } else if built.local_node {
        views.retain(|view| view.id.as_str() == LOCAL_NODE);
    }
    Ok(views)
}

/// Records the nodes of `spec` (a simulated fleet, `simulation.nodes`), none of their GPUs held.
pub fn record_fleet(store: &Store, spec: &NodeSpec, at: DateTime<Utc>) -> Result<(), StoreError> {
    for view in spec.views() {
        let gpus = view
            .gpus
            .iter()
            .map(|g| Gpu { index: g.index, class: g.class, model_name: g.class.to_string(), vram_gb: 80, holder: None })
            .collect();
        let node = TrainerNode {
            id: view.id,
            address: "simulated".into(),
            fenced: false,
            last_seen: None,
            created_at: at,
            gpus,
        };
        store.upsert_node(&node)?;
    }
    Ok(())
}
