//! Ingestion checks that need no model: ids a batch repeats, and how ids are named in a
//! one-line reason.

/// Ids listed in a one-line reason before "and N more".
pub const IDS_IN_REASON: usize = 8;

/// The ids of `batch` already in `ingested` (ascending, as `ingested` must be), in batch order.
/// A feed must never deliver a sample id twice: a repeated id is either a replay (an attacker
/// re-inserting a sample that was removed or changing one already screened) or a broken feed,
/// and the batch is blocked with the ids named.
///
/// ```
/// use mithridate_continual::ingest::overlapping_ids;
/// assert_eq!(overlapping_ids(&[1, 4, 9], &[9, 2, 4]), vec![9, 4]);
/// assert!(overlapping_ids(&[1, 4, 9], &[2, 3]).is_empty());
/// ```
pub fn overlapping_ids(ingested: &[u64], batch: &[u64]) -> Vec<u64> {
    batch
        .iter()
        .copied()
        .filter(|id| ingested.binary_search(id).is_ok())
        .collect()
}

/// `ids` for a one-line message: the first [`IDS_IN_REASON`], then "and N more".
///
/// ```
/// use mithridate_continual::ingest::id_list;
/// assert_eq!(id_list(&[3, 5]), "3, 5");
/// assert_eq!(id_list(&(0..10).collect::<Vec<u64>>()), "0, 1, 2, 3, 4, 5, 6, 7 and 2 more");
/// ```
pub fn id_list(ids: &[u64]) -> String {
    let shown: Vec<String> = ids.iter().take(IDS_IN_REASON).map(u64::to_string).collect();
    if ids.len() > IDS_IN_REASON {
        format!(
            "{} and {} more",
            shown.join(", "),
            ids.len() - IDS_IN_REASON
        )
    } else {
        shown.join(", ")
    }
}
