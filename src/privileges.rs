//! What the process may still do once it has started: once the management namespace is entered
//! and the key is loaded, the daemon needs no capability at all to poll a unix socket, make
//! HTTPS calls and `stat` the namespace's file, so it keeps none.
//!
//! [`harden`] runs on the main thread before the daemon's runtime starts any other: capabilities
//! are per thread, and every thread started afterwards inherits the empty sets. It also marks
//! the process non-dumpable, so no core dump (EOS collects them, and the release build aborts on
//! a panic) and no other user's `ptrace` or `/proc/PID/mem` reaches the key in memory, and sets
//! no-new-privileges, so not even an `exec` could gain privileges back.

use std::fmt;

use caps::{CapSet, Capability, CapsHashSet};

/// Why the process could not give up what it no longer needs.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("cannot mark the process non-dumpable: {0}")]
    Dumpable(nix::Error),
    #[error("cannot set no-new-privileges: {0}")]
    NoNewPrivs(nix::Error),
    #[error("cannot drop capabilities ({set}): {source}")]
    Capabilities {
        set: &'static str,
        source: caps::errors::CapsError,
    },
}

/// The privileges the process runs with, as `check` and the daemon's start line say them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub uid: u32,
    /// Effective capabilities, by their lower-case names, sorted.
    pub capabilities: Vec<String>,
    /// Whether those are every capability the kernel knows (root, as ProcMgr starts daemons).
    pub every: bool,
    /// Capabilities the process could still raise (its permitted set), sorted.
    pub permitted: Vec<String>,
    pub dumpable: bool,
}

impl Held {
    /// What this process holds now.
    pub fn current() -> Held {
        let names = |set| {
            let mut names: Vec<String> = caps::read(None, set)
                .unwrap_or_default()
                .iter()
                .map(|c| c.to_string().to_ascii_lowercase())
                .collect();
            names.sort();
            names
        };
        let supported = caps::runtime::thread_all_supported();
        let effective = caps::read(None, CapSet::Effective).unwrap_or_default();
        Held {
            uid: nix::unistd::geteuid().as_raw(),
            every: !supported.is_empty() && effective.is_superset(&supported),
            capabilities: names(CapSet::Effective),
            permitted: names(CapSet::Permitted),
            dumpable: nix::sys::prctl::get_dumpable().unwrap_or(true),
        }
    }
}

impl fmt::Display for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "uid {}, ", self.uid)?;
        match self.capabilities.len() {
            0 => write!(f, "no capabilities")?,
            n if self.every => write!(f, "every capability ({n})")?,
            _ => write!(f, "capabilities {}", self.capabilities.join(","))?,
        }
        if self.permitted.len() > self.capabilities.len() {
            write!(f, " ({} permitted)", self.permitted.len())?;
        }
        if !self.dumpable {
            write!(f, ", not dumpable")?;
        }
        Ok(())
    }
}

/// The capabilities the running daemon still needs: binding a port below 1024 for `/metrics`
/// (`net.ipv4.ip_unprivileged_port_start`), which it may retry at any time. Nothing else.
pub fn needed(metrics_port: Option<u16>) -> CapsHashSet {
    let mut keep = CapsHashSet::new();
    if metrics_port.is_some_and(|port| port != 0 && port < 1024) {
        keep.insert(Capability::CAP_NET_BIND_SERVICE);
    }
    keep
}

/// Marks the process non-dumpable and keeps only the capabilities in `keep`, in every set:
/// effective, permitted, inheritable, ambient and (when the process may change it) bounding.
/// Call it on the only thread there is.
pub fn harden(keep: &CapsHashSet) -> Result<Held, PrivilegeError> {
    nix::sys::prctl::set_dumpable(false).map_err(PrivilegeError::Dumpable)?;
    nix::sys::prctl::set_no_new_privs().map_err(PrivilegeError::NoNewPrivs)?;
    let failed = |set| move |source| PrivilegeError::Capabilities { set, source };
    // Dropping from the bounding set needs CAP_SETPCAP, so it goes first; a process without it
    // (not root) has nothing to bound, and no-new-privileges covers an `exec` anyway.
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false) {
        for cap in caps::runtime::thread_all_supported() {
            if !keep.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap).map_err(failed("bounding"))?;
            }
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(failed("ambient"))?;
    caps::clear(None, CapSet::Inheritable).map_err(failed("inheritable"))?;
    // The effective set must stay within the permitted one at every step.
    let effective = caps::read(None, CapSet::Effective).map_err(failed("effective"))?;
    let permitted = caps::read(None, CapSet::Permitted).map_err(failed("permitted"))?;
    let effective: CapsHashSet = effective.intersection(keep).copied().collect();
    let permitted: CapsHashSet = permitted.intersection(keep).copied().collect();
    caps::set(None, CapSet::Effective, &effective).map_err(failed("effective"))?;
    caps::set(None, CapSet::Permitted, &permitted).map_err(failed("permitted"))?;
    Ok(Held::current())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_privileged_metrics_port_keeps_a_capability() {
        assert!(needed(None).is_empty());
        assert!(needed(Some(50090)).is_empty());
        assert!(needed(Some(0)).is_empty());
        assert_eq!(
            needed(Some(443)).into_iter().collect::<Vec<_>>(),
            vec![Capability::CAP_NET_BIND_SERVICE]
        );
    }

    #[test]
    fn what_is_held_reads_as_one_line() {
        let held = Held {
            uid: 0,
            capabilities: vec![],
            every: false,
            permitted: vec![],
            dumpable: false,
        };
        assert_eq!(held.to_string(), "uid 0, no capabilities, not dumpable");
        let held = Held {
            uid: 0,
            capabilities: vec!["cap_net_bind_service".into()],
            every: false,
            permitted: vec!["cap_net_bind_service".into(), "cap_sys_admin".into()],
            dumpable: true,
        };
        assert_eq!(
            held.to_string(),
            "uid 0, capabilities cap_net_bind_service (2 permitted)"
        );
    }

    /// `harden` on a thread of its own: capabilities are per thread, so the test's other
    /// threads keep theirs (dumpable is per process, and harmless in a test).
    #[test]
    fn hardening_leaves_a_thread_no_capability_and_the_process_non_dumpable() {
        let held = std::thread::spawn(|| harden(&CapsHashSet::new()).unwrap())
            .join()
            .unwrap();
        assert!(held.capabilities.is_empty(), "{held}");
        assert!(held.permitted.is_empty(), "{held}");
        assert!(!held.dumpable);
        assert!(!nix::sys::prctl::get_dumpable().unwrap());
    }
}
