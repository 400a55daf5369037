//! `mint`: one token id minted to one recipient.
//!
//! `pending -> processing -> sent -> confirmed`, or `failed` / `cancelled`. A mint waits parked
//! in `pending` until the batcher takes it into a `mint_batch` (one transaction creates the
//! batch and moves its mints to `processing`); from then on its batch moves it in the batch's
//! own checkpoints. Its own step only runs when an operator retries it, and puts it back in
//! the queue.
//!
//! The id written on chain is derived from the request's idempotency key, so however often a
//! mint is retried or re-sent, the contract mints it once (`batchMint` skips minted ids).
use alloy::primitives::{Address, B256, keccak256};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::priority;
use super::writes::{Plan, into_step};
use crate::chain::signer::address_key;
use crate::engine::client::request_hash;
use crate::engine::{
    Client, StartError, StartOptions, Started, StarterError, Step, StepCtx, StepError, Transition,
    Workflow,
};
use crate::store::{self, mints::MINT};

/// Most mints one request may ask for.
pub const MAX_QUANTITY: u32 = 100;

/// Where a mint is: the store's enum, so its queries and this workflow spell a state one way.
pub use crate::store::mints::MintState;

/// Why a mint failed, for a client to act on (the human reason is its `error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MintFailure {
    /// The token's `maxSupply` leaves no room for it (`MaxSupplyExceeded()`), for good.
    MaxSupplyExceeded,
    /// It makes its batch revert for another reason.
    Reverts,
    /// Its batch was sent again and again without landing.
    BatchGaveUp,
}

/// How the mint was paid for (recorded; payments themselves are their own workflows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentType {
    X402,
    Gasless,
    Custom,
    #[default]
    None,
}

/// A mint's checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintData {
    pub payer: Address,
    pub recipient: Address,
    pub token: Address,
    /// The `bytes32` id the contract records as minted.
    pub onchain_id: B256,
    pub payment_type: PaymentType,
    /// The batch that carries it, once taken.
    #[serde(default)]
    pub batch_id: Option<Uuid>,
    /// The batch transaction's hash once sent (the winning one once confirmed).
    #[serde(default)]
    pub tx_hash: Option<String>,
    #[serde(default)]
    pub block: Option<i64>,
    /// Times an operator put it back in the queue.
    #[serde(default)]
    pub requeued: u32,
    /// Why it failed, once failed.
    #[serde(default)]
    pub failure: Option<MintFailure>,
}

/// The `mint` kind. Stateless: batches do the chain work.
pub struct Mint;

impl Workflow for Mint {
    type State = MintState;
    type Data = MintData;
    const KIND: &'static str = MINT;

    async fn step(
        &self,
        _ctx: &StepCtx,
        state: MintState,
        data: MintData,
    ) -> Result<Step<MintState, MintData>, StepError> {
        Ok(into_step(decide(state, data)))
    }
}

/// What a mint does next: it needs nothing from the chain (its batch does the chain work) and
/// writes nothing beside its own checkpoint.
pub fn decide(state: MintState, mut data: MintData) -> Plan<MintState, MintData> {
    match state {
        // A retried failed mint goes back in the queue; its on-chain id is unchanged, so it can
        // never be minted twice.
        MintState::Pending | MintState::Failed => {
            data.requeued += u32::from(state == MintState::Failed);
            data.batch_id = None;
            data.failure = None;
            Step::new(Transition::Wait(MintState::Pending), data)
                .with_detail(json!({ "requeued": true }))
        }
        // Its payment or its batch moves it on.
        MintState::AwaitingPayment | MintState::Processing | MintState::Sent => {
            Step::new(Transition::Wait(state), data)
        }
        MintState::Confirmed | MintState::Cancelled => Step::complete(state, data),
    }
}

/// The on-chain id for a mint's idempotency key.
pub fn onchain_id(key: &str) -> B256 {
    keccak256([b"mintflow/mint/".as_slice(), key.as_bytes()].concat())
}

/// The key prefix of the mints a payment pays for: the service's own keys.
const PAYMENT_KEY_PREFIX: &str = "payment:";

