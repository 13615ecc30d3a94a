//! A run's settings as its user gives them (the CLI's `lm attack` / `lm defend` flags, the
//! Python package's keywords), turned into a checked-by-construction [`Spec`] in one place.

use crate::attacks::{AttackKind, AttackSpec};
use crate::defences::{parse_list, DefenceKind, ALL};
use crate::experiment::Spec;
use crate::Result;

/// What a user sets; every field maps onto [`Spec::small`]'s.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `dos` or `completion`.
    pub attack: String,
    pub poison_docs: usize,
    pub trigger: String,
    pub continuation: String,
    /// Defence names, comma-separated as `--defence` (`all` for every one; empty: none).
    /// `None`: every defence for `lm defend`, none for an attack alone.
    pub defences: Option<String>,
    pub epochs: usize,
    pub d_model: usize,
    pub layers: usize,
    pub heads: usize,
    pub ctx: usize,
    pub vocab_size: usize,
    pub batch: usize,
    pub lr: f64,
    pub prompts: usize,
    pub prompt_len: usize,
    pub gen_len: usize,
    pub seed: u64,
}

impl Settings {
    /// The spec of this run; `defend`: the run measures defences (every one unless named).
    ///
    /// ```
    /// use mithridate_lm::settings::Settings;
    /// let mut s = Settings { poison_docs: 25, ..Settings::default() };
    /// assert_eq!(s.spec(true)?.defences.len(), mithridate_lm::defences::ALL.len());
    /// s.defences = Some(String::new());
    /// assert!(s.spec(true)?.defences.is_empty());
    /// s.attack = "typo".into();
    /// assert!(s.spec(false).is_err());
    /// # Ok::<(), mithridate_lm::LmError>(())
    /// ```
    pub fn spec(&self, defend: bool) -> Result<Spec> {
        let kind: AttackKind = self.attack.parse()?;
        let defences: Vec<DefenceKind> = match (&self.defences, defend) {
            (Some(list), _) if list.trim().is_empty() => Vec::new(),
            (Some(list), _) => parse_list(list)?,
            (None, true) => ALL.to_vec(),
            (None, false) => Vec::new(),
        };
        let mut attack = AttackSpec::new(kind, self.poison_docs, self.seed);
        attack.trigger = self.trigger.clone();
        attack.continuation = self.continuation.clone();
        let mut s = Spec::small(attack);
        s.vocab = self.vocab_size;
        s.ctx = self.ctx;
        s.d_model = self.d_model;
        s.n_layer = self.layers;
        s.n_head = self.heads;
        s.train.epochs = self.epochs;
        s.train.batch = self.batch;
        s.train.lr = self.lr;
        s.prompts = self.prompts;
        s.prompt_len = self.prompt_len;
        s.gen_len = self.gen_len;
        s.defences = defences;
        Ok(s)
    }
}

impl Default for Settings {
    /// The CLI's defaults: the DoS backdoor with 50 poisoned documents, the library's trigger
    /// and continuation, every size of [`Spec::small`], seed 0.
    fn default() -> Settings {
        let small = Spec::small(AttackSpec::new(AttackKind::Dos, 50, 0));
        Settings {
            attack: "dos".to_string(),
            poison_docs: small.attack.poison_docs,
            trigger: small.attack.trigger.clone(),
            continuation: small.attack.continuation.clone(),
            defences: None,
            epochs: small.train.epochs,
            d_model: small.d_model,
            layers: small.n_layer,
            heads: small.n_head,
            ctx: small.ctx,
            vocab_size: small.vocab,
            batch: small.train.batch,
            lr: small.train.lr,
            prompts: small.prompts,
            prompt_len: small.prompt_len,
            gen_len: small.gen_len,
            seed: 0,
        }
    }
}
