//! The store's error type: a domain refusal passed through, or a database fault.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Domain(#[from] portier_core::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// Stored data that no longer reads as a valid value; never the caller's fault.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl Error {
    /// True when the database refused a row for breaking a unique constraint:
    /// the portable way to answer "already exists" after a race.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Error::Database(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }

    /// The refusal of a unique constraint as `conflict` (the row exists
    /// already, perhaps written by a concurrent change); any other error as
    /// it is.
    pub fn unique_as(self, conflict: impl FnOnce() -> Error) -> Error {
        if self.is_unique_violation() {
            conflict()
        } else {
            self
        }
    }

    /// True when a row referred to something that a concurrent change has
    /// just removed (or never existed).
    pub fn is_foreign_key_violation(&self) -> bool {
        match self {
            Error::Database(sqlx::Error::Database(e)) => e.is_foreign_key_violation(),
            _ => false,
        }
    }
}

impl From<portier_core::FieldError> for Error {
    fn from(e: portier_core::FieldError) -> Self {
        Error::Domain(e.into())
    }
}
