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
        (self.initial_ms * powi(self.factor.max(1.0), exponent.unsigned_abs()))
            .min(self.max_ms)
            .max(0.0)
    }

    /// The delay of attempt `attempt` given a uniform random number `unit` in `[0, 1)`.
    pub fn delay_ms(&self, attempt: u32, unit: f64) -> u64 {
        let ceiling = self.ceiling_ms(attempt);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let floor = ceiling * (1.0 - jitter);
        round(floor + (ceiling - floor) * unit.clamp(0.0, 1.0))
    }
}

/// `base` to the power `exponent`, by squaring, as `f64::powi` computes it at run
/// time (compiler-rt's `__powidf2`): `powi` is not in `core`, and this crate is
/// `no_std` in the browser.
fn powi(mut base: f64, mut exponent: u32) -> f64 {
    let mut result = 1.0;
    loop {
        if exponent & 1 == 1 {
            result *= base;
        }
        exponent /= 2;
        if exponent == 0 {
            return result;
        }
        base *= base;
    }
}

/// A non-negative `x` rounded half away from zero, as `f64::round` (not in `core`)
/// does; negative values give 0, as `as u64` would.
pub(crate) fn round(x: f64) -> u64 {
    let whole = x as u64;
    if x - whole as f64 >= 0.5 {
        whole + 1
    } else {
        whole
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

    /// The `core`-only `powi` and `round` give what std's do (the host build has std).
    #[test]
    fn core_math_matches_std() {
        for base in [1.0, 1.000_1, 1.5, 2.0, 2.5, 3.7, 10.0] {
            for exponent in 0..=1_000u32 {
                let std = f64::powi(base, exponent as i32);
                assert_eq!(
                    powi(base, exponent).to_bits(),
                    std.to_bits(),
                    "{base}^{exponent}"
                );
            }
        }
        for x in [
            0.0,
            0.25,
            0.5,
            0.499_999_999_999_999_94,
            1.5,
            2.5,
            1_499.5,
            29_999.999,
            1e15 + 0.5,
        ] {
            assert_eq!(round(x), f64::round(x) as u64, "{x}");
        }
        assert_eq!(round(-3.0), 0);
    }
}
