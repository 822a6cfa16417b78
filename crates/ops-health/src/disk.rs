//! Free disk space through statvfs(3).

use crate::{CheckResult, DiskCheck, FailureKind};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// `41.3 GB free` (GiB, one decimal, as the seed prints it); fails at or below the threshold.
pub(crate) fn check_disk(name: &str, check: &DiskCheck) -> CheckResult {
    match rustix::fs::statvfs(&check.path) {
        Ok(st) => {
            let free = st.f_bavail.saturating_mul(st.f_frsize);
            let free_gb = free as f64 / GIB;
            let failure = (free_gb <= check.warning_gb).then_some(FailureKind::Disk);
            let mut result = CheckResult::new(name, "disk", failure, format!("{free_gb:.1} GB free"));
            result.disk_free_bytes = Some(free);
            result
        }
        Err(e) => CheckResult::new(
            name,
            "disk",
            Some(FailureKind::Disk),
            format!("cannot stat {}: {}", check.path.display(), std::io::Error::from(e)),
        ),
    }
}
