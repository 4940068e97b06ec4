//! Trainer nodes and their GPU slots: class, holder, fenced or not (tournament-rules.md §6).

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::connection::per_backend;
use super::convert::{from_db, from_db_opt, parse, parse_opt, signed, to_db, to_db_opt, unsigned};
use super::schema::{gpus, trainer_nodes};
use super::transitions::{EntityKind, log};
use super::{StoreError, Tx};
use crate::domain::{GpuClass, NodeId, TrainingKey};

/// A host that runs trainings; a fenced node's GPUs are not used until it answers again.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainerNode {
    pub id: NodeId,
    pub address: String,
    pub fenced: bool,
    pub last_seen: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Ordered by index.
    pub gpus: Vec<Gpu>,
}

/// One GPU slot of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpu {
    pub index: u32,
    pub class: GpuClass,
    pub model_name: String,
    pub vram_gb: u32,
    /// The training it is reserved for, if any.
    pub holder: Option<TrainingKey>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = trainer_nodes)]
struct NodeRow {
    id: String,
    address: String,
    fenced: bool,
    last_seen: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = gpus)]
struct GpuRow {
    node_id: String,
    gpu_index: i32,
    class: String,
    model_name: String,
    vram_gb: i32,
    holder: Option<String>,
}

impl GpuRow {
    fn into_record(self) -> Result<Gpu, StoreError> {
        Ok(Gpu {
            index: unsigned("gpus", "gpu_index", self.gpu_index)?,
            class: parse("gpus", "class", &self.class)?,
            model_name: self.model_name,
            vram_gb: unsigned("gpus", "vram_gb", self.vram_gb)?,
            holder: parse_opt("gpus", "holder", self.holder.as_deref())?,
        })
    }
}

fn fence_status(fenced: bool) -> &'static str {
    if fenced { "fenced" } else { "available" }
}

