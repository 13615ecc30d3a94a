//! Stamping a reversed trigger on data (what Neural Cleanse's unlearning trains on).

use crate::reverse::{layout, stamp, ReversedTrigger};
use crate::{GateError, Result};
use mithridate_data::{Dataset, Features};

impl ReversedTrigger {
    /// `x' = (1 - m) x + m p` applied to the rows `rows` of `data` (dense images or tabular
    /// rows of the layout the trigger was found on); other rows and the labels are kept. This
    /// is what Neural Cleanse's unlearning stamps on clean data under the correct labels.
    ///
    /// Errors when the data is not dense, its layout differs from the trigger's, or a row is
    /// out of range.
    pub fn stamp(&self, data: &Dataset, rows: &[usize]) -> Result<Dataset> {
        let (channels, positions) = layout(data.modality())?;
        let per = channels * positions;
        if self.mask.len() != positions || self.pattern.len() != per {
            return Err(GateError::Input(format!(
                "a trigger of {} mask and {} pattern values does not fit {} rows of {per} values",
                self.mask.len(),
                self.pattern.len(),
                data.modality().name()
            )));
        }
        let Features::Dense(x) = data.features() else {
            return Err(GateError::Input("stamping needs dense features".into()));
        };
        let mut values = x.clone();
        let mask: Vec<f64> = self.mask.iter().map(|&m| f64::from(m)).collect();
        let pattern: Vec<f64> = self.pattern.iter().map(|&p| f64::from(p)).collect();
        for &r in rows {
            if r >= data.len() {
                return Err(GateError::Input(format!(
                    "row {r} is out of range for {} samples",
                    data.len()
                )));
            }
            let stamped = stamp(&x[r * per..(r + 1) * per], &mask, &pattern, channels);
            values[r * per..(r + 1) * per].copy_from_slice(&stamped);
        }
        Dataset::new(
            data.modality().clone(),
            Features::Dense(values),
            data.labels().to_vec(),
            data.ids().to_vec(),
            data.num_classes(),
            data.class_names(),
        )
        .map_err(|e| GateError::Input(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mithridate_data::Modality;

    fn image_data(rows: Vec<f32>, labels: Vec<u32>, side: usize) -> Dataset {
        let n = labels.len();
        Dataset::new(
            Modality::Image {
                channels: 1,
                height: side,
                width: side,
            },
            Features::Dense(rows),
            labels,
            (0..n as u64).collect(),
            2,
            vec![],
        )
        .unwrap()
    }

    #[test]
    fn stamp_blends_only_the_chosen_rows_by_hand() {
        // 2 images of 2x2; mask 1 on pixel 0, 0.5 on pixel 3; pattern all 0.8.
        let data = image_data(vec![0.0, 0.2, 0.4, 0.6, 1.0, 1.0, 1.0, 1.0], vec![0, 1], 2);
        let t = ReversedTrigger {
            mask_norm: 1.5,
            success: 1.0,
            mask: vec![1.0, 0.0, 0.0, 0.5],
            pattern: vec![0.8; 4],
            steps: 1,
        };
        let out = t.stamp(&data, &[0]).unwrap();
        let Features::Dense(v) = out.features() else {
            unreachable!()
        };
        let want = [0.8, 0.2, 0.4, 0.5 * 0.6 + 0.5 * 0.8, 1.0, 1.0, 1.0, 1.0];
        for (a, b) in v.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{v:?}");
        }
        assert_eq!(out.labels(), data.labels());
        assert!(t
            .stamp(&data, &[2])
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        let short = ReversedTrigger {
            mask: vec![1.0],
            ..t.clone()
        };
        assert!(short.stamp(&data, &[0]).is_err());
    }
}
