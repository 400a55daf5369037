//! What the API may show of a payment's checkpoint. A signed authorization is a bearer
//! instrument: whoever reads it can submit it and race our settlement, and until the payment
//! confirms that would charge the payer for nothing. So the authorization (nonce, validity and
//! signature) is shown only once the payment is confirmed, when it is spent and public in the
//! chain's calldata anyway. A failed or cancelled payment keeps it hidden too: an operator may
//! retry it while the authorization is still valid.
use serde_json::Value as Json;

use super::{PAYMENT, PaymentState};
use crate::engine::workflow::state_name;

/// `data` of a workflow of `kind` in `state`, as the API shows it.
pub fn checkpoint(kind: &str, state: &str, mut data: Json) -> Json {
    if kind == PAYMENT
        && state != state_name(&PaymentState::Confirmed)
        && let Some(fields) = data.as_object_mut()
    {
        fields.remove("authorization");
    }
    data
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn payment() -> Json {
        json!({ "kind": "gasless", "authorization": { "signature": "0x01" }, "tx_hash": null })
    }

    #[test]
    fn an_unconfirmed_payment_shows_no_authorization() {
        for state in ["pending", "processing", "sent", "checking", "failed"] {
            let shown = checkpoint(PAYMENT, state, payment());
            assert_eq!(
                shown,
                json!({ "kind": "gasless", "tx_hash": null }),
                "{state}"
            );
        }
    }

    #[test]
    fn a_confirmed_payment_and_other_kinds_show_everything() {
        assert_eq!(checkpoint(PAYMENT, "confirmed", payment()), payment());
        assert_eq!(checkpoint("mint", "pending", payment()), payment());
    }
}
