//! Portier's domain: the types and rules of docs/RULES.md and
//! docs/PORTFOLIOS.md as plain functions, with no I/O. Handlers and storage
//! ask this crate what a rule says; they never decide policy themselves, so
//! the console and the API cannot disagree (docs/ARCHITECTURE.md).

pub mod accounts;
pub mod audit;
pub mod domains;
pub mod duration;
pub mod email;
pub mod error;
pub mod export;
pub mod groups;
pub mod ids;
pub mod import;
pub mod json;
pub mod locale;
pub mod mail;
pub mod members;
pub mod organizations;
pub mod passkeys;
pub mod passwords;
pub mod permissions;
pub mod portfolios;
pub mod profile;
pub mod registrations;
pub mod resources;
pub mod rights;
pub mod roles;
pub mod search;
pub mod secrets;
pub mod sessions;
pub mod throttles;
pub mod two_factor;

pub use error::{Error, FieldError};
