//! The committed registry docs (`docs/registry.md`) are the registries' own tables.

use std::path::PathBuf;

#[test]
fn docs_registry_table_matches_the_registries() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/registry.md");
    let generated = mithridate_pipeline::catalog::markdown();
    if std::env::var_os("MITHRIDATE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/registry.md is out of date: rerun with MITHRIDATE_BLESS=1"
    );
}
