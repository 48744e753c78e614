//! Console sessions: a random id in a cookie, only its hash in the database.
//! A session ends after a stretch of inactivity (idle timeout) and in any case
//! after a fixed lifetime (absolute timeout), whichever comes first.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Ends a session nobody used for this long.
    pub idle: Duration,
    /// Ends every session this long after sign-in.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    /// Two idle hours, twelve in all: a working day, signed in once.
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::from_secs(2 * 3600),
            absolute: Duration::from_secs(12 * 3600),
        }
    }
}

impl SessionPolicy {
    pub fn is_alive(
        &self,
        now: DateTime<Utc>,
        created_at: DateTime<Utc>,
        last_seen_at: DateTime<Utc>,
    ) -> bool {
        let idle = chrono::Duration::from_std(self.idle).unwrap_or(chrono::Duration::MAX);
        let absolute = chrono::Duration::from_std(self.absolute).unwrap_or(chrono::Duration::MAX);
        now < last_seen_at + idle && now < created_at + absolute
    }

    /// Whether `last_seen_at` is worth writing again: at most once a minute, so
    /// a busy session does not turn every read into a write.
    pub fn should_touch(now: DateTime<Utc>, last_seen_at: DateTime<Utc>) -> bool {
        now - last_seen_at >= chrono::Duration::seconds(60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn an_idle_session_ends_and_so_does_a_busy_one_after_its_lifetime() {
        let p = SessionPolicy::default();
        let start = at("2026-11-22T08:00:00Z");
        assert!(p.is_alive(at("2026-11-22T09:59:00Z"), start, start));
        assert!(
            !p.is_alive(at("2026-11-22T10:00:00Z"), start, start),
            "two idle hours"
        );
        assert!(p.is_alive(
            at("2026-11-22T19:59:00Z"),
            start,
            at("2026-11-22T19:00:00Z")
        ));
        assert!(
            !p.is_alive(
                at("2026-11-22T20:00:00Z"),
                start,
                at("2026-11-22T19:59:00Z")
            ),
            "twelve hours in all"
        );
    }

    #[test]
    fn last_seen_is_written_at_most_once_a_minute() {
        let t = at("2026-11-22T08:00:00Z");
        assert!(!SessionPolicy::should_touch(at("2026-11-22T08:00:59Z"), t));
        assert!(SessionPolicy::should_touch(at("2026-11-22T08:01:00Z"), t));
    }
}
