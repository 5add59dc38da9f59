//! A connection's life in the manager: ids, authentication, the welcome, the
//! per-user cap, and removal.

use std::sync::atomic::Ordering;

use wsguard_protocol::{kind, CloseCode, ErrorCode, Frame, Welcome, PROTOCOL_VERSION};

use super::wire::{encode, error_frame, random_hex};
use super::Manager;
use crate::auth::Identity;
use crate::backplane::{BackplaneError, SessionGrant};
use crate::metrics::inc;
use crate::outbound::{CloseRequest, Outbound};
use crate::registry::ConnId;
use crate::router::{ConnectionInfo, Router};

/// What a client asked to resume.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResumeRequest<'a> {
    pub(crate) session: &'a str,
    pub(crate) epoch: &'a str,
}

/// A connection that passed the handshake.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) session: String,
    pub(crate) resumed: bool,
    pub(crate) router: Router,
}

impl Manager {
    pub(crate) fn next_connection(&self) -> (ConnId, String) {
        let n = self.inner.next_conn.fetch_add(1, Ordering::Relaxed);
        (ConnId(n), format!("{}-{n}", self.inner.node))
    }

    pub(crate) fn authenticate(
        &self,
        token: Option<&str>,
        connection_id: &str,
    ) -> Result<Identity, crate::auth::AuthError> {
        self.inner.auth.authenticate(token, connection_id)
    }

    /// Registers an authenticated connection, queues its welcome (before anything
    /// else can be pushed to it), evicts the user's oldest connections past the cap,
    /// and builds its router.
    pub(crate) async fn open(
        &self,
        conn: ConnId,
        connection_id: &str,
        identity: &Identity,
        outbound: &Outbound,
        resume: Option<ResumeRequest<'_>>,
    ) -> Result<Opened, BackplaneError> {
        // Only an authenticated user can resume, and only within the same epoch.
        let resume = resume
            .filter(|r| identity.authenticated && r.epoch == self.epoch())
            .map(|r| r.session);
        let fresh = random_hex(16);
        let grant = self
            .inner
            .backplane
            .attach_session(&identity.user_id, resume, fresh.clone())
            .await;
        // Without its session store the server cannot promise what a welcome
        // promises (resume, rooms): the caller refuses the hello with 1013.
        let SessionGrant {
            id: session,
            resumed,
        } = grant?;
        let welcome = Welcome {
            connection_id: connection_id.to_owned(),
            user_id: identity.user_id.clone(),
            session: session.clone(),
            epoch: self.epoch().to_owned(),
            heartbeat_ms: self.inner.config.heartbeat.as_millis() as u64,
            max_message_bytes: self.inner.config.max_message_bytes as u64,
            resumed,
            protocol: PROTOCOL_VERSION,
            dedupe_ttl_ms: Some(self.inner.config.dedupe_ttl.as_millis() as u64),
        };
        let welcome = Frame::new(kind::WELCOME)
            .with_data(serde_json::to_value(welcome).expect("welcome serializes"));
        let evicted = {
            let mut registry = self.registry();
            outbound.push(encode(welcome));
            registry.register(conn, &identity.user_id, outbound.clone())
        };
        for removed in evicted {
            inc(&self.inner.metrics.evictions);
            tracing::info!(user = %identity.user_id, evicted = removed.id.0, "per-user cap reached; evicting the oldest");
            let message = format!(
                "user {} opened more than {} connections; this, the oldest, was closed",
                identity.user_id, self.inner.config.max_connections_per_user
            );
            removed
                .handle
                .push(encode(error_frame(None, ErrorCode::Evicted, message)));
            removed
                .handle
                .request_close(CloseRequest::code(CloseCode::Evicted, "evicted"));
            self.unsubscribe_emptied(removed.emptied_rooms);
        }
        let mut router = Router::default();
        let info = ConnectionInfo {
            connection_id: connection_id.to_owned(),
            user_id: identity.user_id.clone(),
            manager: self.clone(),
        };
        for hook in &self.inner.hooks {
            hook(&info, &mut router);
        }
        Ok(Opened {
            session,
            resumed,
            router,
        })
    }

    /// Removes a connection from every index and detaches its session.
    pub(crate) async fn close(&self, conn: ConnId, session: Option<&str>) {
        let removed = self.registry().unregister(conn);
        if let Some(removed) = removed {
            self.unsubscribe_emptied(removed.emptied_rooms);
        }
        if let Some(session) = session {
            if let Err(e) = self.inner.backplane.detach_session(session).await {
                tracing::warn!(error = %e, "could not detach the session");
            }
        }
    }
}
