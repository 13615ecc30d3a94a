//! Hand-built privacy and DPA records for the report's tests (unit tests and the browser test,
//! which includes this file by path beside `fixtures.rs`).

use super::fixtures::federated;
use crate::record::{CellRecord, DpaOutcome, Outcome, PrivacyOutcome, RadiusPoint};

/// A privacy record: the federated fixture's run of `rule` under `attack` (five rounds to
/// `accuracy` and `asr`, 20 clients, 10 per round, 2 malicious), as the deployment `label`.
pub fn privacy(
    index: usize,
    seed: u64,
    (label, rule, curve): (&str, &str, bool),
    attack: &str,
    (accuracy, asr): (f64, Option<f64>),
    (noise_multiplier, epsilon): (Option<f64>, Option<f64>),
) -> CellRecord {
    let mut record = federated(index, seed, attack, rule, accuracy, asr);
    let Outcome::Federated(mut f) = record.outcome else {
        unreachable!("the federated fixture records a federated outcome")
    };
    // Every run of a federation has the same malicious share, the benign one included.
    f.malicious_per_round = 2;
    let secure = label.contains("secagg");
    record.id = format!("mnist/privacy/{attack}/{label}/seed{seed}");
    record.outcome = Outcome::Privacy(PrivacyOutcome {
        deployment: label.to_string(),
        curve,
        noise_multiplier,
        epsilon,
        delta: 1e-5,
        secure_aggregation: secure.then(|| "secagg+:k=10".to_string()),
        dropout: if secure { 0.1 } else { 0.0 },
        federated: f,
    });
    record
}

/// The deployments (label, rule, curve point, noise multiplier, epsilon) of
/// [`privacy_assessment`], in plan order (the curve's larger multiplier first, to check that the
/// report sorts the curve).
/// (label, rule, curve point, noise multiplier, epsilon).
type DeploymentFixture = (&'static str, &'static str, bool, Option<f64>, Option<f64>);
/// Per seed: no-attack accuracy, accuracy and ASR under model replacement, under sign flip.
type OutcomeFixture = ([f64; 2], [f64; 2], [f64; 2], [f64; 2]);

const DEPLOYMENTS: [DeploymentFixture; 6] = [
    ("fedavg", "fedavg", false, None, None),
    ("median", "median", false, None, None),
    (
        "dp-fedavg:clip=1,noise-multiplier=1",
        "dp-fedavg:clip=1,noise-multiplier=1",
        false,
        Some(1.0),
        Some(2.5),
    ),
    (
        "fedavg + secagg+:k=10, dropout 10%",
        "fedavg",
        false,
        None,
        None,
    ),
    (
        "dp-fedavg:clip=1,noise-multiplier=2",
        "dp-fedavg:clip=1,noise-multiplier=2",
        true,
        Some(2.0),
        Some(0.9),
    ),
    (
        "dp-fedavg:clip=1,noise-multiplier=0.5",
        "dp-fedavg:clip=1,noise-multiplier=0.5",
        true,
        Some(0.5),
        Some(9.0),
    ),
];

/// Final accuracy per seed (0, 1) without attack, under model replacement (with its ASR) and
/// under sign flip, per deployment of [`DEPLOYMENTS`].
const OUTCOMES: [OutcomeFixture; 6] = [
    ([0.90, 0.92], [0.89, 0.91], [1.0, 0.98], [0.30, 0.40]),
    ([0.88, 0.90], [0.88, 0.90], [0.05, 0.03], [0.86, 0.89]),
    ([0.80, 0.82], [0.79, 0.81], [0.06, 0.08], [0.70, 0.76]),
    ([0.90, 0.92], [0.89, 0.91], [0.99, 1.0], [0.31, 0.41]),
    ([0.60, 0.64], [0.60, 0.61], [0.02, 0.0], [0.58, 0.60]),
    ([0.86, 0.88], [0.85, 0.87], [0.5, 0.7], [0.60, 0.64]),
];

/// One privacy block on mnist (mlp) over seeds 0 and 1: per attack (none, model replacement,
/// sign flip), the deployments fedavg, median, dp-fedavg at z = 1 (epsilon 2.5) and fedavg
/// under SecAgg+ with 10% dropout, then the curve points z = 2 (epsilon 0.9) and z = 0.5
/// (epsilon 9); the numbers are [`OUTCOMES`]. Then DPA: k = 1200 logreg over seeds 0 and 1
/// (vote 0.90 / 0.92, base 0.60 / 0.62, median radius 300 / 320, certified at 0, 200, 400:
/// 0.90 / 0.70 / 0.40 and 0.92 / 0.72 / 0.50) and k = 50 logreg, seed 0 (vote 0.95, median
/// radius 12, certified at 0 and 10: 0.95 and 0.5). In plan order.
pub fn privacy_assessment() -> Vec<CellRecord> {
    let mut records = Vec::new();
    for seed in 0..2u64 {
        let s = seed as usize;
        for (a, attack) in ["none", "model-replacement", "sign-flip"]
            .into_iter()
            .enumerate()
        {
            for (d, (label, rule, curve, z, epsilon)) in DEPLOYMENTS.into_iter().enumerate() {
                let (clean, replaced, asr, flipped) = OUTCOMES[d];
                let score = match a {
                    0 => (clean[s], None),
                    1 => (replaced[s], Some(asr[s])),
                    _ => (flipped[s], None),
                };
                let index = records.len();
                let deployment = (label, rule, curve);
                records.push(privacy(
                    index,
                    seed,
                    deployment,
                    attack,
                    score,
                    (z, epsilon),
                ));
            }
        }
        let certified = [[0.90, 0.70, 0.40], [0.92, 0.72, 0.50]][s];
        let index = records.len();
        records.push(dpa(
            index,
            seed,
            1200,
            [0.90, 0.92][s],
            [300.0, 320.0][s],
            [0, 200, 400].into_iter().zip(certified).collect(),
        ));
    }
    let index = records.len();
    records.push(dpa(index, 0, 50, 0.95, 12.0, vec![(0, 0.95), (10, 0.5)]));
    records
}

/// How many plots [`privacy_assessment`] yields: the noise curve and DPA on mnist.
pub const PRIVACY_ASSESSMENT_PLOTS: usize = 2;

/// A DPA record on mnist with logistic regression (base accuracy `vote - 0.3`).
pub fn dpa(
    index: usize,
    seed: u64,
    partitions: usize,
    vote: f64,
    median_radius: f64,
    certified: Vec<(u32, f64)>,
) -> CellRecord {
    CellRecord {
        id: format!("mnist/dpa/k{partitions}/seed{seed}"),
        index,
        dataset: "mnist".to_string(),
        seed,
        outcome: Outcome::Dpa(DpaOutcome {
            model: "logreg".to_string(),
            partitions,
            steps: 200,
            shift: 0,
            features: "raw".to_string(),
            train_samples: 60000,
            test_samples: 2000,
            partition_sizes: [30, 50, 71],
            empty_partitions: 0,
            base_accuracy: vote - 0.3,
            vote_accuracy: vote,
            median_radius,
            certified_accuracy: certified
                .into_iter()
                .map(|(radius, accuracy)| RadiusPoint { radius, accuracy })
                .collect(),
        }),
        seconds: 30.0 + seed as f64,
    }
}
