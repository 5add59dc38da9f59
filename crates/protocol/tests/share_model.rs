//! Randomized model of one connection shared by several tabs: random tab opens,
//! graceful closes, crashes (the leader's too), joins, leaves, publishes from any
//! tab, publishes by others, dropped connections and resumes. The leader (the first
//! tab in the lock queue) holds the only connection and relays for the others with
//! the share decisions ([`RoomShares`], [`TabRooms`], [`Takeover`], [`Relayed`]).
//! A new leader gathers the tabs' reports before it resumes; in one run some
//! reports come only after the resume started (a tab frozen past the window).
//! What the leader posts on the channel reaches each tab in order but at the tab's
//! own pace, and a crash loses what the leader had not posted yet and, at random,
//! what was still in flight to each tab.
//!
//! Invariants, checked after every step or at the end of each sequence:
//! - at most one connection, held by the leader;
//! - no tab misses or duplicates a room message it wanted: for every room a live
//!   tab is in, what it received since its join is exactly the contiguous range
//!   from its join's seq + 1 to the room's last seq, in order (a tab whose report
//!   came late restarts that range after the gap it reported; with every report
//!   in time there is no gap at all);
//! - every call is answered at most once, in the tab that made it, and every call
//!   of a live tab is answered in the end;
//! - the server never publishes one key twice, and every publish a live tab made
//!   is published exactly once.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use wsguard_protocol::share::{
    Fate, JoinPlan, LateRoom, LeavePlan, Relayed, RelayedCall, Reported, RoomShares, Seqs, TabId,
    TabRooms, Takeover, GATHER_WINDOW_MS,
};

const ROOMS: [&str; 3] = ["a", "b", "c"];

/// xorshift64*: deterministic per seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Default)]
struct Server {
    seq: BTreeMap<String, u64>,
    keys: BTreeMap<String, u64>,
    publishes: BTreeMap<String, u32>,
}

impl Server {
    fn publish(&mut self, room: &str, key: Option<&str>) -> (u64, bool) {
        if let Some(seq) = key.and_then(|key| self.keys.get(key)) {
            return (*seq, true);
        }
        let seq = self.seq.entry(room.to_owned()).or_default();
        *seq += 1;
        if let Some(key) = key {
            self.keys.insert(key.to_owned(), *seq);
            *self.publishes.entry(key.to_owned()).or_default() += 1;
        }
        (*seq, false)
    }
    fn current(&self, room: &str) -> u64 {
        self.seq.get(room).copied().unwrap_or(0)
    }
}

#[derive(Clone, Debug)]
struct Call {
    tab: TabId,
    id: u64,
    call: RelayedCall,
}

#[derive(Clone, Debug)]
enum Answer {
    Joined(u64),
    Done,
    Published,
}

/// What a leader posts on the channel.
#[derive(Clone, Debug)]
enum Post {
    Answer {
        leader: TabId,
        call: Call,
        answer: Answer,
    },
    Message(String, u64),
}

struct Tab {
    id: TabId,
    rooms: TabRooms,
    relayed: Relayed,
    /// Posts on their way to this tab, in order.
    inbox: VecDeque<Post>,
    /// Per room: the seq its join resolved with, and what it received since.
    received: BTreeMap<String, (u64, Vec<u64>)>,
    /// Rooms with a join or leave in flight (the tab layer keeps one per room).
    busy: BTreeSet<String>,
    answered: BTreeSet<u64>,
    next_id: u64,
    /// This tab's publish keys, and whether each was answered published.
    keys: BTreeMap<String, bool>,
}

#[derive(Default)]
struct Leader {
    shares: RoomShares,
    /// Calls received, not carried out yet (channel order).
    inbox: VecDeque<Call>,
    /// Posts not on the channel yet (a crash loses them).
    outbox: VecDeque<Post>,
    connected: bool,
    /// Rooms the connection is in, with the last seq it delivered.
    joined: BTreeMap<String, u64>,
}

