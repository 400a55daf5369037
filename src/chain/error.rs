//! Node failures, redacted (see `telemetry::redact`): the node's own words can quote the RPC URL,
//! which often carries an API key, so they go to the server log only. Revert reasons decoded
//! from our contracts are not node failures and are kept.
use std::fmt::Display;

use alloy::transports::{RpcError, TransportErrorKind};

pub use crate::telemetry::redact::Redacted;

/// Classifies a failed node call and logs its full text with `context` (what was asked).
pub fn rpc(context: impl Display, err: &RpcError<TransportErrorKind>) -> Redacted {
    tracing::warn!(%context, error = %err, "chain node call failed");
    match err {
        RpcError::Transport(_) => Redacted::RpcUnavailable,
        _ => Redacted::RpcError,
    }
}

/// A failed contract call: a node failure underneath, or an answer that did not decode.
pub fn contract(context: impl Display, err: &alloy::contract::Error) -> Redacted {
    match err {
        alloy::contract::Error::TransportError(e) => rpc(context, e),
        other => {
            tracing::warn!(%context, error = %other, "contract call failed");
            Redacted::RpcError
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_failures_are_unavailable_and_name_no_url() {
        let err = RpcError::Transport(TransportErrorKind::Custom(
            "error sending request for url (http://127.0.0.1:1/SECRET-KEY)".into(),
        ));
        let shown = rpc("test", &err);
        assert_eq!(shown, Redacted::RpcUnavailable);
        assert!(!shown.to_string().contains("SECRET"));
        assert_eq!(
            shown.to_string(),
            "rpc_unavailable: the chain node could not be reached"
        );
    }

    #[test]
    fn error_answers_are_rpc_errors() {
        let err: RpcError<TransportErrorKind> = RpcError::NullResp;
        assert_eq!(rpc("test", &err), Redacted::RpcError);
    }
}
