//! Activation clustering and spectral signatures on the frozen encoder's representations
//! (the CUBE idea, Cui et al. 2022: poisoned texts form their own cluster in representation
//! space), reusing the detectors of [`mithridate_detect`] on the `[n, 384]` MiniLM embeddings.
//!
//! - `activation-clustering` (Chen et al. 2019, "Detecting Backdoor Attacks on Deep Neural
//!   Networks by Activation Clustering"): per class, PCA to `components` dimensions, 2-means;
//!   the smaller cluster is flagged when its relative size is below `size-threshold` and the
//!   split's silhouette is above `silhouette-threshold`;
//! - `spectral` (Tran, Li & Madry 2018, "Spectral Signatures in Backdoor Attacks"): per class,
//!   score `(v^T (x - mu))^2` along the top singular vector `v` of the centred representations;
//!   the top `removal-factor * expected-rate` share of each class is flagged.
//!
//! Both assume the poisoned texts are a minority of their (target) class whose representations
//! differ from the clean texts' in a consistent direction. Parameters are passed through to
//! the detectors (kebab-case keys, as in `mithridate scan`).

use super::{retrain_without, DefenceContext, DefenceKind, DefenceOutcome, TextDefence};
use crate::embed::FEATURES as DIM;
use crate::registry::{DefenceEntry, TEXT_SANITIZATION};
use crate::{Result, TextError};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;
use mithridate_detect::clustering::{ActivationClustering, ClusteringParams};
use mithridate_detect::spectral::{SpectralParams, SpectralSignatures};
use mithridate_detect::Embeddings;

pub const ACTIVATION_CLUSTERING: DefenceEntry = Entry {
    name: "activation-clustering",
    role: Role::Detector,
    modalities: &["text"],
    summary: "2-means per class on PCA-reduced encoder embeddings, removes the small cluster, retrains (mithridate-detect parameters)",
    paper: "Chen et al. 2019 (activation clustering); Cui et al. 2022 (CUBE)",
    taxonomy: TEXT_SANITIZATION,
    requires: &[],
    provides: &[],
    build: |p| {
        let params: ClusteringParams = mithridate_core::registry::params("activation-clustering", p)
            .map_err(TextError::Invalid)?;
        Ok(Box::new(Clustering(params.check().map_err(TextError::Detect)?, params)))
    },
};

pub const SPECTRAL: DefenceEntry = Entry {
    name: "spectral",
    role: Role::Detector,
    modalities: &["text"],
    summary: "top-singular-direction outlier scores per class on encoder embeddings, removes the top 1.5 eps, retrains (expected-rate=0.1, removal-factor=1.5)",
    paper: "Tran, Li & Madry 2018 (spectral signatures)",
    taxonomy: TEXT_SANITIZATION,
    requires: &[],
    provides: &[],
    build: |p| {
        let params: SpectralParams =
            mithridate_core::registry::params("spectral", p).map_err(TextError::Invalid)?;
        Ok(Box::new(Spectral(params.check().map_err(TextError::Detect)?, params)))
    },
};

struct Clustering(ActivationClustering, ClusteringParams);
struct Spectral(SpectralSignatures, SpectralParams);

fn rows<'a>(ctx: &'a DefenceContext, labels: &'a [u32], ids: &'a [u64]) -> Result<Embeddings<'a>> {
    Embeddings::new(ctx.train_emb, DIM, labels, ids, ctx.num_classes).map_err(TextError::Detect)
}

impl TextDefence for Clustering {
    fn name(&self) -> &'static str {
        "activation-clustering"
    }
    fn kind(&self) -> DefenceKind {
        DefenceKind::Training
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.1).unwrap_or_default()
    }
    fn run(&self, ctx: &mut DefenceContext, poisoned_ids: &[u64]) -> Result<DefenceOutcome> {
        let labels: Vec<u32> = ctx.train.iter().map(|s| s.label).collect();
        let ids: Vec<u64> = ctx.train.iter().map(|s| s.id).collect();
        let d = self
            .0
            .detect_embeddings(&rows(ctx, &labels, &ids)?, ctx.seed)
            .map_err(TextError::Detect)?;
        let details = serde_json::json!({"suspicious_classes": d.suspicious_classes()});
        retrain_without(
            ctx,
            self.name(),
            self.parameters(),
            &d,
            poisoned_ids,
            details,
            &Default::default(),
        )
    }
}

