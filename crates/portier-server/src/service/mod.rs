//! The use cases: what a person or an application does with Portier, once,
//! for every front end. The REST API (`crate::api`), the console
//! (`crate::console`) and the command line (`portier-cli`) call these; no
//! front end calls another. The import worker (`crate::imports`) still runs
//! the store's jobs itself.
//!
//! A use case takes what it needs from the server (`AppState`), the
//! caller's proof of their right where one is needed
//! (`portier_core::rights::Authorized<R>`, which only `Principal::authorize`
//! makes), and plain values; it answers domain values or an [`ApiError`]
//! that each front end shows in its own way (JSON, a page). What only one
//! front end has (JSON shapes, form pages, cookies' headers) stays with it.
//! docs/ARCHITECTURE.md#use-cases-service-layer says where each rule lives.
//!
//! [`ApiError`]: crate::ApiError

pub mod access;
pub mod accounts;
pub mod domains;
pub mod export;
pub mod imports;
pub mod members;
pub mod organizations;
pub mod passkeys;
pub mod portfolios;
pub mod resources;
pub mod sessions;
pub mod sign_in;
pub mod signups;
pub mod throttles;
pub mod two_factor;
