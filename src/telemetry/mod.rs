//! What every layer records under and how it hides secrets: metric names and the redaction of
//! database and node errors. A leaf: it imports nothing of mintflow's, so the engine and the
//! chain use it without depending on `ops`, which reads them.
pub mod names;
pub mod redact;
