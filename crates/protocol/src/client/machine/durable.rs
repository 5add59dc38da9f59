//! The durable outbox: which entries go into the store (buffered sends, publishes
//! not yet acknowledged), when they leave it (a send once written to an open
//! socket, a publish once its outcome is known), and how a later client takes
//! them back: before everything it buffered itself, in their original order, each
//! publish after a join of its room, with its original key.

use crate::prelude::*;
use alloc::collections::VecDeque;

use super::{Client, Pending, Phase, Purpose, Queued};
use crate::client::{cat, Event, Millis, Output, Payload, StoreOp, StoredEntry};
use crate::{kind, Frame};

impl<D: Payload> Client<D> {
    /// Hands back what the durable outbox holds (any order; entries this client
    /// wrote itself are skipped), or `None` when the store cannot be used: the
    /// client then works without it and says so once, with an `error` event of
    /// code `persist_unavailable` (also when the store has not answered within
    /// `restore_timeout_ms` of `connect()`: the client stops waiting, keeps
    /// writing, and leaves the earlier entries to a later client).
    ///
    /// Restored entries go before everything this client buffered, in their
    /// original order, and are sent after the welcome (at once if the client is
    /// open); each restored publish is preceded by a join of its room (the client
    /// stays in it) and keeps its key. Its outcome comes as
    /// [`Event::Published`] or [`Event::PublishFailed`] (`expired` if it was written
    /// to a socket once and is older than the server's `dedupe_ttl_ms`: it is
    /// never sent blindly). A restored publish's timeout starts when it is written.
    pub fn restore(&mut self, entries: Option<Vec<StoredEntry<D>>>, now: Millis) {
        self.tick(now);
        let Some(mut entries) = entries else {
            // Unusable, even if it answers late: the client works without it.
            self.config.persist = false;
            self.stored.clear();
            if self.restoring {
                self.stop_restoring("no durable outbox here (IndexedDB is unavailable)");
            }
            return;
        };
        if !self.restoring {
            return;
        }
        self.restoring = false;
        if self.phase == Phase::Closed {
            // Closed before they came: they stay in the store for a later client.
            return;
        }
        // An insertion sort: the store reads them back in order already, and
        // `sort` would add kilobytes to the wasm.
        for i in 1..entries.len() {
            let mut j = i;
            while j > 0 && entries[j - 1].id > entries[j].id {
                entries.swap(j - 1, j);
                j -= 1;
            }
        }
        let mut restored = VecDeque::new();
        let mut joining = self.joined.clone();
        for StoredEntry {
            id,
            frame,
            written_at,
        } in entries
        {
            if self.stored.contains(&id) {
                continue;
            }
            self.last_store_id = self.last_store_id.max(id);
            self.stored.push(id);
            let frame = frame.with_id(None);
            if frame.kind != kind::PUBLISH {
                restored.push_back(Queued {
                    frame,
                    stored: Some(id),
                });
                continue;
            }
            let (Some(room), Some(_)) = (frame.room.clone(), &frame.key) else {
                self.unstore(Some(id));
                continue;
            };
            if !joining.contains(&room) {
                joining.push(room.clone());
                let join = Frame::new(kind::JOIN).with_room(room.as_str());
                restored.push_back(self.restored_request(join, Purpose::Join(room), None));
            }
            let publish = self.restored_request(frame, Purpose::User, Some((written_at, id)));
            restored.push_back(publish);
        }
        while let Some(queued) = restored.pop_back() {
            self.outbox.push_front(queued);
        }
        self.flush_if_open();
    }

    /// Stops waiting for the durable outbox's earlier entries (they stay in it,
    /// for a later client), sends what waited, and says so once.
    pub(super) fn stop_restoring(&mut self, why: &str) {
        self.restoring = false;
        self.event(Event::Error {
            code: "persist_unavailable".into(),
            message: cat(&[why, ": earlier entries are not sent by this client"]),
        });
        self.flush_if_open();
    }

    /// A request of a restored entry: no promise (its outcome is an event), and no
    /// deadline until it is written.
    fn restored_request(
        &mut self,
        mut frame: Frame<D>,
        purpose: Purpose,
        publish: Option<(Option<u64>, u64)>,
    ) -> Queued<D> {
        let id = self.next_wire_id("");
        frame.id = Some(id.clone());
        self.pending.push((
            id,
            Pending {
                request: None,
                purpose,
                deadline: Millis::MAX,
                sent_on: None,
                publish: publish.map(|_| Box::new(frame.clone())),
                written_at: publish.and_then(|(at, _)| at),
                stored: publish.map(|(_, id)| id),
            },
        ));
        Queued {
            frame,
            stored: None,
        }
    }

    fn flush_if_open(&mut self) {
        if let Phase::Open { socket, .. } = self.phase {
            self.flush(socket);
        }
    }

    /// Unix time in ms now.
    pub(super) fn wall_now(&self) -> u64 {
        self.config.wall_clock_origin_ms + self.now
    }

    /// An id above every earlier one of this client, starting from the wall clock
    /// (× 1024, plus a random offset below 512 so that two clients created in the
    /// same millisecond hardly ever meet).
    fn new_store_id(&mut self) -> u64 {
        if self.last_store_id == 0 {
            let offset = ((self.random)().clamp(0.0, 1.0) * 512.0) as u64;
            self.last_store_id = self.wall_now() * 1024 + offset;
        }
        let id = (self.last_store_id + 1).max(self.wall_now() * 1024);
        self.last_store_id = id;
        self.stored.push(id);
        id
    }

    /// Keeps a buffered send in the durable outbox; returns its entry.
    pub(super) fn store_send(&mut self, frame: &Frame<D>) -> Option<u64> {
        if !self.config.persist {
            return None;
        }
        let id = self.new_store_id();
        let entry = StoredEntry {
            id,
            frame: frame.clone(),
            written_at: None,
        };
        self.outputs.push_back(Output::Store(StoreOp::Put(entry)));
        Some(id)
    }

    /// Writes (or rewrites, once it was written to a socket) a pending publish's entry.
    pub(super) fn store_publish(&mut self, wire_id: &str) {
        if !self.config.persist {
            return;
        }
        let Some(index) = self.pending.iter().position(|(p, _)| p == wire_id) else {
            return;
        };
        let id = match self.pending[index].1.stored {
            Some(id) => id,
            None => self.new_store_id(),
        };
        let pending = &mut self.pending[index].1;
        pending.stored = Some(id);
        let Some(frame) = pending.publish.as_deref() else {
            return;
        };
        let entry = StoredEntry {
            id,
            frame: frame.clone().with_id(None),
            written_at: pending.written_at,
        };
        self.outputs.push_back(Output::Store(StoreOp::Put(entry)));
    }

    /// The entry's outcome is known: it leaves the durable outbox.
    pub(super) fn unstore(&mut self, id: Option<u64>) {
        let Some(index) = id.and_then(|id| self.stored.iter().position(|s| *s == id)) else {
            return;
        };
        let id = self.stored.remove(index);
        self.outputs.push_back(Output::Store(StoreOp::Remove(id)));
    }
}