struct World {
    rng: Rng,
    server: Server,
    /// In lock-queue order: the first one leads.
    tabs: Vec<Tab>,
    leader: Option<Leader>,
    next_tab: u64,
    next_key: u64,
    /// Percent of the tabs whose report reaches a new leader after it resumed.
    late_percent: usize,
    /// Gaps late tabs reported (`complete: false`).
    gaps: u32,
}

fn trace(line: impl FnOnce() -> String) {
    if std::env::var_os("SHARE_MODEL_TRACE").is_some() {
        eprintln!("{}", line());
    }
}

impl World {
    fn open_tab(&mut self) {
        self.next_tab += 1;
        let mut tab = Tab {
            id: TabId(format!("tab{}", self.next_tab)),
            rooms: TabRooms::new(),
            relayed: Relayed::new(),
            inbox: VecDeque::new(),
            received: BTreeMap::new(),
            busy: BTreeSet::new(),
            answered: BTreeSet::new(),
            next_id: 1,
            keys: BTreeMap::new(),
        };
        if let Some(leader) = self.tabs.first() {
            tab.relayed.on_new_leader(leader.id.clone());
        }
        self.tabs.push(tab);
        if self.leader.is_none() {
            self.elect();
        } else {
            self.announce_roster();
        }
    }

    /// The leader posts `lead` again with its new roster: no tab resends or
    /// rejects anything for it.
    fn announce_roster(&mut self) {
        let Some(leader) = self.tabs.first().map(|t| t.id.clone()) else {
            return;
        };
        for tab in &mut self.tabs {
            let fates = tab.relayed.on_new_leader(leader.clone());
            assert!(fates.is_empty(), "{}: the same leader again", tab.id.0);
        }
    }

    /// The first tab in the queue takes the lock and gathers the tabs' reports
    /// ([`Takeover`]): most report within the window, some only after the resume
    /// started (a late attach: a room resumed from above the tab's seq is a gap
    /// the tab reports, `complete: false`, and rebaselines; never a silent loss).
    /// It resumes every room from the lowest seq reported, and gets the calls the
    /// tabs had in flight again (publishes by key; other requests are rejected).
    fn elect(&mut self) {
        let Some(first) = self.tabs.first() else {
            self.leader = None;
            return;
        };
        let new = first.id.clone();
        trace(|| format!("  elect {}", new.0));
        let own = (new.clone(), first.rooms.report().clone());
        let roster: Vec<TabId> = self.tabs.iter().map(|t| t.id.clone()).collect();
        let mut takeover = Takeover::new(own, roster, 0, GATHER_WINDOW_MS);
        let mut late = Vec::new();
        for t in 1..self.tabs.len() {
            if self.rng.below(100) < self.late_percent {
                late.push(t);
            } else {
                let report = self.tabs[t].rooms.report().clone();
                assert_eq!(
                    takeover.on_report(self.tabs[t].id.clone(), report),
                    Reported::Gathered
                );
            }
        }
        let early = takeover.poll_resume(GATHER_WINDOW_MS - 1);
        assert_eq!(
            early.is_some(),
            late.is_empty(),
            "resumes before the window passes exactly when every tab reported"
        );
        let plan = early
            .or_else(|| takeover.poll_resume(GATHER_WINDOW_MS))
            .expect("the window passed");
        let mut leader = Leader::default();
        for (tab, rooms) in &plan.tabs {
            for room in rooms {
                let _ = leader.shares.join(tab, room);
            }
        }
        self.leader = Some(leader);
        self.connect(&plan.rooms);
        for t in late {
            let report = self.tabs[t].rooms.report().clone();
            let Reported::Late(rooms) = takeover.on_report(self.tabs[t].id.clone(), report) else {
                panic!("a report after the resume is late");
            };
            for (room, stands) in rooms {
                self.attach_late(t, &room, &stands);
            }
        }
        for t in 0..self.tabs.len() {
            let fates = self.tabs[t].relayed.on_new_leader(new.clone());
            for (id, call, fate) in fates {
                match fate {
                    Fate::Resend => {
                        let tab = self.tabs[t].id.clone();
                        self.leader
                            .as_mut()
                            .unwrap()
                            .inbox
                            .push_back(Call { tab, id, call });
                    }
                    Fate::Reject => {
                        assert!(self.tabs[t].answered.insert(id), "rejected twice");
                        if let RelayedCall::Join { room } | RelayedCall::Leave { room } = &call {
                            self.tabs[t].busy.remove(room);
                        }
                    }
                }
            }
        }
    }

