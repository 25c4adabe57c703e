//! V4L2 camera input (issue 5): a still from a camera as the portrait, taken on request
//! (`POST /v1/portrait/camera`, `speakface camera`), through the `v4l` crate.
//!
//! The camera is opened only for the snapshot and closed again, so a webcam left plugged into a
//! kiosk is not held (its light stays off) while the avatar runs. The first frames after a
//! stream starts are skipped: webcams adjust exposure and white balance over the first
//! half-second.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, FourCC};

use crate::error::{Error, Result};

/// Pixel formats we convert, in order of preference (uncompressed first: no decoder quirks).
const FORMATS: [&[u8; 4]; 7] = [b"YUYV", b"UYVY", b"NV12", b"RGB3", b"BGR3", b"MJPG", b"JPEG"];

/// How long a single frame may take before the camera counts as stuck.
const FRAME_TIMEOUT: Duration = Duration::from_secs(3);

/// A still from the camera.
pub struct Snapshot {
    pub image: image::RgbImage,
    /// The camera's own name (the driver's "card" string).
    pub card: String,
    /// What the camera delivered, e.g. "YUYV 1280x720".
    pub format: String,
}

/// What a camera offers, for `speakface camera --list`.
pub struct Offer {
    pub card: String,
    pub driver: String,
    /// "YUYV 640x480, 1280x720; MJPG …" one line per format.
    pub formats: Vec<String>,
}

/// Whether speakface converts frames of this pixel format.
fn readable(fourcc: FourCC) -> bool {
    FORMATS.iter().any(|c| FourCC::new(c) == fourcc)
}

fn is_jpeg(fourcc: FourCC) -> bool {
    fourcc == FourCC::new(b"MJPG") || fourcc == FourCC::new(b"JPEG")
}

/// The discrete frame sizes the camera offers for a format (none when it will not say).
fn frame_sizes(dev: &Device, fourcc: FourCC) -> Vec<(u32, u32)> {
    dev.enum_framesizes(fourcc).unwrap_or_default().into_iter().flat_map(|s| s.size.to_discrete()).map(|d| (d.width, d.height)).collect()
}

fn cam_err(device: &Path, message: impl std::fmt::Display) -> Error {
    Error::Other(format!("camera {}: {message}", device.display()))
}

fn open(device: &Path) -> Result<(Device, v4l::capability::Capabilities)> {
    let dev = Device::with_path(device).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => cam_err(device, "does not exist (is the camera plugged in? `ls /dev/video*` lists the devices)"),
        std::io::ErrorKind::PermissionDenied => cam_err(device, "permission denied (the service user needs the video group)"),
        _ => cam_err(device, format!("cannot open: {e}")),
    })?;
    let caps = dev.query_caps().map_err(|e| cam_err(device, format!("not a V4L2 device: {e}")))?;
    use v4l::capability::Flags;
    if !caps.capabilities.contains(Flags::VIDEO_CAPTURE) {
        return Err(cam_err(device, format!("\"{}\" ({}) cannot capture video (an output-only device?)", caps.card, caps.driver)));
    }
    if !caps.capabilities.contains(Flags::STREAMING) {
        return Err(cam_err(device, format!("\"{}\" does not support streaming I/O", caps.card)));
    }
    Ok((dev, caps))
}

/// Lists a camera's formats and frame sizes.
pub fn offer(device: &Path) -> Result<Offer> {
    let (dev, caps) = open(device)?;
    let mut formats = vec![];
    for f in dev.enum_formats().map_err(|e| cam_err(device, format!("cannot list formats: {e}")))? {
        let sizes: Vec<String> = frame_sizes(&dev, f.fourcc).iter().map(|(w, h)| format!("{w}x{h}")).collect();
        let usable = if readable(f.fourcc) { "" } else { " (not usable)" };
        formats.push(format!("{} {}{usable}: {}", f.fourcc, f.description, sizes.join(", ")));
    }
    Ok(Offer { card: caps.card, driver: caps.driver, formats })
}

