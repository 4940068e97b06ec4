//! Real execution on a real Docker engine.

mod local;
pub mod support;
mod trial;
