//! The client state machine.

use std::collections::{BTreeMap, VecDeque};

use super::{
    ClientConfig, ClientState, Event, Millis, Output, Payload, RequestError, RequestId, SendError,
    SendOutcome, SocketId, Stats,
};
use crate::{kind, CloseCode, Frame, Hello, ReconnectPolicy, Resume, Welcome};

/// Close code the client uses when the server never welcomed it.
const WELCOME_TIMEOUT_CODE: u16 = 4408;

/// Where the connection is. One socket at most, named in the variant that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `connect()` not called yet.
    Idle,
    /// Waiting for the token provider; `after_unauthorized` if this is the one retry after 4401.
    FetchingToken { after_unauthorized: bool },
    /// Socket created, not open yet.
    Connecting { socket: SocketId, deadline: Millis },
    /// Socket open, hello sent, no welcome yet.
    Handshaking { socket: SocketId, deadline: Millis },
    /// Welcomed.
    Open {
        socket: SocketId,
        last_heard: Millis,
        next_ping: Millis,
        stable_at: Option<Millis>,
        heartbeat: Millis,
        /// A liveness check is waiting for any frame until then.
        probe: Option<Millis>,
    },
    /// Waiting to reconnect.
    Reconnecting { at: Millis },
    /// Final (until `connect()`).
    Closed,
}

impl Phase {
    fn state(self) -> ClientState {
        match self {
            Self::Idle => ClientState::Idle,
            Self::FetchingToken {
                after_unauthorized: false,
            }
            | Self::Connecting { .. } => ClientState::Connecting,
            Self::FetchingToken {
                after_unauthorized: true,
            }
            | Self::Reconnecting { .. } => ClientState::Reconnecting,
            Self::Handshaking { .. } => ClientState::Handshaking,
            Self::Open { .. } => ClientState::Open,
            Self::Closed => ClientState::Closed,
        }
    }

    fn socket(self) -> Option<SocketId> {
        match self {
            Self::Connecting { socket, .. }
            | Self::Handshaking { socket, .. }
            | Self::Open { socket, .. } => Some(socket),
            _ => None,
        }
    }
}

/// What a pending request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Purpose {
    User,
    Join(String),
    Rejoin(String),
}

#[derive(Debug)]
struct Pending {
    request: Option<RequestId>,
    purpose: Purpose,
    deadline: Millis,
    /// The socket it was sent on; `None` while buffered.
    sent_on: Option<SocketId>,
}

/// The sans-IO client. `D` is the payload type (a JS value in the browser,
/// `serde_json::Value` on the host).
pub struct Client<D> {
    config: ClientConfig,
    now: Millis,
    phase: Phase,
    random: Box<dyn FnMut() -> f64>,
    next_socket: u64,
    next_id: u64,
    /// Reconnect attempts since the last stable connection.
    attempt: u32,
    outbox: VecDeque<Frame<D>>,
    /// Requests awaiting an answer, by wire id (few at a time: a Vec keeps the wasm small).
    pending: Vec<(String, Pending)>,
    /// Rooms to be in (re-joined after every welcome), in join order.
    joined: Vec<String>,
    /// Last seq seen per room, in the current epoch.
    last_seq: BTreeMap<String, u64>,
    session: Option<(String, String)>,
    epoch: Option<String>,
    welcome: Option<Welcome>,
    token: Option<String>,
    ping: Option<(String, Millis)>,
    /// The one reconnect after a 4401 was used (reset by a welcome).
    retried_unauthorized: bool,
    outputs: VecDeque<Output<D>>,
    stats: Stats,
}

