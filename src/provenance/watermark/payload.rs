//! The watermark's payload (device id, minute, CRC) and the layout of its bits over the cells.

use std::f64::consts::PI;

/// Cells per side of the grid.
pub const GRID: usize = 64;
/// Payload bits: 32 device + 32 minutes + 16 CRC.
pub const BITS: usize = 80;
/// Frames per period of the temporal modulation.
pub const PERIOD: usize = 50;
/// A window is read only when the in-phase signal is this many times the quadrature noise.
pub const MIN_SNR: f64 = 3.0;
/// Least reliable bits the reader tries flipping (singly and in pairs).
pub(super) const CHASE: usize = 4;
/// Frames per reading window (4 s at 25 fps: two periods).
pub const WINDOW: usize = 2 * PERIOD;

/// What the watermark carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    pub device: u32,
    /// Minutes since 1970-01-01 00:00 UTC.
    pub minute: u32,
}

impl Payload {
    pub fn now(device: u32) -> Payload {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        Payload { device, minute: (secs / 60) as u32 }
    }

    /// The time as "YYYY-MM-DD HH:MM UTC".
    pub fn time_text(&self) -> String {
        let t = crate::util::time::utc_text(std::time::UNIX_EPOCH + std::time::Duration::from_secs(self.minute as u64 * 60));
        // utc_text gives "YYYY-MM-DDTHH:MM:SSZ".
        format!("{} {} UTC", &t[..10], &t[11..16])
    }

    pub(super) fn bits(&self) -> [bool; BITS] {
        let mut data = [0u8; 8];
        data[..4].copy_from_slice(&self.device.to_be_bytes());
        data[4..].copy_from_slice(&self.minute.to_be_bytes());
        let crc = crc16(&data);
        let mut out = [false; BITS];
        for i in 0..64 {
            out[i] = data[i / 8] & (0x80 >> (i % 8)) != 0;
        }
        for i in 0..16 {
            out[64 + i] = crc & (0x8000 >> i) != 0;
        }
        out
    }

    pub(super) fn from_bits(bits: &[bool; BITS]) -> Option<Payload> {
        let mut data = [0u8; 8];
        for i in 0..64 {
            if bits[i] {
                data[i / 8] |= 0x80 >> (i % 8);
            }
        }
        let mut crc = 0u16;
        for i in 0..16 {
            if bits[64 + i] {
                crc |= 0x8000 >> i;
            }
        }
        (crc16(&data) == crc).then(|| Payload {
            device: u32::from_be_bytes([data[0], data[1], data[2], data[3]]),
            minute: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
        })
    }
}

/// CRC-16/CCITT-FALSE.
pub(super) fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// The fixed cell → bit assignment and cell signs (the same on every device: the mark is for
/// anyone to check, not a secret).
pub(super) struct Layout {
    pub(super) bit_of: Vec<u8>,
    pub(super) key: Vec<i8>,
}

impl Layout {
    pub(super) fn new() -> Layout {
        let mut state = 0x5EA4_FACE_2026_u64;
        let mut next = move || {
            // splitmix64
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let n = GRID * GRID;
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let bit_of = order.iter().map(|&o| (o % BITS) as u8).collect();
        let key = (0..n).map(|_| if next() & 1 == 0 { 1 } else { -1 }).collect();
        Layout { bit_of, key }
    }
}

/// Interpolation weights from cell values to pixels along one axis: for pixel x, the two cells
/// around it and the weight of the second (cosine-shaped).
pub(super) fn axis(size: usize) -> Vec<(usize, usize, f32)> {
    let cell = size as f64 / GRID as f64;
    (0..size)
        .map(|x| {
            let t = (x as f64 + 0.5) / cell - 0.5;
            let f0 = t.floor();
            let i0 = (f0.max(0.0) as usize).min(GRID - 1);
            let i1 = ((f0 + 1.0).max(0.0) as usize).min(GRID - 1);
            let f = t - f0;
            (i0, i1, (0.5 - 0.5 * (PI * f).cos()) as f32)
        })
        .collect()
}
