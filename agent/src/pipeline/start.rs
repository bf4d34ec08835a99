//! Starting a planned recording: the probes attached, the capture's header made.

use thiserror::Error;

use super::plan::RecordingPlan;
use crate::{
    capture::format::Header,
    device::attribution::DeviceMap,
    live::{
        loader::{LiveError, LiveProbes},
        record::{monotonic_now_ns, unix_now_ns},
    },
};

/// Why a planned recording could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// Loading or attaching the probes failed.
    #[error(transparent)]
    Live(#[from] LiveError),
    /// Not one probe point attached, so nothing could be recorded.
    #[error("no probe point attached; run `barwatch probes` to see why for each one")]
    NothingAttached,
}

/// Probes attached, devices known, the capture's header made: ready to record.
pub struct Started {
    /// The attached probes.
    pub probes: LiveProbes,
    /// The watched devices, attributing events to them.
    pub devices: DeviceMap,
    /// The capture's header.
    pub header: Header,
    /// How many probe points attached.
    pub attached: usize,
}

impl RecordingPlan {
    /// Attaches the plan's probes and makes the capture's header.
    pub fn start(self) -> Result<Started, StartError> {
        let probes = LiveProbes::start(&self.probes)?;
        let attached = probes.table.iter().filter(|p| p.is_attached()).count();
        if attached == 0 {
            return Err(StartError::NothingAttached);
        }
        let mut header = Header::new(
            read_trimmed("/proc/sys/kernel/osrelease"),
            read_trimmed("/proc/sys/kernel/hostname"),
            unix_now_ns(),
            monotonic_now_ns(),
            probes.table.clone(),
        );
        header.devices = self.watched;
        Ok(Started {
            probes,
            devices: self.devices,
            header,
            attached,
        })
    }
}

/// A one-line /proc file, trimmed; `unknown` when unreadable.
fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned())
}
