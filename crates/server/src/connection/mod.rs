//! One WebSocket connection: intake (reads, heartbeat, rate limit, pings),
//! handler (handshake, rooms, publishes, routing — in order) and writer (batched
//! flushes, the heartbeat's WebSocket pings), three futures of one task that end
//! together. On the way out the connection leaves every index and its router (with
//! every handler registered for it) is dropped.

mod dispatch;
mod handler;
mod handshake;
mod intake;
mod writer;

use axum::extract::ws::WebSocket;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch, Notify};

use crate::manager::Manager;
use crate::outbound::Outbound;
use handler::Handler;
use intake::Intake;

/// Frames the handler may have waiting; past it, the intake stops reading until
/// the handler catches up (TCP backpressure on a client that pipelines faster than
/// the backplane answers).
const WORK_QUEUE: usize = 64;

/// Runs a freshly upgraded connection to its end.
pub(crate) async fn run(manager: Manager, socket: WebSocket) {
    let _live = manager.track_live();
    let (conn, connection_id) = manager.next_connection();
    let (outbound, out_rx, close_rx) = Outbound::new(manager.config().outbound_queue_bytes);
    let (sink, stream) = socket.split();
    let (work_tx, work_rx) = mpsc::channel(WORK_QUEUE);
    let (welcomed_tx, welcomed_rx) = watch::channel(false);
    // The intake asks the writer for a WebSocket ping when the client has gone quiet.
    let ping = Notify::new();
    let intake = Intake {
        manager: manager.clone(),
        connection_id: connection_id.clone(),
        outbound: outbound.clone(),
    };
    let handler = Handler::new(manager.clone(), conn, connection_id, outbound, welcomed_tx);
    let writer = writer::write_loop(sink, out_rx, close_rx.clone(), &ping, manager.clone());
    let ((), session, ()) = tokio::join!(
        intake.run(stream, close_rx, work_tx, welcomed_rx, &ping),
        handler.run(work_rx),
        writer
    );
    manager.close(conn, session.as_deref()).await;
}
