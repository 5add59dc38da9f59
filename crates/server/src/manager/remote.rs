//! Deliveries from a shared backplane: room messages fanned out to local members in
//! the store's order, and resyncs after a lost subscription.

use tokio::sync::mpsc;
use wsguard_protocol::{CloseCode, RetryAfter, RoomName};

use super::Manager;
use crate::backplane::Delivery;
use crate::outbound::CloseRequest;

impl Manager {
    /// Reads `remote` and carries out each delivery on this node's members, in order.
    pub(super) fn spawn_remote_deliveries(&self, mut remote: mpsc::UnboundedReceiver<Delivery>) {
        let weak = std::sync::Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            while let Some(delivery) = remote.recv().await {
                let Some(inner) = weak.upgrade() else { break };
                let manager = Manager { inner };
                let message = match delivery {
                    Delivery::Message(message) => message,
                    Delivery::Resync(rooms) => {
                        manager.resync(&rooms);
                        continue;
                    }
                };
                let report = {
                    let _guard = manager.room_lock(&message.room).lock().await;
                    manager.deliver_room(&message)
                };
                // A publish of this node waits for its message to come back.
                if let Some(waiter) = message.tag.and_then(|tag| manager.take_waiter(tag)) {
                    let _ = waiter.send(report);
                }
            }
        });
    }

    /// Closes this node's members of `rooms` with 1001 and a 1 s retry window: they
    /// resume, and history replays what the backplane could not deliver.
    fn resync(&self, rooms: &[RoomName]) {
        let reason = RetryAfter {
            retry_after_ms: 1000,
        }
        .to_reason();
        let registry = self.registry();
        let mut closed = 0;
        for room in rooms {
            for (_, outbound) in registry.room_members(room.as_str()) {
                if outbound.request_close(CloseRequest::code(CloseCode::GoingAway, reason.clone()))
                {
                    closed += 1;
                }
            }
        }
        tracing::warn!(
            rooms = rooms.len(),
            closed,
            "backplane resynced; members asked to resume"
        );
    }
}