    /// A late report of `room` by tab `t`: the leader puts the tab in the room
    /// (joining it on the server when no tab had it), and where the tab's seq is
    /// below what the connection resumed from, the tab reports the gap and
    /// rebaselines.
    fn attach_late(&mut self, t: usize, room: &str, stands: &LateRoom) {
        let id = self.tabs[t].id.clone();
        let current = self.server.current(room);
        let leader = self.leader.as_mut().unwrap();
        let baseline = match leader.shares.join(&id, room) {
            JoinPlan::Joined { seq } => seq,
            JoinPlan::JoinOnServer | JoinPlan::Wait => {
                let seq = *leader.joined.entry(room.to_owned()).or_insert(current);
                leader.shares.on_server_joined(room, seq);
                seq
            }
        };
        let gap = match stands {
            LateRoom::Covered => None,
            LateRoom::Gap { to, .. } => Some(*to),
            LateRoom::NotResumed => Some(baseline),
        };
        let tab = &mut self.tabs[t];
        let had = tab.rooms.report().get(room).copied().expect("reported");
        if let Some(to) = gap.filter(|&to| to > had) {
            trace(|| format!("  {} late in {room}: gap {}..={to}", tab.id.0, had + 1));
            tab.rooms.rebaseline(room, to);
            tab.received.insert(room.to_owned(), (to, Vec::new()));
            self.gaps += 1;
        }
    }

    /// Opens the connection and resumes `plan`: the server replays every message
    /// after each room's seq, and the connection is in the room from there.
    fn connect(&mut self, plan: &Seqs) {
        {
            let leader = self.leader.as_mut().unwrap();
            leader.connected = true;
            leader.joined.clear();
        }
        for (room, from) in plan.iter() {
            let (room, from) = (room.as_str(), *from);
            let to = self.server.current(room);
            {
                let leader = self.leader.as_mut().unwrap();
                if !leader.shares.is_wanted(room) {
                    continue;
                }
                leader.joined.insert(room.to_owned(), from.min(to));
                leader.shares.on_server_joined(room, from.min(to));
            }
            for seq in from + 1..=to {
                self.deliver(room, seq);
            }
        }
    }

    /// The connection delivers a room message: the leader posts it to every tab.
    fn deliver(&mut self, room: &str, seq: u64) {
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        if !leader.connected {
            return;
        }
        let Some(last) = leader.joined.get_mut(room) else {
            return;
        };
        if seq <= *last {
            return;
        }
        *last = seq;
        leader.shares.on_message(room, seq);
        leader.outbox.push_back(Post::Message(room.to_owned(), seq));
    }

    /// The leader posts its oldest unposted item on the channel.
    fn post(&mut self) {
        let Some(post) = self.leader.as_mut().and_then(|l| l.outbox.pop_front()) else {
            return;
        };
        for tab in &mut self.tabs {
            tab.inbox.push_back(post.clone());
        }
    }

    /// Tab `t` reads its next post.
    fn read(&mut self, t: usize) {
        let Some(post) = self.tabs[t].inbox.pop_front() else {
            return;
        };
        let tab = &mut self.tabs[t];
        match post {
            Post::Message(room, seq) => {
                if tab.rooms.accept(&room, seq) {
                    tab.received
                        .get_mut(&room)
                        .expect("accepted only when joined")
                        .1
                        .push(seq);
                }
            }
            Post::Answer {
                leader,
                call,
                answer,
            } => {
                if call.tab != tab.id {
                    return;
                }
                let Some(made) = tab.relayed.answered(call.id, &leader) else {
                    trace(|| {
                        format!(
                            "  {} ignores answer {} from {}",
                            tab.id.0, call.id, leader.0
                        )
                    });
                    return; // late (an earlier leader's), repeated or foreign
                };
                trace(|| format!("  {} takes answer {} {answer:?}", tab.id.0, call.id));
                assert!(
                    tab.answered.insert(call.id),
                    "{} call {} answered twice",
                    tab.id.0,
                    call.id
                );
                match (made, answer) {
                    (RelayedCall::Join { room }, Answer::Joined(seq)) => {
                        tab.rooms.joined(&room, seq);
                        tab.received.insert(room.clone(), (seq, Vec::new()));
                        tab.busy.remove(&room);
                    }
                    (RelayedCall::Leave { room }, _) => {
                        tab.rooms.left(&room);
                        tab.received.remove(&room);
                        tab.busy.remove(&room);
                    }
                    (RelayedCall::Publish { key, .. }, Answer::Published) => {
                        tab.keys.insert(key, true);
                    }
                    (RelayedCall::Request, _) => {}
                    (made, answer) => panic!("{made:?} answered {answer:?}"),
                }
            }
        }
    }

