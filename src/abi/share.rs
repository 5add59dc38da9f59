//! A tab's share group behind numbers: the decisions of [`wsguard_protocol::share`]
//! for the relay in `src/web/share.js` (docs/SHARED.md), which moves the messages.
//! Rooms and tab ids come in as strings of the JS string table; lists go out one
//! item at a time through [`sh`], read by the JS caller once the call returns.
//!
//! Every tab keeps its rooms ([`TabRooms`]) and its calls relayed to a leader
//! ([`Relayed`]); the leader also the group's rooms ([`RoomShares`]), the tabs'
//! calls under way ([`LeaderCalls`]) and, after a handover, its [`Takeover`].

use crate::prelude::*;
use wasm_bindgen::prelude::*;
use wsguard_protocol::client::RequestId;
use wsguard_protocol::share::{
    group_key, lock_name, Fate, JoinPlan, LateRoom, LeaderCalls, LeavePlan, Relayed, RelayedCall,
    Reported, RoomShares, Seqs, TabId, TabRooms, Takeover, GATHER_WINDOW_MS,
};

use super::machine::Core;
use super::values::{take, whole};

#[wasm_bindgen(module = "/src/web/share.js")]
extern "C" {
    /// One item of the list the current call gives: a room or a tab id, and two numbers.
    fn sh(s: &str, a: f64, b: f64);
}

/// A call's operation (`op` of the relay's `call` message), as JS numbers it.
const REQUEST: u32 = 0;
const JOIN: u32 = 1;
const LEAVE: u32 = 2;
const PUBLISH: u32 = 3;

/// What the leader does with a call ([`Share::tab_call`]); a number ≥ 0 answers a join
/// at once with `{room, seq}`.
const NOTHING: f64 = -1.0;
/// The takeover is gathering reports: keep the call until the resume.
const DEFER: f64 = -2.0;
/// Start it on the connection and report its request ([`Share::started`]).
const START: f64 = -3.0;
/// Join the room on the server (the call waits on that join).
const JOIN_ON_SERVER: f64 = -4.0;
/// Answer the leave at once with `{room}`.
const LEFT: f64 = -5.0;
/// An unknown operation: answer `bad_frame`.
const UNKNOWN: f64 = -6.0;

/// The operations of [`Share::call`].
const OP_ROOMS: u32 = 0;
const OP_SENT: u32 = 1;
const OP_SETTLED: u32 = 2;
const OP_NEW_LEADER: u32 = 3;
const OP_DELIVER: u32 = 4;
const OP_RESUMED: u32 = 5;
const OP_NEW_EPOCH: u32 = 6;
const OP_LEAD: u32 = 7;
const OP_DEADLINE: u32 = 8;
const OP_CALL: u32 = 9;
const OP_STARTED: u32 = 10;
const OP_JOINED: u32 = 11;
const OP_FINISHED: u32 = 12;
const OP_REPORT: u32 = 13;
const OP_ATTACH: u32 = 14;

fn text(i: u32) -> String {
    take(i).unwrap_or_default()
}

fn tab(i: u32) -> TabId {
    TabId(text(i))
}

/// One tab's share group, from `connect()` to `close()`.
#[wasm_bindgen]
pub struct Share {
    rooms: TabRooms,
    relayed: Relayed,
    /// A tab's report, room by room ([`Share::report`]), until its [`Share::attach`].
    report: Seqs,
    /// Set while this tab leads.
    lead: Option<Lead>,
}

/// What the leader keeps for the group.
struct Lead {
    shares: RoomShares,
    calls: LeaderCalls,
    /// Set when this tab took over a connection: it resumes once gathered.
    takeover: Option<Takeover>,
}

