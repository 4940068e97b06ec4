//! A node's GPUs: the ones NVML discovers on this host, classed by the configured name table, or, when
//! discovery finds none (no driver, or only cards of no known class), the configured inventory.

use super::settings::TrainerNodeSettings;
use crate::domain::GpuClass;
use crate::exec::gpus::{ClassTable, DetectedGpu, DiscoveryError};

/// One GPU this node offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeGpu {
    /// The `gpu_id` of the trainer API: the NVML index, or the position in the configured inventory.
    pub index: u32,
    pub class: GpuClass,
    pub vram_gb: u32,
}

/// The GPUs to offer, from a discovery result and the settings.
pub fn inventory(settings: &TrainerNodeSettings, discovered: Result<Vec<DetectedGpu>, DiscoveryError>) -> Vec<NodeGpu> {
    let table = ClassTable::new(&settings.gpu_classes);
    let detected = discovered.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "GPU discovery failed: using the configured inventory");
        Vec::new()
    });
    let classed: Vec<NodeGpu> = detected
        .iter()
        .filter_map(|gpu| match table.class_of(&gpu.name) {
            Some(class) => Some(NodeGpu { index: gpu.index, class, vram_gb: gpu.vram_gb }),
            None => {
                tracing::warn!(gpu = gpu.index, name = %gpu.name, "no class configured for this card: not offered");
                None
            }
        })
        .collect();
    if !classed.is_empty() {
        return classed;
    }
    // Validated at start-up; an invalid spec offers nothing rather than guessing.
    let configured = settings.configured_gpus().unwrap_or_default();
    (0..).zip(configured).map(|(index, class)| NodeGpu { index, class, vram_gb: settings.vram_gb }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovered_cards_win_over_the_configuration() {
        let settings = TrainerNodeSettings { gpus: "2A100".into(), ..Default::default() };
        let found = vec![
            DetectedGpu { index: 0, name: "NVIDIA H100 80GB HBM3".into(), vram_gb: 80 },
            DetectedGpu { index: 1, name: "NVIDIA GeForce RTX 4090".into(), vram_gb: 24 },
            DetectedGpu { index: 2, name: "NVIDIA H200".into(), vram_gb: 141 },
        ];
        let gpus = inventory(&settings, Ok(found));
        assert_eq!(
            gpus,
            vec![
                NodeGpu { index: 0, class: GpuClass::H100, vram_gb: 80 },
                NodeGpu { index: 2, class: GpuClass::H100, vram_gb: 141 },
            ]
        );
    }

    #[test]
    fn without_discovered_cards_the_configuration_is_offered() {
        let settings = TrainerNodeSettings { gpus: "1H100+2A100".into(), vram_gb: 40, ..Default::default() };
        let gpus = inventory(&settings, Ok(Vec::new()));
        assert_eq!(
            gpus.iter().map(|g| (g.index, g.class)).collect::<Vec<_>>(),
            [(0, GpuClass::H100), (1, GpuClass::A100), (2, GpuClass::A100)]
        );
        assert!(gpus.iter().all(|g| g.vram_gb == 40));
        let unknown_only = vec![DetectedGpu { index: 0, name: "Some Card".into(), vram_gb: 8 }];
        assert_eq!(inventory(&settings, Ok(unknown_only)).len(), 3);
    }
}
