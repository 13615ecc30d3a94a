//! The `[privacy]` block: privacy-preserving federated deployments measured side by side under
//! the same update attacks, an optional DP-FedAvg noise curve, and an optional certified defence
//! (Deep Partition Aggregation) on the same dataset.
//!
//! Secure aggregation, DP noise and robust rules pull against each other (the server under
//! SecAgg sees only sums, so order-statistic rules cannot run; DP noise bounds a backdoor at a
//! price in accuracy), so a team choosing a deployment needs them on the same data, clients and
//! attackers. A block therefore shares one federation (the keys of `[[federated]]`) between
//! its deployments; each deployment is a rule string, or a table adding secure aggregation.
//!
//! ```
//! use mithridate_assess::config::Config;
//! let config = Config::parse(r#"
//! [privacy]
//! dataset = "mnist"
//! clients = 100
//! per_round = 0.2
//! rounds = 30
//! byzantine = 0.2
//! attacks = ["none", "model-replacement"]
//! deployments = [
//!   "fedavg", "dp-fedavg:clip=1,noise-multiplier=1",
//!   { rule = "norm-bound:bound=1", secagg = "secagg+", neighbours = 10, dropout = 0.1 },
//! ]
//! noise_curve = { clip = 1.0, noise_multipliers = [0.1, 1.0] }
//! dpa = { partitions = 1200, radii = [0, 100, 200] }
//! "#)?;
//! let block = &config.privacy[0];
//! assert_eq!(block.deployments.get_ref()[2].get_ref().secagg.as_ref().unwrap().neighbours, Some(10));
//! assert_eq!(block.curve_rules().len(), 2);
//! assert_eq!(block.dpa[0].radii(), vec![0, 100, 200]);
//! # Ok::<(), mithridate_assess::config::ConfigError>(())
//! ```

use super::{Config, ConfigError, Federated};
use serde::de::{self, value::MapAccessDeserializer, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// `delta` of the user-level epsilon when a block names none (as `mithridate fl --dp-delta`).
pub const DEFAULT_DELTA: f64 = 1e-5;
/// Radii the certified accuracy is reported at when a DPA setting names none (as
/// `mithridate privacy dpa --radii`).
pub const DEFAULT_RADII: [u32; 7] = [0, 50, 100, 200, 300, 400, 500];

/// One federation with its deployments side by side.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Privacy {
    pub dataset: Spanned<String>,
    /// Model architecture of the federation (default `mlp`).
    pub model: Option<Spanned<String>>,
    pub clients: Spanned<usize>,
    /// Fraction of clients per round, in `(0, 1]`.
    pub per_round: Spanned<f64>,
    pub rounds: Spanned<usize>,
    /// Byzantine fraction of all clients, in `[0, 1)`.
    pub byzantine: Spanned<f64>,
    /// `iid`, `dirichlet:ALPHA` or `shards:K` (default `iid`).
    pub partition: Option<Spanned<String>>,
    pub local_epochs: Option<Spanned<usize>>,
    pub lr: Option<Spanned<f64>>,
    pub max_train: Option<Spanned<usize>>,
    pub max_test: Option<Spanned<usize>>,
    /// `delta` of the user-level `(epsilon, delta)` of DP deployments, in `(0, 1)`.
    pub delta: Option<Spanned<f64>>,
    /// Update attacks (`mithridate fl --help`); include `none` for the clean accuracy and the
    /// reference of each deployment's untargeted damage.
    pub attacks: Vec<Spanned<String>>,
    /// The deployments: a rule string as in `[[federated]].rules`, or a table adding secure
    /// aggregation.
    pub deployments: Spanned<Vec<Spanned<Deployment>>>,
    /// DP-FedAvg at each noise multiplier: the attack success and accuracy against noise curve.
    pub noise_curve: Option<NoiseCurve>,
    /// Certified defence settings on this block's dataset (centralized): `dpa = { ... }` or a
    /// list of them.
    #[serde(default, deserialize_with = "super::one_or_many")]
    pub dpa: Vec<Dpa>,
}

impl Privacy {
    /// `delta` of this block's epsilon.
    pub fn delta(&self) -> f64 {
        self.delta.as_ref().map_or(DEFAULT_DELTA, |d| *d.get_ref())
    }

