//! Frames after the welcome: rooms, publishes, and typed requests routed to the
//! connection's handlers.

use serde_json::Value;
use wsguard_protocol::{kind, ErrorCode, Frame, JoinAck, LeaveAck, PublishAck, RoomName};

use super::handler::{Flow, Handler};
use crate::backplane::PublishKey;
use crate::manager::{JoinError, PublishReport};

/// Longest idempotency key, in characters.
const MAX_KEY_CHARS: usize = 128;
use crate::router::Request;

impl Handler {
    fn room_of(&mut self, frame: &mut Frame) -> Result<RoomName, Flow> {
        let Some(room) = frame.room.take() else {
            let message = format!("`{}` needs a `room`", frame.kind);
            return Err(self.error(frame.id.take(), ErrorCode::BadFrame, message));
        };
        RoomName::new(room)
            .map_err(|e| self.error(frame.id.take(), ErrorCode::BadFrame, e.to_string()))
    }

    pub(super) async fn dispatch(&mut self, mut frame: Frame) -> Flow {
        let open = self
            .open
            .as_ref()
            .expect("dispatch runs after the handshake");
        let user_id = open.identity.user_id.clone();
        match frame.kind.as_str() {
            kind::PING => {
                self.send(Frame::new(kind::PONG).with_id(frame.id));
                Flow::Continue
            }
            kind::HELLO => self.error(frame.id, ErrorCode::BadFrame, "hello was already received"),
            kind::JOIN => {
                let room = match self.room_of(&mut frame) {
                    Ok(room) => room,
                    Err(flow) => return flow,
                };
                match self.manager.join(self.conn, &user_id, &room, None).await {
                    Ok((seq, _)) => {
                        let ack = JoinAck {
                            room: room.to_string(),
                            seq,
                        };
                        self.reply(
                            frame.id,
                            kind::ACK,
                            serde_json::to_value(ack).expect("ack serializes"),
                        );
                        Flow::Continue
                    }
                    Err(JoinError::Forbidden) => self.error(
                        frame.id,
                        ErrorCode::Forbidden,
                        format!("room {room} is private to another user"),
                    ),
                    Err(JoinError::NotConnected) => Flow::Stop,
                    Err(JoinError::Backplane(e)) => {
                        self.error(frame.id, ErrorCode::Internal, e.to_string())
                    }
                }
            }
            kind::LEAVE => {
                let room = match self.room_of(&mut frame) {
                    Ok(room) => room,
                    Err(flow) => return flow,
                };
                self.manager.leave(self.conn, &room).await;
                let ack = LeaveAck {
                    room: room.to_string(),
                };
                self.reply(
                    frame.id,
                    kind::ACK,
                    serde_json::to_value(ack).expect("ack serializes"),
                );
                Flow::Continue
            }
            kind::PUBLISH => self.publish(frame, user_id).await,
            _ => self.route(frame, user_id).await,
        }
    }

    /// `publish`: a member's publish is one keyed append (which answers a
    /// remembered key with its original seq); a non-member's is acknowledged only
    /// when its key is remembered (dedupe comes before membership), else `not_joined`.
    async fn publish(&mut self, mut frame: Frame, user_id: String) -> Flow {
        let room = match self.room_of(&mut frame) {
            Ok(room) => room,
            Err(flow) => return flow,
        };
        let key = match frame.key.take() {
            None => None,
            Some(key) if (1..=MAX_KEY_CHARS).contains(&key.chars().count()) => Some(PublishKey {
                user: user_id.clone(),
                key,
            }),
            Some(_) => {
                return self.error(
                    frame.id,
                    ErrorCode::BadFrame,
                    format!("`key` is a string of 1 to {MAX_KEY_CHARS} characters"),
                )
            }
        };
        if !self.manager.is_member(self.conn, room.as_str()) {
            // A member's keyed append checks the key itself, atomically; a
            // non-member's publish is still acknowledged if its key is remembered.
            if let Some(key) = &key {
                match self.manager.find_publish(&room, key).await {
                    Ok(Some(seq)) => {
                        let report = self.manager.duplicate(seq);
                        return self.ack_publish(frame.id, &report);
                    }
                    Ok(None) => {}
                    Err(e) => return self.error(frame.id, ErrorCode::Internal, e.to_string()),
                }
            }
            return self.error(
                frame.id,
                ErrorCode::NotJoined,
                format!("join {room} before publishing to it"),
            );
        }
        let data = frame.data.unwrap_or(Value::Null);
        match self
            .manager
            .publish_keyed(&room, data, Some(user_id), key)
            .await
        {
            Ok(report) => self.ack_publish(frame.id, &report),
            Err(e) => self.error(frame.id, ErrorCode::Internal, e.to_string()),
        }
    }

    fn ack_publish(&self, id: Option<String>, report: &PublishReport) -> Flow {
        let ack = PublishAck {
            seq: report.seq,
            duplicate: report.duplicate.then_some(true),
        };
        self.reply(
            id,
            kind::ACK,
            serde_json::to_value(ack).expect("ack serializes"),
        );
        Flow::Continue
    }

    async fn route(&mut self, frame: Frame, user_id: String) -> Flow {
        let open = self
            .open
            .as_ref()
            .expect("routing runs after the handshake");
        let request = Request {
            kind: frame.kind,
            id: frame.id,
            room: frame.room,
            data: frame.data.unwrap_or(Value::Null),
            connection_id: self.connection_id.clone(),
            user_id,
            manager: self.manager.clone(),
        };
        let id = request.id.clone();
        let kind = request.kind.clone();
        let Some(handling) = open.router.dispatch(request) else {
            return self.error(
                id,
                ErrorCode::UnknownType,
                format!("no handler for type `{kind}`"),
            );
        };
        match handling.await {
            Ok(data) => {
                if id.is_some() {
                    self.reply(id, kind::REPLY, data);
                }
                Flow::Continue
            }
            Err(e) => self.error(id, e.code, e.message),
        }
    }
}
