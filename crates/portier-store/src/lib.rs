//! Portier's storage: the only crate that speaks SQL. One code path serves SQLite
//! (the embedded default) and PostgreSQL: SQL is written once where both accept
//! it (`$1` placeholders work in both), and a statement that differs is written
//! twice, side by side, named for its dialect. Every change commits in one
//! [`Tx`] together with its audit event and outgoing mail.

pub mod accounts;
pub mod api_tokens;
pub mod audit;
pub mod bootstrap;
pub mod db;
pub(crate) use db::{bind_all, in_tx, on, on_pool, reader, relaxed, use_conn, with_conn, writer};
pub mod domains;
pub mod error;
pub mod export;
pub mod groups;
pub mod import;
pub mod lifecycle;
pub mod links;
pub mod mail;
pub mod members;
pub mod organizations;
pub mod passkeys;
mod pool;
pub mod portfolios;
pub mod registrations;
pub mod resources;
pub mod rights;
pub mod roles;
mod search;
pub mod sessions;
pub mod signups;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;
pub mod throttles;
/// SQL that is true when two-step verification is required of the account
/// `$account` (an expression): one of its active memberships requires it, or
/// lies in an organization that does or below one that does. Written once
/// for the sign-in's read and [`two_factor::required`].
macro_rules! two_factor_required {
    ($account:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM memberships m JOIN organizations o ON o.id = m.organization_id
             WHERE m.account_id = ",
            $account,
            " AND m.active = TRUE
               AND (m.require_two_factor = TRUE OR EXISTS (
                 SELECT 1 FROM organizations ra
                 WHERE ra.environment_id = o.environment_id AND ra.require_two_factor = TRUE
                   AND substr(o.path, 1, length(ra.path)) = ra.path)))"
        )
    };
}
pub(crate) use two_factor_required;
pub mod two_factor;

pub use db::{Backend, PoolState, Store, Tx};
pub use error::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;
