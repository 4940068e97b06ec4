//! A trainer fleet as a spec writes it, such as `4x8H100,2x4A100` (four nodes of eight H100-class
//! GPUs, two of four A100-class) or `2x4H100+2A100` (mixed nodes): the simulator's `--nodes` and a
//! node's configured `trainer_node.gpus`.

use crate::domain::gpu::{GpuSlot, NodeView};
use crate::domain::{GpuClass, NodeId};

/// A parsed fleet: one entry per node, its GPUs by class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub nodes: Vec<Vec<(GpuClass, u32)>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid node spec {spec:?}: {reason} (expected e.g. 4x8H100,2x4A100 or 2x4H100+2A100)")]
pub struct NodeSpecError {
    pub spec: String,
    pub reason: String,
}

impl Default for NodeSpec {
    /// Four nodes of eight H100s and two of four A100s.
    fn default() -> Self {
        Self::parse("4x8H100,2x4A100").unwrap_or(NodeSpec { nodes: Vec::new() })
    }
}

impl NodeSpec {
    pub fn parse(spec: &str) -> Result<Self, NodeSpecError> {
        let fail = |reason: String| NodeSpecError { spec: spec.to_owned(), reason };
        let mut nodes = Vec::new();
        for item in spec.split(',').map(str::trim) {
            let (count, gpus) = match item.split_once('x') {
                Some((count, gpus)) if count.chars().all(|c| c.is_ascii_digit()) && !count.is_empty() => {
                    (count.parse::<u32>().map_err(|e| fail(format!("{count:?}: {e}")))?, gpus)
                }
                _ => (1, item),
            };
            let mut node = Vec::new();
            for part in gpus.split('+') {
                let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                let class: GpuClass = part[digits.len()..].parse().map_err(|e| fail(format!("{e}")))?;
                let n: u32 =
                    if digits.is_empty() { 1 } else { digits.parse().map_err(|e| fail(format!("{part:?}: {e}")))? };
                if n == 0 || n > 64 {
                    return Err(fail(format!("{part:?}: a node holds 1 to 64 GPUs of a class")));
                }
                node.push((class, n));
            }
            if count == 0 || count > 10_000 {
                return Err(fail(format!("{item:?}: between 1 and 10000 nodes")));
            }
            nodes.extend((0..count).map(|_| node.clone()));
        }
        Ok(Self { nodes })
    }

    /// The fleet as scheduler views: nodes `sim-node-01`, ... with GPU indices from 0.
    pub fn views(&self) -> Vec<NodeView> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, classes)| {
                let mut index = 0;
                let gpus = classes
                    .iter()
                    .flat_map(|(class, n)| (0..*n).map(move |_| *class))
                    .map(|class| {
                        index += 1;
                        GpuSlot { index: index - 1, class, holder: None }
                    })
                    .collect();
                let id = NodeId::parse(&format!("sim-node-{:02}", i + 1)).expect("a numbered node id is valid");
                NodeView { id, fenced: false, gpus }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_into_nodes() {
        let spec = NodeSpec::parse("2x8H100,1x4A100,2H100+1A100").unwrap();
        assert_eq!(spec.nodes.len(), 4);
        assert_eq!(spec.nodes[0], vec![(GpuClass::H100, 8)]);
        assert_eq!(spec.nodes[2], vec![(GpuClass::A100, 4)]);
        assert_eq!(spec.nodes[3], vec![(GpuClass::H100, 2), (GpuClass::A100, 1)]);
        let views = spec.views();
        assert_eq!(views[3].id, "sim-node-04");
        assert_eq!(views[3].gpus.iter().map(|g| g.index).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(views[3].gpus[2].class, GpuClass::A100);
        assert_eq!(NodeSpec::default().nodes.len(), 6);
    }

    #[test]
    fn bad_specs_are_named() {
        for bad in ["", "4x8V100", "0x8H100", "4x0H100", "x8H100", "4x8H100,"] {
            let err = NodeSpec::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
