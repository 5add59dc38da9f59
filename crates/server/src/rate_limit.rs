//! Per-connection token bucket, driven by an injected clock.

use std::time::{Duration, Instant};

/// What to do with one incoming frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RateDecision {
    /// Process the frame.
    Allow,
    /// Drop it and answer `rate_limited`.
    Drop,
    /// Drop it, answer `rate_limited`, and close with 4429: more frames were dropped
    /// within one second than the rate allows.
    DropAndClose,
}

/// A token bucket refilled at `rate` tokens per second, burst = `rate`.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: u32,
    tokens: f64,
    last_refill: Instant,
    drop_window_start: Instant,
    dropped_in_window: u32,
}

impl RateLimiter {
    /// `rate == 0` disables the limit.
    pub(crate) fn new(rate: u32, now: Instant) -> Self {
        Self {
            rate,
            tokens: f64::from(rate),
            last_refill: now,
            drop_window_start: now,
            dropped_in_window: 0,
        }
    }

    pub(crate) fn check(&mut self, now: Instant) -> RateDecision {
        if self.rate == 0 {
            return RateDecision::Allow;
        }
        let rate = f64::from(self.rate);
        let elapsed = now
            .saturating_duration_since(self.last_refill)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.last_refill = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return RateDecision::Allow;
        }
        if now.saturating_duration_since(self.drop_window_start) >= Duration::from_secs(1) {
            self.drop_window_start = now;
            self.dropped_in_window = 0;
        }
        self.dropped_in_window += 1;
        if self.dropped_in_window > self.rate {
            RateDecision::DropAndClose
        } else {
            RateDecision::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_drop_then_refill() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(10, t0);
        for _ in 0..10 {
            assert_eq!(limiter.check(t0), RateDecision::Allow);
        }
        assert_eq!(limiter.check(t0), RateDecision::Drop);
        // 100 ms refills one token.
        assert_eq!(
            limiter.check(t0 + Duration::from_millis(100)),
            RateDecision::Allow
        );
        assert_eq!(
            limiter.check(t0 + Duration::from_millis(100)),
            RateDecision::Drop
        );
    }

    #[test]
    fn sustained_flood_closes() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(5, t0);
        let decisions: Vec<_> = (0..11).map(|_| limiter.check(t0)).collect();
        assert_eq!(&decisions[..5], &[RateDecision::Allow; 5]);
        assert_eq!(&decisions[5..10], &[RateDecision::Drop; 5]);
        assert_eq!(
            decisions[10],
            RateDecision::DropAndClose,
            "the 6th drop within a second exceeds the rate of 5"
        );
    }

    #[test]
    fn drops_spread_over_seconds_do_not_close() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(2, t0);
        let mut now = t0;
        for _ in 0..50 {
            // 3 frames every second: one over the rate each second, never more than 2 drops per window.
            for _ in 0..3 {
                assert_ne!(limiter.check(now), RateDecision::DropAndClose);
            }
            now += Duration::from_secs(1);
        }
    }

    #[test]
    fn zero_disables() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(0, t0);
        assert!((0..10_000).all(|_| limiter.check(t0) == RateDecision::Allow));
    }
}
