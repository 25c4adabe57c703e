//! Portrait decoding behind `PUT /v1/portrait`: never panics and never allocates without bound
//! (libFuzzer's -rss_limit_mb catches a decompression bomb).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = speakface::face::decode_portrait(data, std::path::Path::new("upload")) {
        assert!(img.width() >= 64 && img.height() >= 64);
    }
});