    fn make_call(&mut self, t: usize, call: RelayedCall) {
        let tab = &mut self.tabs[t];
        let id = tab.next_id;
        tab.next_id += 1;
        tab.relayed.sent(id, call.clone());
        let tab_id = tab.id.clone();
        if let Some(leader) = self.leader.as_mut() {
            leader.inbox.push_back(Call {
                tab: tab_id,
                id,
                call,
            });
        }
    }

    /// The leader carries out its next call and queues the answer.
    fn work(&mut self) {
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        if !leader.connected {
            return;
        }
        let Some(call) = leader.inbox.pop_front() else {
            return;
        };
        let answer = match &call.call {
            RelayedCall::Join { room } => match leader.shares.join(&call.tab, room) {
                JoinPlan::Joined { seq } => Answer::Joined(seq),
                JoinPlan::JoinOnServer | JoinPlan::Wait => {
                    let current = self.server.current(room);
                    let seq = *leader.joined.entry(room.clone()).or_insert(current);
                    leader.shares.on_server_joined(room, seq);
                    Answer::Joined(seq)
                }
            },
            RelayedCall::Leave { room } => {
                if leader.shares.leave(&call.tab, room) == LeavePlan::LeaveOnServer {
                    leader.joined.remove(room);
                }
                Answer::Done
            }
            RelayedCall::Publish { room, key } => {
                let (seq, duplicate) = self.server.publish(room, Some(key));
                if !duplicate {
                    self.deliver(&room.clone(), seq);
                }
                Answer::Published
            }
            RelayedCall::Request => Answer::Done,
        };
        trace(|| format!("  work {call:?} -> {answer:?}"));
        let leader_id = self.tabs[0].id.clone();
        self.leader
            .as_mut()
            .unwrap()
            .outbox
            .push_back(Post::Answer {
                leader: leader_id,
                call,
                answer,
            });
    }

    fn close_tab(&mut self, t: usize) {
        let tab = self.tabs.remove(t);
        trace(|| format!("  close {}", tab.id.0));
        if t == 0 {
            // The leader's end (close or crash): what it had not posted is lost,
            // and so, at random, is the tail of what was on its way to each tab.
            self.leader = None;
            for other in &mut self.tabs {
                let keep = self.rng.below(other.inbox.len() + 1) / 2;
                other.inbox.truncate(keep);
            }
            self.elect();
            return;
        }
        if let Some(leader) = self.leader.as_mut() {
            leader.inbox.retain(|call| call.tab != tab.id);
            for room in leader.shares.drop_tab(&tab.id) {
                leader.joined.remove(&room);
            }
        }
        self.announce_roster();
    }

    fn drop_connection(&mut self) {
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        let plan: Seqs = leader.joined.clone().into_iter().collect();
        leader.connected = false;
        trace(|| "  drop".to_owned());
        self.connect(&plan);
    }

