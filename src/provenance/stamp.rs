//! What every frame carries: the visible label ("AI-GENERATED" by default, `[provenance]` in the
//! config) and the invisible watermark (`watermark`: device id + time), applied to every frame the
//! daemon and `speakface render` make, before any output sees it; the device id the watermark
//! carries; and the provenance tags written into recorded MP4 files.


use crate::config::{Config, LabelPosition};
use crate::font;
use super::watermark::{Embedder, Payload};

/// The device id the watermark carries: `provenance.device_id` when set, else the first 32 bits
/// of sha256("speakface-device:" + /etc/machine-id), else of the host name.
pub fn device_id(cfg: &Config) -> u32 {
    if let Ok(v) = u32::from_str_radix(&cfg.provenance.device_id, 16) {
        return v;
    }
    let seed = std::fs::read_to_string("/etc/machine-id")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .unwrap_or_default();
    let h = crate::util::hash::sha256(format!("speakface-device:{}", seed.trim()).as_bytes());
    u32::from_be_bytes([h[0], h[1], h[2], h[3]])
}

/// Label and watermark for frames of one size.
pub struct Stamp {
    width: u32,
    height: u32,
    label: Option<(String, LabelPosition, u32)>,
    embedder: Option<Embedder>,
    device: u32,
}

impl Stamp {
    pub fn new(cfg: &Config, width: u32, height: u32) -> Stamp {
        let p = &cfg.provenance;
        Stamp {
            width,
            height,
            label: p.label.then(|| (p.label_text.clone(), p.label_position, p.label_scale)),
            embedder: p.watermark.then(|| Embedder::new(width, height, p.watermark_strength)),
            device: device_id(cfg),
        }
    }

    pub fn device(&self) -> u32 {
        self.device
    }

    /// Labels and marks one RGB24 frame in place (frames are counted: call once per frame shown).
    pub fn apply(&mut self, rgb: &mut [u8]) {
        if let Some((text, pos, scale)) = &self.label {
            draw_label(rgb, self.width, self.height, text, *pos, *scale);
        }
        if let Some(e) = self.embedder.as_mut() {
            // The time changes only every WINDOW frames: a file read from its start then never
            // has a reading window that straddles two payloads.
            if e.frame() % super::watermark::WINDOW as u64 == 0 {
                e.set_payload(Payload::now(self.device));
            }
            e.apply(rgb);
        }
    }
}

/// Where the label goes: its box (x, y, w, h), `2 × scale` pixels from the edges of the frame.
fn place(width: u32, height: u32, text: &str, position: LabelPosition, scale: u32) -> (u32, u32, u32, u32) {
    let (tw, th) = font::text_size(text, scale);
    let pad = 2 * scale;
    let (bw, bh) = (tw + 2 * pad, th + 2 * pad);
    let margin = 2 * scale;
    let x = if matches!(position, LabelPosition::TopLeft | LabelPosition::BottomLeft) { margin } else { width.saturating_sub(bw + margin) };
    let y = if matches!(position, LabelPosition::TopLeft | LabelPosition::TopRight) { margin } else { height.saturating_sub(bh + margin) };
    (x, y, bw, bh)
}

/// White text on a darkened box in a corner, `2 × scale` pixels from the edges.
pub fn draw_label(rgb: &mut [u8], width: u32, height: u32, text: &str, position: LabelPosition, scale: u32) {
    let (x, y, bw, bh) = place(width, height, text, position, scale);
    let pad = 2 * scale;
    font::shade(rgb, width, x, y, bw, bh, [0, 0, 0], 0.55);
    font::draw_text(rgb, width, x + pad, y + pad, text, scale, [255, 255, 255]);
}

/// The label's box (x, y, w, h) for a frame, as [`draw_label`] places it.
pub fn label_box(cfg: &Config, width: u32, height: u32) -> (u32, u32, u32, u32) {
    let p = &cfg.provenance;
    place(width, height, &p.label_text, p.label_position, p.label_scale)
}

/// What gets written about a recording: the MP4's encoder and comment tags.
pub struct Tags {
    pub encoder: String,
    pub comment: String,
}

/// Provenance of a clip made now from the portrait with this sha256.
pub fn tags(cfg: &Config, portrait_sha256: &str) -> Tags {
    let now = crate::util::time::utc_text(std::time::SystemTime::now());
    Tags {
        encoder: format!("speakface {}", env!("CARGO_PKG_VERSION")),
        comment: format!(
            "AI-generated talking head; tool speakface {}; portrait sha256 {}; device {:08x}; made {}",
            env!("CARGO_PKG_VERSION"),
            portrait_sha256,
            device_id(cfg),
            now
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_is_drawn_in_its_corner_and_nowhere_else() {
        let cfg = Config::default();
        let (w, h) = (400u32, 128u32);
        let mut rgb = vec![128u8; (w * h * 3) as usize];
        let mut stamp = Stamp { width: w, height: h, label: Some(("AI-GENERATED".into(), LabelPosition::BottomRight, 2)), embedder: None, device: 0 };
        stamp.apply(&mut rgb);
        let (bx, by, bw, bh) = label_box(&cfg, w, h);
        assert!(bx + bw <= w && by + bh <= h && bx > w / 2 && by > h / 2);
        let mut white = 0;
        for y in 0..h {
            for x in 0..w {
                let i = ((y * w + x) * 3) as usize;
                let inside = x >= bx && x < bx + bw && y >= by && y < by + bh;
                if !inside {
                    assert_eq!(&rgb[i..i + 3], &[128, 128, 128], "changed at {x},{y}");
                } else if rgb[i] == 255 {
                    white += 1;
                }
            }
        }
        assert!(white > 200, "{white} white pixels");
    }

    #[test]
    fn device_id_from_config_or_machine() {
        let mut cfg = Config::default();
        cfg.provenance.device_id = "00c0ffee".into();
        assert_eq!(device_id(&cfg), 0x00c0_ffee);
        cfg.provenance.device_id.clear();
        assert_eq!(device_id(&cfg), device_id(&cfg));
    }
}
