//! Rooms: re-joined after every welcome, each room message delivered once per seq,
//! and what a resume replayed.

use super::{Client, Pending, Phase, Purpose};
use crate::client::{Event, Payload, ResumeData, RoomMap, SocketId};
use crate::prelude::*;
use crate::{kind, Frame};

impl<D: Payload> Client<D> {
    /// The `resume` of the next `hello`: the session and the last seq of every room,
    /// when there is a session to resume and resuming is on.
    pub(super) fn resume_for_hello(&self) -> Option<ResumeData> {
        match (&self.session, self.config.resume) {
            (Some((session, epoch)), true) => {
                let mut rooms = RoomMap::new();
                for room in &self.joined {
                    let seq = self.last_seq.get(room).copied().unwrap_or(0);
                    rooms.insert(room.clone(), seq);
                }
                Some(ResumeData {
                    session: session.clone(),
                    epoch: epoch.clone(),
                    rooms,
                })
            }
            _ => None,
        }
    }

    /// Takes over a session another connection held (a new leader tab of a shared
    /// connection, `crate::share`): the next `hello` resumes `session` in `epoch`
    /// for `rooms`, each from its seq, and the rooms are kept as if joined here.
    /// Meant for an idle client, before `connect`.
    pub fn resume_from(&mut self, session: &str, epoch: &str, rooms: &RoomMap<u64>) {
        self.session = Some((session.to_owned(), epoch.to_owned()));
        self.epoch = Some(epoch.to_owned());
        self.joined = rooms.iter().map(|(room, _)| room.clone()).collect();
        self.last_seq = rooms.clone();
    }

    /// Joins every room again after a welcome that did not resume them.
    pub(super) fn rejoin_rooms(&mut self, socket: SocketId) {
        let rooms = self.joined.clone();
        for room in rooms {
            let mut frame = Frame::new(kind::JOIN).with_room(room.as_str());
            let id = self.next_wire_id("r");
            frame.id = Some(id.clone());
            let deadline = self.now + self.config.request_timeout_ms;
            self.pending.push((
                id,
                Pending {
                    request: None,
                    purpose: Purpose::Rejoin(room),
                    deadline,
                    sent_on: None,
                    publish: None,
                    written_at: None,
                    stored: None,
                },
            ));
            self.transmit(socket, frame);
        }
    }

    pub(super) fn on_resumed(&mut self, frame: &Frame<D>) {
        let Some(resumed) = frame.data.as_ref().and_then(Payload::to_resumed) else {
            return;
        };
        for (room, report) in &resumed.rooms {
            let last = self.last_seq.get_or_insert(room, 0);
            *last = (*last).max(report.to);
        }
        self.event(Event::Resumed(resumed));
        if let (true, Phase::Open { socket, .. }) = (self.awaiting_resumed, self.phase) {
            self.awaiting_resumed = false;
            self.send_retries(socket);
        }
    }
}
