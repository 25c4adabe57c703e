//! A RIFF/WAVE reader of our own: PCM 8/16/24/32-bit, IEEE float 32/64, WAVE_FORMAT_EXTENSIBLE,
//! any channel count; tolerant of what real recorders write (odd-sized chunks, a data chunk whose
//! length field is 0 or 0xFFFFFFFF because the writer was streaming, a file cut short), strict about
//! what cannot be speech (no data, unknown codec). Every error names the file and the problem.

use std::path::Path;

use crate::{Error, Result};

/// Decoded samples, interleaved, as f32 in [-1, 1].
#[derive(Debug, Clone)]
pub struct Wav {
    pub samples: Vec<f32>,
    pub rate: u32,
    pub channels: u16,
    /// True when the data chunk promised more bytes than the file holds.
    pub truncated: bool,
}

fn err(path: &Path, message: impl Into<String>) -> Error {
    Error::Audio { path: path.to_path_buf(), message: message.into() }
}

const FORMAT_PCM: u16 = 1;
const FORMAT_FLOAT: u16 = 3;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// How much audio a WAV may hold, checked from its header before anything is decoded.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest audio, in seconds.
    pub max_s: f64,
    /// Most decoded samples (all channels): 4 bytes each once decoded.
    pub max_samples: usize,
}

/// Files given to `speakface render`: up to two hours.
pub const FILE_LIMITS: Limits = Limits { max_s: 7200.0, max_samples: 400_000_000 };
/// Live speech (the daemon's playlist, API uploads): up to 30 minutes a file, 600 MB decoded.
pub const LIVE_LIMITS: Limits = Limits { max_s: 1800.0, max_samples: 150_000_000 };
/// Lowest sample rate taken as speech.
pub const MIN_RATE: u32 = 8000;

/// Reads a WAV file from disk.
pub fn read(path: &Path) -> Result<Wav> {
    read_limited(path, FILE_LIMITS)
}

/// Reads a WAV file from disk within `limits`; anything but a regular file (a device, a FIFO) is
/// refused before it is opened for reading.
pub fn read_limited(path: &Path, limits: Limits) -> Result<Wav> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => return Err(err(path, "not a regular file (a device, FIFO or folder cannot be speech)")),
        _ => {}
    }
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => err(path, "file not found"),
        _ => err(path, format!("cannot read: {e}")),
    })?;
    parse_limited(&bytes, limits).map_err(|m| err(path, m))
}

/// Parses WAV bytes; the error is a one-line description without the path.
pub fn parse(b: &[u8]) -> std::result::Result<Wav, String> {
    parse_limited(b, FILE_LIMITS)
}

/// Parses WAV bytes within `limits` (checked from the header, before decoding).
pub fn parse_limited(b: &[u8], limits: Limits) -> std::result::Result<Wav, String> {
    let h = header(b, b.len())?;
    let data = &b[h.data_at..h.data_at + h.data_len];
    check_size(data.len(), h.channels, h.rate, h.bits, limits)?;
    let samples = decode(data, h.format, h.channels, h.bits)?;
    Ok(Wav { samples, rate: h.rate, channels: h.channels, truncated: h.truncated })
}

/// Checks a WAV's header without decoding: `head` is the file's first bytes (64 KiB is plenty),
/// `file_len` its whole size. The same errors as `parse_limited` for the header's faults.
pub fn check_header(head: &[u8], file_len: u64, limits: Limits) -> std::result::Result<(), String> {
    let h = header(head, file_len as usize)?;
    if !matches!((h.format, h.bits), (FORMAT_PCM, 8 | 16 | 24 | 32) | (FORMAT_FLOAT, 32 | 64)) {
        return Err(format!("WAV codec 0x{:04x} with {}-bit samples is not supported; convert to 16-bit PCM", h.format, h.bits));
    }
    check_size(h.data_len, h.channels, h.rate, h.bits, limits)
}

/// What the chunks before the samples say.
struct Header {
    format: u16,
    channels: u16,
    rate: u32,
    bits: u16,
    /// Where the samples start in the file, and how many bytes of them it holds.
    data_at: usize,
    data_len: usize,
    /// The data chunk promised more than the file holds.
    truncated: bool,
}

