//! When the reference validator says the next tournament of a type starts (G.O.D 86623e97,
//! `validator/endpoints/tournament_analytics.py::get_next_tournament_dates`): its scheduler looks every
//! quarter hour, so a start falls on :00, :15, :30 or :45. Pure: the current time is passed in.

use chrono::{DateTime, Duration, DurationRound, Timelike, Utc};

/// The reference's scheduler period.
const CHECK_MINUTES: i64 = 15;

/// `t` moved up to the next quarter-hour minute when its minute is not one already, then cut to the
/// minute. As in the reference, a time on a quarter-hour minute keeps that minute: 10:15:40 → 10:15:00.
pub fn round_up_to_quarter_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    let remainder = i64::from(t.minute()) % CHECK_MINUTES;
    let moved = if remainder == 0 { t } else { t + Duration::minutes(CHECK_MINUTES - remainder) };
    to_minute(moved)
}

/// The scheduler check strictly after `now`'s minute: 10:14:59 → 10:15, 10:15:00 → 10:30.
pub fn next_quarter_hour(now: DateTime<Utc>) -> DateTime<Utc> {
    let ahead = CHECK_MINUTES - i64::from(now.minute()) % CHECK_MINUTES;
    to_minute(now + Duration::minutes(ahead))
}

/// The next start of a type whose last tournament is measured from `base` (its completion, else its
/// creation; `None` without one): `base + interval` on the quarter hour, or the next check after `now`
/// when that much time has passed already.
pub fn next_start(base: Option<DateTime<Utc>>, interval: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
    match base {
        Some(base) if now - base < interval => round_up_to_quarter_hour(base + interval),
        _ => next_quarter_hour(now),
    }
}

fn to_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::minutes(1)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, m, s).unwrap() + Duration::milliseconds(250)
    }

    #[test]
    fn a_time_rounds_up_to_the_quarter_hour_and_loses_its_seconds() {
        let exact = |d, h, m| Utc.with_ymd_and_hms(2026, 12, d, h, m, 0).unwrap();
        let table = [
            (at(10, 1, 0), exact(1, 10, 15)),
            (at(10, 14, 59), exact(1, 10, 15)),
            (at(10, 15, 40), exact(1, 10, 15)),
            (at(10, 46, 5), exact(1, 11, 0)),
            (at(23, 59, 59), exact(2, 0, 0)),
        ];
        for (t, want) in table {
            assert_eq!(round_up_to_quarter_hour(t), want, "{t}");
        }
    }

    #[test]
    fn the_next_check_is_strictly_after_the_current_minute() {
        let exact = |h, m| Utc.with_ymd_and_hms(2026, 12, 1, h, m, 0).unwrap();
        let table = [
            (at(10, 14, 59), exact(10, 15)),
            (exact(10, 15), exact(10, 30)),
            (at(10, 15, 0), exact(10, 30)),
            (at(10, 0, 30), exact(10, 15)),
            (at(10, 59, 0), exact(11, 0)),
        ];
        for (now, want) in table {
            assert_eq!(next_quarter_hour(now), want, "{now}");
        }
    }

    #[test]
    fn the_next_start_waits_for_the_interval_or_takes_the_next_check() {
        let interval = Duration::hours(72);
        let base = Utc.with_ymd_and_hms(2026, 12, 1, 9, 7, 12).unwrap();
        let due = Utc.with_ymd_and_hms(2026, 12, 4, 9, 15, 0).unwrap();
        assert_eq!(next_start(Some(base), interval, base + Duration::hours(1)), due);
        let later = base + interval + Duration::minutes(20);
        assert_eq!(next_start(Some(base), interval, later), Utc.with_ymd_and_hms(2026, 12, 4, 9, 30, 0).unwrap());
        assert_eq!(
            next_start(Some(base), interval, base + interval),
            Utc.with_ymd_and_hms(2026, 12, 4, 9, 15, 0).unwrap(),
            "due exactly now: the next check"
        );
        assert_eq!(next_start(None, interval, base), Utc.with_ymd_and_hms(2026, 12, 1, 9, 15, 0).unwrap());
    }
}
