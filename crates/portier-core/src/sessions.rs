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

/// A short name for the device behind a user agent, for a person's list of
/// sessions: "Firefox on Linux", "Safari on iPhone"; `None` when nothing in
/// it is recognized (the list then shows the raw text).
pub fn device(user_agent: &str) -> Option<String> {
    match device_parts(user_agent) {
        (Some(b), Some(s)) => Some(format!("{b} on {s}")),
        (Some(b), None) => Some(b.to_owned()),
        (None, Some(s)) => Some(s.to_owned()),
        (None, None) => None,
    }
}

/// The browser and the system of [`device`], each when recognized.
pub fn device_parts(user_agent: &str) -> (Option<&'static str>, Option<&'static str>) {
    // Order matters: Edge and Opera say Chrome too, Chrome says Safari.
    const BROWSERS: [(&str, &str); 6] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ];
    const SYSTEMS: [(&str, &str); 7] = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ];
    let browser = BROWSERS
        .iter()
        .find(|(m, _)| user_agent.contains(m))
        .map(|b| b.1);
    let system = SYSTEMS
        .iter()
        .find(|(m, _)| user_agent.contains(m))
        .map(|s| s.1);
    (browser, system)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_named_from_its_user_agent() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(device(firefox).as_deref(), Some("Firefox on Linux"));
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(device(iphone).as_deref(), Some("Safari on iPhone"));
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0";
        assert_eq!(device(edge).as_deref(), Some("Edge on Windows"));
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36";
        assert_eq!(device(android).as_deref(), Some("Chrome on Android"));
        assert_eq!(device("curl/8.5.0"), None);
    }

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
