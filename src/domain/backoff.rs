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

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryIn(Duration),
    /// Stop retrying: the work waits, with its reason, for an operator.
    Stall,
}

/// How often, and how patiently, work is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    /// Failures in a row allowed before the work stalls.
    pub budget: u32,
}

impl RetryPolicy {
    /// 5 s doubling to 10 minutes, stalling at the eighth failure in a row (about 20 minutes of trying).
    pub const ACTORS: RetryPolicy =
        RetryPolicy { base: Duration::from_secs(5), cap: Duration::from_secs(600), budget: 8 };

    /// After the `failures`-th failure in a row: retry after a [`delay`] while the budget lasts and the
    /// failure is one retrying can mend (`mendable`), else stall.
    pub fn after(&self, failures: u32, mendable: bool, jitter: f64) -> AfterFailure {
        if !mendable || failures >= self.budget {
            AfterFailure::Stall
        } else {
            AfterFailure::RetryIn(delay(failures, self.base, self.cap, jitter))
        }
    }
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
    fn work_retries_within_its_budget_and_stalls_past_it_or_at_once_when_retrying_cannot_mend_it() {
        let policy = RetryPolicy { base: BASE, cap: CAP, budget: 3 };
        assert_eq!(policy.after(1, true, 0.0), AfterFailure::RetryIn(Duration::from_millis(2500)));
        assert_eq!(policy.after(2, true, 1.0), AfterFailure::RetryIn(Duration::from_secs(10)));
        assert_eq!(policy.after(3, true, 0.0), AfterFailure::Stall);
        assert_eq!(policy.after(1, false, 0.0), AfterFailure::Stall);
    }

    #[test]
    fn jitter_spans_zero_to_one() {
        assert_eq!(jitter_of(0), 0.0);
        assert_eq!(jitter_of(u64::MAX), 1.0);
    }
}
