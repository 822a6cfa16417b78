//! Free disk space through statvfs(3).

use crate::{CheckKind, CheckResult, DiskCheck, Failure, FailureKind, Outcome, Unchecked, net};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// `41.3 GB free` (GiB, one decimal, as the Python kit prints it); fails at or below the threshold.
pub(crate) fn check_disk(name: &str, check: &DiskCheck) -> CheckResult {
    match rustix::fs::statvfs(&check.path) {
        Ok(st) => {
            let free = st.f_bavail.saturating_mul(st.f_frsize);
            let free_gb = free as f64 / GIB;
            let outcome =
                if free_gb <= check.warning_gb { Outcome::Down(FailureKind::Disk) } else { Outcome::Up };
            let mut result =
                CheckResult::new(name, CheckKind::Disk, outcome, format!("{free_gb:.1} GB free"));
            result.disk_free_bytes = Some(free);
            result
        }
        Err(e) => {
            let e = std::io::Error::from(e);
            let failure = match net::resource_words(&e) {
                Some(words) => Failure::unchecked(Unchecked::Resources, words),
                None => {
                    Failure::down(FailureKind::Disk, format!("cannot stat {}: {e}", check.path.display()))
                }
            };
            CheckResult::failed(name, CheckKind::Disk, failure)
        }
    }
}