    /// The noise curve's rules (`dp-fedavg:clip=C,noise-multiplier=Z`), each spanned at its
    /// noise multiplier; empty without a curve.
    pub fn curve_rules(&self) -> Vec<Spanned<String>> {
        let Some(curve) = &self.noise_curve else {
            return Vec::new();
        };
        let clip = *curve.clip.get_ref();
        curve
            .noise_multipliers
            .get_ref()
            .iter()
            .map(|z| {
                let rule = format!("dp-fedavg:clip={clip},noise-multiplier={}", z.get_ref());
                Spanned::new(z.span(), rule)
            })
            .collect()
    }

    /// The block's federation as a `[[federated]]` scenario running every deployment's rule and
    /// every curve rule (each spanned where it is written), so the federated checks (dataset,
    /// model, partition, clients, attacks, rules and their Byzantine tolerance) and the cell
    /// fields are the federated block's own.
    pub fn scenario(&self) -> Federated {
        let deployments = self.deployments.get_ref().iter();
        let rules = deployments
            .map(|d| Spanned::new(d.span(), d.get_ref().rule.clone()))
            .chain(self.curve_rules())
            .collect();
        Federated {
            dataset: self.dataset.clone(),
            model: self.model.clone(),
            clients: self.clients.clone(),
            per_round: self.per_round.clone(),
            rounds: self.rounds.clone(),
            byzantine: self.byzantine.clone(),
            rules,
            attacks: self.attacks.clone(),
            partition: self.partition.clone(),
            local_epochs: self.local_epochs.clone(),
            lr: self.lr.clone(),
            max_train: self.max_train.clone(),
            max_test: self.max_test.clone(),
        }
    }
}

/// One deployment: an aggregation rule, optionally under secure aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// Aggregation rule string (`mithridate aggregate --help`).
    pub rule: String,
    pub secagg: Option<SecAgg>,
}

/// Secure aggregation of a deployment (`mithridate fl --secagg`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SecAgg {
    /// SecAgg+'s graph degree (`secagg = "secagg+"`); `None`: SecAgg's complete graph.
    pub neighbours: Option<usize>,
    /// Shamir threshold as a fraction of a client's neighbours (default 0.5).
    pub threshold: Option<f64>,
    /// Fraction of each round's participants that drop out mid-protocol, in `[0, 1)`.
    pub dropout: f64,
}

/// The table form of a deployment, so unknown keys are refused with their name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeploymentTable {
    rule: String,
    /// `secagg` or `secagg+`.
    secagg: Option<String>,
    neighbours: Option<usize>,
    threshold: Option<f64>,
    dropout: Option<f64>,
}

impl<'de> Deserialize<'de> for Deployment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Deployment, D::Error> {
        struct DeploymentVisitor;
        impl<'de> Visitor<'de> for DeploymentVisitor {
            type Value = Deployment;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a rule string or a { rule, secagg, neighbours, threshold, dropout } table",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Deployment, E> {
                Ok(Deployment {
                    rule: v.to_string(),
                    secagg: None,
                })
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Deployment, A::Error> {
                let t = DeploymentTable::deserialize(MapAccessDeserializer::new(map))?;
                let secagg = match t.secagg.as_deref() {
                    None if t.neighbours.is_some() || t.threshold.is_some() => {
                        return Err(de::Error::custom(
                            "neighbours and threshold need secagg = \"secagg+\" or \"secagg\"",
                        ))
                    }
                    None if t.dropout.is_some() => {
                        return Err(de::Error::custom(
                            "dropouts are simulated under secure aggregation only (add secagg = \"secagg\" or \"secagg+\")",
                        ))
                    }
                    None => None,
                    Some("secagg") if t.neighbours.is_some() => {
                        return Err(de::Error::custom(
                            "secagg runs on the complete graph: neighbours needs secagg = \"secagg+\"",
                        ))
                    }
                    Some("secagg+") if t.neighbours.is_none() => {
                        return Err(de::Error::custom(
                            "secagg+ needs neighbours (the even degree K of its graph)",
                        ))
                    }
                    Some("secagg" | "secagg+") => Some(SecAgg {
                        neighbours: t.neighbours,
                        threshold: t.threshold,
                        dropout: t.dropout.unwrap_or(0.0),
                    }),
                    Some(other) => {
                        return Err(de::Error::custom(format!(
                            "unknown secure aggregation '{other}': secagg or secagg+"
                        )))
                    }
                };
                Ok(Deployment {
                    rule: t.rule,
                    secagg,
                })
            }
        }
        d.deserialize_any(DeploymentVisitor)
    }
}

/// DP-FedAvg at a fixed clip and each noise multiplier.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseCurve {
    /// Client-level clip norm `C`, > 0.
    pub clip: Spanned<f64>,
    /// Noise multipliers `z`, each > 0 (one point of the curve each).
    pub noise_multipliers: Spanned<Vec<Spanned<f64>>>,
}

