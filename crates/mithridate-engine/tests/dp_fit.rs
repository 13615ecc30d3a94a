//! `Classifier::fit` with DP-SGD (`TrainParams::dp`): it learns, is seeded, reports what the
//! accountant needs, and refuses the text model.

use mithridate_engine::{Architecture, Classifier, DpSgd, Optimizer, TrainParams};

use crate::common;
use common::{quadrant_images, two_topic_text};

fn dp_params(arch: Architecture, epochs: usize) -> TrainParams {
    let mut p = TrainParams::default_for(arch);
    p.epochs = epochs;
    p.optimizer = Optimizer::Sgd {
        lr: 0.5,
        momentum: 0.0,
    };
    p.dp = Some(DpSgd {
        noise_multiplier: 0.8,
        clip: 1.0,
        sampling_rate: 0.25,
    });
    p
}

#[test]
fn dp_fit_learns_is_seeded_and_reports_its_privacy() {
    let data = quadrant_images(128, 8, 1);
    for arch in [Architecture::Cnn, Architecture::Mlp, Architecture::LogReg] {
        let cfg = dp_params(arch, 4).check().unwrap();
        let fit = |seed| {
            let mut model = Classifier::new(arch, data.modality(), 4, 3).unwrap();
            let report = model.fit(&data, &cfg, seed, &mut |_| {}).unwrap();
            (model.flat_parameters().unwrap(), report, model)
        };
        let (w1, report, model) = fit(7);
        let (w2, _, _) = fit(7);
        let (w3, _, _) = fit(8);
        assert_eq!(w1, w2, "{arch}: same seed, same weights");
        assert_ne!(w1, w3, "{arch}: another seed draws other lots and noise");
        let dp = report.dp.expect("a DP report");
        assert_eq!(dp.steps, 4 * 4);
        assert!((0.0..=1.0).contains(&dp.clipped_fraction));
        let want = mithridate_privacy::epsilon_for_poisson_gaussian(0.8, 0.25, 16, 1e-5)
            .unwrap()
            .epsilon;
        assert_eq!(dp.epsilon(1e-5).unwrap(), want);
        assert!(dp.epsilon(1.5).is_err());
        let predicted = model.predict(&data).unwrap();
        let correct = predicted
            .iter()
            .zip(data.labels())
            .filter(|(p, y)| p == y)
            .count();
        // Four classes (chance 25%); the quadrants are easy even through the noise.
        assert!(correct * 10 >= data.len() * 7, "{arch}: {correct} of 128");
    }
}

#[test]
fn dp_fit_refuses_the_text_model() {
    let data = two_topic_text(40, 2);
    let mut model = Classifier::new(Architecture::Text, data.modality(), 2, 0).unwrap();
    let cfg = dp_params(Architecture::Text, 1).check().unwrap();
    let err = model
        .fit(&data, &cfg, 0, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("DP-SGD is not supported for the 'text' model"),
        "{err}"
    );
}
