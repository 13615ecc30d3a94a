//! Deep Partition Aggregation's certificate against the attack it bounds, on real digits: an
//! attacker who rewrites the labels of the `r` partitions voting for a test input's
//! prediction (every sample in them relabelled to the runner-up, so their classifiers all
//! vote for it) cannot change the prediction when `r` is the certified radius, and does at
//! `r + 1`: the radius is sound and tight, with retraining, not vote arithmetic alone.

use mithridate_data::{load, DataHome, Dataset, Split};
use mithridate_engine::base_features::BaseFeatures;
use mithridate_engine::partition_aggregation::{partition_of_rows, run, DpaParams};
use mithridate_engine::Architecture;

fn home() -> DataHome {
    DataHome::for_workspace_tests()
}

const PARAMS: DpaParams = DpaParams {
    partitions: 25,
    architecture: Architecture::LogReg,
    steps: 60,
    seed: 3,
    shift: 0,
    features: BaseFeatures::Raw,
};

/// `data` with every sample of `partitions` relabelled `to`.
fn relabelled(data: &Dataset, partitions: &[usize], to: u32) -> Dataset {
    let part = partition_of_rows(data, PARAMS.partitions);
    let labels: Vec<u32> = data
        .labels()
        .iter()
        .zip(&part)
        .map(|(&y, p)| if partitions.contains(p) { to } else { y })
        .collect();
    Dataset::new(
        data.modality().clone(),
        data.features().clone(),
        labels,
        data.ids().to_vec(),
        data.num_classes(),
        data.class_names().to_vec(),
    )
    .unwrap()
}

#[test]
fn the_certified_radius_is_sound_and_tight_under_relabelling() {
    sound_and_tight(&PARAMS, 0.8);
}

/// The same with the base classifiers on oriented-gradient histograms of deskewed digits: the
/// feature map is part of the base training procedure the certificate covers. (On 8 x 8
/// digits the histograms are one block of 2 x 2 cells of 4 pixels, 48 values: a weaker
/// vote than raw pixels, which does not matter here.)
#[test]
fn the_certified_radius_is_sound_and_tight_on_hog_features() {
    sound_and_tight(
        &DpaParams {
            features: BaseFeatures::Hog,
            ..PARAMS
        },
        0.6,
    );
}

/// `params`' certificate on digits holds and is tight; `min_accuracy`: a floor on the vote's
/// accuracy (the procedure works at all).
fn sound_and_tight(params: &DpaParams, min_accuracy: f64) {
    let train = load(&home(), "digits", Split::Train).unwrap();
    let test = load(&home(), "digits", Split::Test).unwrap();
    let clean = run(&train, &test, params).unwrap();
    let accuracy = clean.certified_accuracy(test.labels(), 0);
    assert!(accuracy > min_accuracy, "vote accuracy {accuracy}");
    // The test input with the smallest radius >= 1 that the vote gets right.
    let (index, cert) = clean
        .certificates
        .iter()
        .enumerate()
        .filter(|(i, c)| c.radius >= 1 && c.prediction == test.labels()[*i])
        .min_by_key(|(_, c)| c.radius)
        .map(|(i, c)| (i, *c))
        .expect("a certified input");
    let one = test.select(&[index]).unwrap();
    // Which partitions vote for the prediction, and the runner-up: each partition's own
    // classifier, retrained alone as `run` trains it.
    let votes = |data: &Dataset| -> Vec<u32> {
        (0..params.partitions)
            .map(|p| {
                let rows: Vec<usize> = partition_of_rows(data, params.partitions)
                    .iter()
                    .enumerate()
                    .filter(|(_, &q)| q == p)
                    .map(|(i, _)| i)
                    .collect();
                let single = DpaParams {
                    partitions: 1,
                    ..params.clone()
                };
                run(&data.select(&rows).unwrap(), &one, &single)
                    .unwrap()
                    .certificates[0]
                    .prediction
            })
            .collect()
    };
    let clean_votes = votes(&train);
    let mut counts = vec![0u32; train.num_classes()];
    clean_votes.iter().for_each(|&c| counts[c as usize] += 1);
    let runner_up = (0..train.num_classes() as u32)
        .filter(|&c| c != cert.prediction)
        .max_by_key(|&c| (counts[c as usize], std::cmp::Reverse(c)))
        .unwrap();
    let voting: Vec<usize> = (0..params.partitions)
        .filter(|&p| clean_votes[p] == cert.prediction)
        .collect();
    let r = cert.radius as usize;
    let held = run(&relabelled(&train, &voting[..r], runner_up), &one, params).unwrap();
    assert_eq!(
        held.certificates[0].prediction, cert.prediction,
        "radius {r} did not hold"
    );
    let broken = run(
        &relabelled(&train, &voting[..r + 1], runner_up),
        &one,
        params,
    )
    .unwrap();
    assert_ne!(
        broken.certificates[0].prediction, cert.prediction,
        "radius {r} is not tight"
    );
}

#[test]
fn impossible_parameters_are_errors() {
    let train = load(&home(), "digits", Split::Train).unwrap();
    let test = load(&home(), "digits", Split::Test).unwrap();
    let too_many = DpaParams {
        partitions: train.len() + 1,
        ..PARAMS
    };
    let e = run(&train, &test, &too_many).unwrap_err().to_string();
    assert!(e.contains("partitions"), "{e}");
    let none = DpaParams {
        partitions: 0,
        ..PARAMS
    };
    assert!(run(&train, &test, &none).is_err());
    let no_steps = DpaParams { steps: 0, ..PARAMS };
    assert!(run(&train, &test, &no_steps).is_err());
}
