pub mod api;
pub mod bench;
pub mod cli;
pub mod config;
pub mod engine;
pub mod service;
pub mod store;
pub mod workflows;
