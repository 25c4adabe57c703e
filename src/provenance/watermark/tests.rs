//! The watermark's tests: payload and CRC, the layout, reading raw frames back from any start
//! and at half size, and how faint the mark is.

use super::payload::{crc16, Layout, Payload, BITS, PERIOD};
use super::{Detector, Embedder};

const DEFAULT_STRENGTH: f32 = 2.0;

/// A still, textured "portrait" (strong structure at the cell scale) with a moving blob.
fn frame(w: usize, h: usize, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let tex = ((x * 7 + y * 13) % 23) as f32 * 3.0 + ((x / 5 + y / 3) % 4) as f32 * 10.0;
            let (cx, cy) = (w as f32 / 2.0 + (n as f32 * 0.3).sin() * 20.0, h as f32 / 2.0);
            let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
            let val = (60.0 + tex + if d < 40.0 { 60.0 } else { 0.0 }).min(250.0) as u8;
            v[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&[val, val.saturating_sub(10), val / 2]);
        }
    }
    v
}

#[test]
fn payload_bits_round_trip_and_crc_catches_flips() {
    let p = Payload { device: 0xA1B2_C3D4, minute: 29_413_000 };
    let bits = p.bits();
    assert_eq!(Payload::from_bits(&bits), Some(p));
    for i in [0, 17, 63, 64, 79] {
        let mut b = bits;
        b[i] = !b[i];
        assert_eq!(Payload::from_bits(&b), None, "flip of bit {i} not caught");
    }
    assert_eq!(crc16(b"123456789"), 0x29B1);
}

#[test]
fn layout_spreads_every_bit_over_many_cells() {
    let l = Layout::new();
    let mut count = [0usize; BITS];
    l.bit_of.iter().for_each(|&b| count[b as usize] += 1);
    assert!(count.iter().all(|&c| c == 51 || c == 52), "{count:?}");
    let plus = l.key.iter().filter(|&&k| k > 0).count();
    assert!((1900..2200).contains(&plus), "{plus}");
}

#[test]
fn reads_back_raw_frames_from_any_start_and_at_half_size() {
    let (w, h) = (256usize, 256usize);
    let p = Payload { device: 0x0BAD_CAFE, minute: 29_000_123 };
    let mut e = Embedder::new(w as u32, h as u32, DEFAULT_STRENGTH);
    e.set_payload(p);
    let mut whole = Detector::default();
    let mut late = Detector::default();
    let mut half = Detector::default();
    let mut clean = Detector::default();
    for n in 0..230 {
        let mut f = frame(w, h, n);
        clean.push(&f, w as u32, h as u32);
        e.apply(&mut f);
        whole.push(&f, w as u32, h as u32);
        if n >= 17 {
            late.push(&f, w as u32, h as u32);
        }
        let small: Vec<u8> = (0..h / 2)
            .flat_map(|y| (0..w / 2).map(move |x| (x, y)))
            .flat_map(|(x, y)| {
                let f = &f;
                (0..3).map(move |k| {
                    let s: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)].iter().map(|(dx, dy)| f[((2 * y + dy) * w + 2 * x + dx) * 3 + k] as u32).sum();
                    ((s + 2) / 4) as u8
                })
            })
            .collect();
        half.push(&small, w as u32 / 2, h as u32 / 2);
    }
    for (name, d) in [("whole", whole), ("late start", late), ("half size", half)] {
        let (reads, whole) = d.finish();
        assert_eq!(whole.payload, Some(p), "{name}: whole clip");
        assert!(reads.len() >= 2, "{name}: {} windows", reads.len());
        for r in &reads {
            assert_eq!(r.payload, Some(p), "{name}: window at {} snr {:.1}", r.start, r.snr);
        }
    }
    // The moving blob alone can look like signal (snr ≈ 4 here); the CRC is what keeps it out.
    let (reads, whole) = clean.finish();
    assert_eq!(whole.payload, None);
    for r in reads {
        assert_eq!(r.payload, None, "clean window at {} (snr {:.2})", r.start, r.snr);
    }
}

#[test]
fn the_mark_is_faint() {
    let (w, h) = (128usize, 128usize);
    let mut e = Embedder::new(w as u32, h as u32, DEFAULT_STRENGTH);
    e.set_payload(Payload { device: 1, minute: 2 });
    let mut max = 0i32;
    for n in 0..PERIOD {
        let f0 = frame(w, h, n);
        let mut f = f0.clone();
        e.apply(&mut f);
        for (a, b) in f.iter().zip(&f0) {
            max = max.max((*a as i32 - *b as i32).abs());
        }
    }
    assert!(max <= 2, "largest change {max} grey levels");
    assert!(max >= 1);
}
