//! What an alarmed group's direction says: whether samples the model keeps in the class
//! share it (a style of the class, not a trigger), and which kept samples lie far out along it
//! (poisons the model already places in the attacker's class).

use super::{norm, Residuals};
use faer::Mat;

/// The alarmed group's direction (`sum_a v_a u_a`, `v` the top eigenvector over the suspects
/// `own`) and the cosines with it of the suspects and of the rows labelled `class` that the
/// model keeps in it (`kept`).
pub(super) struct Alignment {
    suspects: Vec<f64>,
    kept: Vec<usize>,
    kept_cosines: Vec<f64>,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn alignment(
    x: &[f32],
    class: u32,
    labels: &[u32],
    predicted: &[u32],
    residuals: &Residuals,
    u: &Mat<f32>,
    own: &[usize],
    eigenvector: &[f64],
) -> Option<Alignment> {
    let mut direction = vec![0.0f64; residuals.d];
    for (&row, &weight) in own.iter().zip(eigenvector) {
        for (c, value) in direction.iter_mut().enumerate() {
            *value += weight * f64::from(u[(row, c)]);
        }
    }
    let length = norm(&direction);
    let kept: Vec<usize> = (0..labels.len())
        .filter(|&i| labels[i] == class && predicted[i] == class)
        .collect();
    if length == 0.0 || kept.len() < 3 {
        return None;
    }
    let cosines = |m: &Mat<f32>, rows: &mut dyn Iterator<Item = usize>| -> Vec<f64> {
        rows.map(|r| {
            (0..residuals.d)
                .map(|c| f64::from(m[(r, c)]) * direction[c])
                .sum::<f64>()
                / length
        })
        .collect()
    };
    let v = residuals.directions(x, &kept, predicted);
    Some(Alignment {
        suspects: cosines(u, &mut own.iter().copied()),
        kept_cosines: cosines(&v, &mut (0..kept.len())),
        kept,
    })
}

impl Alignment {
    /// Whether the direction is a style of the class rather than a trigger: rows the model
    /// keeps in the class lie along it too, at least half as many as suspects (and at least
    /// 3), with "along" meaning a cosine of at least half the median of the suspects within
    /// half the largest cosine. A trigger makes its bearers suspects (a model trained before
    /// the poisons places them in their true class), so almost no kept row carries it (0-2
    /// of 100-290 against 8-10 suspects on the MNIST and Fashion-MNIST streams); a natural
    /// sub-population of the class (one cut of T-shirt) is mostly kept and only its borderline
    /// members are suspects (17-74 kept against 16-37 suspects on clean Fashion-MNIST
    /// streams). The price: poisons a partly backdoored model already keeps count against
    /// the alarm.
    pub(super) fn is_class_style(&self) -> bool {
        let top = self.suspects.iter().copied().fold(f64::MIN, f64::max);
        let group: Vec<f64> = self
            .suspects
            .iter()
            .copied()
            .filter(|&c| c >= 0.5 * top)
            .collect();
        let bar = 0.5 * median(&group);
        let kept = self.kept_cosines.iter().filter(|&&c| c >= bar).count();
        let suspects = self.suspects.iter().filter(|&&c| c >= bar).count();
        kept >= 3 && 2 * kept >= suspects
    }

    /// Kept rows lying along the direction: poisons the model already places in the
    /// attacker's class. A row is named when its cosine is at least `ALIGNED_Z` robust
    /// standard deviations (1.4826 MAD) above the median of the kept rows.
    pub(super) fn aligned_rows(&self) -> Vec<usize> {
        let cosines = &self.kept_cosines;
        let centre = median(cosines);
        let deviations: Vec<f64> = cosines.iter().map(|c| (c - centre).abs()).collect();
        let spread = 1.4826 * median(&deviations);
        if spread <= 0.0 {
            return Vec::new();
        }
        self.kept
            .iter()
            .zip(cosines)
            .filter(|(_, &c)| (c - centre) / spread >= ALIGNED_Z)
            .map(|(&i, _)| i)
            .collect()
    }
}

/// How far out a row must lie along the group's direction to be named (far beyond any natural
/// tail of ~200 rows, where 4 robust deviations is already rare).
const ALIGNED_Z: f64 = 6.0;

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    }
}
