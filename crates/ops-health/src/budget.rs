//! The file-descriptor budget: how many checks the process can afford at once, and raising
//! the soft open-file limit to the hard one.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors one check may hold at once: its socket, and one more for the name lookup it
/// may start (getaddrinfo's socket, /etc/hosts) or the /proc file a process scan reads.
pub(crate) const FDS_PER_CHECK: usize = 2;

/// How many checks may be in flight with `reserve` descriptors left to the caller:
/// `(soft RLIMIT_NOFILE - descriptors open now - reserve) / FDS_PER_CHECK`, at least 1;
/// `None` when the process has no limit.
pub(crate) fn affordable_checks(reserve: usize) -> Option<usize> {
    let soft = usize::try_from(getrlimit(Resource::Nofile).current?).unwrap_or(usize::MAX);
    let free = soft.saturating_sub(open_fds()).saturating_sub(reserve);
    Some((free / FDS_PER_CHECK).max(1))
}

/// Descriptors open now (the listing's own left out); when they cannot be counted, 64.
fn open_fds() -> usize {
    for dir in ["/proc/self/fd", "/dev/fd"] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            return entries.count().saturating_sub(1);
        }
    }
    64
}

/// Raises the soft open-file limit (RLIMIT_NOFILE) to the hard limit, as Go's runtime and
/// most servers do at start, and returns the soft limit now in force (`None`: unlimited).
/// A limit that cannot be raised is left as it was. For programs to call once at start: a
/// library never changes its process's limits on its own.
pub fn raise_nofile_limit() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current?;
    // An unlimited hard limit is not a value the soft one may take everywhere (Linux caps it
    // at fs.nr_open, macOS at OPEN_MAX): try a few.
    let wanted = match limit.maximum {
        Some(hard) => vec![hard],
        None => vec![1 << 20, 10_240],
    };
    for target in wanted.into_iter().filter(|&t| t > soft) {
        if setrlimit(Resource::Nofile, Rlimit { current: Some(target), maximum: limit.maximum }).is_ok() {
            break;
        }
    }
    getrlimit(Resource::Nofile).current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_less_than_one_check() {
        if getrlimit(Resource::Nofile).current.is_some() {
            assert_eq!(affordable_checks(usize::MAX), Some(1));
        }
    }
}