/// The idempotency key of the mints payment `payment` pays for.
pub fn payment_key(payment: uuid::Uuid) -> String {
    format!("{PAYMENT_KEY_PREFIX}{payment}")
}

/// Whether a client's idempotency key could stand for a key the service derives itself: a
/// payment's mints (`payment:<id>`), or another request's later mints (`<key>#<n>`). Such a
/// key would answer with someone else's mints, or take the key of mints not created yet.
pub fn is_reserved_key(key: &str) -> bool {
    key.contains('#') || key.starts_with(PAYMENT_KEY_PREFIX)
}

/// The idempotency key of mint `index` of a request with key `key`.
pub fn item_key(key: &str, index: u32) -> String {
    if index == 0 {
        key.to_owned()
    } else {
        format!("{key}#{index}")
    }
}

/// A validated request for `quantity` mints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MintRequest {
    pub payer: Address,
    pub recipient: Address,
    pub token: Address,
    pub quantity: u32,
    pub payment_type: PaymentType,
    /// The request's idempotency key (given, or a fresh UUID).
    pub key: String,
    /// The payment this mint belongs to, if any: its mints wait in `awaiting_payment` until
    /// it confirms.
    pub parent_id: Option<Uuid>,
    /// Its place in the batcher's order (see `priority`), already admitted for the caller.
    pub priority: i16,
}

impl MintRequest {
    /// What the idempotency check compares: the request's meaning, whichever API shape
    /// carried it.
    fn fingerprint(&self) -> Vec<u8> {
        let mut meaning = json!({
            "payer": self.payer,
            "recipient": self.recipient,
            "token": self.token,
            "quantity": self.quantity,
            "payment_type": self.payment_type,
            "parent_id": self.parent_id,
        });
        // Only when asked for, so requests stored before mints had a priority keep their
        // fingerprint.
        if self.priority != priority::DEFAULT {
            meaning["priority"] = self.priority.into();
        }
        serde_json::to_vec(&meaning).expect("serializes")
    }
}

/// The mints of an accepted request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enqueued {
    pub ids: Vec<Uuid>,
    /// The key was used before with the same request: these are the first request's mints.
    pub existing: bool,
}

/// Queues the request's mints, all in one transaction, committed before this returns.
pub async fn enqueue(client: &Client, req: &MintRequest) -> Result<Enqueued, StarterError> {
    if req.quantity <= 1 {
        let (data, opts) = mint_row(req, 0);
        let started = client
            .start::<Mint>(MintState::Pending, &data, opts)
            .await?;
        return Ok(Enqueued {
            ids: vec![started.id()],
            existing: matches!(started, Started::Existing(_)),
        });
    }
    let txn = store::begin_write(client.db()).await?;
    let enqueued = start_in(client, &txn, req).await?;
    if enqueued.existing {
        txn.rollback().await?;
    } else {
        txn.commit().await?;
    }
    Ok(enqueued)
}

/// Creates the request's mints inside the caller's transaction: in `pending`, or in
/// `awaiting_payment` when they belong to a payment (`parent_id`). When the key was used
/// before, nothing is written and the first request's mints are returned (`existing`): the
/// caller then rolls its transaction back.
pub async fn start_in<C: ConnectionTrait>(
    client: &Client,
    conn: &C,
    req: &MintRequest,
) -> Result<Enqueued, StartError> {
    let initial = match req.parent_id {
        Some(_) => MintState::AwaitingPayment,
        None => MintState::Pending,
    };
    let mut ids = Vec::with_capacity(req.quantity as usize);
    for index in 0..req.quantity.max(1) {
        let (data, opts) = mint_row(req, index);
        match client
            .start_in::<Mint, _>(conn, initial, &data, opts)
            .await?
        {
            Started::Created(id) => ids.push(id),
            // The whole request was accepted before (its mints commit together).
            Started::Existing(_) => {
                let keys: Vec<String> = (0..req.quantity).map(|i| item_key(&req.key, i)).collect();
                let mut found = store::mints::find_by_keys(client.db(), MINT, &keys).await?;
                found.sort_by_key(|m| m.id);
                return Ok(Enqueued {
                    ids: found.into_iter().map(|m| m.id).collect(),
                    existing: true,
                });
            }
        }
    }
    Ok(Enqueued {
        ids,
        existing: false,
    })
}

