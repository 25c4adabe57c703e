//! The invisible watermark in every output frame: a device id and a time, readable back from an
//! H.264 file or stream, also after scaling to half size.
//!
//! **Payload**: 32-bit device id + 32-bit time (whole minutes since 1970, UTC) + CRC-16/CCITT =
//! 80 bits. The stamp updates the time only every `WINDOW` frames, so a file read from its first
//! frame never has a window that mixes two payloads.
//!
//! Files: `payload` (the bits, the cell layout), `embed` (the stamp's side), `read` (the
//! detector `speakface verify` feeds).
//!
//! **Embedding**: the frame is divided into a 64×64 grid of cells (8×8 px at 512×512). Each cell
//! carries one payload bit (a fixed pseudo-random assignment, 51 cells per bit, each with its
//! own pseudo-random sign), as a smooth ±1 bump (cosine interpolation between cell centres, so
//! there are no block edges). The bump pattern is added to the luma (the same amount to R, G and
//! B) with amplitude `strength × sin(2π·n / 50)`, n = frame number: the pattern fades in and out
//! over two seconds at 25 fps. That slow temporal modulation is what makes it readable: a
//! portrait is nearly still, so the picture itself would hide a still pattern (its own texture
//! at the cell scale is 3–7 grey levels), but it cannot look like something that oscillates in
//! time; correlating with the sine cancels it. At the default strength (2 grey levels) the
//! frame's PSNR against the unmarked frame is about 47 dB.
//!
//! **Reading**: each frame's luma is averaged per cell (any frame size: the grid is relative),
//! each cell minus the mean of its 8 neighbours (removes shading), signed by the cell's key, and
//! correlated over a window of frames with sin and cos of the 50-frame period (the reader does
//! not know where the period starts: a stream may be joined at any frame), about the window's
//! mean. Each cell's vote is capped at 3× the median cell's: where the face moves (the mouth
//! opening is 100 grey levels against the mark's 2) a few cells would otherwise outvote the
//! rest. The in-phase axis is
//! the principal direction of the 80 per-bit sums; bits are read from it (both polarities are
//! tried, and the 4 least reliable bits flipped singly and in pairs), and a window counts only
//! if the CRC matches *and* the signal stands clearly above the quadrature noise (`MIN_SNR`).

pub mod embed;
pub mod payload;
pub mod read;
#[cfg(test)]
mod tests;

pub use embed::Embedder;
pub use payload::{Payload, BITS, GRID, MIN_SNR, PERIOD, WINDOW};
pub use read::{Detector, WindowRead};
