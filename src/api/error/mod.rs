//! One error shape for every failure: `{code, message}` with the right status. Handlers build
//! `ApiError`s and return them as `Errors<G>`, where the group `G` lists the statuses their
//! operation can answer with: the document declares those and no others. Everything poem
//! itself rejects (unparsable parameters or bodies, unknown routes, oversized bodies) is
//! converted by `to_json_error`.
//!
//! Each status has its own body schema whose `code` is an enum of every code the server
//! sends with that status (tests/error_codes.rs checks the lists against the source).
//!
//! 405 is declared nowhere: the router answers it (with `Allow`) for a method a path does not
//! have, which is an operation the document does not list, so there is no operation to hang it
//! on.
mod api_error;
mod bodies;
mod groups;
mod outside;

pub use api_error::{ApiError, parse_uuid};
pub use bodies::*;
pub(crate) use groups::errors_from;
pub use groups::*;
pub use outside::{
    BodyLimit, BodyLimitEndpoint, ErrorBody, refuse_unreadable_headers, to_json_error,
};
