//! A new leader's first moments: gathering what every tab had before it resumes.
//!
//! The old leader posted its roster (the tabs attached to it) on the channel, so
//! every tab knows whom a successor waits for. A tab that takes the lock announces
//! itself; each tab answers with its report (its rooms and the last seq it got in
//! each). The new leader resumes once every tab of the roster has reported, gone
//! (its own tab lock was released) or the gathering window has passed, whichever
//! comes first: waiting for everyone would let one frozen tab stall the takeover,
//! not waiting would resume from seqs above what a slow tab had, so it would miss
//! messages. A report that comes after the resume started is handled as a late
//! attach: rooms the connection resumed from at or below the tab's seq miss
//! nothing; the others get a gap the tab reports as `complete: false`, never a
//! silent loss.

use super::{remove_tab, resume_plan, Seqs, TabId};
use crate::client::Millis;
use crate::prelude::*;

/// How long a new leader waits for the tabs' reports by default (ms): well
/// within the 1 s a takeover may take, and many times a channel round trip.
pub const GATHER_WINDOW_MS: Millis = 250;

/// What the connection resumes, decided once the reports are in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumePlan {
    /// Each room some tab wants, with the lowest seq a tab reported for it (the
    /// `resume.rooms` of the new connection's `hello`).
    pub rooms: Seqs,
    /// Each tab that reported, with its rooms (the leader's room shares start
    /// from these: every tab is in the rooms it was in before the handover).
    pub tabs: Vec<(TabId, Vec<String>)>,
}

/// How one room of a late report stands against the resume already under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LateRoom {
    /// The connection resumed the room from at or below the tab's seq: the tab
    /// misses nothing (it drops what it already had).
    Covered,
    /// The connection resumed the room from above the tab's seq: the tab cannot
    /// get `from..=to` any more and reports them as a gap (`complete: false`).
    Gap {
        /// The first seq the tab missed.
        from: u64,
        /// The last seq it missed (the seq the connection resumed from).
        to: u64,
    },
    /// No tab had the room at the handover: join it on the server as a new
    /// `join` would (the tab rebaselines to the join's seq if it is higher).
    NotResumed,
}

/// What a report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reported {
    /// Gathered into the resume still to come.
    Gathered,
    /// The resume had started: how each of the tab's rooms stands.
    Late(Vec<(String, LateRoom)>),
    /// This tab had reported already: ignored (a report repeated on the channel).
    Repeated,
}

/// A new leader gathering the tabs' reports (see the module docs).
#[derive(Debug, Clone)]
pub struct Takeover {
    /// Tabs of the roster that have not reported and are not gone.
    expected: Vec<TabId>,
    /// Reports received (this tab's first), one per tab.
    reports: Vec<(TabId, Seqs)>,
    deadline: Millis,
    /// Set once the resume was decided.
    plan: Option<Seqs>,
}

impl Takeover {
    /// The lock was taken at `now`: `own` is this tab's report, `roster` the tabs
    /// the previous leader last posted (this tab among them or not).
    pub fn new(
        own: (TabId, Seqs),
        roster: impl IntoIterator<Item = TabId>,
        now: Millis,
        window_ms: Millis,
    ) -> Self {
        let mut expected: Vec<TabId> = roster.into_iter().collect();
        remove_tab(&mut expected, &own.0);
        Self {
            expected,
            reports: vec![own],
            deadline: now.saturating_add(window_ms),
            plan: None,
        }
    }

    /// `tab` reported its rooms and last seqs.
    pub fn on_report(&mut self, tab: TabId, rooms: Seqs) -> Reported {
        if self.reports.iter().any(|(reported, _)| *reported == tab) {
            return Reported::Repeated;
        }
        self.on_gone(&tab);
        let Some(plan) = &self.plan else {
            self.reports.push((tab, rooms));
            return Reported::Gathered;
        };
        let late = rooms
            .iter()
            .map(|(room, seq)| {
                let seq = *seq;
                let stands = match plan.get(room).copied() {
                    None => LateRoom::NotResumed,
                    Some(from) if from <= seq => LateRoom::Covered,
                    Some(from) => LateRoom::Gap {
                        from: seq + 1,
                        to: from,
                    },
                };
                (room.clone(), stands)
            })
            .collect();
        self.reports.push((tab, rooms));
        Reported::Late(late)
    }