/// Walks the chunks of `b`, the first bytes of a file `total` bytes long, up to the data chunk.
fn header(b: &[u8], total: usize) -> std::result::Result<Header, String> {
    if b.is_empty() {
        return Err("file is empty (0 bytes)".into());
    }
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        let what = if b.len() >= 4 && &b[0..4] == b"RIFX" {
            "big-endian RIFX WAV is not supported".to_string()
        } else {
            "not a WAV file (no RIFF/WAVE header); convert it with `sox IN -b 16 OUT.wav`".to_string()
        };
        return Err(what);
    }
    let mut at = 12;
    let mut fmt: Option<(u16, u16, u32, u16)> = None; // format, channels, rate, bits
    while at + 8 <= b.len() {
        let id = &b[at..at + 4];
        let size = u32le(b, at + 4) as usize;
        let body = at + 8;
        if id == b"fmt " {
            if size < 16 || body + 16 > b.len() {
                return Err("fmt chunk is too short".into());
            }
            let mut format = u16le(b, body);
            let channels = u16le(b, body + 2);
            let rate = u32le(b, body + 4);
            let bits = u16le(b, body + 14);
            if format == FORMAT_EXTENSIBLE {
                if size < 40 || body + 26 > b.len() {
                    return Err("extensible fmt chunk is too short".into());
                }
                // The sub-format GUID starts with the plain format code.
                format = u16le(b, body + 24);
            }
            fmt = Some((format, channels, rate, bits));
        } else if id == b"data" {
            let (format, channels, rate, bits) = fmt.ok_or("data chunk comes before the fmt chunk")?;
            let available = total.saturating_sub(body);
            // 0 and 0xFFFFFFFF are what streaming writers leave when they never seek back.
            let declared = if size == 0 || size == u32::MAX as usize { available } else { size };
            return Ok(Header { format, channels, rate, bits, data_at: body, data_len: declared.min(available), truncated: declared > available });
        }
        // Chunks are word-aligned: an odd size has one pad byte.
        at = body.saturating_add(size).saturating_add(size & 1);
    }
    match fmt {
        None if b.len() < total => Err("no fmt chunk in the file's first bytes; the file is damaged".into()),
        None => Err("no fmt chunk; the file is damaged".into()),
        Some(_) if b.len() < total => Err("no data chunk in the file's first bytes; the file holds no audio".into()),
        Some(_) => Err("no data chunk; the file holds no audio".into()),
    }
}

/// The header's rate and the data's size against `limits`, before any sample is decoded.
fn check_size(bytes: usize, channels: u16, rate: u32, bits: u16, limits: Limits) -> std::result::Result<(), String> {
    if channels == 0 {
        return Err("fmt chunk says 0 channels".into());
    }
    if !(MIN_RATE..=768_000).contains(&rate) {
        return Err(format!("sample rate {rate} Hz is not a speech rate ({MIN_RATE} to 768000 Hz)"));
    }
    let width = (bits as usize).div_ceil(8).max(1);
    let samples = bytes / width;
    let secs = (samples / channels as usize) as f64 / rate as f64;
    if secs > limits.max_s {
        return Err(format!("{secs:.0} s of audio is longer than the {:.0} s allowed", limits.max_s));
    }
    if samples > limits.max_samples {
        return Err(format!("{samples} samples are more than the {} allowed (fewer channels or a lower rate)", limits.max_samples));
    }
    Ok(())
}