/// The frame size to ask for: the offered size nearest `want` in area, preferring sizes that
/// are at least as large.
fn pick_size(offered: &[(u32, u32)], want: (u32, u32)) -> Option<(u32, u32)> {
    let area = |s: &(u32, u32)| s.0 as i64 * s.1 as i64;
    let want_a = want.0 as i64 * want.1 as i64;
    offered.iter().copied().min_by_key(|s| {
        let d = area(s) - want_a;
        (d < 0, d.abs())
    })
}

/// Takes one still from `device`, asking for about `width`×`height` and skipping `skip` frames.
pub fn snapshot(device: &Path, width: u32, height: u32, skip: u32) -> Result<Snapshot> {
    let (dev, caps) = open(device)?;
    let offered = dev.enum_formats().map_err(|e| cam_err(device, format!("cannot list formats: {e}")))?;
    let fourcc = FORMATS
        .iter()
        .map(|c| FourCC::new(c))
        .find(|c| offered.iter().any(|f| f.fourcc == *c))
        .ok_or_else(|| {
            if offered.is_empty() {
                return cam_err(device, format!("\"{}\" offers no video format (nothing feeding it, or not a camera)", caps.card));
            }
            let names: Vec<String> = offered.iter().map(|f| f.fourcc.to_string()).collect();
            cam_err(device, format!("offers no format speakface reads ({}; needs one of YUYV, UYVY, NV12, RGB3, BGR3, MJPG)", names.join(", ")))
        })?;
    let (w, h) = pick_size(&frame_sizes(&dev, fourcc), (width, height)).unwrap_or((width, height));
    let mut fmt = dev.format().map_err(|e| cam_err(device, format!("cannot read the format: {e}")))?;
    fmt.width = w;
    fmt.height = h;
    fmt.fourcc = fourcc;
    // Some drivers (v4l2loopback with a writer attached) keep their own format: use what they say.
    let fmt = dev.set_format(&fmt).or_else(|_| dev.format()).map_err(|e| cam_err(device, format!("cannot set the format: {e}")))?;
    if !readable(fmt.fourcc) {
        return Err(cam_err(device, format!("delivers {} after asking for {fourcc}", fmt.fourcc)));
    }
    let mut stream = Stream::with_buffers(&dev, Type::VideoCapture, 4).map_err(|e| cam_err(device, format!("cannot start streaming: {e}")))?;
    stream.set_timeout(FRAME_TIMEOUT);
    let started = Instant::now();
    let mut taken = 0;
    loop {
        let (buf, meta) = stream.next().map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut {
                cam_err(device, format!("no frame within {} s (is anything feeding the device?)", FRAME_TIMEOUT.as_secs()))
            } else {
                cam_err(device, format!("capture failed: {e}"))
            }
        })?;
        taken += 1;
        if taken <= skip && started.elapsed() < Duration::from_secs(5) {
            continue;
        }
        let used = (meta.bytesused as usize).min(buf.len());
        let data = if used > 0 { &buf[..used] } else { buf };
        match to_rgb(data, &fmt) {
            Ok(image) => return Ok(Snapshot { image, card: caps.card, format: format!("{} {}x{}", fmt.fourcc, fmt.width, fmt.height) }),
            // A damaged compressed frame: try the next few.
            Err(e) if taken < skip + 5 && is_jpeg(fmt.fourcc) => {
                log::debug!("camera {}: frame {taken} unreadable: {e}", device.display());
            }
            Err(e) => return Err(cam_err(device, e)),
        }
    }
}

/// BT.601 limited-range YCbCr to RGB (what UVC webcams send).
#[inline]
fn ycc(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let c = (y as i32 - 16) * 298;
    let d = cb as i32 - 128;
    let e = cr as i32 - 128;
    let clip = |v: i32| ((v + 128) >> 8).clamp(0, 255) as u8;
    [clip(c + 409 * e), clip(c - 100 * d - 208 * e), clip(c + 516 * d)]
}

