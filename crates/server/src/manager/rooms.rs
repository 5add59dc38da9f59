//! Joining, leaving and resuming rooms, with backplane subscriptions that follow
//! local membership.

use std::collections::BTreeMap;

use wsguard_protocol::{RoomName, RoomResume};

use super::{JoinError, Manager};
use crate::backplane::BackplaneError;
use crate::registry::ConnId;

impl Manager {
    pub(super) fn unsubscribe_emptied(&self, rooms: Vec<RoomName>) {
        if rooms.is_empty() {
            return;
        }
        let manager = self.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                for room in rooms {
                    // Under the room lock, and only if nobody joined meanwhile: a join
                    // (which subscribes under the same lock) must never be undone.
                    let _guard = manager.room_lock(&room).lock().await;
                    if manager
                        .registry()
                        .room_members(room.as_str())
                        .next()
                        .is_some()
                    {
                        continue;
                    }
                    if let Err(e) = manager.inner.backplane.unsubscribe(&room).await {
                        tracing::warn!(room = %room, error = %e, "backplane unsubscribe failed");
                    }
                }
            });
        }
    }

    /// Joins `conn` to `room`, returning the room's current seq; with `replay_after`,
    /// queues the messages after that seq that history holds (before any later
    /// message of the room) and returns what was covered.
    pub(crate) async fn join(
        &self,
        conn: ConnId,
        user_id: &str,
        room: &RoomName,
        replay_after: Option<u64>,
    ) -> Result<(u64, Option<bool>), JoinError> {
        if !room.admits(user_id) {
            return Err(JoinError::Forbidden);
        }
        let _guard = self.room_lock(room).lock().await;
        let (joined, outbound) = {
            let mut registry = self.registry();
            let joined = registry.join(conn, room).ok_or(JoinError::NotConnected)?;
            (
                joined,
                registry
                    .handle(conn)
                    .cloned()
                    .ok_or(JoinError::NotConnected)?,
            )
        };
        if joined.room_created {
            if let Err(e) = self.inner.backplane.subscribe(room).await {
                // Not subscribed means not joined: undo, so the next join subscribes again.
                self.registry().leave(conn, room);
                return Err(JoinError::Backplane(e));
            }
        }
        let (seq, complete) = match replay_after {
            None => {
                let seq = self
                    .inner
                    .backplane
                    .current_seq(room)
                    .await
                    .map_err(JoinError::Backplane)?;
                (seq, None)
            }
            Some(after) => {
                let replay = self
                    .inner
                    .backplane
                    .replay(room, after)
                    .await
                    .map_err(JoinError::Backplane)?;
                for message in replay.messages {
                    outbound.push(message.text);
                }
                (replay.current_seq, Some(replay.complete))
            }
        };
        // Messages up to `seq` are covered by the ack or the replay; a shared
        // backplane may still be delivering some of them: skip those for this member.
        self.registry().set_baseline(conn, room.as_str(), seq);
        Ok((seq, complete))
    }

    /// Removes `conn` from `room` (a no-op if it was not a member).
    pub(crate) async fn leave(&self, conn: ConnId, room: &RoomName) {
        let _guard = self.room_lock(room).lock().await;
        let emptied = self.registry().leave(conn, room);
        if emptied {
            if let Err(e) = self.inner.backplane.unsubscribe(room).await {
                tracing::warn!(room = %room, error = %e, "backplane unsubscribe failed");
            }
        }
    }

    pub(crate) fn is_member(&self, conn: ConnId, room: &str) -> bool {
        self.registry().is_member(conn, room)
    }

    /// Re-joins the rooms of a `resume` and replays what each missed; returns the
    /// `resumed` report. Rooms the user may not join are left out. A backplane
    /// failure fails the whole resume (the client must not believe it is in a room
    /// it is not in).
    pub(crate) async fn resume_rooms(
        &self,
        conn: ConnId,
        user_id: &str,
        rooms: &BTreeMap<String, u64>,
        resumed: bool,
    ) -> Result<BTreeMap<String, RoomResume>, BackplaneError> {
        let mut report = BTreeMap::new();
        for (name, &last_seq) in rooms {
            let Ok(room) = RoomName::new(name.as_str()) else {
                continue;
            };
            let result = self
                .join(conn, user_id, &room, resumed.then_some(last_seq))
                .await;
            let entry = match result {
                Ok((to, Some(complete))) => RoomResume {
                    from: last_seq + 1,
                    to,
                    complete,
                },
                Ok((to, None)) => RoomResume {
                    from: to + 1,
                    to,
                    complete: false,
                },
                Err(JoinError::Forbidden | JoinError::NotConnected) => continue,
                Err(JoinError::Backplane(e)) => return Err(e),
            };
            report.insert(name.clone(), entry);
        }
        Ok(report)
    }
}