    /// `tab` is gone (its tab lock was released): no report is waited for from it.
    pub fn on_gone(&mut self, tab: &TabId) {
        remove_tab(&mut self.expected, tab);
    }

    /// When to call [`poll_resume`](Self::poll_resume) at the latest, while gathering.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.plan.is_none().then_some(self.deadline)
    }

    /// The resume, once: when every expected tab reported or went, or the window
    /// has passed. `None` before, and after it was returned.
    pub fn poll_resume(&mut self, now: Millis) -> Option<ResumePlan> {
        if self.plan.is_some() || (!self.expected.is_empty() && now < self.deadline) {
            return None;
        }
        let rooms = resume_plan(self.reports.iter().map(|(_, report)| report));
        self.plan = Some(rooms.clone());
        let tabs = self
            .reports
            .iter()
            .map(|(tab, report)| {
                let rooms = report.iter().map(|(room, _)| room.clone()).collect();
                (tab.clone(), rooms)
            })
            .collect();
        Some(ResumePlan { rooms, tabs })
    }

    /// Whether the resume was decided.
    pub fn resumed(&self) -> bool {
        self.plan.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tab(n: u8) -> TabId {
        TabId(format!("t{n}"))
    }

    fn rooms(list: &[(&str, u64)]) -> Seqs {
        list.iter().map(|&(r, s)| (r.to_owned(), s)).collect()
    }

    #[test]
    fn resumes_as_soon_as_every_tab_of_the_roster_reported() {
        let mut takeover = Takeover::new(
            (tab(2), rooms(&[("r", 9)])),
            [tab(1), tab(2), tab(3)],
            0,
            250,
        );
        assert_eq!(takeover.poll_timeout(), Some(250));
        assert_eq!(takeover.poll_resume(10), None, "t3 has not reported");
        assert_eq!(
            takeover.on_report(tab(3), rooms(&[("r", 7), ("s", 1)])),
            Reported::Gathered
        );
        assert_eq!(takeover.poll_resume(11), None, "t1 neither");
        takeover.on_gone(&tab(1));
        let plan = takeover
            .poll_resume(12)
            .expect("every tab reported or went");
        assert_eq!(plan.rooms, rooms(&[("r", 7), ("s", 1)]));
        assert_eq!(plan.tabs[1], (tab(3), vec!["r".to_owned(), "s".to_owned()]));
        assert_eq!(takeover.poll_resume(13), None, "decided once");
        assert_eq!(takeover.poll_timeout(), None);
    }

    #[test]
    fn a_silent_tab_delays_the_resume_by_the_window_only() {
        let mut takeover = Takeover::new((tab(1), rooms(&[("r", 4)])), [tab(1), tab(2)], 100, 250);
        assert_eq!(takeover.poll_resume(349), None);
        let plan = takeover.poll_resume(350).expect("the window passed");
        assert_eq!(plan.rooms, rooms(&[("r", 4)]));
    }

    #[test]
    fn a_late_report_says_which_rooms_have_a_gap() {
        let mut takeover = Takeover::new((tab(1), rooms(&[("a", 5), ("b", 5)])), [tab(2)], 0, 250);
        takeover.poll_resume(250).expect("the window passed");
        let Reported::Late(late) =
            takeover.on_report(tab(2), rooms(&[("a", 3), ("b", 8), ("c", 1)]))
        else {
            panic!("the resume had started");
        };
        assert_eq!(
            late,
            [
                ("a".to_owned(), LateRoom::Gap { from: 4, to: 5 }),
                ("b".to_owned(), LateRoom::Covered),
                ("c".to_owned(), LateRoom::NotResumed),
            ]
        );
        assert_eq!(takeover.on_report(tab(2), rooms(&[])), Reported::Repeated);
    }

    #[test]
    fn a_lone_tab_resumes_at_once() {
        let mut takeover = Takeover::new((tab(1), rooms(&[("r", 2)])), [], 0, 250);
        assert!(takeover.poll_resume(0).is_some());
    }
}
