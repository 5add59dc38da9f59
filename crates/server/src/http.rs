//! The HTTP surface: `/ws`, `/healthz`, `/metrics`, the admin publish API and the
//! static demo files.

use axum::body::{to_bytes, Body};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tower_http::services::ServeDir;
use wsguard_protocol::{ErrorCode, ErrorData, RoomName, SUBPROTOCOL};

use crate::connection;
use crate::manager::Manager;

/// The axum router for a manager.
pub fn router(manager: Manager) -> Router {
    let config = manager.config().clone();
    let mut app = Router::new()
        .route("/ws", get(upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics));
    if config.admin_token.is_some() {
        app = app.route("/api/rooms/{room}/publish", post(publish));
    }
    if let Some(dir) = &config.static_dir {
        let pkg = config.pkg_dir.clone().unwrap_or_else(|| {
            let inside = dir.join("pkg");
            if inside.is_dir() {
                inside
            } else {
                dir.join("..").join("pkg")
            }
        });
        app = app
            .nest_service("/pkg", ServeDir::new(pkg))
            .fallback_service(ServeDir::new(dir));
    }
    app.layer(middleware::from_fn_with_state(
        manager.clone(),
        refuse_during_shutdown,
    ))
    .with_state(manager)
}

async fn refuse_during_shutdown(
    State(manager): State<Manager>,
    request: Request,
    next: Next,
) -> Response {
    if manager.is_shutting_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    next.run(request).await
}

fn error_response(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error": ErrorData { code, message: message.into() } })),
    )
        .into_response()
}

/// Marks a response as the connection's last (its request body is left unread).
fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

async fn upgrade(
    State(manager): State<Manager>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if !manager.config().origin_allowed(origin) {
        tracing::info!(origin, "refused upgrade from a disallowed origin");
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    configure_upgrade(ws, manager.config().max_message_bytes)
        .on_failed_upgrade(|error| tracing::debug!(%error, "upgrade failed"))
        .on_upgrade(move |socket| connection::run(manager, socket))
}

/// Bytes read from the socket at a time. tungstenite's default (128 KiB, allocated
/// per connection) would cost ~130 KB per idle connection.
const READ_BUFFER_BYTES: usize = 1024;
/// Bytes buffered before a write reaches the socket (a batch is flushed as a whole).
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// The WebSocket settings every wsguard endpoint uses: the `wsguard.v1`
/// subprotocol when offered, frames and messages bounded by `max_message_bytes`,
/// and small per-connection buffers.
pub fn configure_upgrade(ws: WebSocketUpgrade, max_message_bytes: usize) -> WebSocketUpgrade {
    ws.protocols([SUBPROTOCOL])
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(max_message_bytes)
        .max_frame_size(max_message_bytes)
}

async fn metrics(State(manager): State<Manager>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        manager.render_metrics(),
    )
        .into_response()
}

async fn publish(
    State(manager): State<Manager>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let expected = manager.config().admin_token.as_deref().unwrap_or_default();
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if expected.is_empty() || presented != Some(expected) {
        return error_response(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "a valid admin bearer token is required",
        );
    }
    let room = match RoomName::new(room) {
        Ok(room) => room,
        Err(e) => {
            return error_response(StatusCode::BAD_REQUEST, ErrorCode::BadFrame, e.to_string())
        }
    };
    let max = manager.config().max_message_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        // Refused before reading a byte of it; the connection is not reused.
        return closing(error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            format!("body larger than {max} bytes"),
        ));
    }
    let deadline = manager.config().http_timeout;
    let bytes = match tokio::time::timeout(deadline, to_bytes(body, max)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::TooLarge,
                format!("body larger than {max} bytes"),
            )
        }
        Err(_) => {
            return closing(error_response(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::BadFrame,
                format!("the body did not arrive within {} ms", deadline.as_millis()),
            ))
        }
    };
    let data = match serde_json::from_slice(&bytes) {
        Ok(data) => data,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadFrame,
                format!("body is not JSON: {e}"),
            )
        }
    };
    match manager.publish(&room, data, None).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal,
            e.to_string(),
        ),
    }
}