impl Tx<'_> {
    /// Writes a node and exactly the GPUs given (holders included): GPUs no longer listed are removed.
    /// An existing node keeps its `created_at`.
    pub fn upsert_node(&mut self, node: &TrainerNode) -> Result<(), StoreError> {
        let values = (
            trainer_nodes::id.eq(node.id.as_str()),
            trainer_nodes::address.eq(&node.address),
            trainer_nodes::fenced.eq(node.fenced),
            trainer_nodes::last_seen.eq(to_db_opt(node.last_seen)),
            trainer_nodes::created_at.eq(to_db(node.created_at)),
        );
        let changes = (
            trainer_nodes::address.eq(&node.address),
            trainer_nodes::fenced.eq(node.fenced),
            trainer_nodes::last_seen.eq(to_db_opt(node.last_seen)),
        );
        per_backend!(self.conn, |c| diesel::insert_into(trainer_nodes::table)
            .values(values)
            .on_conflict(trainer_nodes::id)
            .do_update()
            .set(changes)
            .execute(c))?;
        diesel::delete(gpus::table.filter(gpus::node_id.eq(node.id.as_str()))).execute(self.conn)?;
        for gpu in &node.gpus {
            let row = GpuRow {
                node_id: node.id.to_string(),
                gpu_index: signed("gpu_index", gpu.index)?,
                class: gpu.class.as_str().to_owned(),
                model_name: gpu.model_name.clone(),
                vram_gb: signed("vram_gb", gpu.vram_gb)?,
                holder: gpu.holder.as_ref().map(ToString::to_string),
            };
            diesel::insert_into(gpus::table).values(&row).execute(self.conn)?;
        }
        Ok(())
    }

    pub fn get_node(&mut self, id: &str) -> Result<TrainerNode, StoreError> {
        let row = trainer_nodes::table
            .find(id)
            .select(NodeRow::as_select())
            .first(self.conn)
            .optional()?
            .ok_or_else(|| StoreError::not_found("trainer node", id))?;
        let gpus = gpus::table.filter(gpus::node_id.eq(id)).order(gpus::gpu_index.asc()).select(GpuRow::as_select());
        let gpus = gpus.load(self.conn)?.into_iter().map(GpuRow::into_record).collect::<Result<_, _>>()?;
        node_record(row, gpus)
    }

    /// Every node with its GPUs, by id.
    pub fn list_nodes(&mut self) -> Result<Vec<TrainerNode>, StoreError> {
        let rows = trainer_nodes::table.order(trainer_nodes::id.asc()).select(NodeRow::as_select()).load(self.conn)?;
        let mut all_gpus = gpus::table
            .order((gpus::node_id.asc(), gpus::gpu_index.asc()))
            .select(GpuRow::as_select())
            .load(self.conn)?
            .into_iter()
            .peekable();
        let mut nodes = Vec::with_capacity(rows.len());
        for row in rows {
            let mut gpus = Vec::new();
            // Both lists are sorted by node id; GPUs of a node that vanished meanwhile are skipped.
            while let Some(gpu) = all_gpus.next_if(|gpu| gpu.node_id <= row.id) {
                if gpu.node_id == row.id {
                    gpus.push(gpu.into_record()?);
                }
            }
            nodes.push(node_record(row, gpus)?);
        }
        Ok(nodes)
    }

    /// Fences or unfences a node; a change is logged with `cause`, setting the current state again is
    /// a no-op.
    pub fn set_node_fenced(
        &mut self,
        id: &str,
        fenced: bool,
        cause: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let changed = diesel::update(trainer_nodes::table.find(id).filter(trainer_nodes::fenced.eq(!fenced)))
            .set(trainer_nodes::fenced.eq(fenced))
            .execute(self.conn)?;
        if changed == 0 {
            let exists: i64 = trainer_nodes::table.find(id).count().get_result(self.conn)?;
            return if exists == 0 { Err(StoreError::not_found("trainer node", id)) } else { Ok(()) };
        }
        log(self.conn, EntityKind::Node, id, Some(fence_status(!fenced)), fence_status(fenced), cause, at)
    }

    /// Records that a node answered at `at`.
    pub fn touch_node(&mut self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let changed = diesel::update(trainer_nodes::table.find(id))
            .set(trainer_nodes::last_seen.eq(to_db(at)))
            .execute(self.conn)?;
        if changed == 0 {
            return Err(StoreError::not_found("trainer node", id));
        }
        Ok(())
    }

    /// Sets (or clears, with `None`) who holds one GPU.
    pub fn set_gpu_holder(
        &mut self,
        node_id: &str,
        index: u32,
        holder: Option<&TrainingKey>,
    ) -> Result<(), StoreError> {
        let index_db: i32 = signed("gpu_index", index)?;
        let holder = holder.map(ToString::to_string);
        let changed =
            diesel::update(gpus::table.find((node_id, index_db))).set(gpus::holder.eq(holder)).execute(self.conn)?;
        if changed == 0 {
            return Err(StoreError::not_found("GPU", format!("{node_id}#{index}")));
        }
        Ok(())
    }

    /// Sets (or clears, with `None`) the holder of several GPUs of one node, and logs one
    /// [`EntityKind::Gpu`] event per GPU, in index order: `reserved` or `free`, with `cause`. Every GPU
    /// is checked first, so a missing one is `NotFound` with nothing changed or logged, even inside a
    /// caller's transaction. A repeated index counts once.
    pub fn set_gpu_holders(
        &mut self,
        node_id: &str,
        indices: &[u32],
        holder: Option<&TrainingKey>,
        cause: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let holder = holder.map(ToString::to_string);
        let wanted: BTreeSet<u32> = indices.iter().copied().collect();
        // Each GPU is looked up by a statement prepared once per connection; the update is one
        // statement (diesel prepares every UPDATE again, so one is cheaper than one per GPU).
        let mut db_indices = Vec::with_capacity(wanted.len());
        for &index in &wanted {
            let db_index: i32 = signed("gpu_index", index)?;
            let found =
                gpus::table.find((node_id, db_index)).select(gpus::gpu_index).first::<i32>(self.conn).optional()?;
            if found.is_none() {
                return Err(StoreError::not_found("GPU", format!("{node_id}#{index}")));
            }
            db_indices.push(db_index);
        }
        let of_node = gpus::table.filter(gpus::node_id.eq(node_id)).filter(gpus::gpu_index.eq_any(&db_indices));
        diesel::update(of_node).set(gpus::holder.eq(&holder)).execute(self.conn)?;
        let status = if holder.is_some() { "reserved" } else { "free" };
        for &index in &wanted {
            log(self.conn, EntityKind::Gpu, &EntityKind::gpu_id(node_id, index), None, status, cause, at)?;
        }
        Ok(())
    }
}

fn node_record(row: NodeRow, gpus: Vec<Gpu>) -> Result<TrainerNode, StoreError> {
    Ok(TrainerNode {
        id: parse("trainer_nodes", "id", &row.id)?,
        address: row.address,
        fenced: row.fenced,
        last_seen: from_db_opt(row.last_seen),
        created_at: from_db(row.created_at),
        gpus,
    })
}