/// Converts one frame in `fmt` to RGB.
pub fn to_rgb(data: &[u8], fmt: &v4l::Format) -> std::result::Result<image::RgbImage, String> {
    let (w, h) = (fmt.width as usize, fmt.height as usize);
    if w == 0 || h == 0 {
        return Err("the camera reports a 0-pixel frame".into());
    }
    let four = fmt.fourcc.repr;
    if is_jpeg(fmt.fourcc) {
        let img = image::load_from_memory_with_format(data, image::ImageFormat::Jpeg).map_err(|e| format!("cannot decode its JPEG frame: {e}"))?;
        return Ok(img.to_rgb8());
    }
    let bpp_line = |bytes_pp: usize| if fmt.stride as usize >= w * bytes_pp { fmt.stride as usize } else { w * bytes_pp };
    let mut out = image::RgbImage::new(w as u32, h as u32);
    let short = |need: usize| format!("frame of {} bytes is shorter than {}x{} {} needs ({need})", data.len(), w, h, fmt.fourcc);
    match &four {
        b"YUYV" | b"UYVY" => {
            let stride = bpp_line(2);
            let need = stride * (h - 1) + w * 2;
            if data.len() < need {
                return Err(short(need));
            }
            let (yo, uo, vo) = if &four == b"YUYV" { (0, 1, 3) } else { (1, 0, 2) };
            for (y, row) in out.rows_mut().enumerate() {
                let line = &data[y * stride..];
                for (x, px) in row.enumerate() {
                    let pair = &line[(x / 2) * 4..(x / 2) * 4 + 4];
                    let luma = pair[yo + (x % 2) * 2];
                    px.0 = ycc(luma, pair[uo], pair[vo]);
                }
            }
        }
        b"NV12" => {
            let stride = bpp_line(1);
            let need = stride * h + stride * h.div_ceil(2);
            if data.len() < need.min(stride * h + stride * (h / 2)) {
                return Err(short(need));
            }
            let chroma = &data[stride * h..];
            for (y, row) in out.rows_mut().enumerate() {
                for (x, px) in row.enumerate() {
                    let c = (y / 2) * stride + (x / 2) * 2;
                    let (cb, cr) = (chroma.get(c).copied().unwrap_or(128), chroma.get(c + 1).copied().unwrap_or(128));
                    px.0 = ycc(data[y * stride + x], cb, cr);
                }
            }
        }
        b"RGB3" | b"BGR3" => {
            let stride = bpp_line(3);
            let need = stride * (h - 1) + w * 3;
            if data.len() < need {
                return Err(short(need));
            }
            for (y, row) in out.rows_mut().enumerate() {
                for (x, px) in row.enumerate() {
                    let p = &data[y * stride + x * 3..y * stride + x * 3 + 3];
                    px.0 = if &four == b"RGB3" { [p[0], p[1], p[2]] } else { [p[2], p[1], p[0]] };
                }
            }
        }
        _ => return Err(format!("format {} is not supported", fmt.fourcc)),
    }
    Ok(out)
}

/// The snapshot as PNG bytes (lossless: the portrait's hash is the hash of exactly these bytes).
pub fn png(image: &image::RgbImage) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).map_err(|e| Error::Other(format!("cannot encode the snapshot as PNG: {e}")))?;
    Ok(out.into_inner())
}

