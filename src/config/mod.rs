//! The TOML configuration: schema, defaults (in one place: the `Default` impls), validation with
//! errors that name the file, line, key, what was expected and what was found. Unknown keys are
//! errors. The binary, not the library, decides which file to read.
//!
//! `schema`: every key and its default. `choices`: the closed choices as enums (a wrong word is
//! refused while parsing); `load`: reading, the board profile laid under, relative paths,
//! atomic writes; `validate`: ranges and cross-field rules; `changes`: what a change rebuilds.

mod changes;
pub mod choices;
mod load;
#[cfg(test)]
mod tests;
mod schema;
mod validate;

pub use changes::Changes;
pub use choices::{AudioSource, DisplaySink, Encoder, EmotionSpec, LabelPosition};
pub use load::write_atomic;
pub use schema::*;
