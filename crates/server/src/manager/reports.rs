//! What pushes and publishes report, and why joins and publishes fail.

use serde::Serialize;

use crate::backplane::BackplaneError;

/// What a push reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Connections the frame was queued for.
    pub sent: usize,
    /// Connections it could not be queued for: already gone, or too slow (those are
    /// closed with 4503).
    pub failed: usize,
    /// Registry entries removed because their connection turned out to be gone or too slow.
    pub removed: usize,
}

/// The outcome of publishing a room message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PublishReport {
    /// Local delivery.
    #[serde(flatten)]
    pub delivery: DeliveryReport,
    /// The seq the message got (for a duplicate: the seq it got the first time).
    pub seq: u64,
    /// The publish's key was remembered: nothing was published or delivered.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// Why a join failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// `user:<id>` rooms are private to that user.
    Forbidden,
    /// The connection is closed.
    NotConnected,
    /// The backplane failed; the client may retry.
    Backplane(BackplaneError),
}

/// Why a publish failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishError {
    /// The backplane failed; the message was not published.
    Backplane(BackplaneError),
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Backplane(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PublishError {}
