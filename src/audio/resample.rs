//! Band-limited resampling by a Kaiser-windowed sinc, polyphase when the rate ratio is a fraction
//! with a modest denominator (every common rate pair: 44.1k, 48k, 22.05k, 8k → 16k), direct
//! evaluation otherwise. Anti-aliasing cutoff at 95 % of the lower Nyquist frequency; stop band
//! better than 80 dB with the 16 zero crossings used.

/// Zero crossings of the sinc on each side.
const ZEROS: usize = 16;
const KAISER_BETA: f64 = 8.6;
const MAX_PHASES: u64 = 4096;

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-12 * sum {
        term *= (x / (2.0 * k)).powi(2);
        sum += term;
        k += 1.0;
    }
    sum
}

/// A resampler from one rate to another, for whole signals.
pub struct Resampler {
    from: u32,
    to: u32,
    /// Input-sample distance at which the kernel reaches zero.
    half_width: f64,
    /// Cutoff relative to the input Nyquist frequency, times the gain correction.
    cutoff: f64,
    /// Polyphase table: `phases` rows of `taps` coefficients, or empty for direct evaluation.
    table: Vec<f32>,
    phases: usize,
    taps: usize,
}

impl Resampler {
    pub fn new(from: u32, to: u32) -> Self {
        assert!(from > 0 && to > 0, "sample rates must be positive");
        let cutoff = 0.95 * (to as f64 / from as f64).min(1.0);
        let half_width = ZEROS as f64 / cutoff;
        let g = gcd(from as u64, to as u64);
        let up = to as u64 / g;
        let mut r = Resampler { from, to, half_width, cutoff, table: Vec::new(), phases: 0, taps: 0 };
        if up <= MAX_PHASES {
            // Output n sits at input position n*from/to = (n*down)/up: phase (n*down) % up.
            let taps = 2 * half_width.ceil() as usize + 1;
            let phases = up as usize;
            let mut table = vec![0f32; phases * taps];
            for p in 0..phases {
                let frac = p as f64 / up as f64;
                let first = -(half_width.ceil() as i64);
                for t in 0..taps {
                    let d = (first + t as i64) as f64 - frac;
                    table[p * taps + t] = r.kernel(d) as f32;
                }
            }
            r.table = table;
            r.phases = phases;
            r.taps = taps;
        }
        r
    }

    /// The kernel at input-sample distance `d`.
    fn kernel(&self, d: f64) -> f64 {
        if d.abs() >= self.half_width {
            return 0.0;
        }
        let x = d * self.cutoff;
        let sinc = if x.abs() < 1e-9 { 1.0 } else { (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x) };
        let w = d / self.half_width;
        let window = bessel_i0(KAISER_BETA * (1.0 - w * w).max(0.0).sqrt()) / bessel_i0(KAISER_BETA);
        self.cutoff * sinc * window
    }

    /// Number of output samples for `n` input samples.
    pub fn output_len(&self, n: usize) -> usize {
        ((n as u128 * self.to as u128).div_ceil(self.from as u128)) as usize
    }

    /// Resamples a whole mono signal (zero beyond its ends).
    pub fn process(&self, input: &[f32]) -> Vec<f32> {
        if self.from == self.to {
            return input.to_vec();
        }
        let n_out = self.output_len(input.len());
        let mut out = Vec::with_capacity(n_out);
        let g = gcd(self.from as u64, self.to as u64);
        let (up, down) = (self.to as u64 / g, self.from as u64 / g);
        let hw = self.half_width.ceil() as i64;
        for n in 0..n_out as u64 {
            let pos = n * down;
            let centre = (pos / up) as i64;
            let mut acc = 0f32;
            if self.phases > 0 {
                let row = &self.table[(pos % up) as usize * self.taps..][..self.taps];
                let first = centre - hw;
                let lo = (-first).max(0) as usize;
                let hi = ((input.len() as i64 - first).min(self.taps as i64)).max(0) as usize;
                for t in lo..hi.max(lo) {
                    acc += row[t] * input[(first + t as i64) as usize];
                }
            } else {
                let x = pos as f64 / up as f64;
                for i in (centre - hw).max(0)..(centre + hw + 1).min(input.len() as i64) {
                    acc += self.kernel(i as f64 - x) as f32 * input[i as usize];
                }
            }
            out.push(acc);
        }
        out
    }
}

/// Resamples a mono signal from `from` Hz to `to` Hz.
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    Resampler::new(from, to).process(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: u32, secs: f64) -> Vec<f32> {
        (0..(rate as f64 * secs) as usize).map(|i| (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin() as f32 * 0.5).collect()
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
    }

    #[test]
    fn passes_speech_band_and_keeps_length() {
        for from in [8000, 22050, 44100, 48000, 44056] {
            let x = tone(1000.0, from, 1.0);
            let y = resample(&x, from, 16000);
            assert!((y.len() as i64 - 16000).abs() <= 1, "{from}: {}", y.len());
            // Away from the edges the tone keeps its level and frequency.
            let mid = &y[2000..14000];
            assert!((rms(mid) - 0.5 / 2f32.sqrt()).abs() < 0.01, "{from}: rms {}", rms(mid));
            let expected = tone(1000.0, 16000, 1.0);
            let err = mid.iter().zip(&expected[2000..14000]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(err < 0.01, "{from}: max err {err}");
        }
    }

    #[test]
    fn removes_what_would_alias() {
        // 11 kHz at 48 kHz would fold to 5 kHz at 16 kHz without the filter.
        let y = resample(&tone(11000.0, 48000, 1.0), 48000, 16000);
        assert!(rms(&y[1000..15000]) < 1e-3, "leak {}", rms(&y[1000..15000]));
    }
}