/// Decodes the data chunk (its channel count and rate already checked by `check_size`).
fn decode(data: &[u8], format: u16, channels: u16, bits: u16) -> std::result::Result<Vec<f32>, String> {
    let width = match (format, bits) {
        (FORMAT_PCM, 8 | 16 | 24 | 32) | (FORMAT_FLOAT, 32 | 64) => bits as usize / 8,
        (FORMAT_PCM | FORMAT_FLOAT, _) => return Err(format!("{bits}-bit samples are not supported")),
        (6, _) | (7, _) => return Err("A-law/µ-law WAV is not supported; convert to 16-bit PCM".into()),
        (f, _) => return Err(format!("WAV codec 0x{f:04x} is not supported; convert to 16-bit PCM")),
    };
    let frame = width * channels as usize;
    let frames = data.len() / frame;
    if frames == 0 {
        return Err("no audio samples (data chunk is empty)".into());
    }
    let data = &data[..frames * frame];
    let out: Vec<f32> = match (format, width) {
        (FORMAT_PCM, 1) => data.iter().map(|&v| (v as f32 - 128.0) / 128.0).collect(),
        (FORMAT_PCM, 2) => data.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as f32 / 32768.0).collect(),
        (FORMAT_PCM, 3) => data
            .chunks_exact(3)
            .map(|c| (i32::from_le_bytes([0, c[0], c[1], c[2]]) >> 8) as f32 / 8_388_608.0)
            .collect(),
        (FORMAT_PCM, 4) => data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32 / 2_147_483_648.0)
            .collect(),
        (FORMAT_FLOAT, 4) => data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        (FORMAT_FLOAT, 8) => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
        _ => unreachable!("width checked above"),
    };
    if out.iter().any(|v| !v.is_finite()) {
        return Err("float samples contain NaN or infinity".into());
    }
    Ok(out.into_iter().map(|v| v.clamp(-1.0, 1.0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav_bytes(format: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        b.extend_from_slice(b"WAVE");
        b.extend_from_slice(b"fmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&format.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        let block = channels * bits / 8;
        b.extend_from_slice(&(rate * block as u32).to_le_bytes());
        b.extend_from_slice(&block.to_le_bytes());
        b.extend_from_slice(&bits.to_le_bytes());
        b.extend_from_slice(b"LIST");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(b"abc\0"); // odd chunk + pad byte
        b.extend_from_slice(b"data");
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn decodes_every_sample_format() {
        let s16: Vec<u8> = [0i16, 16384, -32768].iter().flat_map(|v| v.to_le_bytes()).collect();
        let w = parse(&wav_bytes(1, 1, 16000, 16, &s16)).unwrap();
        assert_eq!(w.samples, vec![0.0, 0.5, -1.0]);
        let s8 = [128u8, 192, 0];
        assert_eq!(parse(&wav_bytes(1, 1, 8000, 8, &s8)).unwrap().samples, vec![0.0, 0.5, -1.0]);
        let s24: Vec<u8> = [0i32, 4_194_304, -8_388_608].iter().flat_map(|v| v.to_le_bytes()[..3].to_vec()).collect();
        assert_eq!(parse(&wav_bytes(1, 1, 48000, 24, &s24)).unwrap().samples, vec![0.0, 0.5, -1.0]);
        let s32: Vec<u8> = [0i32, 1 << 30, i32::MIN].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(parse(&wav_bytes(1, 1, 44100, 32, &s32)).unwrap().samples, vec![0.0, 0.5, -1.0]);
        let f32s: Vec<u8> = [0f32, 0.5, -1.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let w = parse(&wav_bytes(3, 1, 22050, 32, &f32s)).unwrap();
        assert_eq!((w.samples.clone(), w.rate, w.channels), (vec![0.0, 0.5, -1.0], 22050, 1));
    }

    #[test]
    fn stereo_keeps_interleaving_and_truncation_is_tolerated() {
        let s: Vec<u8> = [1000i16, -1000, 2000, -2000].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut b = wav_bytes(1, 2, 44100, 16, &s);
        b.truncate(b.len() - 3); // cut into the second frame
        let w = parse(&b).unwrap();
        assert_eq!(w.channels, 2);
        assert!(w.truncated);
        assert_eq!(w.samples.len(), 2);
    }

    #[test]
    fn bad_files_get_clear_messages() {
        assert!(parse(b"").unwrap_err().contains("empty"));
        assert!(parse(b"hello world, this is not audio").unwrap_err().contains("not a WAV"));
        assert!(parse(&wav_bytes(1, 1, 16000, 16, &[])).unwrap_err().contains("no audio samples"));
        assert!(parse(&wav_bytes(2, 1, 16000, 4, &[0; 8])).unwrap_err().contains("codec 0x0002"));
        assert!(parse(&wav_bytes(1, 1, 16000, 12, &[0; 8])).unwrap_err().contains("12-bit"));
        let header_only = &wav_bytes(1, 1, 16000, 16, &[0; 8])[..20];
        assert!(parse(header_only).is_err());
    }

    /// A 20 MB 8-bit WAV at 1000 Hz (5.5 hours) once took 1.5 GB and stalled the API: refused from
    /// its header, before decoding.
    #[test]
    fn low_rates_and_long_files_are_refused_from_the_header() {
        let slow = wav_bytes(1, 1, 1000, 8, &[128; 4000]);
        assert!(parse(&slow).unwrap_err().contains("1000 Hz"), "{}", parse(&slow).unwrap_err());
        let mut long = wav_bytes(1, 1, 8000, 8, &[128; 16]);
        // The data chunk claims 20 MB (streaming writers' 0xFFFFFFFF means "to the end").
        let n = long.len();
        long[n - 20..n - 16].copy_from_slice(&(20_000_000u32).to_le_bytes());
        long.extend(std::iter::repeat_n(128u8, 20_000_000 - 16));
        let e = parse_limited(&long, LIVE_LIMITS).unwrap_err();
        assert!(e.contains("2500 s") && e.contains("1800 s"), "{e}");
        let small = Limits { max_s: 1000.0, max_samples: 10 };
        assert!(parse_limited(&wav_bytes(1, 2, 16000, 16, &[0; 64]), small).unwrap_err().contains("32 samples"));
    }
}