impl<D> std::fmt::Debug for Client<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("phase", &self.phase)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl<D: Payload> Client<D> {
    /// A client in state `idle`. `random` returns uniform numbers in `[0, 1)`.
    pub fn new(config: ClientConfig, random: Box<dyn FnMut() -> f64>) -> Self {
        Self {
            token: config.token.clone(),
            config,
            now: 0,
            phase: Phase::Idle,
            random,
            next_socket: 1,
            next_id: 1,
            attempt: 0,
            outbox: VecDeque::new(),
            pending: Vec::new(),
            joined: Vec::new(),
            last_seq: BTreeMap::new(),
            session: None,
            epoch: None,
            welcome: None,
            ping: None,
            retried_unauthorized: false,
            outputs: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// The current state.
    pub fn state(&self) -> ClientState {
        self.phase.state()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            queued: self.outbox.len() as u64,
            ..self.stats
        }
    }

    /// The last welcome.
    pub fn welcome(&self) -> Option<&Welcome> {
        self.welcome.as_ref()
    }

    /// The socket that is live now, if any.
    pub fn live_socket(&self) -> Option<SocketId> {
        self.phase.socket()
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output<D>> {
        self.outputs.pop_front()
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let phase = match self.phase {
            Phase::Connecting { deadline, .. } | Phase::Handshaking { deadline, .. } => {
                Some(deadline)
            }
            Phase::Open {
                next_ping,
                stable_at,
                ..
            } => {
                let silence = self.silence_deadline().unwrap_or(next_ping);
                Some(stable_at.map_or(next_ping.min(silence), |s| s.min(next_ping).min(silence)))
            }
            Phase::Reconnecting { at } => Some(at),
            Phase::Idle | Phase::FetchingToken { .. } | Phase::Closed => None,
        };
        let requests = self.pending.iter().map(|(_, p)| p.deadline).min();
        match (phase, requests) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn grace(&self, heartbeat: Millis) -> Millis {
        self.config.heartbeat_grace_ms.unwrap_or(heartbeat / 2)
    }

    /// When silence from the server closes the connection with 4000.
    fn silence_deadline(&self) -> Option<Millis> {
        let Phase::Open {
            last_heard,
            heartbeat,
            probe,
            ..
        } = self.phase
        else {
            return None;
        };
        let silence = last_heard + heartbeat + self.grace(heartbeat);
        Some(probe.map_or(silence, |p| p.min(silence)))
    }

    fn tick(&mut self, now: Millis) {
        self.now = self.now.max(now);
    }

    fn set_phase(&mut self, phase: Phase) {
        let previous = self.phase.state();
        self.phase = phase;
        let state = phase.state();
        if state != previous {
            self.outputs
                .push_back(Output::Event(Event::State { state, previous }));
        }
    }

    fn event(&mut self, event: Event<D>) {
        if let Event::Error { .. } = event {
            self.stats.errors += 1;
        }
        self.outputs.push_back(Output::Event(event));
    }

    /// Removes and returns the pending requests whose wire id matches.
    fn take_pending(&mut self, matches: impl Fn(&String) -> bool) -> Vec<Pending> {
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(id, _)| matches(id));
        self.pending = kept;
        taken.into_iter().map(|(_, p)| p).collect()
    }

    fn next_wire_id(&mut self, prefix: &str) -> String {
        let id = self.next_id;
        self.next_id += 1;
        if prefix.is_empty() {
            id.to_string()
        } else {
            format!("{prefix}{id}")
        }
    }

    // ---- user inputs -------------------------------------------------------------

    /// Starts connecting (single flight: a no-op while a connect is under way or the
    /// client is open; reconnects at once while waiting to reconnect; revives a
    /// closed client).
    pub fn connect(&mut self, now: Millis) {
        self.tick(now);
        match self.phase {
            Phase::Idle | Phase::Closed => {
                self.attempt = 0;
                self.begin_connect(false);
            }
            Phase::Reconnecting { .. } => self.begin_connect(false),
            _ => {}
        }
    }

    /// Closes for good: the socket with 1000, pending requests rejected with
    /// `closed`, buffered frames dropped (each reported). `connect()` revives.
    pub fn close(&mut self, now: Millis) {
        self.tick(now);
        if self.phase == Phase::Closed {
            return;
        }
        if let Some(socket) = self.phase.socket() {
            self.outputs.push_back(Output::CloseSocket {
                socket,
                code: 1000,
                reason: "client closed".into(),
            });
        }
        self.terminate(1000, "client closed".into());
    }

    /// Sends an application frame now, or buffers it until the next welcome.
    pub fn send(
        &mut self,
        kind: &str,
        data: Option<D>,
        now: Millis,
    ) -> Result<SendOutcome, SendError> {
        self.tick(now);
        let mut frame = Frame::new(kind);
        frame.data = data;
        self.deliver(frame)
    }

    fn deliver(&mut self, frame: Frame<D>) -> Result<SendOutcome, SendError> {
        match self.phase {
            Phase::Closed => Err(SendError::Closed),
            Phase::Open { socket, .. } => {
                self.transmit(socket, frame);
                Ok(SendOutcome::Sent)
            }
            _ if self.outbox.len() >= self.config.queue_limit => Err(SendError::QueueFull),
            _ => {
                self.outbox.push_back(frame);
                Ok(SendOutcome::Queued)
            }
        }
    }

    fn transmit(&mut self, socket: SocketId, frame: Frame<D>) {
        if let Some(id) = &frame.id {
            if let Some((_, pending)) = self.pending.iter_mut().find(|(p, _)| p == id) {
                pending.sent_on = Some(socket);
            }
        }
        self.stats.sent += 1;
        self.outputs.push_back(Output::Send { socket, frame });
    }

    /// Sends a request; its outcome arrives as [`Output::Resolve`].
    pub fn request(
        &mut self,
        kind: &str,
        data: Option<D>,
        timeout_ms: Option<u64>,
        now: Millis,
    ) -> RequestId {
        self.tick(now);
        let mut frame = Frame::new(kind);
        frame.data = data;
        self.start_request(frame, Purpose::User, timeout_ms)
    }

    /// Joins a room (kept across reconnects once acknowledged).
    pub fn join(&mut self, room: &str, now: Millis) -> RequestId {
        self.tick(now);
        let frame = Frame::new(kind::JOIN).with_room(room);
        self.start_request(frame, Purpose::Join(room.to_owned()), None)
    }

    /// Leaves a room (and stops re-joining it).
    pub fn leave(&mut self, room: &str, now: Millis) -> RequestId {
        self.tick(now);
        self.joined.retain(|r| r != room);
        self.last_seq.remove(room);
        self.start_request(Frame::new(kind::LEAVE).with_room(room), Purpose::User, None)
    }

    /// Publishes to a room.
    pub fn publish(&mut self, room: &str, data: Option<D>, now: Millis) -> RequestId {
        self.tick(now);
        let mut frame = Frame::new(kind::PUBLISH).with_room(room);
        frame.data = data;
        self.start_request(frame, Purpose::User, None)
    }

    fn start_request(
        &mut self,
        mut frame: Frame<D>,
        purpose: Purpose,
        timeout_ms: Option<u64>,
    ) -> RequestId {
        let request = RequestId(self.next_id);
        let id = self.next_wire_id("");
        frame.id = Some(id.clone());
        let deadline = self.now + timeout_ms.unwrap_or(self.config.request_timeout_ms);
        self.pending.push((
            id.clone(),
            Pending {
                request: Some(request),
                purpose,
                deadline,
                sent_on: None,
            },
        ));
        if let Err(error) = self.deliver(frame) {
            self.take_pending(|p| *p == id);
            let message = match error {
                SendError::QueueFull => "the send buffer is full",
                SendError::Closed => "the client is closed",
            };
            self.outputs.push_back(Output::Resolve {
                request,
                result: Err(RequestError::new(error.code(), message)),
            });
        }
        request
    }

    /// The token provider answered (`None`: it failed or gave nothing).
    pub fn on_token(&mut self, token: Option<String>, now: Millis) {
        self.tick(now);
        let Phase::FetchingToken { after_unauthorized } = self.phase else {
            return;
        };
        let fresh = token.is_some() && token != self.token;
        if token.is_some() {
            self.token = token;
        }
        if after_unauthorized && !fresh {
            self.terminate(
                CloseCode::Unauthorized.code(),
                "unauthorized and no new token".into(),
            );
            return;
        }
        self.open_socket();
    }

    /// The browser went online: a pending reconnect happens now.
    pub fn on_online(&mut self, now: Millis) {
        self.tick(now);
        if let Phase::Reconnecting { .. } = self.phase {
            self.phase = Phase::Reconnecting { at: self.now };
        }
    }

    /// The browser went offline or the page became visible again: check that the
    /// connection is alive (a ping now; silence past the grace closes with 4000).
    pub fn check_liveness(&mut self, now: Millis) {
        self.tick(now);
        if let Phase::Open {
            socket,
            heartbeat,
            ref mut probe,
            ref mut next_ping,
            ..
        } = self.phase
        {
            let deadline = self.now + self.config.heartbeat_grace_ms.unwrap_or(heartbeat / 2);
            *probe = Some(probe.map_or(deadline, |p| p.min(deadline)));
            *next_ping = self.now + heartbeat;
            self.send_ping(socket);
        }
    }

    // ---- socket inputs -------------------------------------------------------------

    /// The socket opened: send `hello`.
    pub fn on_socket_open(&mut self, socket: SocketId, now: Millis) {
        self.tick(now);
        let Phase::Connecting {
            socket: current, ..
        } = self.phase
        else {
            return;
        };
        if current != socket {
            return;
        }
        self.set_phase(Phase::Handshaking {
            socket,
            deadline: self.now + self.config.welcome_timeout_ms,
        });
        let resume = match (&self.session, self.config.resume) {
            (Some((session, epoch)), true) => Some(Resume {
                session: session.clone(),
                epoch: epoch.clone(),
                rooms: self
                    .joined
                    .iter()
                    .map(|r| (r.clone(), self.last_seq.get(r).copied().unwrap_or(0)))
                    .collect(),
            }),
            _ => None,
        };
        let hello = Hello {
            token: self.token.clone(),
            resume,
        };
        let frame = Frame::new(kind::HELLO).with_data(D::from_hello(&hello));
        self.stats.sent += 1;
        self.outputs.push_back(Output::Send { socket, frame });
    }

    /// A frame arrived on the socket.
    pub fn on_frame(&mut self, socket: SocketId, frame: Frame<D>, now: Millis) {
        self.tick(now);
        if self.phase.socket() != Some(socket) {
            return;
        }
        self.stats.received += 1;
        if let Phase::Open {
            ref mut last_heard,
            ref mut probe,
            ..
        } = self.phase
        {
            *last_heard = self.now;
            *probe = None;
        }
        if let Phase::Handshaking { .. } = self.phase {
            match frame.kind.as_str() {
                kind::WELCOME => self.on_welcome(socket, &frame),
                kind::ERROR => self.server_error(&frame),
                _ => {}
            }
            return;
        }
        match frame.kind.as_str() {
            kind::MESSAGE => self.on_room_message(frame),
            kind::RESUMED => self.on_resumed(&frame),
            kind::PONG
                if frame.id.is_some() && self.ping.as_ref().map(|p| &p.0) == frame.id.as_ref() =>
            {
                if let Some((_, sent)) = self.ping.take() {
                    self.stats.rtt_ms = Some(self.now - sent);
                }
            }
            kind::PONG => {}
            kind::ACK | kind::REPLY | kind::ERROR => self.on_answer(frame),
            _ => self.event(Event::Push(frame)),
        }
    }

    fn server_error(&mut self, frame: &Frame<D>) {
        let (code, message) = frame
            .data
            .as_ref()
            .and_then(Payload::to_error)
            .unwrap_or_else(|| ("internal".to_owned(), "malformed error frame".to_owned()));
        self.event(Event::Error { code, message });
    }

    fn on_welcome(&mut self, socket: SocketId, frame: &Frame<D>) {
        let Some(welcome) = frame.data.as_ref().and_then(Payload::to_welcome) else {
            self.server_error(frame);
            return;
        };
        if self.epoch.as_deref() != Some(welcome.epoch.as_str()) {
            // Another epoch: every seq we know is void.
            self.last_seq.clear();
            self.epoch = Some(welcome.epoch.clone());
        }
        let resumed_by_hello = self.config.resume && self.session.is_some();
        self.retried_unauthorized = false;
        self.session = Some((welcome.session.clone(), welcome.epoch.clone()));
        let heartbeat = welcome.heartbeat_ms.max(1);
        let stable_at = (self.attempt > 0).then_some(self.now + self.config.backoff.stable_ms);
        self.set_phase(Phase::Open {
            socket,
            last_heard: self.now,
            next_ping: self.now + heartbeat,
            stable_at,
            heartbeat,
            probe: None,
        });
        self.welcome = Some(welcome.clone());
        self.event(Event::Welcome(welcome));
        if !resumed_by_hello {
            let rooms = self.joined.clone();
            for room in rooms {
                let mut frame = Frame::new(kind::JOIN).with_room(room.as_str());
                let id = self.next_wire_id("r");
                frame.id = Some(id.clone());
                let deadline = self.now + self.config.request_timeout_ms;
                self.pending.push((
                    id,
                    Pending {
                        request: None,
                        purpose: Purpose::Rejoin(room),
                        deadline,
                        sent_on: None,
                    },
                ));
                self.transmit(socket, frame);
            }
        }
        while let Some(frame) = self.outbox.pop_front() {
            self.transmit(socket, frame);
        }
    }

    fn on_room_message(&mut self, frame: Frame<D>) {
        if let (Some(room), Some(seq)) = (&frame.room, frame.seq) {
            let last = self.last_seq.entry(room.clone()).or_insert(0);
            if seq <= *last {
                return; // a duplicate (or replay of something already seen)
            }
            *last = seq;
        }
        self.event(Event::Message(frame));
    }

    fn on_resumed(&mut self, frame: &Frame<D>) {
        let Some(resumed) = frame.data.as_ref().and_then(Payload::to_resumed) else {
            return;
        };
        for (room, report) in &resumed.rooms {
            let last = self.last_seq.entry(room.clone()).or_insert(0);
            *last = (*last).max(report.to);
        }
        self.event(Event::Resumed(resumed));
    }

    fn on_answer(&mut self, frame: Frame<D>) {
        let found = frame
            .id
            .as_ref()
            .and_then(|id| self.take_pending(|p| p == id).pop());
        let Some(pending) = found else {
            if frame.kind == kind::ERROR {
                self.server_error(&frame);
            }
            return;
        };
        if frame.kind != kind::ERROR {
            if let Purpose::Join(room) | Purpose::Rejoin(room) = &pending.purpose {
                let seq = frame
                    .data
                    .as_ref()
                    .and_then(|d| d.u64_field("seq"))
                    .unwrap_or(0);
                let last = self.last_seq.entry(room.clone()).or_insert(0);
                *last = (*last).max(seq);
                if !self.joined.contains(room) {
                    self.joined.push(room.clone());
                }
            }
        }
        let result = if frame.kind == kind::ERROR {
            let (code, message) = frame
                .data
                .as_ref()
                .and_then(Payload::to_error)
                .unwrap_or_else(|| ("internal".to_owned(), "malformed error frame".to_owned()));
            Err(RequestError { code, message })
        } else {
            Ok(frame)
        };
        match pending.request {
            Some(request) => self.outputs.push_back(Output::Resolve { request, result }),
            None => {
                if let Err(e) = result {
                    self.event(Event::Error {
                        code: e.code,
                        message: e.message,
                    });
                }
            }
        }
    }

    /// The socket closed (`retry_after_ms` parsed from a JSON reason, if any).
    pub fn on_socket_closed(
        &mut self,
        socket: SocketId,
        code: u16,
        reason: &str,
        retry_after_ms: Option<u64>,
        now: Millis,
    ) {
        self.tick(now);
        if self.phase.socket() != Some(socket) {
            return;
        }
        self.after_close(socket, code, reason.to_owned(), retry_after_ms);
    }

    /// Closes the live socket ourselves and handles it like a close with `code`.
    fn fail_socket(&mut self, socket: SocketId, code: u16, reason: &str) {
        self.outputs.push_back(Output::CloseSocket {
            socket,
            code,
            reason: reason.to_owned(),
        });
        self.after_close(socket, code, reason.to_owned(), None);
    }

    fn after_close(
        &mut self,
        socket: SocketId,
        code: u16,
        reason: String,
        retry_after_ms: Option<u64>,
    ) {
        self.ping = None;
        let (dropped, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(_, p)| p.sent_on == Some(socket));
        self.pending = kept;
        for (_, pending) in dropped {
            if let Some(request) = pending.request {
                let error =
                    RequestError::new("disconnected", "the connection dropped before the answer");
                self.outputs.push_back(Output::Resolve {
                    request,
                    result: Err(error),
                });
            }
        }
        let policy = if self.config.reconnect {
            CloseCode::policy_for(code)
        } else {
            ReconnectPolicy::Never
        };
        let backoff_attempt = self.attempt + 1;
        let delay = match policy {
            ReconnectPolicy::Never => {
                self.terminate(code, reason);
                return;
            }
            ReconnectPolicy::OnceWithFreshToken => {
                if !self.config.token_provider || self.retried_unauthorized {
                    self.terminate(code, reason);
                    return;
                }
                self.retried_unauthorized = true;
                self.event(Event::Close {
                    code,
                    reason,
                    will_reconnect: true,
                });
                self.set_phase(Phase::FetchingToken {
                    after_unauthorized: true,
                });
                self.outputs.push_back(Output::FetchToken);
                return;
            }
            ReconnectPolicy::RandomDelayWithinRetryAfter => match retry_after_ms {
                Some(window) => ((self.random)().clamp(0.0, 1.0) * window as f64).round() as u64,
                None => self
                    .config
                    .backoff
                    .delay_ms(backoff_attempt, (self.random)()),
            },
            ReconnectPolicy::NotBeforeRetryAfter => {
                let backoff = self
                    .config
                    .backoff
                    .delay_ms(backoff_attempt, (self.random)());
                backoff.max(retry_after_ms.unwrap_or(0))
            }
            ReconnectPolicy::Backoff => self
                .config
                .backoff
                .delay_ms(backoff_attempt, (self.random)()),
        };
        if self
            .config
            .backoff
            .max_attempts
            .is_some_and(|max| backoff_attempt > max)
        {
            self.terminate(code, reason);
            return;
        }
        self.attempt = backoff_attempt;
        self.stats.reconnects += 1;
        self.event(Event::Close {
            code,
            reason: reason.clone(),
            will_reconnect: true,
        });
        self.set_phase(Phase::Reconnecting {
            at: self.now + delay,
        });
        self.event(Event::Reconnecting {
            attempt: backoff_attempt,
            delay_ms: delay,
            code,
            reason,
        });
    }

    /// Final close: every pending request and buffered frame gets its outcome.
    fn terminate(&mut self, code: u16, reason: String) {
        for (_, pending) in std::mem::take(&mut self.pending) {
            if let Some(request) = pending.request {
                let error = RequestError::new("closed", format!("the client closed ({code})"));
                self.outputs.push_back(Output::Resolve {
                    request,
                    result: Err(error),
                });
            }
        }
        // Requests in the outbox were resolved above; plain sends are reported here.
        for frame in std::mem::take(&mut self.outbox) {
            self.stats.dropped += 1;
            if frame.id.is_none() {
                let message = format!(
                    "buffered `{}` frame dropped: the client closed ({code})",
                    frame.kind
                );
                self.event(Event::Error {
                    code: "closed".into(),
                    message,
                });
            }
        }
        self.ping = None;
        self.event(Event::Close {
            code,
            reason,
            will_reconnect: false,
        });
        self.set_phase(Phase::Closed);
    }

    fn begin_connect(&mut self, after_unauthorized: bool) {
        if self.config.token_provider {
            self.set_phase(Phase::FetchingToken { after_unauthorized });
            self.outputs.push_back(Output::FetchToken);
        } else {
            self.open_socket();
        }
    }

    fn open_socket(&mut self) {
        let socket = SocketId(self.next_socket);
        self.next_socket += 1;
        self.set_phase(Phase::Connecting {
            socket,
            deadline: self.now + self.config.connect_timeout_ms,
        });
        self.outputs.push_back(Output::OpenSocket(socket));
    }

    fn send_ping(&mut self, socket: SocketId) {
        let id = self.next_wire_id("hb");
        self.ping = Some((id.clone(), self.now));
        self.stats.sent += 1;
        self.outputs.push_back(Output::Send {
            socket,
            frame: Frame::new(kind::PING).with_id(Some(id)),
        });
    }

    // ---- time ----------------------------------------------------------------------

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.tick(now);
        let now = self.now;
        let (expired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(_, p)| p.deadline <= now);
        self.pending = kept;
        // A request that timed out while buffered is never sent.
        self.outbox.retain(|frame| {
            frame
                .id
                .as_ref()
                .is_none_or(|id| !expired.iter().any(|(expired_id, _)| expired_id == id))
        });
        for (_, pending) in expired {
            if let Some(request) = pending.request {
                let error = RequestError::new("timeout", "no answer within the request timeout");
                self.outputs.push_back(Output::Resolve {
                    request,
                    result: Err(error),
                });
            }
        }
        match self.phase {
            Phase::Connecting { socket, deadline } if deadline <= now => {
                self.fail_socket(socket, 1006, "connect timeout");
            }
            Phase::Handshaking { socket, deadline } if deadline <= now => {
                self.fail_socket(socket, WELCOME_TIMEOUT_CODE, "welcome timeout");
            }
            Phase::Open { socket, .. } if self.silence_deadline().is_some_and(|d| d <= now) => {
                self.fail_socket(
                    socket,
                    CloseCode::HeartbeatTimeout.code(),
                    "heartbeat timeout",
                );
            }
            Phase::Open {
                socket,
                next_ping,
                stable_at,
                heartbeat,
                last_heard,
                probe,
            } => {
                let mut stable_at = stable_at;
                if stable_at.is_some_and(|at| at <= now) {
                    self.attempt = 0;
                    stable_at = None;
                }
                let mut next_ping = next_ping;
                if next_ping <= now {
                    next_ping = now + heartbeat;
                    self.send_ping(socket);
                }
                self.phase = Phase::Open {
                    socket,
                    last_heard,
                    next_ping,
                    stable_at,
                    heartbeat,
                    probe,
                };
            }
            Phase::Reconnecting { at } if at <= now => self.begin_connect(false),
            _ => {}
        }
    }
}
