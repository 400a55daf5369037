//! What a failure of the infrastructure (the chain node, the database) may show outside this
//! process. Their own texts can quote the RPC URL with its API key, host names or stored
//! values, so they go to the server log, where they are redacted; what is stored
//! (`last_error`, history), streamed (SSE, webhooks) or answered is a stable code and a
//! generic message. A leaf: the engine, the chain and the API all use it.
use std::fmt::Display;

use sea_orm::DbErr;

/// A redacted failure: what clients and operators are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redacted {
    /// The node could not be reached, timed out or answered at the HTTP level with an error.
    RpcUnavailable,
    /// The node answered the call with an error, or with something unreadable.
    RpcError,
    /// A database operation failed.
    Database,
}

impl Redacted {
    /// The stable code: `rpc_unavailable`, `rpc_error` or `database_error`.
    pub fn code(self) -> &'static str {
        match self {
            Redacted::RpcUnavailable => "rpc_unavailable",
            Redacted::RpcError => "rpc_error",
            Redacted::Database => "database_error",
        }
    }

    /// A generic message that names nothing of the infrastructure.
    pub fn message(self) -> &'static str {
        match self {
            Redacted::RpcUnavailable => "the chain node could not be reached",
            Redacted::RpcError => "the chain node answered with an error",
            Redacted::Database => "a database operation failed",
        }
    }
}

impl Display for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

/// Logs a database failure and returns its redacted form.
pub fn database(context: impl Display, err: &DbErr) -> Redacted {
    tracing::warn!(%context, error = %err, "database operation failed");
    Redacted::Database
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_name_nothing() {
        let err = DbErr::Custom("connection to db.internal.example:5432 refused".into());
        let shown = database("test", &err).to_string();
        assert!(!shown.contains("internal.example"), "{shown}");
        assert_eq!(shown, "database_error: a database operation failed");
    }
}
