//! Resumable sessions kept in this process, keyed by an unguessable id, driven by
//! an injected clock. (The in-memory backplane's session store.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::backplane::SessionGrant;

#[derive(Debug)]
struct Session {
    user: String,
    /// Connections currently using the session.
    attached: usize,
    /// When a detached session stops being resumable.
    expires_at: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct Sessions {
    ttl: Duration,
    map: HashMap<String, Session>,
}

impl Sessions {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            map: HashMap::new(),
        }
    }

    /// Attaches a connection of `user` to a session: `resume` when it is known,
    /// unexpired and owned by this user, otherwise a fresh one with id `fresh_id`.
    pub(crate) fn attach(
        &mut self,
        user: &str,
        resume: Option<&str>,
        fresh_id: String,
        now: Instant,
    ) -> SessionGrant {
        self.purge(now);
        if let Some(id) = resume {
            if let Some(session) = self.map.get_mut(id).filter(|s| s.user == user) {
                session.attached += 1;
                session.expires_at = None;
                return SessionGrant {
                    id: id.to_owned(),
                    resumed: true,
                };
            }
        }
        self.map.insert(
            fresh_id.clone(),
            Session {
                user: user.to_owned(),
                attached: 1,
                expires_at: None,
            },
        );
        SessionGrant {
            id: fresh_id,
            resumed: false,
        }
    }

    /// A connection using the session ended; once none is left, the session can be
    /// resumed until `now + ttl`.
    pub(crate) fn detach(&mut self, id: &str, now: Instant) {
        if let Some(session) = self.map.get_mut(id) {
            session.attached = session.attached.saturating_sub(1);
            if session.attached == 0 {
                session.expires_at = Some(now + self.ttl);
            }
        }
    }

    fn purge(&mut self, now: Instant) {
        self.map
            .retain(|_, s| s.expires_at.is_none_or(|at| at > now));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(300);

    #[test]
    fn resumes_within_ttl_only() {
        let t0 = Instant::now();
        let mut sessions = Sessions::new(TTL);
        let first = sessions.attach("alice", None, "s1".into(), t0);
        assert_eq!(
            first,
            SessionGrant {
                id: "s1".into(),
                resumed: false
            }
        );
        sessions.detach("s1", t0);
        let again = sessions.attach(
            "alice",
            Some("s1"),
            "s2".into(),
            t0 + TTL - Duration::from_millis(1),
        );
        assert_eq!(
            again,
            SessionGrant {
                id: "s1".into(),
                resumed: true
            }
        );
        sessions.detach("s1", t0 + TTL);
        let late = sessions.attach(
            "alice",
            Some("s1"),
            "s3".into(),
            t0 + TTL * 2 + Duration::from_millis(1),
        );
        assert_eq!(
            late,
            SessionGrant {
                id: "s3".into(),
                resumed: false
            }
        );
        assert_eq!(sessions.len(), 1, "the expired session was purged");
    }

    #[test]
    fn foreign_and_unknown_sessions_start_fresh() {
        let t0 = Instant::now();
        let mut sessions = Sessions::new(TTL);
        sessions.attach("alice", None, "s1".into(), t0);
        sessions.detach("s1", t0);
        assert!(!sessions.attach("bob", Some("s1"), "b1".into(), t0).resumed);
        assert!(
            !sessions
                .attach("alice", Some("nope"), "a4".into(), t0)
                .resumed
        );
        assert!(
            sessions
                .attach("alice", Some("s1"), "a5".into(), t0)
                .resumed
        );
    }

    #[test]
    fn attached_sessions_do_not_expire() {
        let t0 = Instant::now();
        let mut sessions = Sessions::new(TTL);
        sessions.attach("alice", None, "s1".into(), t0);
        // Still attached an hour later: resumable from a second tab.
        let later = t0 + Duration::from_secs(3600);
        assert!(
            sessions
                .attach("alice", Some("s1"), "x".into(), later)
                .resumed
        );
    }
}
