//! What a Deep Partition Aggregation base classifier sees of an image: fixed, per-image
//! transforms applied before training and prediction.
//!
//! Every transform here is a function of one image alone, with no parameter fitted on any
//! data, so applying it to each partition's samples (and to the test inputs) keeps the base
//! training procedure a deterministic function of the partition's own samples: DPA's
//! certificate holds unchanged.
//!
//! - [`BaseFeatures::Deskew`]: moment deskewing (Casey, "Moment normalization of handprinted
//!   characters", IBM J. Res. Dev. 1970; the MNIST preprocessing of LeCun, Bottou, Bengio &
//!   Haffner 1998). With `I` the image, `m = sum I`, centroid `(rbar, cbar)`,
//!   `mu_rr = sum I (r - rbar)^2 / m` and `mu_rc = sum I (r - rbar)(c - cbar) / m`, the skew
//!   is `alpha = mu_rc / mu_rr` and the output pixel `(r, c)` samples the input (bilinearly,
//!   zero outside) at `(r - r0 + rbar, c - c0 + cbar + alpha (r - r0))`, `(r0, c0)` the
//!   image's centre: the ink's centroid moves to the centre and its row-column covariance
//!   becomes zero (a slanted stroke stands upright).

use crate::EngineError;
use mithridate_data::{Dataset, Features, Modality};
use std::fmt;
use std::str::FromStr;

/// The per-image transform in front of every DPA base classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BaseFeatures {
    /// The pixels as they are.
    #[default]
    Raw,
    /// Moment deskewing and centring (see the module documentation).
    Deskew,
}

impl BaseFeatures {
    pub const ALL: [BaseFeatures; 2] = [BaseFeatures::Raw, BaseFeatures::Deskew];

    pub fn name(self) -> &'static str {
        match self {
            BaseFeatures::Raw => "raw",
            BaseFeatures::Deskew => "deskew",
        }
    }

    /// `data` with the transform applied to every image; non-image data and `Raw` unchanged.
    pub fn apply(self, data: &Dataset) -> Result<Dataset, EngineError> {
        let (Modality::Image { height, width, .. }, Features::Dense(x)) =
            (data.modality(), data.features())
        else {
            return Ok(data.clone());
        };
        let (h, w) = (*height, *width);
        let values: Vec<f32> = match self {
            BaseFeatures::Raw => return Ok(data.clone()),
            BaseFeatures::Deskew => x
                .chunks_exact(h * w)
                .flat_map(|plane| deskew(plane, h, w))
                .collect(),
        };
        Ok(Dataset::new(
            data.modality().clone(),
            Features::Dense(values),
            data.labels().to_vec(),
            data.ids().to_vec(),
            data.num_classes(),
            data.class_names().to_vec(),
        )?)
    }
}

impl fmt::Display for BaseFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BaseFeatures {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        BaseFeatures::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = BaseFeatures::ALL.iter().map(|f| f.name()).collect();
                EngineError::InvalidInput(format!(
                    "unknown base features '{s}' (expected one of: {})",
                    names.join(", ")
                ))
            })
    }
}

/// One `h x w` plane deskewed and centred by its moments (a blank plane unchanged).
pub fn deskew(plane: &[f32], h: usize, w: usize) -> Vec<f32> {
    let mass: f64 = plane.iter().map(|&v| f64::from(v)).sum();
    if mass <= 0.0 {
        return plane.to_vec();
    }
    let (mut rbar, mut cbar) = (0.0f64, 0.0f64);
    for (i, &v) in plane.iter().enumerate() {
        rbar += f64::from(v) * (i / w) as f64;
        cbar += f64::from(v) * (i % w) as f64;
    }
    rbar /= mass;
    cbar /= mass;
    let (mut rr, mut rc) = (0.0f64, 0.0f64);
    for (i, &v) in plane.iter().enumerate() {
        let (dr, dc) = ((i / w) as f64 - rbar, (i % w) as f64 - cbar);
        rr += f64::from(v) * dr * dr;
        rc += f64::from(v) * dr * dc;
    }
    let alpha = if rr > 1e-12 { rc / rr } else { 0.0 };
    let (r0, c0) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
    let at = |r: isize, c: isize| -> f64 {
        if (0..h as isize).contains(&r) && (0..w as isize).contains(&c) {
            f64::from(plane[r as usize * w + c as usize])
        } else {
            0.0
        }
    };
    let mut out = Vec::with_capacity(h * w);
    for r in 0..h {
        for c in 0..w {
            let sr = r as f64 - r0 + rbar;
            let sc = c as f64 - c0 + cbar + alpha * (r as f64 - r0);
            let (fr, fc) = (sr.floor(), sc.floor());
            let (tr, tc) = (sr - fr, sc - fc);
            let (ir, ic) = (fr as isize, fc as isize);
            let v = (1.0 - tr) * ((1.0 - tc) * at(ir, ic) + tc * at(ir, ic + 1))
                + tr * ((1.0 - tc) * at(ir + 1, ic) + tc * at(ir + 1, ic + 1));
            out.push(v as f32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row-column covariance of a plane's ink.
    fn skew(plane: &[f32], w: usize) -> f64 {
        let m: f64 = plane.iter().map(|&v| f64::from(v)).sum();
        let mean = |f: &dyn Fn(usize) -> f64| {
            plane
                .iter()
                .enumerate()
                .map(|(i, &v)| f64::from(v) * f(i))
                .sum::<f64>()
                / m
        };
        let (rb, cb) = (mean(&|i| (i / w) as f64), mean(&|i| (i % w) as f64));
        mean(&|i| ((i / w) as f64 - rb) * ((i % w) as f64 - cb))
    }

    #[test]
    fn deskewing_a_sheared_bar_stands_it_upright_in_the_centre() {
        // A one-pixel bar on a 9 x 9 grid leaning one column right per two rows
        // (c = 2 + r / 2), off centre: after deskewing it is the centre column.
        let (h, w) = (9, 9);
        let mut plane = vec![0.0f32; h * w];
        for r in 1..8 {
            plane[r * w + 2 + r / 2] = 1.0;
        }
        assert!(skew(&plane, w) > 0.5);
        let out = deskew(&plane, h, w);
        assert!(skew(&out, w).abs() < 0.05, "skew {}", skew(&out, w));
        // Ink stays (up to what falls off the border: none here) and sits in column 4.
        let total: f32 = out.iter().sum();
        assert!((total - 7.0).abs() < 1e-4, "{total}");
        let centre: f32 = (0..h).map(|r| out[r * w + 4]).sum();
        assert!(
            centre > 0.7 * total,
            "centre column holds {centre} of {total}"
        );
        // An upright centred bar is a fixed point.
        let mut upright = vec![0.0f32; h * w];
        for r in 1..8 {
            upright[r * w + 4] = 1.0;
        }
        assert_eq!(deskew(&upright, h, w), upright);
        // A blank image is left alone.
        assert_eq!(deskew(&[0.0; 4], 2, 2), vec![0.0; 4]);
    }

    #[test]
    fn names_round_trip() {
        for f in BaseFeatures::ALL {
            assert_eq!(f.to_string().parse::<BaseFeatures>().unwrap(), f);
        }
        assert!("sift".parse::<BaseFeatures>().is_err());
    }
}
