//! Test harness: the real server on port 0 and a tokio-tungstenite client.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wsguard_server::{Manager, ServerBuilder, ServerConfig};

pub mod raw;

pub const WAIT: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub addr: SocketAddr,
    pub manager: Manager,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(config: ServerConfig) -> Self {
        Self::start_with(ServerBuilder::new(config)).await
    }

    pub async fn start_with(builder: ServerBuilder) -> Self {
        let server = builder.bind("127.0.0.1:0").await.expect("bind");
        let addr = server.local_addr().unwrap();
        let manager = server.manager().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            manager,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `POST /api/rooms/{room}/publish` with the admin token; the JSON answer.
    pub async fn admin_publish(&self, room: &str, body: &Value, token: &str) -> Value {
        reqwest::Client::new()
            .post(self.http_url(&format!("/api/rooms/{room}/publish")))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("publish request")
            .json()
            .await
            .expect("JSON answer")
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        reqwest::get(self.http_url("/metrics"))
            .await
            .expect("metrics request")
            .text()
            .await
            .expect("metrics text")
    }

    /// Starts the graceful shutdown and returns the serve task.
    pub fn begin_shutdown(&mut self) -> JoinHandle<std::io::Result<()>> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap()
    }

    pub async fn connect(&self) -> Client {
        Client::connect(&self.ws_url(), Some("wsguard.v1")).await
    }

    /// Connects and completes the handshake; returns the client and its welcome data.
    pub async fn open(&self, token: Option<&str>) -> (Client, Value) {
        let mut client = self.connect().await;
        let welcome = client.hello(token).await;
        (client, welcome)
    }

    /// Waits until no connection task is alive.
    pub async fn wait_idle(&self) {
        tokio::time::timeout(WAIT, self.manager.wait_idle())
            .await
            .expect("connection tasks still alive");
    }

    /// Waits until the registry gauges equal (connections, users, rooms).
    pub async fn wait_gauges(&self, expected: (usize, usize, usize)) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let g = self.manager.gauges();
            if (g.connections, g.users, g.rooms) == expected {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gauges stuck at {g:?}, expected {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

pub fn dev_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.auth = wsguard_server::AuthMode::InsecureDev;
    config
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub protocol: Option<String>,
}

/// What the client saw when reading.
#[derive(Debug, PartialEq)]
pub enum Event {
    Frame(Value),
    Close(Option<(u16, String)>),
}

impl Client {
    pub async fn connect(url: &str, protocol: Option<&str>) -> Self {
        let mut request = url.into_client_request().unwrap();
        if let Some(protocol) = protocol {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
        }
        let (ws, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("upgrade");
        let protocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.to_str().unwrap().to_owned());
        Self { ws, protocol }
    }

    pub async fn send(&mut self, frame: Value) {
        self.ws
            .send(Message::Text(frame.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// The next frame or close, skipping pings; panics after [`WAIT`].
    pub async fn next_event(&mut self) -> Event {
        loop {
            let next = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for the server");
            match next {
                Some(Ok(Message::Text(text))) => {
                    return Event::Frame(serde_json::from_str(&text).expect("server sent JSON"));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Event::Close(
                        frame.map(|f: CloseFrame| (u16::from(f.code), f.reason.to_string())),
                    );
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Event::Close(None),
            }
        }
    }

    pub async fn recv(&mut self) -> Value {
        match self.next_event().await {
            Event::Frame(frame) => frame,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// Reads frames until one of type `kind` arrives; returns it.
    pub async fn recv_type(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.recv().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Reads until the close frame; returns its code and reason (skipping other frames).
    pub async fn expect_close(&mut self) -> (u16, String) {
        loop {
            match self.next_event().await {
                Event::Frame(_) => continue,
                Event::Close(Some(close)) => return close,
                Event::Close(None) => panic!("connection ended without a close frame"),
            }
        }
    }

    pub async fn hello(&mut self, token: Option<&str>) -> Value {
        let data = match token {
            Some(token) => json!({ "token": token }),
            None => json!({}),
        };
        self.send(json!({"type": "hello", "data": data})).await;
        let welcome = self.recv().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        welcome["data"].clone()
    }

    /// Sends `hello` with a token and resume data (the answer is left to read).
    pub async fn hello_resume(&mut self, token: &str, resume: &Value) {
        self.send(json!({"type":"hello","data":{"token":token,"resume":resume}}))
            .await;
    }

    pub async fn request(&mut self, frame: Value) -> Value {
        let id = frame["id"].clone();
        self.send(frame).await;
        loop {
            let reply = self.recv().await;
            if reply["id"] == id {
                return reply;
            }
        }
    }

    pub async fn join(&mut self, room: &str) -> u64 {
        let ack = self
            .request(json!({"type":"join","id":format!("j-{room}"),"room":room}))
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
        ack["data"]["seq"].as_u64().unwrap()
    }
}

pub fn error_code(frame: &Value) -> &str {
    assert_eq!(frame["type"], "error", "{frame}");
    frame["data"]["code"].as_str().unwrap()
}

/// A real redis-server on a free loopback port, killed on drop.
pub struct Redis {
    pub url: String,
    child: std::process::Child,
}

impl Redis {
    pub async fn start() -> Self {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed by scripts/bootstrap.sh");
        let deadline = tokio::time::Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Self {
            url: format!("redis://127.0.0.1:{port}"),
            child,
        }
    }

    pub fn config(&self) -> ServerConfig {
        let mut config = dev_config();
        config.redis = Some(self.url.clone());
        config.admin_token = Some("admin".into());
        config
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