    fn step(&mut self) {
        let roll = self.rng.below(100);
        let tabs = self.tabs.len();
        let t = self.rng.below(tabs.max(1));
        let room = ROOMS[self.rng.below(ROOMS.len())].to_owned();
        match roll {
            0..=4 if tabs < 6 => self.open_tab(),
            5..=7 if tabs > 0 => {
                for t in 0..self.tabs.len() {
                    self.read(t);
                }
            }
            // The leader's end a third of the time: handovers are what this is about.
            8 if tabs > 1 => {
                let t = if self.rng.below(3) == 0 { 0 } else { t };
                self.close_tab(t);
            }
            9..=25 if tabs > 0 => {
                // Tabs mostly join and stay; now and then one leaves.
                let leave = self.tabs[t].rooms.contains(&room);
                if (!leave || self.rng.below(4) == 0) && self.tabs[t].busy.insert(room.clone()) {
                    if leave {
                        self.make_call(t, RelayedCall::Leave { room });
                    } else {
                        self.make_call(t, RelayedCall::Join { room });
                    }
                }
            }
            26..=34 if tabs > 0 => {
                self.next_key += 1;
                let key = format!("k{}", self.next_key);
                self.tabs[t].keys.insert(key.clone(), false);
                self.make_call(t, RelayedCall::Publish { room, key });
            }
            35..=37 if tabs > 0 => self.make_call(t, RelayedCall::Request),
            38..=51 => {
                let (seq, _) = self.server.publish(&room, None);
                self.deliver(&room, seq);
            }
            52..=53 => self.drop_connection(),
            54..=66 => self.work(),
            67..=79 => self.post(),
            _ if tabs > 0 => {
                for _ in 0..1 + self.rng.below(6) {
                    self.read(t);
                }
            }
            _ => {}
        }
        // Every tab reads at its own pace: none to a few posts per step.
        for t in 0..self.tabs.len() {
            for _ in 0..self.rng.below(3) {
                self.read(t);
            }
        }
        let connections = usize::from(self.leader.as_ref().is_some_and(|l| l.connected));
        assert!(connections <= 1, "one connection at most");
        assert_eq!(
            self.leader.is_some(),
            !self.tabs.is_empty(),
            "a live tab always leads"
        );
    }

    /// Lets everything in flight finish, then checks every tab.
    fn settle_and_check(&mut self) {
        for _ in 0..100_000 {
            let leader_idle = self
                .leader
                .as_ref()
                .is_none_or(|l| l.inbox.is_empty() && l.outbox.is_empty());
            let tabs_idle = self.tabs.iter().all(|t| t.inbox.is_empty());
            if leader_idle && tabs_idle {
                break;
            }
            self.work();
            self.post();
            for t in 0..self.tabs.len() {
                self.read(t);
            }
        }
        for tab in &self.tabs {
            assert!(
                tab.relayed.is_empty(),
                "{} has calls never answered",
                tab.id.0
            );
            for (room, (from, got)) in &tab.received {
                let expected: Vec<u64> = (from + 1..=self.server.current(room)).collect();
                assert_eq!(
                    got, &expected,
                    "{} in room {room} (joined at {from})",
                    tab.id.0
                );
            }
            for (key, answered) in &tab.keys {
                assert!(answered, "{}: publish {key} never answered", tab.id.0);
                assert_eq!(
                    self.server.publishes.get(key),
                    Some(&1),
                    "{key} published once"
                );
            }
        }
        assert!(
            self.server.publishes.values().all(|&n| n == 1),
            "no key published twice"
        );
    }
}

/// Runs 3,000 random tab lives; returns the gaps late tabs reported.
fn run_lives(late_percent: usize) -> u32 {
    let mut gaps = 0;
    for seed in 1..=3_000u64 {
        trace(|| format!("seed {seed}"));
        let mut world = World {
            rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            server: Server::default(),
            tabs: Vec::new(),
            leader: None,
            next_tab: 0,
            next_key: 0,
            late_percent,
            gaps: 0,
        };
        world.open_tab();
        for _ in 0..400 {
            world.step();
        }
        world.settle_and_check();
        gaps += world.gaps;
    }
    gaps
}

#[test]
fn shared_connection_invariants_hold_over_random_tab_lives() {
    assert_eq!(
        run_lives(0),
        0,
        "when every tab reports within the window, no tab has a gap"
    );
}

#[test]
fn a_tab_reporting_after_the_resume_gets_a_reported_gap_never_a_silent_loss() {
    let gaps = run_lives(25);
    assert!(gaps > 0, "late reports below the resume point happened");
}
