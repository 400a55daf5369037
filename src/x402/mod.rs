//! The x402 payment protocol (v2, scheme `exact`, EVM, and v1's transport beside it): the wire
//! types, their base64 header encoding, the seller's offer, and the checks a server must make
//! on a signed EIP-3009 authorization before it reserves and settles it. mintflow is its own
//! facilitator: it settles with its own signer through the transaction pipeline.
pub mod facilitator;
pub mod types;
pub mod v1;
pub mod verify;

pub use types::{
    Authorization, ExactPayload, PaymentPayload, PaymentRequired, PaymentRequirements, Resource,
    SettlementResponse,
};
pub use verify::{Offer, Reason, SETTLEMENT_WAIT_SECS, Verified, verify};