impl TextDefence for Spectral {
    fn name(&self) -> &'static str {
        "spectral"
    }
    fn kind(&self) -> DefenceKind {
        DefenceKind::Training
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.1).unwrap_or_default()
    }
    fn run(&self, ctx: &mut DefenceContext, poisoned_ids: &[u64]) -> Result<DefenceOutcome> {
        let labels: Vec<u32> = ctx.train.iter().map(|s| s.label).collect();
        let ids: Vec<u64> = ctx.train.iter().map(|s| s.id).collect();
        let d = self
            .0
            .detect_embeddings(&rows(ctx, &labels, &ids)?)
            .map_err(TextError::Detect)?;
        retrain_without(
            ctx,
            self.name(),
            self.parameters(),
            &d,
            poisoned_ids,
            serde_json::json!({}),
            &Default::default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Sample;
    use crate::head::{Head, HeadConfig};
    use rand::{Rng, SeedableRng};

    /// 200 texts, 2 classes; 10 of class 0 are "poisoned": their representations are shifted
    /// far along one direction. Both detectors must find them.
    #[test]
    fn planted_cluster_is_found_and_removed() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (n, poisoned) = (200usize, 10usize);
        let mut emb = Vec::with_capacity(n * DIM);
        let mut train = Vec::new();
        for i in 0..n {
            let label = (i % 2) as u32;
            for j in 0..DIM {
                let mut v: f32 = rng.random_range(-1.0..1.0);
                if j == 0 {
                    v += 3.0 * label as f32;
                }
                if i < 2 * poisoned && label == 0 && j == 5 {
                    v += 25.0;
                }
                emb.push(v);
            }
            train.push(Sample {
                id: i as u64,
                text: String::new(),
                label,
            });
        }
        let ids: Vec<u64> = (0..2 * poisoned as u64).step_by(2).collect();
        let cfg = HeadConfig {
            hidden: 0,
            epochs: 5,
            ..HeadConfig::default()
        };
        let labels: Vec<u32> = train.iter().map(|s| s.label).collect();
        let head = Head::train(&emb, DIM, &labels, 2, &cfg, 0);
        let home = mithridate_data::DataHome::new(std::env::temp_dir());
        let mut progress = |_: usize, _: usize| {};
        let mut ctx = DefenceContext {
            home: &home,
            embedder: None,
            train: &train,
            train_emb: &emb,
            test: &train[..4],
            test_emb: &emb[..4 * DIM],
            triggered: &train[..4],
            triggered_emb: &emb[..4 * DIM],
            head: &head,
            head_config: &cfg,
            num_classes: 2,
            target: 0,
            floor: &crate::defences::CleanFloor::default(),
            seed: 0,
            progress: &mut progress,
            fine_tuning: None,
        };
        let spectral =
            crate::registry::build_defence("spectral", &serde_json::Value::Null).unwrap();
        let out = spectral.run(&mut ctx, &ids).unwrap();
        assert_eq!(out.detection.recall, 1.0, "{:?}", out.detection);
        assert!(out.detection.auroc.unwrap() > 0.99);
        let ac = crate::registry::build_defence(
            "activation-clustering",
            &serde_json::json!({"size-rule-outlier": 0.0}),
        )
        .unwrap();
        let out = ac.run(&mut ctx, &ids).unwrap();
        assert_eq!(out.detection.recall, 1.0, "{:?}", out.detection);
        assert!(out.detection.precision > 0.9, "{:?}", out.detection);
        // BKI and ONION/STRIP encode texts: without an encoder they refuse by name.
        let bki = crate::registry::build_defence("bki", &serde_json::Value::Null).unwrap();
        let err = bki.run(&mut ctx, &ids).err().unwrap().to_string();
        assert!(err.contains("needs the encoder"), "{err}");
    }
}