#[wasm_bindgen]
impl Share {
    /// The share group of (`url`, `group`, `token`): its leader lock's name (also its
    /// channel's) goes out through [`sh`].
    #[wasm_bindgen(constructor)]
    pub fn new(url: u32, group: u32, token: u32) -> Share {
        sh(
            &lock_name(&group_key(&text(url), &text(group), &text(token))),
            0.0,
            0.0,
        );
        Share {
            rooms: TabRooms::new(),
            relayed: Relayed::new(),
            report: Seqs::new(),
            lead: None,
        }
    }

    /// Once every tab of the roster reported or went, or the window passed: the rooms
    /// start from the reports and `core` resumes `session` in `epoch` for every room a
    /// tab wants, from the lowest seq any had. Whether that happened now (then
    /// connect, and carry out the calls that waited).
    pub fn resume(&mut self, core: &mut Core, session: u32, epoch: u32, now: f64) -> bool {
        let Some(lead) = self.lead.as_mut() else {
            return false;
        };
        let Some(plan) = lead
            .takeover
            .as_mut()
            .and_then(|t| t.poll_resume(now as u64))
        else {
            return false;
        };
        for (tab, rooms) in &plan.tabs {
            for room in rooms {
                lead.shares.join(tab, room);
            }
        }
        for (room, seq) in plan.rooms.iter() {
            lead.shares.on_server_joined(room, *seq);
        }
        if let (Some(session), Some(epoch)) = (take(session), take(epoch)) {
            core.resume_from(&session, &epoch, &plan.rooms);
        }
        true
    }

    /// One decision or query of the group: `op` names it (the `OP_*` constants;
    /// `share.js` numbers them alike), `a`… are its arguments in order (strings as
    /// indexes of the string table, booleans as 0/1). One export for them all: each
    /// export of a wasm-bindgen class carries 100–150 B of wrapper (bench/SIZE.md).
    pub fn call(&mut self, op: u32, a: f64, b: f64, c: f64, d: f64) -> f64 {
        let n = |x: f64| x as u32;
        match op {
            OP_ROOMS => self.rooms(),
            OP_SENT => self.sent(a, n(b), n(c), n(d)),
            OP_SETTLED => self.settled(a, n(b), c),
            OP_NEW_LEADER => self.new_leader(n(a)),
            OP_DELIVER => return self.deliver(n(a), b, c != 0.0).into(),
            OP_RESUMED => return self.resumed(n(a), b).into(),
            OP_NEW_EPOCH => self.new_epoch(),
            OP_LEAD => self.lead(n(a), n(b), c != 0.0, d),
            OP_DEADLINE => return self.deadline(),
            OP_CALL => return self.tab_call(n(a), b, n(c), n(d)),
            OP_STARTED => self.started(n(a), b, c),
            OP_JOINED => self.joined(n(a), b),
            OP_FINISHED => return self.finished(a).into(),
            OP_REPORT => self.report(n(a), b),
            OP_ATTACH => self.attach(n(a)),
            _ => self.gone(n(a)),
        }
        0.0
    }
}

impl Share {
    /// This tab's rooms and the last seq it got in each (its `attach`), through [`sh`].
    fn rooms(&self) {
        for (room, seq) in self.rooms.report().iter() {
            sh(room, *seq as f64, 0.0);
        }
    }

    /// This tab made call `id` (`op`: 0 request, 1 join, 2 leave, 3 publish with
    /// `key`): a leave stops the room's messages here at once; a follower's call is
    /// relayed (its fate at a handover: [`Relayed`]).
    fn sent(&mut self, id: f64, op: u32, room: u32, key: u32) {
        let room = text(room);
        if op == LEAVE {
            self.rooms.left(&room);
        }
        if self.lead.is_some() {
            return;
        }
        let call = match op {
            JOIN => RelayedCall::Join { room },
            LEAVE => RelayedCall::Leave { room },
            PUBLISH => RelayedCall::Publish {
                room,
                key: text(key),
            },
            _ => RelayedCall::Request,
        };
        self.relayed.sent(id as u64, call);
    }

