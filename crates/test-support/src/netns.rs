//! A test process of one's own network: the test binary runs itself again under
//! `unshare --user --map-root-user --net --mount` ([`rerun_in_namespaces`]), and there, root
//! of its namespaces, brings the loopback up and bind-mounts files over system ones (an
//! /etc/resolv.conf naming a DNS server of the test's on 127.0.0.1:53, say). Nothing of this
//! is seen outside the child.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType, recv, sendto, socket};

/// Set in the child that runs inside the namespaces.
pub const INSIDE: &str = "TEST_SUPPORT_INSIDE_NAMESPACES";

/// Whether this process is the child [`rerun_in_namespaces`] started.
pub fn inside() -> bool {
    std::env::var_os(INSIDE).is_some()
}

/// Runs the test `test` of the current test binary again, inside new user, network and mount
/// namespaces, and returns its output; `None`, after [`crate::missing`], when `unshare` is
/// missing or the system allows no user namespaces.
pub fn rerun_in_namespaces(test: &str) -> Option<Output> {
    let unshare = crate::require_tool("unshare")?;
    let namespaces = ["--user", "--map-root-user", "--net", "--mount"];
    let probe = Command::new(&unshare).args(namespaces).arg("true").output().expect("run unshare");
    if !probe.status.success() {
        crate::missing(&format!(
            "user namespaces (`unshare {}` said: {})",
            namespaces.join(" "),
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
        return None;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(&unshare)
        .args(namespaces)
        .arg(exe)
        .args([OsStr::new("--exact"), OsStr::new(test), OsStr::new("--nocapture")])
        .env(INSIDE, "1")
        .output()
        .expect("run the test binary under unshare");
    Some(out)
}

/// Inside the namespaces: brings the loopback interface up (a new network namespace starts
/// with it down), with one RTM_NEWLINK request over rtnetlink.
pub fn loopback_up() {
    const RTM_NEWLINK: u16 = 16;
    const NLM_F_REQUEST_ACK: u16 = 1 | 4;
    const IFF_UP: u32 = 1;
    const LOOPBACK_INDEX: i32 = 1;
    let sock = socket(AddressFamily::NETLINK, SocketType::RAW, None).expect("an rtnetlink socket");
    let mut msg = Vec::with_capacity(32);
    msg.extend_from_slice(&32u32.to_ne_bytes()); // nlmsghdr: length,
    msg.extend_from_slice(&RTM_NEWLINK.to_ne_bytes()); // type,
    msg.extend_from_slice(&NLM_F_REQUEST_ACK.to_ne_bytes()); // flags,
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence,
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id;
    msg.extend_from_slice(&[0, 0, 0, 0]); // ifinfomsg: family, pad, type,
    msg.extend_from_slice(&LOOPBACK_INDEX.to_ne_bytes()); // index,
    msg.extend_from_slice(&IFF_UP.to_ne_bytes()); // flags,
    msg.extend_from_slice(&IFF_UP.to_ne_bytes()); // and which flags change.
    sendto(&sock, &msg, SendFlags::empty(), &SocketAddrNetlink::new(0, 0)).expect("send RTM_NEWLINK");
    let mut ack = [0u8; 64];
    let (n, _) = recv(&sock, &mut ack, RecvFlags::empty()).expect("the rtnetlink acknowledgement");
    // nlmsgerr after the 16-byte header: 0, or a negative errno.
    assert!(n >= 20, "short rtnetlink answer");
    let error = i32::from_ne_bytes([ack[16], ack[17], ack[18], ack[19]]);
    assert_eq!(error, 0, "bringing the loopback up failed: errno {}", -error);
}

/// Inside the namespaces: mounts `file` over `target` (seen by this process and its children).
pub fn bind(file: &Path, target: &Path) {
    rustix::mount::mount_bind(file, target)
        .unwrap_or_else(|e| panic!("bind-mount {} over {}: {e}", file.display(), target.display()));
}
