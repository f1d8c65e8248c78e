//! Privet: a privacy-policy decision engine over Cedar.
//!
//! This facade re-exports [`privet_core`]; see its documentation for the principal types.
#![forbid(unsafe_code)]
pub use privet_core::*;
