//! Size probe (not shipped): the sans-IO client core behind a numeric ABI, no
//! wasm-bindgen, no JS objects built in Rust. Measures what a core-only wasm weighs.
#![no_std]
extern crate alloc;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use wsguard_protocol::client::*;
use wsguard_protocol::{Frame, RoomResume, Welcome};

#[global_allocator]
static A: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

#[link(wasm_import_module = "h")]
extern "C" {
    fn num(h: u32, k: *const u8, kl: usize) -> f64;
    fn text(h: u32, k: *const u8, kl: usize) -> u32; // string slot in IN, 0 = none
    fn flag(h: u32, k: *const u8, kl: usize) -> i32;
    fn entries(h: u32, k: *const u8, kl: usize) -> u32;
    fn entry(h: u32, i: u32) -> u32;
    fn hello_new(token: u32, session: u32, epoch: u32) -> u32;
    fn hello_room(h: u32, room: u32, seq: f64);
    fn random() -> f64;
    fn emit(code: u32);
}

static mut IN: [(u32, u32); 8] = [(0, 0); 8];
static mut OUT_NUM: [f64; 8] = [0.0; 8];
static mut OUT_STR: [(u32, u32); 6] = [(0, 0); 6];
static mut BUF: Vec<String> = Vec::new();

/// The probe's one piece of mutable state access (the wasm is single-threaded and
/// the exports never re-enter).
fn buf() -> &'static mut Vec<String> {
    unsafe { &mut *core::ptr::addr_of_mut!(BUF) }
}

fn take(slot: u32) -> Option<String> {
    if slot == 0 {
        return None;
    }
    let (p, l) = unsafe { IN[slot as usize] };
    let bytes = unsafe { core::slice::from_raw_parts(p as *const u8, l as usize) };
    let s = String::from_utf8(bytes.to_vec()).ok();
    unsafe {
        alloc::alloc::dealloc(
            p as *mut u8,
            core::alloc::Layout::from_size_align_unchecked(l as usize, 1),
        )
    };
    s
}
fn out_str(i: usize, s: &str) {
    unsafe { OUT_STR[i] = (s.as_ptr() as u32, s.len() as u32) };
}
fn out_num(i: usize, n: f64) {
    unsafe { OUT_NUM[i] = n }
}

