//! Rule names and a one-stop builder.

use crate::error::{AggregateError, Result};
use crate::rules::Aggregator;
use crate::{
    Bulyan, CenteredClippingParams, CoordinateMedian, FedAvg, FlTrust, FlameParams,
    FoolsGoldParams, GeometricMedianParams, KrumParams, Nnm, NormBoundParams, TrimmedMean,
};
use std::fmt;
use std::str::FromStr;

/// An aggregation rule by name. `"nnm+<rule>"` composes nearest-neighbour mixing with any
/// rule (not with itself).
///
/// ```
/// use mithridate_aggregate::Rule;
/// let r: Rule = "nnm+krum".parse().unwrap();
/// assert_eq!(r, Rule::Nnm(Box::new(Rule::Krum)));
/// assert_eq!(r.to_string(), "nnm+krum");
/// assert!("nnm+nnm+krum".parse::<Rule>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    FedAvg,
    Median,
    TrimmedMean,
    Krum,
    MultiKrum,
    Bulyan,
    GeoMed,
    CenteredClipping,
    FlTrust,
    FoolsGold,
    NormBound,
    Flame,
    /// Nearest-neighbour mixing, then the inner rule.
    Nnm(Box<Rule>),
}

const BASE: [(&str, Rule); 12] = [
    ("fedavg", Rule::FedAvg),
    ("median", Rule::Median),
    ("trimmed-mean", Rule::TrimmedMean),
    ("krum", Rule::Krum),
    ("multi-krum", Rule::MultiKrum),
    ("bulyan", Rule::Bulyan),
    ("geomed", Rule::GeoMed),
    ("centered-clipping", Rule::CenteredClipping),
    ("fltrust", Rule::FlTrust),
    ("foolsgold", Rule::FoolsGold),
    ("norm-bound", Rule::NormBound),
    ("flame", Rule::Flame),
];

impl Rule {
    /// Every accepted name (the `nnm+` prefix composes with each).
    pub fn names() -> Vec<&'static str> {
        BASE.iter().map(|(name, _)| *name).collect()
    }
}

impl FromStr for Rule {
    type Err = AggregateError;
    fn from_str(s: &str) -> Result<Self> {
        let unknown = || {
            AggregateError::UnknownRule(
                s.to_string(),
                format!("{}, nnm+<rule>", Rule::names().join(", ")),
            )
        };
        let lower = s.trim().to_ascii_lowercase();
        if let Some(inner) = lower.strip_prefix("nnm+") {
            let inner: Rule = inner.parse().map_err(|_| unknown())?;
            if matches!(inner, Rule::Nnm(_)) {
                return Err(unknown());
            }
            return Ok(Rule::Nnm(Box::new(inner)));
        }
        BASE.iter()
            .find(|(name, _)| *name == lower)
            .map(|(_, rule)| rule.clone())
            .ok_or_else(unknown)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Nnm(inner) => write!(f, "nnm+{inner}"),
            rule => {
                let name = BASE
                    .iter()
                    .find(|(_, r)| r == rule)
                    .map_or("?", |(name, _)| *name);
                f.write_str(name)
            }
        }
    }
}

/// A rule plus its hyperparameters; [`build`](RuleConfig::build) validates them (the checked
/// type is the returned boxed rule). Unset options take each rule's documented default;
/// setting an option the rule does not have is an error.
#[derive(Debug, Clone)]
pub struct RuleConfig {
    pub rule: Rule,
    /// Byzantine clients to withstand.
    pub byzantine: usize,
    /// Multi-Krum: updates to average (default `n - f`).
    pub select: Option<usize>,
    /// Centered clipping radius `tau` or norm-bound `M` (default: a median, see the rules).
    pub radius: Option<f64>,
    /// Centered clipping iterations (default 3) or geometric-median max iterations (1000).
    pub iterations: Option<usize>,
    /// Norm bounding: Gaussian noise standard deviation (default 0).
    pub noise_std: Option<f64>,
    /// Geometric median: relative tolerance (default 1e-7).
    pub tolerance: Option<f64>,
    /// FLAME: noise level `lambda`, noise std = `lambda` x clipping bound (default 0.001).
    pub noise_factor: Option<f64>,
}