/// The configured camera device, or an error saying how to configure one.
pub fn configured(cfg: &crate::config::Config) -> Result<PathBuf> {
    cfg.camera.device.clone().ok_or_else(|| Error::Other("no camera configured (set camera.device, e.g. \"/dev/video0\")".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(w: u32, h: u32, four: &[u8; 4], stride: u32) -> v4l::Format {
        let mut f = v4l::Format::new(w, h, FourCC::new(four));
        f.stride = stride;
        f
    }

    #[test]
    fn yuyv_uyvy_nv12_and_rgb_frames_give_the_same_picture() {
        // A 4x2 frame: white, black, mid grey, and BT.601 red, in limited-range YCbCr.
        let (w, h) = (4u32, 2u32);
        let yuv = [(235u8, 128u8, 128u8), (16, 128, 128), (126, 128, 128), (81, 90, 240)];
        let want = [[255u8, 255, 255], [0, 0, 0], [128, 128, 128], [255, 0, 0]];
        let mut yuyv = vec![];
        let mut uyvy = vec![];
        for _ in 0..h {
            for pair in yuv.chunks(2) {
                // Chroma is shared by a pixel pair: give both pixels of a pair the same colour.
                for &(y, u, v) in pair {
                    yuyv.extend_from_slice(&[y, u, y, v]);
                    uyvy.extend_from_slice(&[u, y, v, y]);
                }
            }
        }
        // Each pixel doubled horizontally so that pairs share chroma: 8x2 frames.
        let a = to_rgb(&yuyv, &fmt(w * 2, h, b"YUYV", 0)).unwrap();
        let b = to_rgb(&uyvy, &fmt(w * 2, h, b"UYVY", 0)).unwrap();
        assert_eq!(a, b);
        for (i, want) in want.iter().enumerate() {
            let got = a.get_pixel(i as u32 * 2, 1).0;
            for c in 0..3 {
                assert!((got[c] as i32 - want[c] as i32).abs() <= 2, "pixel {i}: {got:?} vs {want:?}");
            }
        }
        // NV12 with padded lines (stride 12 for 8 pixels).
        let (w2, stride) = (8usize, 12usize);
        let mut nv12 = vec![0u8; stride * 2 + stride];
        for y in 0..2 {
            for x in 0..w2 {
                nv12[y * stride + x] = yuv[x / 2].0;
            }
        }
        for x in 0..w2 / 2 {
            nv12[stride * 2 + x * 2] = yuv[x].1;
            nv12[stride * 2 + x * 2 + 1] = yuv[x].2;
        }
        let c = to_rgb(&nv12, &fmt(8, 2, b"NV12", stride as u32)).unwrap();
        assert_eq!(a, c);
        let rgb: Vec<u8> = a.as_raw().clone();
        assert_eq!(to_rgb(&rgb, &fmt(8, 2, b"RGB3", 24)).unwrap(), a);
        let bgr: Vec<u8> = rgb.chunks(3).flat_map(|p| [p[2], p[1], p[0]]).collect();
        assert_eq!(to_rgb(&bgr, &fmt(8, 2, b"BGR3", 24)).unwrap(), a);
    }

    #[test]
    fn mjpeg_frames_decode_to_the_picture() {
        let mut img = image::RgbImage::new(64, 48);
        for (x, y, p) in img.enumerate_pixels_mut() {
            p.0 = [(x * 4) as u8, (y * 5) as u8, 128];
        }
        let mut jpeg = std::io::Cursor::new(Vec::new());
        img.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
        let got = to_rgb(jpeg.get_ref(), &fmt(64, 48, b"MJPG", 0)).unwrap();
        assert_eq!(got.dimensions(), (64, 48));
        let d: f64 = got.as_raw().iter().zip(img.as_raw()).map(|(&a, &b)| (a as f64 - b as f64).abs()).sum::<f64>() / img.as_raw().len() as f64;
        assert!(d < 4.0, "mean error {d:.2}");
    }

    #[test]
    fn short_or_unknown_frames_are_errors_not_panics() {
        let e = to_rgb(&[0u8; 10], &fmt(640, 480, b"YUYV", 1280)).unwrap_err();
        assert!(e.contains("shorter than 640x480 YUYV"), "{e}");
        assert!(to_rgb(&[0u8; 10], &fmt(640, 480, b"H264", 0)).unwrap_err().contains("not supported"));
        assert!(to_rgb(&[0u8; 10], &fmt(64, 48, b"MJPG", 0)).unwrap_err().contains("JPEG"));
        assert!(to_rgb(&[], &fmt(0, 0, b"YUYV", 0)).is_err());
    }

    #[test]
    fn frame_size_nearest_at_or_above_the_request() {
        let offered = [(320, 240), (640, 480), (1280, 720), (1920, 1080)];
        assert_eq!(pick_size(&offered, (1280, 720)), Some((1280, 720)));
        assert_eq!(pick_size(&offered, (1000, 700)), Some((1280, 720)));
        assert_eq!(pick_size(&offered, (4000, 3000)), Some((1920, 1080)));
        assert_eq!(pick_size(&[], (640, 480)), None);
    }

    #[test]
    fn a_missing_device_is_one_line_naming_it() {
        let e = snapshot(Path::new("/dev/video-speakface-none"), 640, 480, 0).err().unwrap().to_string();
        assert!(e.contains("/dev/video-speakface-none") && e.contains("does not exist") && !e.contains('\n'), "{e}");
        let e = snapshot(Path::new("/dev/null"), 640, 480, 0).err().unwrap().to_string();
        assert!(e.contains("not a V4L2 device"), "{e}");
    }
}
