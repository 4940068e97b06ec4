//! GPU discovery on this host with NVML (nvml-wrapper, `libnvidia-ml.so.1` loaded at run time), and the
//! mapping of a card's marketing name to the GPU class the rules schedule by.
//!
//! A host without the NVIDIA driver is an ordinary case, not an error: NVML cannot be loaded, discovery
//! reports no GPUs, and the caller falls back to the configured inventory. A driver that loads but then
//! fails is an error the caller logs before falling back.
//!
//! What it must not do: decide which GPUs a training gets (the broker and the node do that).

use std::collections::BTreeMap;

use nvml_wrapper::Nvml;
use nvml_wrapper::error::NvmlError;

use crate::domain::GpuClass;

/// One GPU as NVML reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectedGpu {
    /// The NVML index (the `gpu_id` of the trainer API, the device id Docker is given).
    pub index: u32,
    /// The marketing name, e.g. `NVIDIA H100 80GB HBM3`.
    pub name: String,
    /// Total memory in GiB, rounded to the nearest whole number.
    pub vram_gb: u32,
}

/// Why NVML answered but the GPUs could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("NVML failed while {doing}: {source}")]
pub struct DiscoveryError {
    doing: String,
    #[source]
    source: NvmlError,
}

/// Lists the GPUs of this host. `Ok(empty)` when the NVIDIA driver is not installed (NVML's library
/// cannot be loaded) or reports that it is not loaded.
pub fn discover() -> Result<Vec<DetectedGpu>, DiscoveryError> {
    let nvml = match Nvml::init() {
        Ok(nvml) => nvml,
        Err(e) if means_no_driver(&e) => {
            tracing::info!(reason = %e, "no NVIDIA driver on this host: no GPUs discovered");
            return Ok(Vec::new());
        }
        Err(source) => return Err(DiscoveryError { doing: "initialising".into(), source }),
    };
    let fail = |doing: String| move |source| DiscoveryError { doing, source };
    let count = nvml.device_count().map_err(fail("counting devices".into()))?;
    let mut gpus = Vec::with_capacity(count as usize);
    for index in 0..count {
        let device = nvml.device_by_index(index).map_err(fail(format!("opening device {index}")))?;
        let name = device.name().map_err(fail(format!("reading the name of device {index}")))?;
        let memory = device.memory_info().map_err(fail(format!("reading the memory of device {index}")))?;
        gpus.push(DetectedGpu { index, name, vram_gb: gib(memory.total) });
    }
    Ok(gpus)
}

/// NVML errors that mean "this host has no usable NVIDIA driver", as opposed to a driver that fails.
fn means_no_driver(error: &NvmlError) -> bool {
    matches!(
        error,
        NvmlError::LibloadingError(_)
            | NvmlError::FailedToLoadSymbol(_)
            | NvmlError::DriverNotLoaded
            | NvmlError::LibraryNotFound
    )
}

/// Bytes to whole GiB, rounded (an 80 GB card reports a little less than 80 GiB).
fn gib(bytes: u64) -> u32 {
    let gib = (bytes as f64 / (1u64 << 30) as f64).round();
    gib.clamp(0.0, f64::from(u32::MAX)) as u32
}

/// Which class a card counts in, by a fragment of its name: `H200 → H100` means every card whose
/// name contains `H200` (case-insensitive) is scheduled as an H100-class GPU. The longest matching
/// fragment wins, so `GH200` can differ from `H200`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassTable {
    entries: Vec<(String, GpuClass)>,
}

impl ClassTable {
    /// A table from configuration (fragment → class); fragments are compared upper-cased.
    pub fn new(entries: &BTreeMap<String, GpuClass>) -> Self {
        let mut entries: Vec<(String, GpuClass)> =
            entries.iter().map(|(fragment, class)| (fragment.trim().to_uppercase(), *class)).collect();
        entries.retain(|(fragment, _)| !fragment.is_empty());
        entries.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Self { entries }
    }

    /// The class of a card named `name`, or `None` when no fragment matches (the card is not offered).
    pub fn class_of(&self, name: &str) -> Option<GpuClass> {
        let name = name.to_uppercase();
        self.entries.iter().find(|(fragment, _)| name.contains(fragment.as_str())).map(|(_, class)| *class)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> ClassTable {
        let entries = BTreeMap::from([
            ("H100".to_owned(), GpuClass::H100),
            ("H200".to_owned(), GpuClass::H100),
            ("GH200".to_owned(), GpuClass::A100),
            ("b200".to_owned(), GpuClass::H100),
            ("A100".to_owned(), GpuClass::A100),
            ("  ".to_owned(), GpuClass::H100),
        ]);
        ClassTable::new(&entries)
    }

    #[test]
    fn card_names_map_to_their_configured_class() {
        let t = table();
        assert_eq!(t.class_of("NVIDIA H100 80GB HBM3"), Some(GpuClass::H100));
        assert_eq!(t.class_of("NVIDIA H200"), Some(GpuClass::H100));
        assert_eq!(t.class_of("NVIDIA B200"), Some(GpuClass::H100), "fragments are case-insensitive");
        assert_eq!(t.class_of("NVIDIA A100-SXM4-80GB"), Some(GpuClass::A100));
        assert_eq!(t.class_of("NVIDIA GH200 480GB"), Some(GpuClass::A100), "the longest fragment wins");
        assert_eq!(t.class_of("NVIDIA GeForce RTX 4090"), None, "an unknown card is not offered");
    }

    #[test]
    fn memory_rounds_to_whole_gib() {
        assert_eq!(gib(85_520_809_984), 80);
        assert_eq!(gib(0), 0);
        assert_eq!(gib(42_949_672_960), 40);
    }

    /// This host has no NVIDIA driver (the CI machines neither): discovery finds nothing, without error.
    /// On a host with a driver it must list devices with consecutive indices.
    #[test]
    fn discovery_without_a_driver_finds_no_gpus() {
        let gpus = discover().expect("discovery does not fail");
        let driver = std::path::Path::new("/proc/driver/nvidia/version").exists();
        if driver {
            assert!(gpus.iter().enumerate().all(|(i, g)| g.index as usize == i));
        } else {
            assert_eq!(gpus, Vec::new());
        }
    }
}
