//! One small interface over the inference engine: load a model by its manifest name, verify its
//! sha256 against `models/manifest.toml`, run it. Nothing else in the tree knows it is ONNX or tract.
//! Not for: model-specific pre/post-processing (that lives with the stage that uses the model).

use std::path::Path;

use serde::Deserialize;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::runtime::{runtime_for_name, Runnable, Runtime};

use crate::error::one_line;
use crate::{Error, Result};

/// One `[[model]]` entry of `models/manifest.toml` (only the keys this code relies on; the
/// manifest carries more for people: licence, provenance, verification figures).
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestEntry {
    pub name: String,
    pub file: String,
    pub sha256: String,
    #[serde(default)]
    pub inputs: Vec<TensorSpec>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    #[serde(default)]
    model: Vec<ManifestEntry>,
}

fn model_err(name: &str, message: impl Into<String>) -> Error {
    Error::Model { name: name.to_string(), message: message.into() }
}

/// Reads the manifest entry for `name` from `dir/manifest.toml`.
pub fn manifest_entry(dir: &Path, name: &str) -> Result<ManifestEntry> {
    let path = dir.join("manifest.toml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| model_err(name, format!("cannot read manifest {}: {e}", path.display())))?;
    let manifest: Manifest = toml::from_str(&text)
        .map_err(|e| model_err(name, format!("manifest {} is invalid: {}", path.display(), one_line(&e.to_string()))))?;
    manifest
        .model
        .into_iter()
        .find(|m| m.name == name)
        .ok_or_else(|| model_err(name, format!("not listed in {}", path.display())))
}

/// Which device the models of this process run on, decided once by [`select_device`] (the
/// daemon and `speakface render` at start, `speakface models --device`): every model loaded
/// after it uses that device.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceChoice {
    /// What the configuration asked for: "cpu" or "cuda".
    pub configured: String,
    /// Where the models run: "cpu" or "cuda".
    pub device: String,
    /// Why the configured device is not used (one line), when it is not.
    pub fallback: Option<String>,
    /// The self-test: one hop of the float lip-sync model on the chosen device, milliseconds
    /// (first run, including the device's warm-up), and its largest difference from the CPU.
    pub self_test_ms: Option<f64>,
    pub self_test_max_diff: Option<f32>,
}

static DEVICE: std::sync::OnceLock<&'static dyn Runtime> = std::sync::OnceLock::new();

/// The CUDA backend is in the binary only when built with `--features cuda`.
#[cfg(feature = "cuda")]
use tract_cuda as _;

/// Whether this binary carries tract's CUDA backend (the `cuda` feature).
pub const CUDA_BUILT_IN: bool = cfg!(feature = "cuda");

/// Largest difference allowed between the self-test on the GPU and on the CPU.
const SELF_TEST_BOUND: f32 = 1e-3;

crate::choice! {
    /// Where the models run (`inference.device`).
    pub enum Device for "inference.device" {
        Cpu = "cpu",
        /// tract's CUDA backend (falls back to the CPU, and says why, where it cannot run).
        Cuda = "cuda",
    }
}

/// A model and input shapes to run once on the GPU and the CPU before the GPU is trusted.
pub struct Probe<'a> {
    pub model: &'a str,
    pub shapes: &'a [Vec<usize>],
}

/// Chooses the device for every model loaded afterwards: "cpu", or "cuda" if this build has
/// tract's CUDA backend, the CUDA libraries load and a real inference on the GPU (`probe`: the
/// daemon and render give one hop of the float lip-sync model, `mouth::model::select_device`)
/// gives the CPU's numbers within 1e-3. Otherwise the CPU, with the
/// reason in `fallback`. Only the first call in a process decides; later calls report it.
pub fn select_device(configured: Device, models_dir: &Path, probe: &Probe) -> DeviceChoice {
    let mut choice = DeviceChoice {
        configured: configured.as_str().to_string(),
        device: "cpu".into(),
        fallback: None,
        self_test_ms: None,
        self_test_max_diff: None,
    };
    if configured != Device::Cuda {
        return choice;
    }
    // A CUDA library that lacks a function the binding calls (CUDA 13's runtime without
    // cudaGetDeviceProperties_v2, say) makes cudarc panic: that is a fallback too, not a crash.
    let tested = std::panic::catch_unwind(|| cuda_self_test(models_dir, probe)).unwrap_or_else(|p| {
        let what = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
        Err(format!("the CUDA libraries here do not fit this build (CUDA 12 API): {}", one_line(&what)))
    });
    match tested {
        Ok((rt, ms, diff)) => {
            choice.self_test_ms = Some(ms);
            choice.self_test_max_diff = Some(diff);
            if DEVICE.set(rt).is_ok() || DEVICE.get().is_some_and(|d| d.name() == "cuda") {
                choice.device = "cuda".into();
            } else {
                choice.fallback = Some("another device was chosen earlier in this process".into());
            }
        }
        Err(why) => choice.fallback = Some(why),
    }
    choice
}