#[derive(Debug, Clone, PartialEq)]
struct H(u32);
fn k(h: &H, key: &str) -> f64 {
    unsafe { num(h.0, key.as_ptr(), key.len()) }
}
fn t(h: &H, key: &str) -> Option<String> {
    take(unsafe { text(h.0, key.as_ptr(), key.len()) })
}
impl Payload for H {
    fn to_welcome(&self) -> Result<Welcome, String> {
        let s = |key: &str| t(self, key).ok_or_else(|| String::from(key));
        let n = |key: &str| {
            let v = k(self, key);
            if v >= 0.0 {
                Ok(v as u64)
            } else {
                Err(String::from(key))
            }
        };
        Ok(Welcome {
            connection_id: s("connection_id")?,
            user_id: s("user_id")?,
            session: s("session")?,
            epoch: s("epoch")?,
            heartbeat_ms: n("heartbeat_ms")?,
            max_message_bytes: n("max_message_bytes")?,
            resumed: self.bool_field("resumed").unwrap_or(false),
            protocol: n("protocol")? as u32,
            dedupe_ttl_ms: n("dedupe_ttl_ms").ok(),
        })
    }
    fn to_resumed(&self) -> Option<ResumedRooms> {
        let count = unsafe { entries(self.0, "rooms".as_ptr(), 5) };
        let mut r = ResumedRooms::default();
        for i in 0..count {
            let e = H(unsafe { entry(self.0, i) });
            let name = t(&e, "name")?;
            r.rooms.insert(
                name,
                RoomResume {
                    from: k(&e, "from") as u64,
                    to: k(&e, "to") as u64,
                    complete: e.bool_field("complete").unwrap_or(false),
                },
            );
        }
        Some(r)
    }
    fn to_error(&self) -> Option<(String, String)> {
        Some((t(self, "code")?, t(self, "message").unwrap_or_default()))
    }
    fn u64_field(&self, name: &str) -> Option<u64> {
        let v = k(self, name);
        (v >= 0.0).then_some(v as u64)
    }
    fn bool_field(&self, name: &str) -> Option<bool> {
        match unsafe { flag(self.0, name.as_ptr(), name.len()) } {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
    fn from_hello(hello: &HelloData) -> Self {
        let slot = |s: &str| {
            buf().push(String::from(s));
            buf().len() as u32
        };
        let token = hello.token.as_deref().map_or(0, slot);
        let (session, epoch) = hello
            .resume
            .as_ref()
            .map_or((0, 0), |r| (slot(&r.session), slot(&r.epoch)));
        let h = unsafe { hello_new(token, session, epoch) };
        if let Some(r) = &hello.resume {
            for (room, seq) in r.rooms.iter() {
                unsafe { hello_room(h, slot(room), *seq as f64) }
            }
        }
        H(h)
    }
}

static mut CORE: Option<RefCell<Client<H>>> = None;
fn core() -> &'static RefCell<Client<H>> {
    unsafe { (*core::ptr::addr_of!(CORE)).as_ref().unwrap() }
}

#[no_mangle]
pub extern "C" fn alloc(n: usize) -> *mut u8 {
    unsafe { alloc::alloc::alloc(core::alloc::Layout::from_size_align_unchecked(n, 1)) }
}
#[no_mangle]
pub extern "C" fn arg(slot: u32, p: u32, l: u32) {
    unsafe { IN[slot as usize] = (p, l) }
}
#[no_mangle]
pub extern "C" fn create(
    reconnect: bool,
    resume: bool,
    persist: bool,
    token: u32,
    provider: bool,
    nums: *const f64,
) {
    let mut c = ClientConfig::default();
    c.reconnect = reconnect;
    c.resume = resume;
    c.persist = persist;
    c.token = take(token);
    c.token_provider = provider;
    let n = unsafe { core::slice::from_raw_parts(nums, 9) };
    let ms = |i: usize| (n[i] >= 0.0).then_some(n[i] as u64);
    if let Some(v) = ms(0) {
        c.welcome_timeout_ms = v
    }
    if let Some(v) = ms(1) {
        c.connect_timeout_ms = v
    }
    if let Some(v) = ms(2) {
        c.request_timeout_ms = v
    }
    if let Some(v) = ms(3) {
        c.queue_limit = v as usize
    }
    if n[4] >= 0.0 {
        c.backoff.initial_ms = n[4]
    }
    if n[5] >= 0.0 {
        c.backoff.factor = n[5]
    }
    if n[6] >= 0.0 {
        c.backoff.max_ms = n[6]
    }
    if n[7] >= 0.0 {
        c.backoff.jitter = n[7]
    }
    if let Some(v) = ms(8) {
        c.backoff.stable_ms = v
    }
    unsafe { CORE = Some(RefCell::new(Client::new(c, Box::new(|| random())))) };
}
#[no_mangle]
pub extern "C" fn connect(now: f64) {
    core().borrow_mut().connect(now as u64)
}
#[no_mangle]
pub extern "C" fn close(now: f64) {
    core().borrow_mut().close(now as u64)
}
#[no_mangle]
pub extern "C" fn token(t: u32, now: f64) {
    core().borrow_mut().on_token(take(t), now as u64)
}
#[no_mangle]
pub extern "C" fn online(now: f64) {
    core().borrow_mut().on_online(now as u64)
}
#[no_mangle]
pub extern "C" fn opened(s: u32, now: f64) {
    core()
        .borrow_mut()
        .on_socket_open(SocketId(s as u64), now as u64)
}
#[no_mangle]
pub extern "C" fn closing(s: u32, now: f64) {
    core()
        .borrow_mut()
        .on_socket_closing(SocketId(s as u64), now as u64)
}
#[no_mangle]
pub extern "C" fn closed(s: u32, code: u32, reason: u32, retry: f64, now: f64) {
    let reason = take(reason).unwrap_or_default();
    core().borrow_mut().on_socket_closed(
        SocketId(s as u64),
        code as u16,
        &reason,
        (retry >= 0.0).then_some(retry as u64),
        now as u64,
    )
}
#[no_mangle]
pub extern "C" fn frame(s: u32, kind: u32, id: u32, room: u32, seq: f64, data: u32, now: f64) {
    let mut f = Frame::new(take(kind).unwrap_or_else(|| String::from("message")));
    f.id = take(id);
    f.room = take(room);
    f.seq = (seq >= 0.0).then_some(seq as u64);
    f.data = (data != 0).then_some(H(data));
    core()
        .borrow_mut()
        .on_frame(SocketId(s as u64), f, now as u64)
}
#[no_mangle]
pub extern "C" fn send(kind: u32, data: u32, now: f64) -> i32 {
    let kind = take(kind).unwrap_or_default();
    match core()
        .borrow_mut()
        .send(&kind, (data != 0).then_some(H(data)), now as u64)
    {
        Ok(_) => 0,
        Err(_) => -1,
    }
}
#[no_mangle]
pub extern "C" fn request(kind: u32, data: u32, timeout: f64, now: f64) -> f64 {
    let kind = take(kind).unwrap_or_default();
    core()
        .borrow_mut()
        .request(
            &kind,
            (data != 0).then_some(H(data)),
            (timeout >= 0.0).then_some(timeout as u64),
            now as u64,
        )
        .0 as f64
}
#[no_mangle]
pub extern "C" fn join(room: u32, now: f64) -> f64 {
    let r = take(room).unwrap_or_default();
    core().borrow_mut().join(&r, now as u64).0 as f64
}
#[no_mangle]
pub extern "C" fn leave(room: u32, now: f64) -> f64 {
    let r = take(room).unwrap_or_default();
    core().borrow_mut().leave(&r, now as u64).0 as f64
}
#[no_mangle]
pub extern "C" fn publish(room: u32, data: u32, key: u32, timeout: f64, now: f64) -> f64 {
    let r = take(room).unwrap_or_default();
    let mut o = PublishOptions::default();
    o.key = take(key);
    o.timeout_ms = (timeout >= 0.0).then_some(timeout as u64);
    core()
        .borrow_mut()
        .publish(&r, (data != 0).then_some(H(data)), o, now as u64)
        .0 as f64
}
#[no_mangle]
pub extern "C" fn timeout() -> f64 {
    core().borrow().poll_timeout().map_or(-1.0, |t| t as f64)
}
#[no_mangle]
pub extern "C" fn fire(now: f64) {
    core().borrow_mut().handle_timeout(now as u64)
}
#[no_mangle]
pub extern "C" fn stats() {
    let s = core().borrow().stats();
    for (i, v) in [
        s.sent,
        s.received,
        s.queued,
        s.dropped,
        s.reconnects,
        s.errors,
        s.rtt_ms.unwrap_or(u64::MAX),
        s.persisted,
    ]
    .into_iter()
    .enumerate()
    {
        out_num(i, v as f64)
    }
}
fn put_frame(f: &Frame<H>) {
    out_str(0, &f.kind);
    out_str(1, f.id.as_deref().unwrap_or(""));
    out_str(2, f.room.as_deref().unwrap_or(""));
    out_str(3, f.key.as_deref().unwrap_or(""));
    out_num(0, f.seq.map_or(-1.0, |s| s as f64));
    out_num(1, f.data.as_ref().map_or(0.0, |d| d.0 as f64));
}
/// The next output: its code (0: none), details in OUT_NUM/OUT_STR (valid until the next call).
#[no_mangle]
pub extern "C" fn poll() -> u32 {
    static mut LAST: Option<Output<H>> = None;
    let out = core().borrow_mut().poll_output();
    let code = match &out {
        None => 0,
        Some(Output::OpenSocket(s)) => {
            out_num(0, s.0 as f64);
            1
        }
        Some(Output::CloseSocket {
            socket,
            code,
            reason,
        }) => {
            out_num(0, socket.0 as f64);
            out_num(1, *code as f64);
            out_str(0, reason);
            2
        }
        Some(Output::Send { socket, frame }) => {
            put_frame(frame);
            out_num(2, socket.0 as f64);
            3
        }
        Some(Output::FetchToken) => 4,
        Some(Output::Published { request, receipt }) => {
            out_num(0, request.0 as f64);
            out_num(1, receipt.seq as f64);
            out_str(0, &receipt.room);
            out_str(1, &receipt.key);
            out_num(2, receipt.duplicate as u8 as f64);
            5
        }
        Some(Output::Resolve { request, result }) => {
            out_num(7, request.0 as f64);
            match result {
                Ok(f) => {
                    put_frame(f);
                    6
                }
                Err(e) => {
                    out_str(4, &e.code);
                    out_str(5, &e.message);
                    7
                }
            }
        }
        Some(Output::Store(op)) => match op {
            StoreOp::Put(e) => {
                put_frame(&e.frame);
                out_num(5, e.id as f64);
                out_num(6, e.written_at.map_or(-1.0, |w| w as f64));
                8
            }
            StoreOp::Remove(id) => {
                out_num(5, *id as f64);
                9
            }
            #[allow(unreachable_patterns)]
            _ => 10,
        },
        Some(Output::Event(e)) => match e {
            Event::State { state, previous } => {
                out_str(0, state.as_str());
                out_str(1, previous.as_str());
                11
            }
            Event::Welcome(w) => {
                out_str(0, &w.connection_id);
                out_str(1, &w.user_id);
                out_str(2, &w.session);
                out_str(3, &w.epoch);
                out_num(0, w.heartbeat_ms as f64);
                out_num(1, w.max_message_bytes as f64);
                out_num(2, w.resumed as u8 as f64);
                out_num(3, w.protocol as f64);
                out_num(4, w.dedupe_ttl_ms.map_or(-1.0, |t| t as f64));
                12
            }
            Event::Message(f) => {
                put_frame(f);
                13
            }
            Event::Push(f) => {
                put_frame(f);
                14
            }
            Event::Reconnecting {
                attempt,
                delay_ms,
                code,
                reason,
            } => {
                out_num(0, *attempt as f64);
                out_num(1, *delay_ms as f64);
                out_num(2, *code as f64);
                out_str(0, reason);
                15
            }
            Event::Close {
                code,
                reason,
                will_reconnect,
            } => {
                out_num(0, *code as f64);
                out_num(1, *will_reconnect as u8 as f64);
                out_str(0, reason);
                16
            }
            Event::Resumed(r) => {
                buf().clear();
                for (room, rep) in &r.rooms {
                    buf().push(String::from(room.as_str()));
                    out_num(0, rep.from as f64);
                    out_num(1, rep.to as f64);
                    out_num(2, rep.complete as u8 as f64);
                    unsafe { emit(17) }
                }
                18
            }
            Event::Published(p) => {
                out_num(1, p.seq as f64);
                out_str(0, &p.room);
                out_str(1, &p.key);
                19
            }
            Event::PublishFailed {
                room,
                key,
                code,
                message,
            } => {
                out_str(0, room);
                out_str(1, key);
                out_str(4, code);
                out_str(5, message);
                20
            }
            Event::Error { code, message } => {
                out_str(4, code);
                out_str(5, message);
                21
            }
        },
    };
    unsafe { LAST = out };
    code
}
