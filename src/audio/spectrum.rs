//! The windowed real FFT both analysers share: plan, zero-padded input buffer, output and scratch,
//! allocated once. Each analyser keeps its own window (their shapes differ).

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

pub(crate) struct WindowedFft {
    fft: Arc<dyn RealToComplex<f32>>,
    buf: Vec<f32>,
    spec: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
}

impl WindowedFft {
    pub(crate) fn new(len: usize) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(len);
        let spec = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        WindowedFft { fft, buf: vec![0.0; len], spec, scratch }
    }

    /// Spectrum (bins 0..=len/2) of `samples × window`, zero-padded to the FFT length.
    pub(crate) fn process(&mut self, samples: &[f32], window: &[f32]) -> &[Complex<f32>] {
        self.buf.iter_mut().for_each(|v| *v = 0.0);
        for ((b, s), w) in self.buf.iter_mut().zip(samples).zip(window) {
            *b = s * w;
        }
        // Only fails on buffer lengths, which `new` fixed.
        self.fft
            .process_with_scratch(&mut self.buf, &mut self.spec, &mut self.scratch)
            .expect("FFT buffers sized by the plan");
        &self.spec
    }
}
