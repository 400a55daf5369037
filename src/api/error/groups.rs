//! `Errors<G>`: what an operation returns, an `ApiError` whose status its group `G` declares,
//! and the groups of the routes.
use std::marker::PhantomData;

use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::registry::{MetaResponses, Registry};

use super::ApiError;

/// The statuses a family of operations can answer with an error: what a handler returns,
/// and what its extractors (credentials), its parameters and body (poem's 400, 413, 415) and
/// the edge (rates, shares, the request timeout) answer before it runs.
pub trait Group: Send + Sync + 'static {
    const STATUSES: &'static [u16];
    /// Statuses the operation's success type documents itself (the x402 402, with
    /// `PAYMENT-REQUIRED`): answered, but not declared a second time.
    const DOCUMENTED_BY_SUCCESS: &'static [u16] = &[];
}

/// The errors of an operation of group `G`: an `ApiError` whose status `G` declares.
#[derive(Debug)]
pub struct Errors<G: Group>(ApiError, PhantomData<G>);

impl<G: Group> From<ApiError> for Errors<G> {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        if G::STATUSES.contains(&status) || G::DOCUMENTED_BY_SUCCESS.contains(&status) {
            return Errors(e, PhantomData);
        }
        // A status the document does not promise for this operation would lie to clients;
        // a 500 at least says the server is at fault. Debug runs (every test) stop here.
        tracing::error!(
            status,
            error = ?e,
            group = std::any::type_name::<G>(),
            "an operation produced an error its group does not declare; answering 500"
        );
        debug_assert!(
            false,
            "{status} is not declared by {}: {e:?}",
            std::any::type_name::<G>()
        );
        Errors(ApiError::internal(), PhantomData)
    }
}

/// Lets a handler `?` an error that has an `ApiError` conversion: it becomes that `ApiError`,
/// then the operation's `Errors<G>` (each use case's error enum is listed where it is mapped).
macro_rules! errors_from {
    ($($error:ty),* $(,)?) => {$(
        impl<G: $crate::api::error::Group> From<$error> for $crate::api::error::Errors<G> {
            fn from(e: $error) -> Self {
                $crate::api::error::ApiError::from(e).into()
            }
        }
    )*};
}
pub(crate) use errors_from;

// Database and snapshot failures reach handlers directly: 500, or 503 `read_timeout`.
errors_from!(sea_orm::DbErr, crate::ops::snapshot::SnapshotError);

impl<G: Group> IntoResponse for Errors<G> {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl<G: Group> From<Errors<G>> for poem::Error {
    fn from(e: Errors<G>) -> Self {
        poem::Error::from_response(e.into_response())
    }
}

impl<G: Group> ApiResponse for Errors<G> {
    fn meta() -> MetaResponses {
        let mut meta = ApiError::meta();
        meta.responses
            .retain(|r| r.status.is_some_and(|s| G::STATUSES.contains(&s)));
        meta
    }

