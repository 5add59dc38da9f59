//! Benchmark peer: socketioxide with its default configuration; every `msg` event is
//! broadcast to every other connected socket. `socketioxide-broadcast 127.0.0.1:PORT`.

use socketioxide::extract::{Data, SocketRef};
use socketioxide::SocketIo;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:3001".into());
    let (layer, io) = SocketIo::new_layer();
    io.ns("/", async |socket: SocketRef| {
        socket.on("msg", async |socket: SocketRef, Data::<serde_json::Value>(data)| {
            let _ = socket.broadcast().emit("msg", &data).await;
        });
    });
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
