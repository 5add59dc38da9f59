//! Typed message routing: Rust code registers handlers per message type, per
//! connection. A connection's [`Router`] is built right after its welcome and is
//! dropped with the connection, so no handler outlives the connection it serves.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;
use wsguard_protocol::{kind, ErrorCode};

use crate::Manager;

/// One frame routed to a handler.
#[derive(Debug, Clone)]
pub struct Request {
    /// The frame's type.
    pub kind: String,
    /// Correlation id; the reply carries it. Without one, the reply is not sent.
    pub id: Option<String>,
    /// The frame's `room`, if any.
    pub room: Option<String>,
    /// The frame's `data` (`null` when absent).
    pub data: Value,
    /// The connection the frame came from.
    pub connection_id: String,
    /// The user of that connection.
    pub user_id: String,
    /// The manager, to push to other users or rooms.
    pub manager: Manager,
}

/// A handler's failure, sent to the client as an `error` frame with the request's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    /// The error code (e.g. [`ErrorCode::Forbidden`], [`ErrorCode::Internal`]).
    pub code: ErrorCode,
    /// Explanation for the client.
    pub message: String,
}

impl HandlerError {
    /// A handler error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

type BoxHandler =
    Box<dyn Fn(Request) -> BoxFuture<'static, Result<Value, HandlerError>> + Send + Sync>;

/// The handlers of one connection, by message type.
///
/// Protocol types (`hello`, `join`, `leave`, `publish`, `ping`) are handled by the
/// server before routing and cannot be overridden; `echo` is a built-in handler
/// (replies with the data it got) that can be replaced.
pub struct Router {
    routes: HashMap<String, BoxHandler>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("types", &self.routes.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for Router {
    fn default() -> Self {
        let mut router = Self {
            routes: HashMap::new(),
        };
        router.on(
            kind::ECHO,
            |request: Request| async move { Ok(request.data) },
        );
        router
    }
}

impl Router {
    /// Registers (or replaces) the handler for `kind`. Its answer is sent as
    /// `{"type":"reply","id":…,"data":…}`, its error as an `error` frame.
    pub fn on<F, Fut>(&mut self, kind: impl Into<String>, handler: F) -> &mut Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, HandlerError>> + Send + 'static,
    {
        self.routes.insert(
            kind.into(),
            Box::new(move |request| Box::pin(handler(request))),
        );
        self
    }

    /// Whether a handler is registered for `kind`.
    pub fn handles(&self, kind: &str) -> bool {
        self.routes.contains_key(kind)
    }

    pub(crate) fn dispatch(
        &self,
        request: Request,
    ) -> Option<BoxFuture<'static, Result<Value, HandlerError>>> {
        self.routes
            .get(&request.kind)
            .map(|handler| handler(request))
    }
}

/// Who a new connection is, given to connection hooks.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The connection's id.
    pub connection_id: String,
    /// The user's id.
    pub user_id: String,
    /// The manager.
    pub manager: Manager,
}

/// Called once per connection after its welcome, to register its handlers.
pub type ConnectHook = Arc<dyn Fn(&ConnectionInfo, &mut Router) + Send + Sync>;