/// The checkpoint and row attributes of mint `index` of `req`.
fn mint_row(req: &MintRequest, index: u32) -> (MintData, StartOptions) {
    let key = item_key(&req.key, index);
    let id = onchain_id(&key);
    new_mint(req, key, id)
}

/// The checkpoint and row attributes of one mint of `req` under idempotency key `key`, written
/// on chain as `onchain_id`. Requests derive the id from the key (`mint_row`); an import gives
/// the id another system already used, so the contract refuses to mint it twice.
pub fn new_mint(req: &MintRequest, key: String, onchain_id: B256) -> (MintData, StartOptions) {
    let data = MintData {
        payer: req.payer,
        recipient: req.recipient,
        token: req.token,
        onchain_id,
        payment_type: req.payment_type,
        batch_id: None,
        tx_hash: None,
        block: None,
        requeued: 0,
        failure: None,
    };
    let opts = StartOptions {
        idempotency_key: Some(key),
        request_body: Some(request_hash(&req.fingerprint()).into_bytes()),
        waiting: true,
        parent_id: req.parent_id,
        payer: Some(address_key(req.payer)),
        token: Some(address_key(req.token)),
        priority: req.priority,
        ..Default::default()
    };
    (data, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> MintData {
        MintData {
            payer: Address::repeat_byte(1),
            recipient: Address::repeat_byte(2),
            token: Address::repeat_byte(3),
            onchain_id: onchain_id("k"),
            payment_type: PaymentType::None,
            batch_id: Some(Uuid::from_u128(9)),
            tx_hash: None,
            block: None,
            requeued: 0,
            failure: Some(MintFailure::Reverts),
        }
    }

    #[test]
    fn every_state() {
        use MintState::*;
        let queued = |requeued| MintData {
            batch_id: None,
            failure: None,
            requeued,
            ..data()
        };
        let requeue = |requeued| {
            Step::new(Transition::Wait(Pending), queued(requeued))
                .with_detail(json!({ "requeued": true }))
        };
        let table = [
            (
                "queued, or retried with nothing to undo",
                Pending,
                requeue(0),
            ),
            (
                "a failed mint an operator retried: back in the queue",
                Failed,
                requeue(1),
            ),
            (
                "its payment moves it on",
                AwaitingPayment,
                Step::new(Transition::Wait(AwaitingPayment), data()),
            ),
            (
                "its batch moves it on",
                Processing,
                Step::new(Transition::Wait(Processing), data()),
            ),
            (
                "its batch moves it on",
                Sent,
                Step::new(Transition::Wait(Sent), data()),
            ),
            ("minted", Confirmed, Step::complete(Confirmed, data())),
            ("cancelled", Cancelled, Step::complete(Cancelled, data())),
        ];
        for (case, state, expected) in table {
            let plan = decide(state, data());
            assert!(
                plan.effects.is_empty(),
                "{case}: a mint writes nothing else"
            );
            assert_eq!(plan, expected, "{case}");
        }
    }

    #[test]
    fn onchain_ids_follow_the_key() {
        assert_eq!(onchain_id("a"), onchain_id("a"));
        assert_ne!(onchain_id("a"), onchain_id("b"));
        assert_ne!(onchain_id(&item_key("a", 0)), onchain_id(&item_key("a", 1)));
        assert_eq!(item_key("k", 0), "k");
        assert_eq!(item_key("k", 2), "k#2");
    }

    #[test]
    fn client_keys_cannot_name_internal_ones() {
        let payment = uuid::Uuid::now_v7();
        assert!(is_reserved_key(&payment_key(payment)));
        assert!(is_reserved_key(&item_key("order-17", 1)));
        assert!(!is_reserved_key("order-17"));
        assert!(!is_reserved_key("payments:are-fine"));
    }
}
