//! Progressive, jittered reconnect backoff.

/// Reconnect backoff settings.
///
/// Attempt `n` (from 1) waits a delay drawn uniformly from `[d × (1 − jitter), d]`
/// where `d = min(max_ms, initial_ms × factor^(n−1))`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BackoffConfig {
    /// Delay before the first attempt, in ms. Default: 500.
    pub initial_ms: f64,
    /// Growth per attempt. Default: 2.
    pub factor: f64,
    /// Cap on the delay, in ms. Default: 30000.
    pub max_ms: f64,
    /// Fraction of the delay that is randomized, 0..=1. Default: 0.5.
    pub jitter: f64,
    /// Attempts before giving up; `None` = never give up. Default: `None`.
    pub max_attempts: Option<u32>,
    /// A connection must stay open this long (ms) before the attempt counter resets. Default: 5000.
    pub stable_ms: u64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial_ms: 500.0,
            factor: 2.0,
            max_ms: 30_000.0,
            jitter: 0.5,
            max_attempts: None,
            stable_ms: 5_000,
        }
    }
}

impl BackoffConfig {
    /// The ceiling `d` of attempt `attempt` (from 1).
    pub fn ceiling_ms(&self, attempt: u32) -> f64 {
        let exponent = attempt.saturating_sub(1).min(1_000) as i32;
        (self.initial_ms * self.factor.max(1.0).powi(exponent))
            .min(self.max_ms)
            .max(0.0)
    }

    /// The delay of attempt `attempt` given a uniform random number `unit` in `[0, 1)`.
    pub fn delay_ms(&self, attempt: u32, unit: f64) -> u64 {
        let ceiling = self.ceiling_ms(attempt);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let floor = ceiling * (1.0 - jitter);
        (floor + (ceiling - floor) * unit.clamp(0.0, 1.0)).round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_by_factor_up_to_the_cap() {
        let config = BackoffConfig::default();
        let ceilings: Vec<f64> = (1..=8).map(|n| config.ceiling_ms(n)).collect();
        assert_eq!(
            ceilings,
            [500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0, 30000.0, 30000.0]
        );
        assert_eq!(config.ceiling_ms(u32::MAX), 30000.0);
    }

    #[test]
    fn jitter_draws_from_the_lower_part() {
        let config = BackoffConfig::default();
        assert_eq!(config.delay_ms(3, 0.0), 1000);
        assert_eq!(config.delay_ms(3, 0.999_999), 2000);
        assert_eq!(config.delay_ms(3, 0.5), 1500);
        let no_jitter = BackoffConfig {
            jitter: 0.0,
            ..BackoffConfig::default()
        };
        assert_eq!(no_jitter.delay_ms(2, 0.3), 1000);
    }
}
