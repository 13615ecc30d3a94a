//! The model families the engine trains.

use std::fmt;
use std::str::FromStr;

use mithridate_data::Modality;

use crate::EngineError;

/// A classifier family. The layer sizes of each are fixed by the data's [`Modality`] and the
/// number of classes (see [`crate::Classifier::new`] for the exact layers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Multinomial logistic regression on the flattened features (`"logreg"`).
    LogReg,
    /// Multi-layer perceptron, two ReLU hidden layers of 256 and 128 units (`"mlp"`).
    Mlp,
    /// LeNet-5-style convolutional network for images (`"cnn"`).
    Cnn,
    /// Embedding-bag text classifier: mean of token embeddings, then an MLP head (`"text"`).
    Text,
}

impl Architecture {
    /// Every architecture, in the order they are listed to users.
    pub const ALL: [Architecture; 4] = [
        Architecture::LogReg,
        Architecture::Mlp,
        Architecture::Cnn,
        Architecture::Text,
    ];

    /// The name used on the command line and in model cards.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::LogReg => "logreg",
            Architecture::Mlp => "mlp",
            Architecture::Cnn => "cnn",
            Architecture::Text => "text",
        }
    }

    /// The default family for a modality: CNN for images, MLP for tabular rows, the
    /// embedding-bag model for text.
    ///
    /// ```
    /// use mithridate_data::Modality;
    /// use mithridate_engine::Architecture;
    /// let m = Modality::Image { channels: 1, height: 28, width: 28 };
    /// assert_eq!(Architecture::default_for(&m), Architecture::Cnn);
    /// ```
    pub fn default_for(modality: &Modality) -> Architecture {
        match modality {
            Modality::Image { .. } => Architecture::Cnn,
            Modality::Tabular { .. } => Architecture::Mlp,
            Modality::Text { .. } => Architecture::Text,
        }
    }

    /// Why this family cannot model `modality`, or `None` when it can.
    pub(crate) fn unsupported_reason(self, modality: &Modality) -> Option<String> {
        match (self, modality) {
            (Architecture::LogReg | Architecture::Mlp, Modality::Text { .. }) => Some(format!(
                "architecture '{self}' needs dense features, not text tokens (use 'text')"
            )),
            (Architecture::Cnn, Modality::Image { height, width, .. }) => {
                (*height < crate::network::CNN_MIN_SIDE || *width < crate::network::CNN_MIN_SIDE)
                    .then(|| {
                        format!(
                            "architecture 'cnn' needs images of at least {0}x{0} pixels, got {height}x{width}",
                            crate::network::CNN_MIN_SIDE
                        )
                    })
            }
            (Architecture::Cnn, other) => Some(format!(
                "architecture 'cnn' needs image data, not {} data",
                other.name()
            )),
            (Architecture::Text, Modality::Text { .. }) => None,
            (Architecture::Text, other) => Some(format!(
                "architecture 'text' needs text data, not {} data",
                other.name()
            )),
            (Architecture::LogReg | Architecture::Mlp, _) => None,
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Architecture {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Architecture::ALL
            .into_iter()
            .find(|a| a.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                let names: Vec<_> = Architecture::ALL.iter().map(|a| a.name()).collect();
                EngineError::Architecture(format!(
                    "unknown architecture '{s}' (expected one of: {})",
                    names.join(", ")
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Architecture::ALL {
            assert_eq!(a.to_string().parse::<Architecture>().unwrap(), a);
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.name()));
        }
        let err = "resnet".parse::<Architecture>().unwrap_err().to_string();
        assert!(err.contains("logreg, mlp, cnn, text"), "{err}");
    }

    #[test]
    fn modality_fit() {
        let text = Modality::Text {
            max_len: 4,
            vocab_size: 10,
        };
        let tab = Modality::Tabular { features: 3 };
        let tiny = Modality::Image {
            channels: 1,
            height: 3,
            width: 8,
        };
        assert!(Architecture::Mlp.unsupported_reason(&text).is_some());
        assert!(Architecture::Cnn.unsupported_reason(&tab).is_some());
        assert!(Architecture::Cnn.unsupported_reason(&tiny).is_some());
        assert!(Architecture::Text.unsupported_reason(&tab).is_some());
        assert!(Architecture::Text.unsupported_reason(&text).is_none());
        assert!(Architecture::LogReg.unsupported_reason(&tiny).is_none());
    }
}