    fn register(registry: &mut Registry) {
        ApiError::register(registry);
    }
}

/// Declares groups: `Name = [statuses]` and, for x402 operations, `documented [402]`.
macro_rules! groups {
    ($($(#[$doc:meta])* $name:ident = [$($status:literal),*] $(documented [$($own:literal),*])?;)*) => {
        $(
            $(#[$doc])*
            pub enum $name {}

            impl Group for $name {
                const STATUSES: &'static [u16] = &[$($status),*];
                $(const DOCUMENTED_BY_SUCCESS: &'static [u16] = &[$($own),*];)?
            }
        )*
    };
}

// Every operation can answer 500, and 503 when the edge's request timeout runs out (or the
// database read pool times out). 401 and 429 (`too_many_auth_failures`) come with any
// credentials; 403 with a scope; 400 with parameters; 400, 413 and 415 with a JSON body;
// 429 with an edge rate class (src/api/edge/policy.rs).
groups! {
    /// Public reads by id, under the public read rate.
    PublicRead = [400, 404, 429, 500, 503];
    /// Reads with a key and no parameter.
    KeyedRead = [401, 403, 429, 500, 503];
    /// What the key itself is: any key, no scope.
    AnyKeyRead = [401, 429, 500, 503];
    /// Lists with a key and filters.
    KeyedList = [400, 401, 403, 429, 500, 503];
    /// Reads and deletes by id with a key.
    KeyedById = [400, 401, 403, 404, 429, 500, 503];
    /// Operations by id that the resource's state can refuse (actions, a workflow's stream).
    KeyedByIdInState = [400, 401, 403, 404, 409, 429, 500, 503];
    /// The event stream: a filter, a place to start that may be forgotten, a share of streams.
    Stream = [400, 401, 403, 409, 429, 500, 503];
    /// Writes with a key and a JSON body.
    KeyedBody = [400, 401, 403, 413, 415, 429, 500, 503];
    /// Writes by id with a key and a JSON body.
    KeyedBodyById = [400, 401, 403, 404, 413, 415, 429, 500, 503];
    /// Creations with a key and a JSON body whose values are checked.
    KeyedCreate = [400, 401, 403, 413, 415, 422, 429, 500, 503];
    /// Creations with a key and a checked JSON body, refused when the resource exists already.
    KeyedCreateUnique = [400, 401, 403, 409, 413, 415, 422, 429, 500, 503];
    /// Updates by id with a key and a JSON body whose values are checked.
    KeyedUpdate = [400, 401, 403, 404, 413, 415, 422, 429, 500, 503];
    /// Updates by id with a key and a checked JSON body that the resource's state can refuse.
    KeyedUpdateInState = [400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503];
    /// Mints with a key: a token that may be unknown, an idempotency key, the queue's depth.
    MintIntake = [400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503];
    /// Payments (a transfer or an authorization), public and under the payment rate.
    PaidWrite = [400, 402, 404, 409, 413, 415, 422, 429, 500, 503];
    /// Deployments, public, paid by an authorization and under the deployment rate.
    PaidDeploy = [400, 402, 409, 413, 415, 422, 429, 500, 503];
    /// x402 mints: their 402 is the success type's, with `PAYMENT-REQUIRED`.
    X402 = [400, 404, 409, 413, 415, 422, 429, 500, 503] documented [402];
    /// x402 deployments.
    X402Deploy = [400, 409, 413, 415, 422, 429, 500, 503] documented [402];
    /// The old `POST /mint`: an x402 mint that a `mint` key may call for free.
    KeyedX402 = [400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503] documented [402];
    /// The x402 facilitator's `/supported`: public, no parameters, under the public read rate.
    FacilitatorInfo = [429, 500, 503];
    /// The x402 facilitator's `/verify` and `/settle`: a `facilitate` key and a JSON body; a
    /// refused payment is their 200's answer.
    FacilitatorCalls = [400, 401, 403, 413, 415, 429, 500, 503];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses<G: Group>() -> Vec<u16> {
        Errors::<G>::meta()
            .responses
            .iter()
            .filter_map(|r| r.status)
            .collect()
    }

    #[test]
    fn a_group_declares_its_statuses_only() {
        assert_eq!(statuses::<PublicRead>(), [400, 404, 429, 500, 503]);
        // The x402 402 is its success type's: not declared twice.
        assert!(!statuses::<X402>().contains(&402));
        let paid: Errors<X402> = ApiError::payment_required("payment_required", "pay").into();
        assert_eq!(paid.0.status(), 402);
        let missing: Errors<PublicRead> = ApiError::not_found("mint_not_found", "no").into();
        assert_eq!(missing.0.status(), 404);
    }

    /// Every test runs with debug assertions: an operation that reaches a status its group does
    /// not declare fails the test that reached it (a release build answers 500 and logs).
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "401 is not declared")]
    fn an_undeclared_status_stops_a_debug_run() {
        let _: Errors<PublicRead> = ApiError::unauthorized("missing_credentials", "who").into();
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "is not declared")]
    fn an_undeclared_code_stops_a_debug_run() {
        ApiError::bad_request("made_up", "no such code");
    }
}