fn cuda_self_test(models_dir: &Path, probe: &Probe) -> std::result::Result<(&'static dyn Runtime, f64, f32), String> {
    if !CUDA_BUILT_IN {
        return Err("this build has no CUDA backend (build with --features cuda)".into());
    }
    let rt = match runtime_for_name("cuda") {
        Ok(Some(rt)) => rt,
        Ok(None) => return Err("tract's CUDA runtime is not registered in this build".into()),
        Err(e) => return Err(format!("CUDA is not usable here: {}", one_line(&format!("{e:#}")))),
    };
    let (name, shapes) = (probe.model, probe.shapes);
    let inputs: Vec<Vec<f32>> = shapes
        .iter()
        .enumerate()
        .map(|(k, s)| (0..s.iter().product::<usize>()).map(|i| ((i * 7 + k * 13) % 23) as f32 / 23.0 - 0.5).collect())
        .collect();
    let refs: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
    let cpu = Model::load_on(models_dir, name, Some(shapes), None).and_then(|m| m.run(&refs)).map_err(|e| e.to_string())?;
    let t = std::time::Instant::now();
    let gpu = Model::load_on(models_dir, name, Some(shapes), Some(rt))
        .and_then(|m| m.run(&refs))
        .map_err(|e| format!("the self-test inference on the GPU failed: {e}"))?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let diff = cpu.iter().flatten().zip(gpu.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    if cpu.iter().map(Vec::len).ne(gpu.iter().map(Vec::len)) || !(diff <= SELF_TEST_BOUND) {
        return Err(format!("the self-test on the GPU differs from the CPU by {diff} (bound {SELF_TEST_BOUND})"));
    }
    Ok((rt, ms, diff))
}

/// A verified, optimized, ready-to-run model.
pub struct Model {
    name: String,
    plan: Box<dyn Runnable>,
    input_shapes: Vec<Vec<usize>>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("name", &self.name).field("inputs", &self.input_shapes).finish()
    }
}

impl Model {
    /// Loads model `name` from `dir`, refusing a file whose sha256 differs from the manifest's.
    pub fn load(dir: &Path, name: &str) -> Result<Model> {
        Self::load_shaped(dir, name, None)
    }

    /// As `load`, with the inputs' shapes given here instead of the manifest's (a model whose
    /// first axis is a free chunk length, planned for one chunk size).
    pub fn load_shaped(dir: &Path, name: &str, shapes: Option<&[Vec<usize>]>) -> Result<Model> {
        Self::load_on(dir, name, shapes, DEVICE.get().copied())
    }

    /// As `load_shaped`, on a given tract runtime (None: tract's own CPU plan).
    fn load_on(dir: &Path, name: &str, shapes: Option<&[Vec<usize>]>, runtime: Option<&'static dyn Runtime>) -> Result<Model> {
        let mut entry = manifest_entry(dir, name)?;
        if let Some(shapes) = shapes {
            if shapes.len() != entry.inputs.len() {
                return Err(model_err(name, format!("has {} inputs, {} shapes given", entry.inputs.len(), shapes.len())));
            }
            for (i, s) in entry.inputs.iter_mut().zip(shapes) {
                i.shape = s.clone();
            }
        }
        let path = dir.join(&entry.file);
        let bytes = std::fs::read(&path)
            .map_err(|e| model_err(name, format!("cannot read {}: {e}", path.display())))?;
        let actual = crate::util::hash::sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(&entry.sha256) {
            return Err(model_err(
                name,
                format!(
                    "{} has sha256 {actual}, the manifest expects {}: the file is damaged or was replaced; reinstall the models",
                    path.display(),
                    entry.sha256
                ),
            ));
        }
        let mut model = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .map_err(|e| model_err(name, format!("{} is not a loadable ONNX model: {}", path.display(), one_line(&e.to_string()))))?;
        for (i, input) in entry.inputs.iter().enumerate() {
            model = model
                .with_input_fact(i, f32::fact(input.shape.clone()).into())
                .map_err(|e| model_err(name, format!("input {}: {}", input.name, one_line(&e.to_string()))))?;
        }
        let plan: Box<dyn Runnable> = match runtime {
            None => model.into_optimized().and_then(|m| m.into_runnable()).map(|p| Box::new(p) as _),
            Some(rt) => model.into_typed().and_then(|m| m.into_decluttered()).and_then(|m| rt.prepare(m)),
        }
        .map_err(|e| model_err(name, format!("cannot prepare {}: {}", path.display(), one_line(&format!("{e:#}")))))?;
        Ok(Model {
            name: name.to_string(),
            plan,
            input_shapes: entry.inputs.iter().map(|i| i.shape.clone()).collect(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn input_shape(&self, i: usize) -> Option<&[usize]> {
        self.input_shapes.get(i).map(Vec::as_slice)
    }

    /// Runs the model on f32 inputs (one slice per input, in manifest order, each exactly the
    /// manifest's shape) and returns every output flattened.
    pub fn run(&self, inputs: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        let mut tensors = TVec::new();
        for (i, data) in inputs.iter().enumerate() {
            let shape = self
                .input_shapes
                .get(i)
                .ok_or_else(|| model_err(&self.name, format!("has no input #{i}")))?;
            let t = Tensor::from_shape(shape, data)
                .map_err(|e| model_err(&self.name, format!("input #{i}: {}", one_line(&e.to_string()))))?;
            tensors.push(t.into_tvalue());
        }
        let outputs = self
            .plan
            .run(tensors)
            .map_err(|e| model_err(&self.name, format!("inference failed: {}", one_line(&e.to_string()))))?;
        outputs
            .iter()
            .map(|o| {
                o.try_as_plain_ram()
                    .and_then(|v| v.as_slice::<f32>().map(<[f32]>::to_vec))
                    .map_err(|e| model_err(&self.name, format!("output is not f32: {e}")))
            })
            .collect()
    }
}
