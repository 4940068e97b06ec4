//! Time behind one trait: the wall clock for `validator`, a virtual clock for `simulate` and tests.
//!
//! Both clocks are read through [`Clock::now`]; both wait through tokio timers (`tokio::time::sleep`,
//! actix's `run_later`). The virtual clock is tokio's paused clock: it stands still while any task can
//! run or any blocking store call is in flight, and jumps to the next timer when everything waits, so
//! a tournament of days passes in seconds through the very same code paths.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// How long from now until `at` (zero when it has passed).
    fn until(&self, at: DateTime<Utc>) -> Duration {
        (at - self.now()).to_std().unwrap_or(Duration::ZERO)
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Virtual time: `origin` plus the time tokio's clock has advanced since the clock was made.
///
/// Make it inside a runtime whose clock is paused (`start_paused`); on an unpaused runtime it simply
/// follows real time from `origin`.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    origin: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl VirtualClock {
    pub fn starting_at(origin: DateTime<Utc>) -> Self {
        Self { origin, start: tokio::time::Instant::now() }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now().duration_since(self.start);
        self.origin + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn virtual_days_pass_without_waiting() {
        let origin = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
        let clock = VirtualClock::starting_at(origin);
        let began = std::time::Instant::now();
        tokio::time::sleep(Duration::from_secs(72 * 3600)).await;
        assert_eq!(clock.now(), origin + chrono::Duration::hours(72));
        assert!(began.elapsed() < Duration::from_secs(60), "virtual time does not wait for real time");
        assert_eq!(clock.until(origin), Duration::ZERO);
        assert_eq!(clock.until(origin + chrono::Duration::hours(73)), Duration::from_secs(3600));
    }

    #[tokio::test(start_paused = true)]
    async fn blocking_store_work_holds_virtual_time_still() {
        let clock = VirtualClock::starting_at(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let before = clock.now();
        // A timer is pending while a blocking call runs: the clock must not jump to it meanwhile.
        let timer = tokio::spawn(tokio::time::sleep(Duration::from_secs(3600)));
        let during = tokio::task::spawn_blocking({
            let clock = clock.clone();
            move || {
                std::thread::sleep(Duration::from_millis(50));
                clock.now()
            }
        })
        .await
        .unwrap();
        assert_eq!(during, before);
        timer.await.unwrap();
        assert_eq!(clock.now(), before + chrono::Duration::hours(1));
    }
}
