//! The names of workflow kinds, their states and history events, as the API document lists
//! them.
//!
//! Views and events carry them as the strings the engine stores; the document declares each
//! as an enum with every value's meaning, and filters accept only those values, so a typo fails
//! instead of matching nothing.
use std::sync::LazyLock;

use poem_openapi::registry::MetaSchema;
use serde_json::Value;

use super::declared::{Declared, Shape};

/// Every kind, with what it is.
pub const KINDS: &[(&str, &str)] = &[
    ("mint", "one token mint for one recipient"),
    (
        "mint_batch",
        "one `batchMint` transaction carrying many mints",
    ),
    ("payment", "one USDC payment and its settlement"),
    ("deployment", "one token contract deployment"),
    (
        "probe",
        "the benchmark's workflow of three no-op steps; never created through the API",
    ),
];

/// Every state of every kind, with the kinds that have it.
pub const STATES: &[(&str, &str)] = &[
    (
        "awaiting_payment",
        "mint, deployment: its payment is not confirmed yet",
    ),
    (
        "pending",
        "mint: queued for a batch; mint_batch: being simulated and submitted; payment, \
         deployment: accepted, being checked",
    ),
    (
        "processing",
        "mint: taken into a batch being prepared; payment, deployment: being submitted",
    ),
    (
        "sent",
        "its transaction is with the sender, waiting to be final",
    ),
    (
        "checking",
        "payment: its settlement failed; whether the authorization paid through another \
         transaction is being checked",
    ),
    (
        "confirmed",
        "its transaction is final (`confirmations` deep)",
    ),
    ("failed", "ended without its effect; `error` says why"),
    (
        "cancelled",
        "mint, deployment: cancelled by an operator or its payment",
    ),
    ("first", "probe (benchmark): before its first step"),
    ("second", "probe (benchmark): before its second step"),
    ("third", "probe (benchmark): before its third step"),
    ("done", "probe (benchmark): finished"),
];

/// Every history event.
pub const EVENTS: &[(&str, &str)] = &[
    ("created", "the workflow was created"),
    ("step", "a step ran and moved it on"),
    ("sleep", "a step ran and it sleeps until a time"),
    ("wait", "a step ran and it waits to be woken"),
    ("woken", "something it waited for happened"),
    ("retry_scheduled", "a step failed and is retried later"),
    (
        "deferred",
        "a step waits for the signer's gas spend budget; no attempt counted",
    ),
    ("completed", "it ended with its effect"),
    ("failed", "it ended without its effect"),
    (
        "takeover",
        "a worker took it over from one whose lease had expired",
    ),
    ("retried", "an operator retried it"),
    (
        "cancelled",
        "an operator, its parent or its batch cancelled it",
    ),
    (
        "needs_migration",
        "its stored data is from a version this process cannot read",
    ),
    (
        "parent_ended",
        "its parent failed or was cancelled, so it was cancelled",
    ),
    (
        "parent_retried",
        "its parent was retried, so it was put back",
    ),
    ("batched", "mint: taken into a batch"),
    ("sent", "mint: its batch's transaction was sent"),
    ("requeued", "mint: put back in the queue by its batch"),
    ("confirmed", "mint: its batch's transaction is final"),
    ("paid", "mint, deployment: its payment is confirmed"),
    ("reprioritized", "mint: an admin changed its priority"),
    (
        "imported",
        "created by `mintflow import-legacy` from the old server's records",
    ),
];

/// The description of an enum: what it is, then each value and its meaning.
fn describe(what: &str, values: &[(&str, &str)]) -> String {
    let meanings: Vec<String> = values
        .iter()
        .map(|(name, meaning)| format!("- `{name}`: {meaning}"))
        .collect();
    format!("{what}:\n{}", meanings.join("\n"))
}

fn enum_of(values: &[(&str, &str)], description: &'static str) -> MetaSchema {
    MetaSchema {
        description: Some(description),
        enum_items: values
            .iter()
            .map(|(name, _)| Value::String((*name).to_owned()))
            .collect(),
        ..MetaSchema::new("string")
    }
}

static KINDS_DOC: LazyLock<String> = LazyLock::new(|| describe("The kind of workflow", KINDS));
static STATES_DOC: LazyLock<String> = LazyLock::new(|| describe("A kind's own state", STATES));
static EVENTS_DOC: LazyLock<String> = LazyLock::new(|| describe("What happened", EVENTS));

/// A workflow kind.
pub struct KindShape;

impl Shape for KindShape {
    const NAME: &'static str = "declared_kind";
    const COMPONENT: Option<&'static str> = Some("WorkflowKind");

    fn schema() -> MetaSchema {
        enum_of(KINDS, KINDS_DOC.as_str())
    }
}

/// A kind's state.
pub struct StateShape;

impl Shape for StateShape {
    const NAME: &'static str = "declared_state";
    const COMPONENT: Option<&'static str> = Some("WorkflowState");

    fn schema() -> MetaSchema {
        enum_of(STATES, STATES_DOC.as_str())
    }
}

/// A history event.
pub struct EventShape;

impl Shape for EventShape {
    const NAME: &'static str = "declared_event";
    const COMPONENT: Option<&'static str> = Some("HistoryEventName");

    fn schema() -> MetaSchema {
        enum_of(EVENTS, EVENTS_DOC.as_str())
    }
}

/// Kinds separated by commas (`mint,payment`), or empty for all.
pub struct KindListShape;

static KIND_LIST_PATTERN: LazyLock<String> = LazyLock::new(|| {
    let one = KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join("|");
    format!("^(({one})(,({one}))*)?$")
});

impl Shape for KindListShape {
    const NAME: &'static str = "declared_kind_list";

    fn schema() -> MetaSchema {
        MetaSchema {
            pattern: Some(KIND_LIST_PATTERN.clone()),
            ..MetaSchema::new("string")
        }
    }
}

/// A kind, as a view shows it or a filter takes it.
pub type KindName = Declared<KindShape>;
/// A state, as a view shows it or a filter takes it.
pub type StateName = Declared<StateShape>;
/// A history event, as a view shows it.
pub type EventName = Declared<EventShape>;

/// Checks that every name in a filter is one the document lists; says which is not.
pub fn check_filter<'a>(
    field: &str,
    known: &[(&str, &str)],
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), String> {
    match names
        .into_iter()
        .find(|name| !known.iter().any(|(k, _)| k == name))
    {
        Some(name) => Err(format!(
            "`{field}` holds `{name}`, which is not one of the values the API document lists"
        )),
        None => Ok(()),
    }
}
