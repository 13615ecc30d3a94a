//! The cells of a `[privacy]` block: per seed, each deployment (then each point of the noise
//! curve) under each update attack is one federated run, and each DPA setting one
//! certified-defence run.

use super::FederatedCell;
use crate::config::{Deployment, Dpa, Privacy};
use serde::Serialize;
use toml::Spanned;

/// Secure aggregation of a privacy cell.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SecAggCell {
    /// SecAgg+'s graph degree; `None`: SecAgg's complete graph.
    pub neighbours: Option<usize>,
    /// Shamir threshold fraction; `None`: the protocol's default.
    pub threshold: Option<f64>,
    pub dropout: f64,
}

/// One federated run of a privacy block: the federation, its rule and update attack (as a
/// `[[federated]]` cell has them), the protocol around the rule, and `delta` of its epsilon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrivacyCell {
    pub federated: FederatedCell,
    /// `None`: the server sees every update.
    pub secagg: Option<SecAggCell>,
    pub delta: f64,
    /// A point of the block's noise curve rather than a listed deployment (a deployment equal
    /// to a curve point is run for each, so either reads complete on its own).
    pub curve: bool,
}

impl PrivacyCell {
    /// The cell of `rule` (a deployment's or a curve point's) under `attack` in `block`.
    pub fn of(
        block: &Privacy,
        rule: &str,
        secagg: Option<SecAggCell>,
        curve: bool,
        attack: &Spanned<String>,
        seed: u64,
    ) -> PrivacyCell {
        let rule = Spanned::new(0..0, rule.to_string());
        PrivacyCell {
            federated: FederatedCell::of(&block.scenario(), &rule, attack, seed),
            secagg,
            delta: block.delta(),
            curve,
        }
    }

    /// The cell of a listed deployment.
    pub fn of_deployment(
        block: &Privacy,
        deployment: &Deployment,
        attack: &Spanned<String>,
        seed: u64,
    ) -> PrivacyCell {
        let secagg = deployment.secagg.map(|s| SecAggCell {
            neighbours: s.neighbours,
            threshold: s.threshold,
            dropout: s.dropout,
        });
        PrivacyCell::of(block, &deployment.rule, secagg, false, attack, seed)
    }

    /// `median`, `fedavg + secagg`, `norm-bound:bound=1 + secagg+:k=10, dropout 10%`: the rule
    /// and, under secure aggregation, the protocol as the simulation names it.
    pub fn label(&self) -> String {
        let rule = &self.federated.rule;
        let Some(s) = self.secagg else {
            return rule.clone();
        };
        let protocol = s
            .neighbours
            .map_or("secagg".to_string(), |k| format!("secagg+:k={k}"));
        if s.dropout > 0.0 {
            let dropout = crate::report::format_rate(s.dropout);
            format!("{rule} + {protocol}, dropout {dropout}")
        } else {
            format!("{rule} + {protocol}")
        }
    }
}

/// One Deep Partition Aggregation run: `partitions` base classifiers on hash partitions of the
/// dataset's (subset) training set, certified on its (subset) test set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DpaCell {
    pub dataset: String,
    pub partitions: usize,
    /// `None`: the engine's defaults (`DpaParams::default()`).
    pub model: Option<String>,
    pub steps: Option<usize>,
    pub shift: Option<usize>,
    pub features: Option<String>,
    pub max_train: Option<usize>,
    pub max_test: Option<usize>,
    pub radii: Vec<u32>,
    pub seed: u64,
}

impl DpaCell {
    /// The cell of the DPA setting `dpa` of `block`.
    pub fn of(block: &Privacy, dpa: &Dpa, seed: u64) -> DpaCell {
        DpaCell {
            dataset: block.dataset.get_ref().clone(),
            partitions: *dpa.partitions.get_ref(),
            model: dpa.model.as_ref().map(|m| m.get_ref().clone()),
            steps: dpa.steps.as_ref().map(|v| *v.get_ref()),
            shift: dpa.shift.as_ref().map(|v| *v.get_ref()),
            features: dpa.features.as_ref().map(|v| v.get_ref().clone()),
            max_train: dpa.max_train.as_ref().map(|v| *v.get_ref()),
            max_test: dpa.max_test.as_ref().map(|v| *v.get_ref()),
            radii: dpa.radii(),
            seed,
        }
    }
}

/// The federated cells of a block for one seed, in plan order: per attack, each deployment,
/// then each curve point.
pub(super) fn cells(block: &Privacy, seed: u64) -> Vec<PrivacyCell> {
    let mut cells = Vec::new();
    for attack in &block.attacks {
        for deployment in block.deployments.get_ref() {
            cells.push(PrivacyCell::of_deployment(
                block,
                deployment.get_ref(),
                attack,
                seed,
            ));
        }
        for rule in block.curve_rules() {
            cells.push(PrivacyCell::of(
                block,
                rule.get_ref(),
                None,
                true,
                attack,
                seed,
            ));
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::plan::{plan, CellSpec};

    #[test]
    fn privacy_cells_run_every_deployment_and_curve_point_under_every_attack() {
        let text = "[privacy]\ndataset = \"digits\"\nclients = 10\nper_round = 0.5\nrounds = 2\n\
                    byzantine = 0.2\nattacks = [\"none\", \"sign-flip\"]\ndelta = 1e-3\n\
                    deployments = [\"fedavg\", { rule = \"fedavg\", secagg = \"secagg+\", \
                    neighbours = 4, dropout = 0.2 }]\n\
                    noise_curve = { clip = 1.0, noise_multipliers = [0.5, 2.0] }\n\
                    dpa = { partitions = 20, max_train = 200 }\n";
        let cells = plan(&Config::parse(text).unwrap(), 2, 0);
        // Per seed: 2 attacks x (2 deployments + 2 curve points) + 1 DPA setting.
        assert_eq!(cells.len(), 2 * (2 * 4 + 1));
        let readable: Vec<&str> = cells[..9]
            .iter()
            .map(|c| c.id.split('#').next().unwrap())
            .collect();
        assert_eq!(
            readable,
            [
                "digits/privacy/none/fedavg/seed0",
                "digits/privacy/none/fedavg+secagg+:k=4,dropout20%/seed0",
                "digits/privacy/none/dp-fedavg:clip=1,noise-multiplier=0.5/curve/seed0",
                "digits/privacy/none/dp-fedavg:clip=1,noise-multiplier=2/curve/seed0",
                "digits/privacy/sign-flip/fedavg/seed0",
                "digits/privacy/sign-flip/fedavg+secagg+:k=4,dropout20%/seed0",
                "digits/privacy/sign-flip/dp-fedavg:clip=1,noise-multiplier=0.5/curve/seed0",
                "digits/privacy/sign-flip/dp-fedavg:clip=1,noise-multiplier=2/curve/seed0",
                "digits/dpa/k20/seed0",
            ]
        );
        let CellSpec::Privacy(p) = &cells[1].spec else {
            panic!("{:?}", cells[1].spec)
        };
        assert_eq!(p.label(), "fedavg + secagg+:k=4, dropout 20%");
        assert_eq!((p.delta, p.federated.clients, p.curve), (1e-3, 10, false));
        let CellSpec::Dpa(d) = &cells[17].spec else {
            panic!("{:?}", cells[17].spec)
        };
        assert_eq!((d.partitions, d.max_train, d.seed), (20, Some(200), 1));
        assert_eq!(d.radii, crate::config::DEFAULT_RADII.to_vec());
        assert_eq!(cells[17].spec.dataset(), "digits");
    }
}