/// One Deep Partition Aggregation setting (`mithridate privacy dpa`): one cell per seed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dpa {
    /// Partitions `k` (base classifiers), at most the training set's size.
    pub partitions: Spanned<usize>,
    /// Base classifier: `logreg` (default), `mlp` or `cnn`.
    pub model: Option<Spanned<String>>,
    /// Optimiser steps per base classifier (default: the engine's, 200).
    pub steps: Option<Spanned<usize>>,
    /// Images: also train on copies shifted by up to this many pixels (default 0).
    pub shift: Option<Spanned<usize>>,
    /// The per-image transform in front of every base classifier (`raw`, default, `deskew`,
    /// `hog`; `mithridate privacy dpa --features`).
    pub features: Option<Spanned<String>>,
    /// Seeded stratified subsets (default: all of the dataset).
    pub max_train: Option<Spanned<usize>>,
    pub max_test: Option<Spanned<usize>>,
    /// Radii (poisoned samples) the certified accuracy is reported at.
    pub radii: Option<Vec<u32>>,
}

impl Dpa {
    /// The configured radii, sorted and without repeats, or [`DEFAULT_RADII`].
    pub fn radii(&self) -> Vec<u32> {
        let mut radii = self.radii.clone().unwrap_or_else(|| DEFAULT_RADII.to_vec());
        radii.sort_unstable();
        radii.dedup();
        radii
    }
}

