//! Responsible use: what every output carries and which portraits may be animated.
//!
//! - `stamp`: [`Stamp`], the visible label and the invisible watermark on every frame, before any
//!   output sees it; [`device_id`], the 32-bit id the watermark carries; [`tags`], the provenance
//!   text written into recorded MP4 files.
//! - `watermark`: the watermark itself (payload, embedding, reading).
//! - `consent`: [`Allowlist`], the portrait consent check.
//! - `verify`: `speakface verify`, reading the watermark and tags back from a file or stream.

pub mod consent;
pub mod stamp;
pub mod verify;
pub mod watermark;

pub use consent::{check_consent, shipped_allowlist, today, Allowlist, Consent, ConsentEntry};
pub use stamp::{device_id, draw_label, label_box, tags, Stamp, Tags};