    /// Call `id` of this tab is settled (a later answer is ignored); a join answered
    /// `{room, seq}` (`room` given) joins the room at `seq`.
    fn settled(&mut self, id: f64, room: u32, seq: f64) {
        self.relayed.forget(id as u64);
        if let Some(room) = take(room) {
            self.rooms.joined(&room, seq as u64);
        }
    }

    /// Tab `leader` leads from now on: the calls to reject `disconnected` (requests in
    /// flight) through [`sh`] (`""`, id); the others go to it. Once this tab leads,
    /// none is relayed any more.
    fn new_leader(&mut self, leader: u32) {
        let leader = tab(leader);
        for (id, _, fate) in self.relayed.on_new_leader(leader.clone()) {
            if fate == Fate::Reject {
                sh("", id as f64, 0.0);
            }
        }
        if self.lead.is_some() {
            self.relayed = Relayed::new();
            self.relayed.on_new_leader(leader);
        }
    }

    /// Whether a frame goes to this tab: a room message (`message`) once per seq of a
    /// room it is in; another type with a `room` (0: none) if it is in the room;
    /// without, always. The leader notes each seq of a room (a later joiner's
    /// baseline). `seq` negative: none.
    fn deliver(&mut self, room: u32, seq: f64, message: bool) -> bool {
        let Some(room) = take(room) else {
            return !message;
        };
        let seq = whole(seq);
        if let (Some(lead), Some(seq)) = (self.lead.as_mut(), seq) {
            lead.shares.on_message(&room, seq);
        }
        match seq {
            _ if !message => self.rooms.contains(&room),
            Some(seq) => self.rooms.accept(&room, seq),
            None => false,
        }
    }

    /// One room of a resume's report (or of a late tab's gap), `to` its server seq
    /// if its history was incomplete (negative: complete): whether this tab is in the
    /// room (it then rebaselines an incomplete one at `to`, as the leader's rooms do).
    fn resumed(&mut self, room: u32, to: f64) -> bool {
        let room = text(room);
        let to = whole(to);
        if let (Some(lead), Some(to)) = (self.lead.as_mut(), to) {
            lead.shares.rebaseline(&room, to);
        }
        if !self.rooms.contains(&room) {
            return false;
        }
        if let Some(to) = to {
            self.rooms.rebaseline(&room, to);
        }
        true
    }

    /// The connection's epoch changed: every seq this tab knows is void.
    fn new_epoch(&mut self) {
        self.rooms.new_epoch();
    }

    /// This tab (`me`) takes the leader lock at `now`. With `takeover` (the group had
    /// a session), it gathers the reports of the tabs of `roster` (the last one
    /// announced, tab ids separated by spaces; a byte split, no char decoding in the
    /// wasm) before it resumes.
    fn lead(&mut self, me: u32, roster: u32, takeover: bool, now: f64) {
        let me = tab(me);
        let roster = text(roster);
        let takeover = takeover.then(|| {
            let roster = roster.split_ascii_whitespace();
            Takeover::new(
                (me, self.rooms.report().clone()),
                roster.map(|t| TabId(t.to_owned())),
                now as u64,
                GATHER_WINDOW_MS,
            )
        });
        self.lead = Some(Lead {
            shares: RoomShares::new(),
            calls: LeaderCalls::new(),
            takeover,
        });
    }

    /// When the takeover stops waiting for reports (negative: not gathering).
    fn deadline(&self) -> f64 {
        let deadline = self
            .lead
            .as_ref()
            .and_then(|l| l.takeover.as_ref()?.poll_timeout());
        deadline.map_or(-1.0, |d| d as f64)
    }

