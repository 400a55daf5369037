//! Starting workflows and acting on them, from the API, the CLI or another workflow. Needs no
//! running worker: with `serve --role api` the workers of other processes are woken by NOTIFY.
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::Waker;
use super::starter::{self, StartRequest};
use super::workflow::{Workflow, state_name};
use crate::store::workflows::{self as rows, ActionOutcome, Actor, Inserted, NewWorkflow};
use crate::store::{self, entity::workflow, time::Clock};

/// Optional attributes of a new workflow.
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    /// Same key + same request -> the first workflow; same key + another request -> conflict.
    pub idempotency_key: Option<String>,
    /// The request the key came with; its SHA-256 is stored and compared.
    pub request_body: Option<Vec<u8>>,
    /// Higher runs first.
    pub priority: i16,
    /// First due at this unix ms instead of now.
    pub run_at_ms: Option<i64>,
    /// Created parked until `Client::wake`.
    pub waiting: bool,
    pub parent_id: Option<Uuid>,
    pub payer: Option<String>,
    pub token: Option<String>,
    pub tx_hash: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Started {
    Created(Uuid),
    /// The idempotency key was used before with the same request.
    Existing(Uuid),
}

impl Started {
    pub fn id(self) -> Uuid {
        match self {
            Started::Created(id) | Started::Existing(id) => id,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("idempotency key already used with a different request (workflow {existing})")]
    IdempotencyConflict { existing: Uuid },
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Why `Client::start` created no workflow: what `start_in` can answer, or the process's group
/// insert task is gone (it runs for as long as a `Client` exists, so only a panic there ends it).
#[derive(Debug, thiserror::Error)]
pub enum StarterError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("the workflow starter task stopped: this process can create no workflow")]
    Stopped,
}

impl From<DbErr> for StarterError {
    fn from(e: DbErr) -> Self {
        StarterError::Start(e.into())
    }
}

#[derive(Clone, Debug)]
pub struct Client {
    db: DatabaseConnection,
    waker: Waker,
    /// The time new workflows and operator actions are stamped with.
    clock: Clock,
    /// The process's group insert task (see `starter`).
    starter: mpsc::Sender<StartRequest>,
}

impl Client {
    /// A client on the system clock with its own group insert task (call it inside a tokio
    /// runtime).
    pub fn new(db: DatabaseConnection, waker: Waker) -> Self {
        Client::with_clock(db, waker, Clock::system())
    }

    /// `new` with the clock its workflows and actions are stamped by (the process's one).
    pub fn with_clock(db: DatabaseConnection, waker: Waker, clock: Clock) -> Self {
        let (starter, requests) = mpsc::channel(4096);
        tokio::spawn(starter::run(db.clone(), clock.clone(), requests));
        Client {
            db,
            waker,
            clock,
            starter,
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Creates a workflow of kind `W` in `initial` state, committed before this returns.
    /// Concurrent calls are inserted together (one statement, one commit).
    pub async fn start<W: Workflow>(
        &self,
        initial: W::State,
        data: &W::Data,
        opts: StartOptions,
    ) -> Result<Started, StarterError> {
        let (reply, answer) = oneshot::channel();
        let request = StartRequest {
            workflow: new_workflow::<W>(initial, data, opts),
            reply,
        };
        self.starter
            .send(request)
            .await
            .map_err(|_| StarterError::Stopped)?;
        let inserted = answer.await.map_err(|_| StarterError::Stopped)??;
        self.waker.wake();
        Ok(started(inserted)?)
    }

    /// Creates a workflow inside the caller's transaction (a parent creating children, a batch
    /// created with the rows it takes). Call `wake_local` after the commit.
    pub async fn start_in<W: Workflow, C: ConnectionTrait>(
        &self,
        conn: &C,
        initial: W::State,
        data: &W::Data,
        opts: StartOptions,
    ) -> Result<Started, StartError> {
        let new = new_workflow::<W>(initial, data, opts);
        started(rows::insert_workflow(conn, &new, self.clock.now_ms()).await?)
    }

    /// Wakes this process's workers (after a caller's own transaction committed new work).
    pub fn wake_local(&self) {
        self.waker.wake();
    }

    /// Makes a waiting workflow due now.
    pub async fn wake(&self, id: Uuid, reason: &str) -> Result<bool, DbErr> {
        // One transaction: the wake-up and its history event become visible together, so a
        // worker cannot run (and record) the next step before the `woken` event.
        let txn = store::begin_write(&self.db).await?;
        let woken = rows::wake(&txn, id, reason, self.clock.now_ms()).await?;
        txn.commit().await?;
        if woken {
            self.waker.wake();
        }
        Ok(woken)
    }

    pub async fn retry(&self, id: Uuid, who: &Actor) -> Result<ActionOutcome, DbErr> {
        let out = rows::retry(&self.db, id, who, self.clock.now_ms()).await?;
        self.waker.wake();
        Ok(out)
    }

    pub async fn cancel(&self, id: Uuid, who: &Actor) -> Result<ActionOutcome, DbErr> {
        rows::cancel(&self.db, id, who, self.clock.now_ms()).await
    }

    pub async fn get(&self, id: Uuid) -> Result<Option<workflow::Model>, DbErr> {
        rows::find(&self.db, id).await
    }
}

/// The row for a new workflow of kind `W`.
fn new_workflow<W: Workflow>(initial: W::State, data: &W::Data, opts: StartOptions) -> NewWorkflow {
    NewWorkflow {
        id: Uuid::now_v7(),
        kind: W::KIND.to_owned(),
        state: state_name(&initial),
        data: serde_json::to_value(data).expect("checkpoint data serializes"),
        schema_version: W::SCHEMA_VERSION,
        priority: opts.priority,
        run_at_ms: opts.run_at_ms,
        waiting: opts.waiting,
        request_hash: opts.request_body.as_deref().map(request_hash),
        idempotency_key: opts.idempotency_key,
        parent_id: opts.parent_id,
        payer: opts.payer,
        token: opts.token,
        tx_hash: opts.tx_hash,
    }
}

fn started(inserted: Inserted) -> Result<Started, StartError> {
    match inserted {
        Inserted::Created(id) => Ok(Started::Created(id)),
        Inserted::Existing {
            id,
            same_request: true,
        } => Ok(Started::Existing(id)),
        Inserted::Existing {
            id,
            same_request: false,
        } => Err(StartError::IdempotencyConflict { existing: id }),
    }
}

/// Hex SHA-256 of a request body: what idempotency compares.
pub fn request_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}
