//! Per-client counts of things held open (event streams, x402 requests waiting for their
//! settlement), so one client cannot take every slot of a process-wide limit.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How many slots each client key holds now. Keys at zero are removed, so the map holds only
/// clients with something open.
#[derive(Clone, Default)]
pub struct ClientSlots(Arc<Mutex<HashMap<String, usize>>>);

/// One held slot; dropping it gives it back.
pub struct Slot {
    slots: ClientSlots,
    key: String,
}

impl ClientSlots {
    /// A slot for `key`, or `None` when it holds `max` already.
    pub fn take(&self, key: &str, max: usize) -> Option<Slot> {
        let mut held = self.0.lock().expect("slots lock");
        let n = held.entry(key.to_owned()).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            slots: self.clone(),
            key: key.to_owned(),
        })
    }

    #[cfg(test)]
    fn held(&self, key: &str) -> usize {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.0.lock().expect("slots lock");
        if let Some(n) = held.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_holds_at_most_its_share() {
        let slots = ClientSlots::default();
        let a1 = slots.take("a", 2).unwrap();
        let _a2 = slots.take("a", 2).unwrap();
        assert!(slots.take("a", 2).is_none());
        assert!(
            slots.take("b", 2).is_some(),
            "another client has its own share"
        );
        drop(a1);
        assert_eq!(slots.held("a"), 1);
        assert!(slots.take("a", 2).is_some());
        assert_eq!(
            slots.held("b"),
            0,
            "a client with nothing open is forgotten"
        );
    }
}
