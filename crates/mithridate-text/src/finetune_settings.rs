//! A user's fine-tuning settings, turned once into a checked [`FineTuneConfig`].
//!
//! The CLI's `--fine-tune-*` flags, Python's `fine_tune_*` arguments and the assessment's
//! `[text]` keys all go through [`FineTuneSettings::resolve`], so they share the defaults and
//! refuse the same mistakes. Why settings without layers are refused: with
//! `fine_tune_layers = 0` the encoder is frozen and nothing is fine-tuned, so an epoch count or
//! learning rate given with it would be ignored silently and the run labelled with a recipe it
//! never used.
//!
//! ```
//! use mithridate_text::finetune_settings::{FineTuneSettings, Spelling};
//! let s = FineTuneSettings { layers: Some(2), epochs: Some(3), ..Default::default() };
//! let c = s.resolve(Spelling::Keys).unwrap();
//! assert_eq!((c.layers, c.epochs), (2, 3));
//! let frozen = FineTuneSettings { epochs: Some(3), ..Default::default() };
//! let e = frozen.resolve(Spelling::Flags).unwrap_err().to_string();
//! assert!(e.contains("--fine-tune-epochs needs --fine-tune-layers >= 1"), "{e}");
//! ```

use crate::finetune::FineTuneConfig;
use crate::Result;
use crate::TextError;

/// How the caller's users spell the settings, for the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// `fine_tune_epochs` (Python arguments, `assess.toml` keys).
    Keys,
    /// `--fine-tune-epochs` (CLI flags).
    Flags,
}

impl Spelling {
    fn name(self, setting: &str) -> String {
        match self {
            Spelling::Keys => format!("fine_tune_{setting}"),
            Spelling::Flags => format!("--fine-tune-{setting}"),
        }
    }
}

/// The settings a user gave; `None` takes [`FineTuneConfig::default`]'s value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FineTuneSettings {
    /// Trainable top layers (0 or absent: the frozen encoder).
    pub layers: Option<usize>,
    /// Passes over the training set.
    pub epochs: Option<usize>,
    /// Peak learning rate of the layers.
    pub lr: Option<f64>,
    /// `fresh` or `probe`.
    pub head_start: Option<String>,
}

impl FineTuneSettings {
    /// The checked recipe: the defaults with the given settings. Errors name the setting in
    /// the caller's `spelling`: epochs, learning rate or head start without layers >= 1, or
    /// any value [`FineTuneConfig::check`] refuses.
    pub fn resolve(&self, spelling: Spelling) -> Result<FineTuneConfig> {
        let d = FineTuneConfig::default();
        let layers = self.layers.unwrap_or(0);
        let given = [
            ("epochs", self.epochs.is_some()),
            ("lr", self.lr.is_some()),
            ("head", self.head_start.is_some()),
        ];
        if let Some((setting, _)) = given.iter().find(|(_, set)| layers == 0 && *set) {
            return Err(TextError::invalid(format!(
                "{} needs {} >= 1 (the encoder is frozen otherwise)",
                spelling.name(setting),
                spelling.name("layers")
            )));
        }
        let config = FineTuneConfig {
            layers,
            epochs: self.epochs.unwrap_or(d.epochs),
            lr: self.lr.unwrap_or(d.lr),
            head_start: match &self.head_start {
                Some(h) => h.parse()?,
                None => d.head_start,
            },
            ..d
        };
        config.check()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finetune::HeadStart;

    #[test]
    fn absent_settings_are_the_defaults_and_frozen() {
        let c = FineTuneSettings::default().resolve(Spelling::Keys).unwrap();
        assert_eq!(
            c,
            FineTuneConfig {
                layers: 0,
                ..FineTuneConfig::default()
            }
        );
    }

    #[test]
    fn given_settings_are_used() {
        let s = FineTuneSettings {
            layers: Some(1),
            epochs: Some(2),
            lr: Some(1e-4),
            head_start: Some("probe".into()),
        };
        let c = s.resolve(Spelling::Flags).unwrap();
        assert_eq!((c.layers, c.epochs, c.lr), (1, 2, 1e-4));
        assert_eq!(c.head_start, HeadStart::Probe);
    }

    #[test]
    fn each_setting_without_layers_is_named() {
        for (s, key, flag) in [
            (
                FineTuneSettings {
                    lr: Some(1e-4),
                    layers: Some(0),
                    ..Default::default()
                },
                "fine_tune_lr needs fine_tune_layers",
                "--fine-tune-lr needs --fine-tune-layers",
            ),
            (
                FineTuneSettings {
                    head_start: Some("probe".into()),
                    ..Default::default()
                },
                "fine_tune_head needs fine_tune_layers",
                "--fine-tune-head needs --fine-tune-layers",
            ),
        ] {
            let k = s.resolve(Spelling::Keys).unwrap_err().to_string();
            let f = s.resolve(Spelling::Flags).unwrap_err().to_string();
            assert!(k.contains(key), "{k}");
            assert!(f.contains(flag), "{f}");
        }
    }

    #[test]
    fn impossible_values_are_refused() {
        let bad = [
            FineTuneSettings {
                layers: Some(7),
                ..Default::default()
            },
            FineTuneSettings {
                layers: Some(2),
                epochs: Some(0),
                ..Default::default()
            },
            FineTuneSettings {
                layers: Some(2),
                lr: Some(f64::NAN),
                ..Default::default()
            },
            FineTuneSettings {
                layers: Some(2),
                head_start: Some("warm".into()),
                ..Default::default()
            },
        ];
        for s in bad {
            assert!(s.resolve(Spelling::Keys).is_err(), "{s:?}");
        }
    }
}