impl RuleConfig {
    /// Defaults for everything but the rule and `f`.
    pub fn new(rule: Rule, byzantine: usize) -> Self {
        RuleConfig {
            rule,
            byzantine,
            select: None,
            radius: None,
            iterations: None,
            noise_std: None,
            tolerance: None,
            noise_factor: None,
        }
    }

    /// Validates and builds the rule.
    ///
    /// ```
    /// use mithridate_aggregate::{Rule, RuleConfig};
    /// let mut c = RuleConfig::new(Rule::Median, 1);
    /// c.radius = Some(1.0);
    /// assert!(c.build().is_err()); // the median has no radius
    /// ```
    pub fn build(&self) -> Result<Box<dyn Aggregator>> {
        self.build_rule(&self.rule)
    }

    fn build_rule(&self, rule: &Rule) -> Result<Box<dyn Aggregator>> {
        let f = self.byzantine;
        let unused = |name: &'static str, set: bool| -> Result<()> {
            if set {
                return Err(AggregateError::Param {
                    name,
                    reason: format!("{rule} has no such option"),
                });
            }
            Ok(())
        };
        let is_krum_family = matches!(rule, Rule::MultiKrum | Rule::Nnm(_));
        unused("select", self.select.is_some() && !is_krum_family)?;
        let takes_radius = matches!(
            rule,
            Rule::CenteredClipping | Rule::NormBound | Rule::Nnm(_)
        );
        unused("radius", self.radius.is_some() && !takes_radius)?;
        let takes_iterations = matches!(rule, Rule::CenteredClipping | Rule::GeoMed | Rule::Nnm(_));
        unused("iterations", self.iterations.is_some() && !takes_iterations)?;
        unused(
            "noise_std",
            self.noise_std.is_some() && !matches!(rule, Rule::NormBound | Rule::Nnm(_)),
        )?;
        unused(
            "noise_factor",
            self.noise_factor.is_some() && !matches!(rule, Rule::Flame | Rule::Nnm(_)),
        )?;
        unused(
            "tolerance",
            self.tolerance.is_some() && !matches!(rule, Rule::GeoMed | Rule::Nnm(_)),
        )?;
        Ok(match rule {
            Rule::FedAvg => {
                if f > 0 {
                    return Err(AggregateError::Param {
                        name: "byzantine",
                        reason: format!(
                            "fedavg tolerates no Byzantine client, got f = {f}; use f = 0 or a robust rule"
                        ),
                    });
                }
                Box::new(FedAvg::new())
            }
            Rule::Median => Box::new(CoordinateMedian::new(f)),
            Rule::TrimmedMean => Box::new(TrimmedMean::new(f)),
            Rule::Krum => Box::new(KrumParams::krum(f).check()?),
            Rule::MultiKrum => Box::new(
                KrumParams {
                    byzantine: f,
                    select: self.select,
                }
                .check()?,
            ),
            Rule::Bulyan => Box::new(Bulyan::new(f)),
            Rule::GeoMed => {
                let mut p = GeometricMedianParams::new(f);
                if let Some(i) = self.iterations {
                    p.max_iterations = i;
                }
                if let Some(t) = self.tolerance {
                    p.tolerance = t;
                }
                Box::new(p.check()?)
            }
            Rule::CenteredClipping => {
                let mut p = CenteredClippingParams::new(f);
                p.radius = self.radius;
                if let Some(i) = self.iterations {
                    p.iterations = i;
                }
                Box::new(p.check()?)
            }
            Rule::FlTrust => Box::new(FlTrust::new(f)),
            Rule::FoolsGold => Box::new(FoolsGoldParams::new(f).check()?),
            Rule::NormBound => {
                let mut p = NormBoundParams::new(f);
                p.bound = self.radius;
                p.noise_std = self.noise_std.unwrap_or(0.0);
                Box::new(p.check()?)
            }
            Rule::Flame => {
                let mut p = FlameParams::new(f);
                if let Some(l) = self.noise_factor {
                    p.noise_factor = l;
                }
                Box::new(p.check()?)
            }
            Rule::Nnm(inner) => Box::new(Nnm::new(f, self.build_rule(inner)?)),
        })
    }
}
