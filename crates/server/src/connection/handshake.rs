//! The handshake: `hello` → authentication → welcome (→ resume), or a refusal:
//! `unauthorized` + 4401, or 1013 when the backplane cannot serve the client now.

use serde_json::Value;
use wsguard_protocol::{kind, CloseCode, ErrorCode, Frame, Hello, Resumed, RetryAfter};

use super::handler::{Flow, Handler, Open};
use crate::backplane::BackplaneError;
use crate::manager::{error_frame, ResumeRequest};
use crate::outbound::CloseRequest;

impl Handler {
    pub(super) async fn handshake(&mut self, frame: Frame) -> Flow {
        if frame.kind != kind::HELLO {
            return self.error(frame.id, ErrorCode::HandshakeRequired, "send hello first");
        }
        let mut data = frame.data;
        // A token of another type is a credential problem, not a framing one.
        let token_type_error = data
            .as_mut()
            .and_then(Value::as_object_mut)
            .and_then(|fields| fields.remove("token").map(|token| (fields, token)))
            .and_then(|(fields, token)| match token {
                Value::String(_) => {
                    fields.insert("token".into(), token);
                    None
                }
                Value::Null => None,
                _ => Some(crate::auth::AuthError::TokenNotAString),
            });
        if let Some(e) = token_type_error {
            return self.refuse(frame.id, &e);
        }
        let hello: Hello = match data.map(serde_json::from_value).transpose() {
            Ok(hello) => hello.unwrap_or_default(),
            Err(e) => {
                return self.error(
                    frame.id,
                    ErrorCode::BadFrame,
                    format!("bad hello data: {e}"),
                )
            }
        };
        let identity = match self
            .manager
            .authenticate(hello.token.as_deref(), &self.connection_id)
        {
            Ok(identity) => identity,
            Err(e) => return self.refuse(frame.id, &e),
        };
        let resume = hello.resume.as_ref().map(|r| ResumeRequest {
            session: &r.session,
            epoch: &r.epoch,
        });
        let opened = match self
            .manager
            .open(
                self.conn,
                &self.connection_id,
                &identity,
                &self.outbound,
                resume,
            )
            .await
        {
            Ok(opened) => opened,
            Err(e) => return self.try_again_later(frame.id, &e),
        };
        tracing::debug!(connection = %self.connection_id, user = %identity.user_id, resumed = opened.resumed, "welcomed");
        if let Some(resume) = &hello.resume {
            let rooms = match self
                .manager
                .resume_rooms(self.conn, &identity.user_id, &resume.rooms, opened.resumed)
                .await
            {
                Ok(rooms) => rooms,
                // Never leave a welcomed client without the rooms it asked for: it
                // reconnects later with the same resume data.
                Err(e) => return self.try_again_later(None, &e),
            };
            let resumed = Resumed { rooms };
            self.send(
                Frame::new(kind::RESUMED)
                    .with_data(serde_json::to_value(resumed).expect("resumed serializes")),
            );
        }
        self.open = Some(Open {
            identity,
            session: opened.session,
            router: opened.router,
        });
        self.welcomed.send_replace(true);
        Flow::Continue
    }

    /// The backplane cannot serve this client now: `internal`, then close 1013 with
    /// a retry window (the client reconnects with backoff, not before it).
    fn try_again_later(&mut self, id: Option<String>, why: &BackplaneError) -> Flow {
        tracing::warn!(connection = %self.connection_id, error = %why, "refusing a hello: backplane unavailable");
        self.send(error_frame(
            id,
            ErrorCode::Internal,
            format!("{why}; try again later"),
        ));
        let retry_after_ms = (self.manager.config().backplane_timeout * 2)
            .as_millis()
            .max(1000) as u64;
        let reason = RetryAfter { retry_after_ms }.to_reason();
        self.outbound
            .request_close(CloseRequest::code(CloseCode::TryAgainLater, reason));
        Flow::Stop
    }

    /// `unauthorized`, then close 4401.
    fn refuse(&mut self, id: Option<String>, why: &crate::auth::AuthError) -> Flow {
        self.error(id, ErrorCode::Unauthorized, why.to_string());
        self.outbound
            .request_close(CloseRequest::code(CloseCode::Unauthorized, "unauthorized"));
        Flow::Stop
    }
}