    /// Call `id` of `tab` (this one's own too) reaches the leader, `op` as for
    /// `Share::sent` (another number: unknown), `room` its room: what to do, one of
    /// the codes above, or the seq to answer a join with at once.
    fn tab_call(&mut self, tab: u32, id: f64, op: u32, room: u32) -> f64 {
        let (tab, room, id) = (self::tab(tab), text(room), id as u64);
        let Some(lead) = self.lead.as_mut() else {
            return NOTHING;
        };
        if lead.takeover.as_ref().is_some_and(|t| !t.resumed()) {
            return DEFER;
        }
        if lead.calls.in_flight(&tab, id) {
            return NOTHING;
        }
        match op {
            JOIN => match lead.shares.join(&tab, &room) {
                JoinPlan::Joined { seq } => seq as f64,
                plan => {
                    lead.calls.waits_for_join(tab, id, &room);
                    if plan == JoinPlan::JoinOnServer {
                        JOIN_ON_SERVER
                    } else {
                        NOTHING
                    }
                }
            },
            LEAVE => match lead.shares.leave(&tab, &room) {
                LeavePlan::LeaveOnServer => START,
                LeavePlan::NotJoined | LeavePlan::StillShared => LEFT,
            },
            REQUEST | PUBLISH => START,
            _ => UNKNOWN,
        }
    }

    /// Call `id` of `tab` waits on `request` of the connection.
    fn started(&mut self, tab: u32, id: f64, request: f64) {
        if let Some(lead) = self.lead.as_mut() {
            lead.calls
                .started(self::tab(tab), id as u64, RequestId(request as u64));
        }
    }

    /// The connection's join of `room` ended, acknowledged at `seq` (negative: it
    /// failed): the calls that waited on it, through [`sh`] (tab, id).
    fn joined(&mut self, room: u32, seq: f64) {
        let room = text(room);
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        match whole(seq) {
            Some(seq) => lead.shares.on_server_joined(&room, seq),
            None => lead.shares.on_server_join_failed(&room),
        };
        for (tab, id) in lead.calls.joined(&room) {
            sh(&tab.0, id as f64, 0.0);
        }
    }

    /// `request` of the connection ended: the call it answers through [`sh`] (tab,
    /// id); false if it answers none (this tab's own request, or a gone tab's).
    fn finished(&mut self, request: f64) -> bool {
        let done = self
            .lead
            .as_mut()
            .and_then(|l| l.calls.finished(RequestId(request as u64)));
        done.map(|(tab, id)| sh(&tab.0, id as f64, 0.0)).is_some()
    }

    /// One room of an `attach` and the last seq the tab got in it (before [`Share::attach`]).
    fn report(&mut self, room: u32, seq: f64) {
        self.report.insert(text(room), seq as u64);
    }

    /// `attach` of `tab` with the rooms given since the last one: during a takeover
    /// its report is gathered; after, its rooms are the group's, through [`sh`] each
    /// room with a gap (room, from, to) and each room to join on the server (room, -1).
    fn attach(&mut self, tab: u32) {
        let report = core::mem::take(&mut self.report);
        let tab = self::tab(tab);
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        let mut late = Vec::new();
        match lead.takeover.as_mut() {
            Some(takeover) => {
                if let Reported::Late(rooms) = takeover.on_report(tab.clone(), report) {
                    late = rooms;
                }
            }
            None => {
                for (room, _) in report.iter() {
                    late.push((room.clone(), LateRoom::Covered));
                }
            }
        }
        for (room, stands) in late {
            if let LateRoom::Gap { from, to } = stands {
                sh(&room, from as f64, to as f64);
            }
            if lead.shares.join(&tab, &room) == JoinPlan::JoinOnServer {
                sh(&room, -1.0, 0.0);
            }
        }
    }

    /// `tab` is gone (closed, crashed, discarded, or `detach`): its calls are
    /// forgotten; the rooms only it wanted, to leave on the server, through [`sh`].
    fn gone(&mut self, tab: u32) {
        let tab = self::tab(tab);
        let Some(lead) = self.lead.as_mut() else {
            return;
        };
        lead.calls.drop_tab(&tab);
        if let Some(takeover) = lead.takeover.as_mut() {
            takeover.on_gone(&tab);
        }
        for room in lead.shares.drop_tab(&tab) {
            sh(&room, 0.0, 0.0);
        }
    }
}
