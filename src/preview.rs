//! Contact sheet: a grid of thumbnails evenly spread over a rendered clip, each labelled with its
//! time, saved as PNG. Used to eyeball a render without playing it.
//!
//! Layout: `cols` columns (fewer when there are fewer thumbnails), `gap` pixels around and between
//! cells, each cell `thumb` × `thumb_h` where `thumb_h = round(thumb * height / width)`. The time
//! ("1.20 s") is drawn in the cell's bottom-left corner on a dark box with a built-in 5×7 font.

use std::path::Path;

use image::{imageops, RgbImage};

use crate::{font, Error, Result};

const GAP: u32 = 4;
const BACKGROUND: [u8; 3] = [24, 24, 24];
const EMPTY_CELL: [u8; 3] = [64, 64, 64];

/// See the module docs.
#[derive(Debug, Clone)]
pub struct ContactSheet {
    /// Sorted, distinct frame indices the sheet shows.
    picks: Vec<usize>,
    thumbs: Vec<Option<RgbImage>>,
    fps: f32,
    width: u32,
    height: u32,
    thumb_w: u32,
    thumb_h: u32,
    cols: u32,
}

impl ContactSheet {
    /// `count` frames of a `total_frames`-frame clip at `fps`, first and last included, shown as
    /// `thumb`-pixel-wide thumbnails (aspect kept) in `cols` columns. `width`×`height` is the size
    /// of the frames that will be passed to [`add`](Self::add).
    pub fn new(total_frames: usize, fps: f32, count: usize, width: u32, height: u32, thumb: u32, cols: u32) -> Self {
        let count = count.min(total_frames);
        let mut picks: Vec<usize> = match count {
            0 => Vec::new(),
            1 => vec![0],
            _ => (0..count)
                .map(|i| ((i as f64 * (total_frames - 1) as f64) / (count - 1) as f64).round() as usize)
                .collect(),
        };
        picks.dedup();
        let thumb_w = thumb.max(1);
        let thumb_h = if width == 0 {
            thumb_w
        } else {
            ((thumb_w as f64 * height as f64 / width as f64).round() as u32).max(1)
        };
        let cols = cols.max(1).min(picks.len().max(1) as u32);
        Self { thumbs: vec![None; picks.len()], picks, fps, width, height, thumb_w, thumb_h, cols }
    }

    /// The frame indices the sheet shows, ascending.
    pub fn picks(&self) -> &[usize] {
        &self.picks
    }

    /// True if frame `n` is one the sheet wants (so the renderer only copies those).
    pub fn wants(&self, n: usize) -> bool {
        self.picks.binary_search(&n).is_ok()
    }

    /// Stores a thumbnail of frame `n` (tightly packed RGB24, `width*height*3` bytes). Frames the
    /// sheet does not want, or of the wrong size, are ignored.
    pub fn add(&mut self, n: usize, rgb: &[u8]) {
        let Ok(slot) = self.picks.binary_search(&n) else { return };
        let Some(img) = RgbImage::from_raw(self.width, self.height, rgb.to_vec()) else { return };
        self.thumbs[slot] = Some(imageops::resize(&img, self.thumb_w, self.thumb_h, imageops::FilterType::Triangle));
    }

    /// Size of the saved PNG: `(cols*thumb + (cols+1)*gap, rows*thumb_h + (rows+1)*gap)`.
    pub fn sheet_size(&self) -> (u32, u32) {
        let rows = (self.picks.len() as u32).div_ceil(self.cols).max(1);
        (self.cols * self.thumb_w + (self.cols + 1) * GAP, rows * self.thumb_h + (rows + 1) * GAP)
    }

