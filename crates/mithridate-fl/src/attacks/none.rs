//! The no-attack baseline: malicious clients behave honestly (the rule still assumes them).

use crate::attacks::MODEL_POISONING;
use crate::attacks::{AttackFamily, UpdateAttackBuilder};
use crate::error::FlError;
use mithridate_core::registry::{Entry, Role};

/// Registry entry: `none`.
pub const ENTRY: Entry<UpdateAttackBuilder> = Entry {
    name: "none",
    role: Role::UpdateAttack,
    modalities: &[],
    summary: "no attack: the malicious clients train and send honest updates (the baseline; no parameter)",
    paper: "none",
    taxonomy: MODEL_POISONING,
    requires: &[],
    provides: &[],
    build: UpdateAttackBuilder {
        family: AttackFamily::ModelPoisoning,
        build: |param| {
            if param.is_some() {
                return Err(FlError::param("attack", "none takes no parameter"));
            }
            Ok(None)
        },
    },
};
