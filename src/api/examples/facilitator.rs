//! Examples of the x402 facilitator API.
use poem_openapi::types::Example;
use serde_json::json;

use super::{PAYER, SIGNER, USDC, VALID_BEFORE};
use crate::api::facilitator::{FacilitatorRequest, JsonObject};

impl Example for FacilitatorRequest {
    /// The gasless payment example's authorization, as a resource server that sells to `PAY_TO`
    /// would pass it on (`mintflow dev` allows no payee: it is refused, `pay_to_not_allowed`).
    fn example() -> Self {
        let requirements: JsonObject = object(json!({
            "scheme": "exact", "network": "eip155:31337", "amount": "1000000", "asset": USDC,
            "payTo": SIGNER, "maxTimeoutSeconds": 300,
            "extra": { "name": "USD Coin", "version": "2" },
        }));
        FacilitatorRequest {
            x402_version: 2,
            payment_payload: object(json!({
                "x402Version": 2,
                "payload": {
                    "authorization": {
                        "from": PAYER, "to": SIGNER, "value": "1000000", "validAfter": "0",
                        "validBefore": VALID_BEFORE,
                        "nonce": "0x6d696e74666c6f77206578616d706c653a2061207061796d656e740000000000",
                    },
                    "signature": "0x16b928e1e7e185377dd99ac6cd3aa48f27b1e5e3f4e8337c88d51a95384ccfd34c0a328589b0697029da37a28ebac9d518017fdad6678b31bc576116f5419cf51b",
                },
                "accepted": requirements,
            })),
            payment_requirements: requirements,
        }
    }
}

fn object(value: serde_json::Value) -> JsonObject {
    match value {
        serde_json::Value::Object(map) => map.into_iter().collect(),
        _ => unreachable!("the examples are JSON objects"),
    }
}
