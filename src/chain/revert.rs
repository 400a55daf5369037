//! Human-readable revert reasons from RPC errors: `Error(string)`, panics, and the custom
//! errors of our own contracts.
use alloy::sol_types::SolInterface;
use alloy::transports::{RpcError, TransportErrorKind};

use super::contracts::{MintToken, MockUSDC};

/// The decoded reason when `err` is a revert, `None` for any other failure.
pub fn reason(err: &RpcError<TransportErrorKind>) -> Option<String> {
    let payload = err.as_error_resp()?;
    let data = payload.as_revert_data();
    if data.is_none() && !payload.message.to_lowercase().contains("revert") {
        return None;
    }
    Some(match data {
        Some(data) => decode(&data).unwrap_or_else(|| payload.message.to_string()),
        None => payload.message.to_string(),
    })
}

/// Decodes revert data: one of our contracts' custom errors, or a standard reason. Custom
/// errors go first: the standard decoder reads any valid UTF-8 as a reason string.
pub fn decode(data: &[u8]) -> Option<String> {
    if let Ok(e) = MintToken::MintTokenErrors::abi_decode(data) {
        return Some(format!("{e:?}"));
    }
    if let Ok(e) = MockUSDC::MockUSDCErrors::abi_decode(data) {
        return Some(format!("{e:?}"));
    }
    alloy::sol_types::decode_revert_reason(data)
}
