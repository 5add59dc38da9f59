//! A raw WebSocket client over a plain TCP socket, for frames that a WebSocket
//! library refuses to send (invalid UTF-8, unmasked frames, RSV bits, …) and for
//! reading slowly.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

pub struct RawWs {
    pub tcp: TcpStream,
}

/// What the server sent, frame by frame.
#[derive(Debug, PartialEq)]
pub enum RawEvent {
    Text(String),
    Close(u16, String),
    Other(u8),
    /// The connection ended without a close frame (EOF).
    Eof,
    /// The connection was reset.
    Reset,
}

impl RawWs {
    /// Upgrades `/ws` on `addr`; `recv_buffer` shrinks the socket's receive buffer.
    pub async fn connect(addr: SocketAddr, recv_buffer: Option<u32>) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        if let Some(bytes) = recv_buffer {
            socket.set_recv_buffer_size(bytes).unwrap();
        }
        let mut tcp = socket.connect(addr).await.unwrap();
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            tcp.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        Self { tcp }
    }

    /// Sends one frame: `first` is the first header byte (FIN, RSV, opcode).
    pub async fn send_frame(&mut self, first: u8, payload: &[u8], masked: bool) {
        let mut frame = vec![first];
        let mask_bit = if masked { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => frame.push(mask_bit | n as u8),
            n if n <= 0xffff => {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(mask_bit | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if masked {
            let key = [0x12, 0x34, 0x56, 0x78];
            frame.extend_from_slice(&key);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            frame.extend_from_slice(payload);
        }
        // The peer may already be gone; what it sent back is what the test reads.
        let _ = self.tcp.write_all(&frame).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send_frame(0x81, text.as_bytes(), true).await;
    }

    /// The next frame from the server (within `wait`).
    pub async fn next(&mut self, wait: Duration) -> RawEvent {
        tokio::time::timeout(wait, self.read_frame())
            .await
            .expect("the server answered nothing in time")
    }

    async fn read_frame(&mut self) -> RawEvent {
        let mut head = [0u8; 2];
        if let Err(e) = self.tcp.read_exact(&mut head).await {
            return eof_or_reset(&e);
        }
        let len = match head[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                if let Err(e) = self.tcp.read_exact(&mut b).await {
                    return eof_or_reset(&e);
                }
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                if let Err(e) = self.tcp.read_exact(&mut b).await {
                    return eof_or_reset(&e);
                }
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        if let Err(e) = self.tcp.read_exact(&mut payload).await {
            return eof_or_reset(&e);
        }
        match head[0] & 0x0f {
            0x1 => RawEvent::Text(String::from_utf8(payload).expect("server text is UTF-8")),
            0x8 => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                RawEvent::Close(code, String::from_utf8_lossy(&payload[2..]).into_owned())
            }
            other => RawEvent::Other(other),
        }
    }

    /// Reads until a close frame (skipping text), returning it, or how the stream ended.
    pub async fn until_close(&mut self, wait: Duration) -> RawEvent {
        loop {
            match self.next(wait).await {
                RawEvent::Text(_) | RawEvent::Other(_) => continue,
                end => return end,
            }
        }
    }
}

fn eof_or_reset(e: &std::io::Error) -> RawEvent {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => RawEvent::Eof,
        _ => RawEvent::Reset,
    }
}

/// Reads whatever a raw HTTP connection sends until it closes; `None` if it is
/// still open after `wait`.
pub async fn read_until_closed(tcp: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&got).into_owned())
}
