//! Publishing room messages and pushing frames to users, rooms and everyone,
//! without ever blocking on, crashing on or skipping a dead or slow peer.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::MutexGuard;

use axum::extract::ws::Utf8Bytes;
use serde_json::Value;
use tokio::sync::oneshot;
use wsguard_protocol::{Frame, RoomName};

use super::wire::{encode, now_ms};
use super::{DeliveryReport, Manager, PublishError, PublishReport};
use crate::backplane::{Appended, Draft, PublishKey, RoomMessage};
use crate::metrics::inc;
use crate::outbound::{Outbound, Push};
use crate::registry::ConnId;

/// How long a publish through a shared backplane waits for its own message.
const PUBLISH_ECHO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Manager {
    /// Publishes a room message: assigns its seq, records it in history and queues
    /// it for every member. `from` is the publishing user, `None` for the server.
    pub async fn publish(
        &self,
        room: &RoomName,
        data: Value,
        from: Option<String>,
    ) -> Result<PublishReport, PublishError> {
        self.publish_keyed(room, data, from, None).await
    }

    /// Like [`Manager::publish`], with an idempotency key: a key already remembered
    /// for this (user, room) publishes nothing and reports the original seq with
    /// `duplicate: true`.
    pub async fn publish_keyed(
        &self,
        room: &RoomName,
        data: Value,
        from: Option<String>,
        key: Option<PublishKey>,
    ) -> Result<PublishReport, PublishError> {
        let tag = self.inner.next_tag.fetch_add(1, Ordering::Relaxed);
        let draft = Draft {
            tag,
            ts: now_ms(),
            from,
            data,
            key,
        };
        if !self.inner.backplane.delivers_own_messages() {
            // In-process: seq, history and delivery under the room lock, in one step.
            let _guard = self.room_lock(room).lock().await;
            let appended = self
                .inner
                .backplane
                .append(room, draft)
                .await
                .map_err(PublishError::Backplane)?;
            return Ok(match appended {
                Appended::New(message) => PublishReport {
                    delivery: self.deliver_room(&message),
                    seq: message.seq,
                    duplicate: false,
                },
                Appended::Duplicate { seq } => self.duplicate(seq),
            });
        }
        // Shared backplane: local members get the message when it comes back from the
        // store, in the store's order; wait for that delivery to report on it.
        let has_local_members = self.registry().room_members(room.as_str()).next().is_some();
        let waiter = has_local_members.then(|| {
            let (tx, rx) = oneshot::channel();
            self.waiters().insert(tag, tx);
            rx
        });
        let appended = self.inner.backplane.append(room, draft).await;
        let delivery = match (&appended, waiter) {
            (Ok(Appended::New(_)), Some(rx)) => tokio::time::timeout(PUBLISH_ECHO_TIMEOUT, rx)
                .await
                .ok()
                .and_then(Result::ok),
            _ => None,
        };
        self.take_waiter(tag);
        Ok(match appended.map_err(PublishError::Backplane)? {
            Appended::New(message) => PublishReport {
                delivery: delivery.unwrap_or_default(),
                seq: message.seq,
                duplicate: false,
            },
            Appended::Duplicate { seq } => self.duplicate(seq),
        })
    }

    /// The seq a remembered publish key of `user` produced in `room`, if any.
    pub async fn find_publish(
        &self,
        room: &RoomName,
        key: &PublishKey,
    ) -> Result<Option<u64>, PublishError> {
        self.inner
            .backplane
            .find_key(room, key)
            .await
            .map_err(PublishError::Backplane)
    }

    /// The report of a publish whose key was remembered: nothing delivered.
    pub(crate) fn duplicate(&self, seq: u64) -> PublishReport {
        inc(&self.inner.metrics.publish_duplicates);
        PublishReport {
            delivery: DeliveryReport::default(),
            seq,
            duplicate: true,
        }
    }

    fn waiters(&self) -> MutexGuard<'_, HashMap<u64, oneshot::Sender<DeliveryReport>>> {
        self.inner.waiters.lock().expect("waiters lock poisoned")
    }

    pub(super) fn take_waiter(&self, tag: u64) -> Option<oneshot::Sender<DeliveryReport>> {
        self.waiters().remove(&tag)
    }

    pub(super) fn deliver_room(&self, message: &RoomMessage) -> DeliveryReport {
        let targets = owned(
            self.registry()
                .room_members_for_seq(message.room.as_str(), message.seq),
        );
        self.deliver(targets, &message.text)
    }

    /// Pushes a frame to every connection of a user. `ts` is stamped if absent.
    pub fn send_to_user(&self, user_id: &str, frame: Frame) -> DeliveryReport {
        let targets = owned(self.registry().user_connections(user_id));
        self.deliver(targets, &encode(frame))
    }

    /// Pushes a frame (any application type, unsequenced) to every member of a room.
    pub fn send_to_room(&self, room: &str, frame: Frame) -> DeliveryReport {
        let targets = owned(self.registry().room_members(room));
        self.deliver(targets, &encode(frame))
    }

    /// Pushes a frame to every open connection.
    pub fn broadcast(&self, frame: Frame) -> DeliveryReport {
        let targets = owned(self.registry().all());
        self.deliver(targets, &encode(frame))
    }

    /// Queues `text` for each target without blocking; dead and slow targets are
    /// counted and removed from the registry, never skipped silently.
    fn deliver(&self, targets: Vec<(ConnId, Outbound)>, text: &Utf8Bytes) -> DeliveryReport {
        let mut report = DeliveryReport::default();
        let mut dead = Vec::new();
        for (id, outbound) in targets {
            match outbound.push(text.clone()) {
                Push::Queued => report.sent += 1,
                Push::SlowConsumer => {
                    inc(&self.inner.metrics.slow_consumer_closes);
                    dead.push(id);
                }
                Push::Gone => dead.push(id),
            }
        }
        report.failed = dead.len();
        if !dead.is_empty() {
            self.inner
                .metrics
                .broadcast_failed
                .fetch_add(dead.len() as u64, Ordering::Relaxed);
            let mut emptied = Vec::new();
            {
                let mut registry = self.registry();
                for id in dead {
                    if let Some(removed) = registry.unregister(id) {
                        report.removed += 1;
                        emptied.extend(removed.emptied_rooms);
                    }
                }
            }
            self.unsubscribe_emptied(emptied);
        }
        report
    }
}

/// Clones the selected registry handles, so delivery runs without the registry lock.
fn owned<'r>(targets: impl Iterator<Item = (ConnId, &'r Outbound)>) -> Vec<(ConnId, Outbound)> {
    targets
        .map(|(id, outbound)| (id, outbound.clone()))
        .collect()
}
