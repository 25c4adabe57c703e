//! Peers for `cargo bench` (benches/stages.rs): other people's libraries doing the same work as a
//! speakface stage, measured in the same run so that BENCHMARKS.md can give ratios.
//! - [`CvRemap`]: OpenCV's `cv::remap` (bilinear, replicated border) of a 512×512 RGB frame, on one
//!   thread: the peer of the renderer's mesh warp. Debian's OpenCV, through `remap.cpp`.
//! - [`OrtModel`]: onnxruntime's CPU provider on one thread running the same ONNX file as tract:
//!   the peer of the audio-to-motion stage. The library is the one in the PyPI wheel
//!   (`fetch-onnxruntime.sh`), loaded at run time.
//! Not for: the product. Only the benches depend on this crate.

use std::path::{Path, PathBuf};

/// The onnxruntime this crate's `ort` speaks (its C API version) and `fetch-onnxruntime.sh` fetches.
pub const ONNXRUNTIME_VERSION: &str = "1.22.1";

#[cfg(speakface_opencv)]
extern "C" {
    fn speakface_cv_threads(n: i32);
    fn speakface_cv_remap(src: *const u8, dst: *mut u8, map_x: *const f32, map_y: *const f32, w: i32, h: i32) -> i32;
}

/// `cv::remap` of one RGB24 image with fixed float maps into a buffer it owns.
pub struct CvRemap {
    src: Vec<u8>,
    map_x: Vec<f32>,
    map_y: Vec<f32>,
    dst: Vec<u8>,
    w: usize,
    h: usize,
}

impl CvRemap {
    /// `map(x, y)` gives the source position (pixel units, OpenCV's convention: pixel centres at
    /// integers) of destination pixel (x, y). OpenCV is set to one thread.
    pub fn new(src: Vec<u8>, w: usize, h: usize, map: impl Fn(usize, usize) -> (f32, f32)) -> Result<CvRemap, String> {
        if src.len() != w * h * 3 {
            return Err(format!("source is {} bytes, expected {w}x{h}x3", src.len()));
        }
        let (mut map_x, mut map_y) = (Vec::with_capacity(w * h), Vec::with_capacity(w * h));
        for y in 0..h {
            for x in 0..w {
                let (sx, sy) = map(x, y);
                map_x.push(sx);
                map_y.push(sy);
            }
        }
        if !cfg!(speakface_opencv) {
            return Err("the OpenCV peer was not built for this target (see benches/peers/build.rs)".into());
        }
        #[cfg(speakface_opencv)]
        unsafe {
            speakface_cv_threads(1);
        }
        Ok(CvRemap { src, map_x, map_y, dst: vec![0; w * h * 3], w, h })
    }

    /// Remaps once; the result stays in [`CvRemap::output`].
    pub fn run(&mut self) -> Result<(), String> {
        #[cfg(speakface_opencv)]
        {
            // SAFETY: all four buffers are w·h pixels as `new` checked and built them; the shim
            // wraps them in cv::Mat headers without taking ownership and writes only `dst`.
            let rc = unsafe {
                speakface_cv_remap(self.src.as_ptr(), self.dst.as_mut_ptr(), self.map_x.as_ptr(), self.map_y.as_ptr(), self.w as i32, self.h as i32)
            };
            if rc != 0 {
                return Err("cv::remap failed".into());
            }
            Ok(())
        }
        #[cfg(not(speakface_opencv))]
        Err("the OpenCV peer was not built for this target".into())
    }

    pub fn output(&self) -> &[u8] {
        &self.dst
    }
}

/// Where `fetch-onnxruntime.sh` puts the library, unless `ORT_DYLIB_PATH` names another.
pub fn onnxruntime_library() -> PathBuf {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/peers/onnxruntime")
        .join(format!("libonnxruntime.so.{ONNXRUNTIME_VERSION}"))
}

/// One ONNX model in an onnxruntime session on one thread, all graph optimizations on.
pub struct OrtModel {
    session: ort::session::Session,
    /// The inputs' names, read once: `run` is timed and should not copy them on every call.
    names: Vec<String>,
}

impl OrtModel {
    pub fn load(path: &Path) -> Result<OrtModel, String> {
        let lib = onnxruntime_library();
        if !lib.exists() {
            return Err(format!("{} not found: run benches/peers/fetch-onnxruntime.sh (or set ORT_DYLIB_PATH)", lib.display()));
        }
        // The first call decides the library for the process; later calls change nothing.
        let _ = ort::init_from(lib.display().to_string()).commit();
        let session = ort::session::Session::builder()
            .and_then(|b| b.with_optimization_level(ort::session::builder::GraphOptimizationLevel::Level3))
            .and_then(|b| b.with_intra_threads(1))
            .and_then(|b| b.with_inter_threads(1))
            .and_then(|b| b.commit_from_file(path))
            .map_err(|e| format!("onnxruntime: {}: {e}", path.display()))?;
        let names = session.inputs.iter().map(|i| i.name.clone()).collect();
        Ok(OrtModel { session, names })
    }

    /// Runs the model on float inputs (in the model's input order, each with its shape); returns
    /// every output flattened, in the model's output order.
    pub fn run(&mut self, inputs: &[(&[usize], &[f32])]) -> Result<Vec<Vec<f32>>, String> {
        let mut values = Vec::with_capacity(inputs.len());
        for (i, (shape, data)) in inputs.iter().enumerate() {
            let name = self.names.get(i).ok_or_else(|| format!("model has no input {i}"))?;
            let t = ort::value::TensorRef::from_array_view((shape.to_vec(), *data)).map_err(|e| format!("input {name}: {e}"))?;
            values.push((std::borrow::Cow::Borrowed(name.as_str()), ort::session::SessionInputValue::from(t)));
        }
        let out = self.session.run(values).map_err(|e| format!("onnxruntime run: {e}"))?;
        let mut result = Vec::with_capacity(out.len());
        for (_, v) in out.iter() {
            let (_, data) = v.try_extract_tensor::<f32>().map_err(|e| format!("output: {e}"))?;
            result.push(data.to_vec());
        }
        Ok(result)
    }
}
