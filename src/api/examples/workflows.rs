//! Examples of workflows, their events, operator actions and the audit log.
use super::{BATCH_ID, BATCH_TX, MINT_ID, MINT_ID_2, PAYER, TOKEN, at, id};
use crate::api::audit::AuditEntry;
use crate::api::dead_letters::{BulkRetry, BulkRetryOutcome, Skipped};
use crate::api::workflows::Workflow;
use crate::engine::outbox::event::{TransitionEvent, WorkflowStatus};
use poem_openapi::types::Example;
use serde_json::json;

impl Example for Workflow {
    fn example() -> Self {
        Workflow {
            id: id(MINT_ID),
            kind: "mint".into(),
            status: WorkflowStatus::Completed,
            state: "confirmed".into(),
            data: json!({
                "payer": PAYER.to_lowercase(),
                "recipient": PAYER.to_lowercase(),
                "token": TOKEN,
                "batch_id": BATCH_ID,
                "tx_hash": BATCH_TX,
                "block": 42,
            }),
            schema_version: 1,
            priority: 0,
            attempt: 0,
            version: 4,
            run_at: None,
            lease_owner: None,
            lease_until: None,
            idempotency_key: Some("0193a1c0-2f4e-7c8a-9d1b-5e6f7a8b9c0d".into()),
            parent_id: None,
            payer: Some(PAYER.to_lowercase()),
            token: Some(TOKEN.into()),
            tx_hash: Some(BATCH_TX.into()),
            last_error: None,
            created_at: at("2026-12-01T16:20:00.125Z"),
            updated_at: at("2026-12-01T16:20:03.480Z"),
            finished_at: Some(at("2026-12-01T16:20:03.480Z")),
        }
    }
}

impl Example for TransitionEvent {
    fn example() -> Self {
        TransitionEvent {
            position: 1042,
            event_id: 5310,
            workflow_id: id(MINT_ID),
            kind: "mint".into(),
            event: "completed".into(),
            from_state: Some("sent".into()).into(),
            to_state: "confirmed".into(),
            status: WorkflowStatus::Completed,
            attempt: 0,
            worker: Some("host-4242-7f3a".into()),
            detail: Some(json!({ "tx_hash": BATCH_TX, "block": 42 })),
            at: at("2026-12-01T16:20:03.480Z"),
        }
    }
}

impl Example for BulkRetry {
    fn example() -> Self {
        BulkRetry {
            ids: vec![id(MINT_ID), id(MINT_ID_2)],
            reason: Some("the node is back".into()),
        }
    }
}

impl Example for BulkRetryOutcome {
    fn example() -> Self {
        BulkRetryOutcome {
            retried: vec![id(MINT_ID)],
            skipped: vec![Skipped {
                id: id(MINT_ID_2),
                reason: "wrong_status: completed".into(),
            }],
        }
    }
}

impl Example for AuditEntry {
    fn example() -> Self {
        AuditEntry {
            id: 17,
            at: at("2026-12-01T16:16:00Z"),
            actor: "admin".into(),
            action: "settings.update".into(),
            target: "max_batch_size".into(),
            detail: Some(json!({ "from": 100, "to": 200 })),
        }
    }
}
