//! Acknowledgements: `orchestrator ack SERVICE [--note TEXT]` says someone is on the current
//! outage of a service (or, when it is not down, its warning episode: `alert_on_warning`).
//! Kept in `state/acks.json`, apart from the outage memory (which only the pass writes), each
//! tied to the episode it acknowledges by that episode's start: an ack ends with its episode.
//! While it holds, the episode gets no reminders and no escalation; its end is still said.

use std::collections::BTreeMap;

use ops_state::{StateError, StateFile};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::outage::Memory;

/// One acknowledgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    /// The start of the outage it acknowledges (unix seconds; the outage memory's
    /// `down_since`), or of the warning episode (its `since`).
    pub outage: f64,
    /// When it was given (unix seconds).
    pub at: f64,
    /// Who gave it (the user name of the process), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// What they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// It acknowledges a warning episode, not an outage.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warning: bool,
    /// Keys we do not know, kept on rewrite.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `state/acks.json`: service name to its acknowledgement.
pub type Acks = BTreeMap<String, Ack>;

/// The acknowledgements that still hold: those of outages (or warning episodes) still going on
/// in `memory`.
pub fn current(acks: &Acks, memory: &BTreeMap<String, Memory>) -> Acks {
    let holds = |name: &String, a: &Ack| {
        memory.get(name).is_some_and(|m| {
            m.down_since == Some(a.outage) || m.warning.as_ref().is_some_and(|w| w.since == a.outage)
        })
    };
    acks.iter().filter(|(name, a)| holds(name, a)).map(|(name, a)| (name.clone(), a.clone())).collect()
}

/// The start of the episode an acknowledgement of `m` is for: its outage, else its warning
/// episode.
pub fn episode(m: &Memory) -> Option<f64> {
    m.down_since.or(m.warning.as_ref().map(|w| w.since))
}

/// Acknowledges the current outage of `service` (as `outages`, the outage memory, has it), or
/// its warning episode; `Ok(None)` when it has neither. Acknowledgements of episodes that ended
/// are dropped.
pub fn acknowledge(
    acks: &StateFile,
    outages: &StateFile,
    service: &str,
    note: Option<String>,
    by: Option<String>,
    now: f64,
) -> Result<Option<Ack>, StateError> {
    let memory: BTreeMap<String, Memory> = outages.read()?.unwrap_or_default();
    let Some(m) = memory.get(service) else { return Ok(None) };
    let Some(outage) = episode(m) else { return Ok(None) };
    let warning = m.down_since.is_none();
    acks.update(|all: &mut Acks| {
        *all = current(all, &memory);
        let ack = Ack { outage, at: now, by, note, warning, extra: Map::new() };
        all.insert(service.to_owned(), ack.clone());
        Ok(Some(ack))
    })
}

/// The acknowledgements in `file` that still hold.
pub fn read_current(file: &StateFile, memory: &BTreeMap<String, Memory>) -> Result<Acks, StateError> {
    Ok(current(&file.read::<Acks>()?.unwrap_or_default(), memory))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ack_holds_for_its_outage_only() {
        let dir = tempfile::tempdir().unwrap();
        let acks = StateFile::new(dir.path().join("acks.json"));
        let outages = StateFile::new(dir.path().join("outages.json"));
        let memory = |since: Option<f64>| {
            BTreeMap::from([(
                "API".to_owned(),
                Memory { failures: 1, down_since: since, ..Memory::default() },
            )])
        };
        outages
            .update(|m: &mut BTreeMap<String, Memory>| {
                *m = memory(Some(100.0));
                Ok::<_, StateError>(())
            })
            .unwrap();
        assert_eq!(acknowledge(&acks, &outages, "DB", None, None, 200.0).unwrap(), None, "no outage");
        let ack =
            acknowledge(&acks, &outages, "API", Some("on it".into()), Some("alice".into()), 200.0).unwrap();
        assert_eq!(ack.as_ref().map(|a| (a.outage, a.by.as_deref())), Some((100.0, Some("alice"))));
        assert_eq!(read_current(&acks, &memory(Some(100.0))).unwrap().len(), 1);
        assert!(read_current(&acks, &memory(None)).unwrap().is_empty(), "the outage ended");
        assert!(read_current(&acks, &memory(Some(300.0))).unwrap().is_empty(), "a new outage is not acked");
    }
}
