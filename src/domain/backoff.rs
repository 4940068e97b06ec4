//! How long to wait before trying again after a transient failure: capped exponential backoff with
//! equal jitter. The jitter comes from the caller (a stable hash where a run must replay, as in a
//! simulation), so the function is pure.

use std::time::Duration;

/// After the `failures`-th failure in a row (1 for the first): half of `min(cap, base · 2^(failures-1))`
/// plus `jitter` (in [0, 1]) of the other half. Retries of many callers spread out instead of
/// arriving together, and none waits longer than `cap`.
pub fn delay(failures: u32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let exponent = failures.saturating_sub(1).min(30);
    let full = base.saturating_mul(1u32 << exponent).min(cap);
    let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
    full / 2 + (full / 2).mul_f64(jitter)
}

/// A jitter in [0, 1] from a stable hash.
pub fn jitter_of(hash: u64) -> f64 {
    hash as f64 / u64::MAX as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(5);
    const CAP: Duration = Duration::from_secs(600);

    #[test]
    fn delays_double_up_to_the_cap_and_jitter_spreads_them_over_the_upper_half() {
        let secs = |n, j| delay(n, BASE, CAP, j).as_secs_f64();
        assert_eq!([secs(1, 0.0), secs(2, 0.0), secs(3, 0.0), secs(4, 0.0)], [2.5, 5.0, 10.0, 20.0]);
        assert_eq!([secs(1, 1.0), secs(2, 1.0)], [5.0, 10.0]);
        assert_eq!(secs(8, 1.0), 600.0, "capped");
        assert_eq!(secs(1000, 1.0), 600.0, "no overflow however long it fails");
        assert_eq!(secs(0, 1.0), 5.0, "a zeroth failure counts as the first");
        assert_eq!(secs(3, f64::NAN), 10.0);
        assert_eq!(secs(3, 7.0), 20.0);
    }

    #[test]
    fn jitter_spans_zero_to_one() {
        assert_eq!(jitter_of(0), 0.0);
        assert_eq!(jitter_of(u64::MAX), 1.0);
    }
}