impl Config {
    /// A privacy block's numbers: the federation's as `[[federated]]` checks them, `delta` in
    /// `(0, 1)`, secure aggregation's dropout in `[0, 1)` and threshold in `[0.5, 1)`, the
    /// curve's clip and noise multipliers positive, DPA's counts at least 1.
    pub(super) fn check_privacy(&self, block: &Privacy) -> Result<(), ConfigError> {
        if block.deployments.get_ref().is_empty() {
            return Err(self.error_at(&block.deployments, "the privacy block has no deployments"));
        }
        if block.attacks.is_empty() {
            return Err(self.error_at(&block.dataset, "the privacy block has no attacks"));
        }
        self.check_federated(&block.scenario())?;
        if let Some(d) = &block.delta {
            let v = *d.get_ref();
            if !(v > 0.0 && v < 1.0) {
                return Err(self.error_at(d, format!("delta must be in (0, 1), got {v}")));
            }
        }
        for deployment in block.deployments.get_ref() {
            let Some(s) = deployment.get_ref().secagg else {
                continue;
            };
            if !(0.0..1.0).contains(&s.dropout) {
                let message = format!("dropout must be in [0, 1), got {}", s.dropout);
                return Err(self.error_at(deployment, message));
            }
            if let Some(t) = s.threshold.filter(|t| !(0.5..1.0).contains(t)) {
                let message = format!("threshold must be in [0.5, 1), got {t}");
                return Err(self.error_at(deployment, message));
            }
        }
        if let Some(curve) = &block.noise_curve {
            let clip = *curve.clip.get_ref();
            if !(clip.is_finite() && clip > 0.0) {
                return Err(self.error_at(&curve.clip, format!("clip must be > 0, got {clip}")));
            }
            let points = &curve.noise_multipliers;
            if points.get_ref().is_empty() {
                return Err(self.error_at(points, "noise_multipliers is empty"));
            }
            for z in points.get_ref() {
                let v = *z.get_ref();
                if !(v.is_finite() && v > 0.0) {
                    let message = format!("a noise multiplier must be > 0, got {v}");
                    return Err(self.error_at(z, message));
                }
            }
        }
        for dpa in &block.dpa {
            for (value, key) in [
                (Some(&dpa.partitions), "partitions"),
                (dpa.steps.as_ref(), "steps"),
                (dpa.max_train.as_ref(), "max_train"),
                (dpa.max_test.as_ref(), "max_test"),
            ] {
                if let Some(v) = value.filter(|v| *v.get_ref() == 0) {
                    return Err(self.error_at(v, format!("{key} must be at least 1")));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const HEAD: &str = "[privacy]\ndataset = \"digits\"\nclients = 10\nper_round = 0.5\n\
                        rounds = 2\nbyzantine = 0.2\nattacks = [\"none\", \"sign-flip\"]\n";

    fn error(rest: &str) -> (Option<usize>, String) {
        let e = Config::parse(&format!("{HEAD}{rest}")).unwrap_err();
        (e.line, e.message)
    }

    #[test]
    fn privacy_blocks_parse_one_or_many() {
        let one = Config::parse(&format!("{HEAD}deployments = [\"fedavg\"]\n")).unwrap();
        let block = &one.privacy[0];
        assert_eq!(block.delta(), super::DEFAULT_DELTA);
        assert!(block.dpa.is_empty() && block.curve_rules().is_empty());
        let scenario = block.scenario();
        assert_eq!(scenario.rules.len(), 1);
        assert_eq!(one.line_of(&scenario.rules[0]), 8);
        let many = format!(
            "{}deployments = [\"fedavg\"]\n{}deployments = [\"median\"]\n\
             dpa = [{{ partitions = 20 }}, {{ partitions = 40, radii = [5, 0, 5] }}]\n",
            HEAD.replace("[privacy]", "[[privacy]]"),
            HEAD.replace("[privacy]", "[[privacy]]")
        );
        let c = Config::parse(&many).unwrap();
        assert_eq!(c.privacy.len(), 2);
        assert_eq!(c.privacy[1].dpa.len(), 2);
        assert_eq!(c.privacy[1].dpa[1].radii(), vec![0, 5]);
        assert_eq!(c.privacy[1].dpa[0].radii(), super::DEFAULT_RADII.to_vec());
    }

    #[test]
    fn the_curve_is_dp_fedavg_at_each_noise_multiplier() {
        let c = Config::parse(&format!(
            "{HEAD}deployments = [\"fedavg\"]\n\
             noise_curve = {{ clip = 1.0, noise_multipliers = [0.1, 3] }}\n"
        ))
        .unwrap();
        let rules: Vec<String> = c.privacy[0]
            .curve_rules()
            .iter()
            .map(|r| r.get_ref().clone())
            .collect();
        assert_eq!(
            rules,
            [
                "dp-fedavg:clip=1,noise-multiplier=0.1",
                "dp-fedavg:clip=1,noise-multiplier=3"
            ]
        );
        assert_eq!(c.privacy[0].scenario().rules.len(), 3);
    }

    #[test]
    fn privacy_mistakes_name_their_line() {
        let (l, m) = error("deployments = [\"fedavg\",\n { rule = \"fedavg\", secagg = \"secagg\", dropout = 1.0 }]\n");
        assert_eq!(l, Some(9));
        assert!(m.contains("dropout must be in [0, 1), got 1"), "{m}");
        let (l, m) = error("deployments = [\n { rule = \"fedavg\", dropout = 0.1 }]\n");
        assert_eq!(l, Some(9));
        assert!(m.contains("under secure aggregation only"), "{m}");
        let (l, m) = error("deployments = [{ rule = \"fedavg\", secagg = \"secagg+\" }]\n");
        assert_eq!(l, Some(8));
        assert!(m.contains("secagg+ needs neighbours"), "{m}");
        let (l, m) = error("deployments = [{ rule = \"fedavg\", secagg = \"sa\" }]\n");
        assert_eq!(l, Some(8));
        assert!(m.contains("unknown secure aggregation 'sa'"), "{m}");
        let (l, m) = error("deployments = [{ rule = \"fedavg\", sceagg = \"secagg\" }]\n");
        assert_eq!(l, Some(8));
        assert!(m.contains("sceagg"), "{m}");
        let (l, m) = error("deployments = [\"fedavg\"]\ndelta = 1.0\n");
        assert_eq!(l, Some(9));
        assert!(m.contains("delta must be in (0, 1), got 1"), "{m}");
        let (l, m) = error(
            "deployments = [\"fedavg\"]\nnoise_curve = { clip = 1.0, noise_multipliers = [\n0.5,\n 0.0] }\n",
        );
        assert_eq!(l, Some(11));
        assert!(m.contains("noise multiplier must be > 0, got 0"), "{m}");
        let (l, m) = error("deployments = []\n");
        assert_eq!(l, Some(8));
        assert!(m.contains("no deployments"), "{m}");
        let (l, m) = error("deployments = [\"fedavg\"]\ndpa = { partitions = 0 }\n");
        assert_eq!(l, Some(9));
        assert!(m.contains("partitions must be at least 1"), "{m}");
        let (l, m) = error("deployments = [\"fedavg\"]\nrules = [\"median\"]\n");
        assert_eq!(l, Some(9));
        assert!(m.contains("rules"), "{m}");
        let text = format!("{HEAD}deployments = [\"fedavg\"]\n").replace("0.2", "1.0");
        let e = Config::parse(&text).unwrap_err();
        assert_eq!(e.line, Some(6));
        assert!(e.message.contains("byzantine"), "{}", e.message);
    }
}
