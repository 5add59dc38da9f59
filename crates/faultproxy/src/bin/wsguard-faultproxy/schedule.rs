//! The seeded random fault schedule: which fault comes next, when, for how long.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A kind of fault the schedule can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub(crate) enum Kind {
    /// Every live connection reset at once (an instant, no duration).
    Reset,
    /// Nothing flows either way.
    Blackhole,
    /// Nothing flows from the clients to the upstream.
    BlackholeUp,
    /// Nothing flows from the upstream to the clients.
    BlackholeDown,
    /// Every chunk forwarded late.
    Delay,
    /// The upstream goes away: live connections reset, new ones reset as soon
    /// as accepted (refused) until the fault lifts.
    Refuse,
}

impl Kind {
    pub(crate) const ALL: [Kind; 6] = [
        Kind::Reset,
        Kind::Blackhole,
        Kind::BlackholeUp,
        Kind::BlackholeDown,
        Kind::Delay,
        Kind::Refuse,
    ];

    /// The name used on the command line, in the log and in the stats.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Reset => "reset",
            Kind::Blackhole => "blackhole",
            Kind::BlackholeUp => "blackhole-up",
            Kind::BlackholeDown => "blackhole-down",
            Kind::Delay => "delay",
            Kind::Refuse => "refuse",
        }
    }
}

/// One scheduled fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    /// Quiet time (traffic flowing) before this fault starts.
    pub(crate) gap: Duration,
    pub(crate) kind: Kind,
    /// How long the fault lasts (zero for a reset).
    pub(crate) duration: Duration,
    /// For [`Kind::Delay`]: how late each chunk is forwarded.
    pub(crate) delay: Duration,
}

/// Bounds of the schedule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// The mean quiet time between two faults; gaps are drawn from [every/2, 3·every/2].
    pub(crate) every: Duration,
    pub(crate) min_fault: Duration,
    pub(crate) max_fault: Duration,
    pub(crate) max_delay: Duration,
}

/// Draws faults from a seeded generator: one seed, one sequence.
pub(crate) struct Schedule {
    rng: StdRng,
    kinds: Vec<Kind>,
    timing: Timing,
}

impl Schedule {
    pub(crate) fn new(seed: u64, kinds: Vec<Kind>, timing: Timing) -> Self {
        assert!(!kinds.is_empty(), "at least one fault kind");
        Schedule {
            rng: StdRng::seed_from_u64(seed),
            kinds,
            timing,
        }
    }

    pub(crate) fn next_step(&mut self) -> Step {
        let every = self.timing.every.as_millis().max(2) as u64;
        let gap = Duration::from_millis(self.rng.random_range(every / 2..=every * 3 / 2));
        let kind = self.kinds[self.rng.random_range(0..self.kinds.len())];
        let duration = millis_between(&mut self.rng, self.timing.min_fault, self.timing.max_fault);
        let delay = millis_between(
            &mut self.rng,
            Duration::from_millis(20),
            self.timing.max_delay,
        );
        match kind {
            Kind::Reset => Step {
                gap,
                kind,
                duration: Duration::ZERO,
                delay: Duration::ZERO,
            },
            Kind::Delay => Step {
                gap,
                kind,
                duration,
                delay,
            },
            _ => Step {
                gap,
                kind,
                duration,
                delay: Duration::ZERO,
            },
        }
    }
}

fn millis_between(rng: &mut StdRng, low: Duration, high: Duration) -> Duration {
    let (low, high) = (low.as_millis() as u64, high.as_millis() as u64);
    Duration::from_millis(rng.random_range(low..=high.max(low)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> Timing {
        Timing {
            every: Duration::from_millis(3000),
            min_fault: Duration::from_millis(300),
            max_fault: Duration::from_millis(5000),
            max_delay: Duration::from_millis(1500),
        }
    }

    #[test]
    fn one_seed_gives_one_sequence() {
        let steps = |seed| {
            let mut s = Schedule::new(seed, Kind::ALL.to_vec(), timing());
            (0..50).map(|_| s.next_step()).collect::<Vec<_>>()
        };
        assert_eq!(steps(7), steps(7));
        assert_ne!(steps(7), steps(8));
    }

    #[test]
    fn faults_and_quiet_gaps_stay_within_their_bounds() {
        let mut s = Schedule::new(1, Kind::ALL.to_vec(), timing());
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let step = s.next_step();
            seen.insert(step.kind);
            assert!((1500..=4500).contains(&step.gap.as_millis()), "{step:?}");
            match step.kind {
                Kind::Reset => assert_eq!(step.duration, Duration::ZERO),
                Kind::Delay => assert!((20..=1500).contains(&step.delay.as_millis()), "{step:?}"),
                _ => assert!(
                    (300..=5000).contains(&step.duration.as_millis()),
                    "{step:?}"
                ),
            }
        }
        assert_eq!(seen.len(), Kind::ALL.len(), "every kind comes up");
    }

    #[test]
    fn only_the_chosen_kinds_come_up() {
        let mut s = Schedule::new(3, vec![Kind::Refuse, Kind::Reset], timing());
        assert!((0..500).all(|_| matches!(s.next_step().kind, Kind::Refuse | Kind::Reset)));
    }
}
