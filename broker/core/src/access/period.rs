//! Budget periods and rate-limit windows, on UTC calendar boundaries.

use serde::{Deserialize, Serialize};

/// How often a key's budget starts over.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum BudgetPeriod {
    /// From 00:00 UTC.
    Day,
    /// From Monday 00:00 UTC.
    Week,
    /// From the 1st of the month, 00:00 UTC (the default).
    #[default]
    Month,
}

const DAY_S: i64 = 86_400;

impl BudgetPeriod {
    /// The period holding `now_s` (seconds since the epoch): its start and its end.
    pub fn bounds(self, now_s: i64) -> (i64, i64) {
        let day = now_s.div_euclid(DAY_S);
        match self {
            Self::Day => (day * DAY_S, (day + 1) * DAY_S),
            Self::Week => {
                // 1970-01-01 was a Thursday: Monday is 3 days before it.
                let monday = day - (day + 3).rem_euclid(7);
                (monday * DAY_S, (monday + 7) * DAY_S)
            }
            Self::Month => {
                let (y, m, _) = civil_from_days(day);
                let start = days_from_civil(y, m, 1);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                (start * DAY_S, days_from_civil(ny, nm, 1) * DAY_S)
            }
        }
    }
}

/// The minute window holding `now_ms`: its number and the seconds left in it (at least 1).
pub fn minute(now_ms: u64) -> (u64, u64) {
    let n = now_ms / 60_000;
    let left = ((n + 1) * 60_000 - now_ms).div_ceil(1000).max(1);
    (n, left)
}

/// Howard Hinnant's `civil_from_days`: year, month, day of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_on_utc_calendar_boundaries() {
        // 2026-11-29 21:03:00 UTC, a Sunday.
        let now = 1_795_986_180;
        assert_eq!(
            BudgetPeriod::Day.bounds(now),
            (1_795_910_400, 1_795_996_800)
        );
        let (ws, we) = BudgetPeriod::Week.bounds(now);
        assert_eq!(we - ws, 7 * DAY_S);
        assert_eq!(civil_from_days(ws / DAY_S), (2026, 11, 23));
        let (ms, me) = BudgetPeriod::Month.bounds(now);
        assert_eq!(civil_from_days(ms / DAY_S), (2026, 11, 1));
        assert_eq!(civil_from_days(me / DAY_S), (2026, 12, 1));
        let (ms, me) = BudgetPeriod::Month.bounds(days_from_civil(2026, 12, 31) * DAY_S);
        assert_eq!(
            (civil_from_days(ms / DAY_S), civil_from_days(me / DAY_S)),
            ((2026, 12, 1), (2027, 1, 1))
        );
    }

    #[test]
    fn minute_windows_count_the_seconds_left() {
        assert_eq!(minute(120_000), (2, 60));
        assert_eq!(minute(179_500), (2, 1));
        assert_eq!(minute(150_001), (2, 30));
    }
}
