//! Step 1 of [`super`]: the space the input check searches, the inputs centred and projected
//! on their leading principal directions (`z = V_c^T (x - x̄)`), fitted once and applied to
//! other rows of the same kind (a trusted clean set, [`crate::clean_reference`]).

use crate::linalg::principal;
use crate::{Embeddings, Result};
use faer::Mat;
use mithridate_data::{seeded_sample, Dataset};

/// Rows projected per block (bounds the temporary `BLOCK x d` copy).
const BLOCK: usize = 4096;

/// Step 1's map: centring and the leading principal directions (`None`: the raw inputs).
pub(crate) struct Projection {
    d: usize,
    map: Option<(Vec<f32>, Mat<f32>)>,
}

impl Projection {
    /// The map estimated on `data` (whose dense features are `values`): its `components`
    /// leading principal directions (`c = min(components, d)`), fitted on a seeded sample of
    /// `pca_sample` rows; the raw inputs when `components` is 0 or at least `d`.
    pub(crate) fn fit(
        components: usize,
        pca_sample: usize,
        values: &[f32],
        data: &Dataset,
        seed: u64,
    ) -> Result<Projection> {
        let n = data.len();
        let d = data.modality().sample_len();
        // Checks the values (shape, finite) whichever space is searched.
        let emb = Embeddings::new(values, d, data.labels(), data.ids(), data.num_classes())?;
        if components == 0 || components >= d {
            return Ok(Projection { d, map: None });
        }
        let sample = seeded_sample(n, pca_sample, seed);
        let pca = principal(&emb, &sample, components)?;
        let directions = Mat::from_fn(d, components, |i, j| pca.directions[(i, j)] as f32);
        let mean: Vec<f32> = pca.mean.iter().map(|&m| m as f32).collect();
        Ok(Projection {
            d,
            map: Some((mean, directions)),
        })
    }

    /// Rows of `d` values each (`values.len() / d` rows) in the searched space.
    pub(crate) fn apply(&self, values: &[f32]) -> Mat<f32> {
        let (d, n) = (self.d, values.len() / self.d.max(1));
        let Some((mean, directions)) = &self.map else {
            return Mat::from_fn(n, d, |i, j| values[i * d + j]);
        };
        let mut out = Mat::<f32>::zeros(n, directions.ncols());
        for start in (0..n).step_by(BLOCK) {
            let len = BLOCK.min(n - start);
            let block = Mat::from_fn(len, d, |i, j| values[(start + i) * d + j] - mean[j]);
            out.subrows_mut(start, len).copy_from(&block * directions);
        }
        out
    }
}
