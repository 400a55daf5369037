//! Which per-client limits an operation falls under. By operation id, which every route has
//! and which stay stable (a test checks each one named here exists in the spec).
use crate::config::Settings;

/// A family of routes sharing one per-client rate (a hot setting; 0 turns it off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateClass {
    /// Payment entry points: each verifies a signature and may simulate on the chain.
    Payment,
    /// Token deployments: each costs a contract creation's gas.
    Deploy,
    /// Status by id without a key: cheap, but open to anyone.
    PublicRead,
}

impl RateClass {
    pub fn per_minute(self, settings: &Settings) -> i64 {
        match self {
            RateClass::Payment => settings.payment_rate_per_minute,
            RateClass::Deploy => settings.deploy_rate_per_minute,
            RateClass::PublicRead => settings.public_read_rate_per_minute,
        }
    }

    /// The error code of a request over the limit.
    pub fn code(self) -> &'static str {
        match self {
            RateClass::Payment => "payment_rate_limited",
            RateClass::Deploy => "deploy_rate_limited",
            RateClass::PublicRead => "read_rate_limited",
        }
    }

    pub fn what(self) -> &'static str {
        match self {
            RateClass::Payment => "payment requests",
            RateClass::Deploy => "deployment requests",
            RateClass::PublicRead => "status reads",
        }
    }
}

/// The rate classes of `operation` (an x402 deployment is both a payment and a deployment).
pub fn rate_classes(operation: &str) -> &'static [RateClass] {
    use RateClass::*;
    match operation {
        "create_payment" | "x402_mint" | "legacy_x402_batch_mint" => &[Payment],
        "x402_deploy" => &[Payment, Deploy],
        "create_deployment" | "legacy_deploy" => &[Deploy],
        "get_mint"
        | "get_payment"
        | "get_deployment"
        | "get_token"
        | "legacy_queue_item"
        | "legacy_queue_payer"
        | "legacy_payment"
        | "ready"
        | "facilitator_supported" => &[PublicRead],
        _ => &[],
    }
}

/// Whether `operation` waits for a settlement it makes without a payment header (the
/// facilitator's settle): it gets the time a paid request gets.
pub fn waits_for_settlement(operation: &str) -> bool {
    operation == "facilitator_settle"
}

/// Whether `operation` answers with a long-lived event stream.
pub fn is_stream(operation: &str) -> bool {
    matches!(operation, "stream_events" | "stream_workflow_events")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_named_exists_in_the_spec() {
        let spec: serde_json::Value = serde_json::from_str(&crate::api::spec_json()).unwrap();
        let ids: Vec<&str> = spec["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|ops| ops.as_object().unwrap().values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let named = [
            "create_payment",
            "x402_mint",
            "legacy_x402_batch_mint",
            "x402_deploy",
            "create_deployment",
            "legacy_deploy",
            "get_mint",
            "get_payment",
            "get_deployment",
            "get_token",
            "legacy_queue_item",
            "legacy_queue_payer",
            "legacy_payment",
            "ready",
            "facilitator_supported",
            "stream_events",
            "stream_workflow_events",
        ];
        for id in named {
            assert!(ids.contains(&id), "{id} is not an operation of the spec");
            assert!(!rate_classes(id).is_empty() || is_stream(id));
        }
    }
}