    /// Renders the grid and writes it as PNG. Cells whose frame never arrived are plain grey.
    pub fn save(&self, path: &Path) -> Result<()> {
        let (w, h) = self.sheet_size();
        let mut sheet = RgbImage::from_pixel(w, h, image::Rgb(BACKGROUND));
        for (i, &n) in self.picks.iter().enumerate() {
            let (c, r) = (i as u32 % self.cols, i as u32 / self.cols);
            let x = GAP + c * (self.thumb_w + GAP);
            let y = GAP + r * (self.thumb_h + GAP);
            match &self.thumbs[i] {
                Some(t) => imageops::replace(&mut sheet, t, x as i64, y as i64),
                None => fill(&mut sheet, x, y, self.thumb_w, self.thumb_h, EMPTY_CELL),
            }
            let secs = if self.fps > 0.0 { n as f32 / self.fps } else { 0.0 };
            let label = format!("{secs:.2} s");
            let scale = (self.thumb_w / 160).max(1);
            let (lw, lh) = font::text_size(&label, scale);
            // Keep the label inside the cell; skip it on cells too small to hold it.
            if lw + 2 * scale <= self.thumb_w && lh + 2 * scale <= self.thumb_h {
                let ly = y + self.thumb_h - lh - 2 * scale;
                fill(&mut sheet, x, ly, lw + 2 * scale, lh + 2 * scale, [0, 0, 0]);
                let w = sheet.width();
                font::draw_text(&mut sheet, w, x + scale, ly + scale, &label, scale, [255, 255, 255]);
            }
        }
        sheet.save_with_format(path, image::ImageFormat::Png).map_err(|e| Error::Output {
            path: path.to_path_buf(),
            message: format!("cannot write contact sheet: {e}"),
        })
    }
}

fn fill(img: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, color: [u8; 3]) {
    for yy in y..(y + h).min(img.height()) {
        for xx in x..(x + w).min(img.width()) {
            img.put_pixel(xx, yy, image::Rgb(color));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_spread_with_first_and_last() {
        let s = ContactSheet::new(100, 25.0, 6, 64, 32, 40, 3);
        assert_eq!(s.picks(), &[0, 20, 40, 59, 79, 99]);
        assert!(s.wants(0) && s.wants(99) && !s.wants(1) && !s.wants(98));
        // More wanted than there are frames: every frame, once.
        assert_eq!(ContactSheet::new(3, 25.0, 10, 8, 8, 8, 4).picks(), &[0, 1, 2]);
        assert_eq!(ContactSheet::new(50, 25.0, 1, 8, 8, 8, 4).picks(), &[0]);
        assert!(ContactSheet::new(0, 25.0, 4, 8, 8, 8, 4).picks().is_empty());
    }

    #[test]
    fn saves_png_of_grid_size() {
        let (w, h) = (64u32, 32u32);
        let mut s = ContactSheet::new(50, 25.0, 5, w, h, 40, 3);
        for n in 0..50 {
            if s.wants(n) {
                let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i as usize * 7 + n * 13) as u8).collect();
                s.add(n, &rgb);
            }
        }
        // 3 columns × 2 rows of 40×20 thumbs with 4 px gaps.
        assert_eq!(s.sheet_size(), (3 * 40 + 4 * GAP, 2 * 20 + 3 * GAP));
        let dir = std::env::temp_dir().join(format!("speakface-preview-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("sheet.png");
        s.save(&out).unwrap();
        let img = image::open(&out).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), s.sheet_size());
        // The last cell's label ("1.96 s") left white pixels in its bottom-left corner.
        let (x, y) = (GAP + 40 + GAP, GAP + 20 + GAP);
        let white = (x..x + 40).flat_map(|xx| (y..y + 20).map(move |yy| (xx, yy)))
            .filter(|&(xx, yy)| img.get_pixel(xx, yy).0 == [255, 255, 255])
            .count();
        assert!(white > 10, "label not drawn ({white} white pixels)");
        let _ = std::fs::remove_dir_all(&dir);

        let err = s.save(Path::new("/proc/nope/sheet.png")).unwrap_err();
        assert!(err.to_string().contains("/proc/nope/sheet.png"));
    }
}
