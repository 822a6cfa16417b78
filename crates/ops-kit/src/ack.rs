//! Acknowledgements: `orchestrator ack SERVICE [--note TEXT]` says someone is on the current
//! outage of a service. Kept in `state/acks.json`, apart from the outage memory (which only the
//! pass writes), each tied to the outage it acknowledges by that outage's start: an ack ends
//! with its outage. While it holds, the outage gets no reminders and no escalation; its
//! recovery is still said.

use std::collections::BTreeMap;

use ops_state::{StateError, StateFile};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::outage::Memory;

/// One acknowledgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    /// The start of the outage it acknowledges (unix seconds; the outage memory's
    /// `down_since`).
    pub outage: f64,
    /// When it was given (unix seconds).
    pub at: f64,
    /// Who gave it (the user name of the process), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// What they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Keys we do not know, kept on rewrite.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `state/acks.json`: service name to its acknowledgement.
pub type Acks = BTreeMap<String, Ack>;

/// The acknowledgements that still hold: those of outages still going on in `memory`.
pub fn current(acks: &Acks, memory: &BTreeMap<String, Memory>) -> Acks {
    acks.iter()
        .filter(|(name, a)| memory.get(*name).and_then(|m| m.down_since) == Some(a.outage))
        .map(|(name, a)| (name.clone(), a.clone()))
        .collect()
}

/// Acknowledges the current outage of `service` (as `outages`, the outage memory, has it);
/// `Ok(None)` when it has none. Acknowledgements of outages that ended are dropped.
pub fn acknowledge(
    acks: &StateFile,
    outages: &StateFile,
    service: &str,
    note: Option<String>,
    by: Option<String>,
    now: f64,
) -> Result<Option<Ack>, StateError> {
    let memory: BTreeMap<String, Memory> = outages.read()?.unwrap_or_default();
    let Some(outage) = memory.get(service).and_then(|m| m.down_since) else { return Ok(None) };
    acks.update(|all: &mut Acks| {
        *all = current(all, &memory);
        let ack = Ack { outage, at: now, by, note, extra: Map::new() };
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
