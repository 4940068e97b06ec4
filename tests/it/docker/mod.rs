//! Real execution on a real Docker engine.

mod doctor;
mod hostile;
mod hub;
mod local;
mod node;
mod non_root;
mod ranking;
mod real;
mod simulate;
pub mod support;
mod trial;
mod validator;
