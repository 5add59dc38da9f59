//! An echo endpoint over wsguard-server's WebSocket stack (axum + tungstenite with
//! [`configure_upgrade`]), for the Autobahn fuzzing cases. Prints the bound address.
//!
//! `cargo run --example autobahn_echo -- 127.0.0.1:9001`

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::Router;
use futures_util::StreamExt;
use wsguard_server::configure_upgrade;

/// Autobahn's case 9 sends messages up to 16 MiB.
const MAX_MESSAGE_BYTES: usize = 16 << 20;

async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.next().await {
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => message,
            // tungstenite answers a close (and pings) itself; keep polling so the
            // answer is flushed and the stream ends cleanly.
            Message::Close(_) | Message::Ping(_) | Message::Pong(_) => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let app = Router::new().fallback(|ws: WebSocketUpgrade| async move {
        configure_upgrade(ws, MAX_MESSAGE_BYTES).on_upgrade(echo)
    });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    #[allow(clippy::print_stdout)]
    {
        println!("{}", listener.local_addr()?);
    }
    axum::serve(listener, app).await
}
