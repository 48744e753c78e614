//! Throttling of failed sign-ins and reset requests. Counters live in the
//! database so a limit holds across nodes; each counts within a window and
//! starts again after it, so an attacker can slow an account down but never
//! lock its owner out for good.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// At most `max` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: i64,
    pub window: Duration,
}

/// Failed sign-ins for one address from one client: a person mistyping gets
/// five tries, then waits out the window.
pub const LOGIN_PER_ACCOUNT_AND_CLIENT: Limit = Limit {
    max: 5,
    window: Duration::from_secs(15 * 60),
};
/// Failed sign-ins for one address from anywhere: a spread-out attack on one
/// person.
pub const LOGIN_PER_ACCOUNT: Limit = Limit {
    max: 20,
    window: Duration::from_secs(15 * 60),
};
/// Failed sign-ins from one client address, whatever the account: password
/// spraying.
pub const LOGIN_PER_CLIENT: Limit = Limit {
    max: 50,
    window: Duration::from_secs(15 * 60),
};
/// Wrong second factors for one account (its password was right): five in
/// a quarter of an hour leave a guesser of 6-digit codes (three valid at a
/// time) about one chance in 700 a day, on top of knowing the password.
pub const SECOND_FACTOR_PER_ACCOUNT: Limit = Limit {
    max: 5,
    window: Duration::from_secs(15 * 60),
};
/// Wrong current passwords for one account, asked before a new password
/// is set while signed in: as for signing in, five in a quarter of an hour.
pub const CURRENT_PASSWORD_PER_ACCOUNT: Limit = Limit {
    max: 5,
    window: Duration::from_secs(15 * 60),
};
/// Passkey sign-ins started from one client address: each keeps a
/// challenge for a few minutes, so a client cannot fill the table.
pub const PASSKEY_CEREMONIES_PER_CLIENT: Limit = Limit {
    max: 60,
    window: Duration::from_secs(15 * 60),
};
/// Password-reset requests from one client address.
pub const RESET_PER_CLIENT: Limit = Limit {
    max: 10,
    window: Duration::from_secs(15 * 60),
};
/// Password-reset mails to one address: no mail bombing through the form.
pub const RESET_PER_ACCOUNT: Limit = Limit {
    max: 3,
    window: Duration::from_secs(60 * 60),
};
/// Sign-ups from one client address.
pub const SIGNUP_PER_CLIENT: Limit = Limit {
    max: 10,
    window: Duration::from_secs(60 * 60),
};
/// Sign-up mails to one address: no mail bombing through the form.
pub const SIGNUP_PER_ADDRESS: Limit = Limit {
    max: 3,
    window: Duration::from_secs(60 * 60),
};
/// DNS checks of one environment's domains ("check now"): each asks a
/// nameserver outside.
pub const DOMAIN_CHECKS: Limit = Limit {
    max: 60,
    window: Duration::from_secs(15 * 60),
};
/// Domain proofs mailed for one environment.
pub const DOMAIN_PROOF_MAILS: Limit = Limit {
    max: 5,
    window: Duration::from_secs(60 * 60),
};

impl Limit {
    /// `Some(seconds to wait)` when `count` events since `window_start` reach
    /// the limit at `now`; `None` when another is allowed.
    pub fn retry_after(
        &self,
        count: i64,
        window_start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<u64> {
        let window = chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX);
        let ends = window_start + window;
        if now >= ends || count < self.max {
            return None;
        }
        Some(
            u64::try_from((ends - now).num_seconds())
                .unwrap_or(0)
                .max(1),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limits as docs/RULES.md states them: how many, within how many
    /// minutes. A change to one is a change to the rules, made here on
    /// purpose.
    #[test]
    fn every_limit_is_the_one_the_rules_state() {
        let minutes = |l: Limit| (l.max, l.window.as_secs() / 60, l.window.as_secs() % 60);
        for (limit, max, window) in [
            (LOGIN_PER_ACCOUNT_AND_CLIENT, 5, 15),
            (LOGIN_PER_ACCOUNT, 20, 15),
            (LOGIN_PER_CLIENT, 50, 15),
            (SECOND_FACTOR_PER_ACCOUNT, 5, 15),
            (CURRENT_PASSWORD_PER_ACCOUNT, 5, 15),
            (PASSKEY_CEREMONIES_PER_CLIENT, 60, 15),
            (RESET_PER_CLIENT, 10, 15),
            (RESET_PER_ACCOUNT, 3, 60),
            (SIGNUP_PER_CLIENT, 10, 60),
            (SIGNUP_PER_ADDRESS, 3, 60),
            (DOMAIN_CHECKS, 60, 15),
            (DOMAIN_PROOF_MAILS, 5, 60),
        ] {
            assert_eq!(minutes(limit), (max, window, 0));
        }
    }

    #[test]
    fn a_persons_two_sign_in_limits_share_a_window() {
        // The sign-in counts both in one statement over one window.
        assert_eq!(
            LOGIN_PER_ACCOUNT.window,
            LOGIN_PER_ACCOUNT_AND_CLIENT.window
        );
    }

    #[test]
    fn the_limit_holds_within_its_window_and_lifts_after_it() {
        let start: DateTime<Utc> = "2026-11-22T08:00:00Z".parse().unwrap();
        let l = LOGIN_PER_ACCOUNT_AND_CLIENT;
        assert_eq!(
            l.retry_after(4, start, start + chrono::Duration::minutes(1)),
            None
        );
        assert_eq!(
            l.retry_after(5, start, start + chrono::Duration::minutes(1)),
            Some(14 * 60)
        );
        assert_eq!(
            l.retry_after(500, start, start + chrono::Duration::minutes(15)),
            None,
            "never a permanent lock-out"
        );
    }
}
