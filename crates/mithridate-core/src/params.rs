//! Checked parameters.

/// Parameters validated once into a checked type.
///
/// The unchecked type is plain data (deserialized from TOML/JSON, filled from flags); the
/// checked type is what algorithms and plans hold, so nothing downstream re-validates or
/// re-parses. `check` consumes the parameters and names the first value at fault.
///
/// ```
/// use mithridate_core::ParamGuard;
///
/// #[derive(Debug)]
/// struct KnnParams { k: usize }
/// #[derive(Debug)]
/// struct Knn { k: usize }
///
/// impl ParamGuard for KnnParams {
///     type Checked = Knn;
///     type Error = String;
///     fn check_ref(&self) -> Result<(), String> {
///         if self.k == 0 { return Err("k must be at least 1".into()); }
///         Ok(())
///     }
///     fn build(self) -> Knn { Knn { k: self.k } }
/// }
///
/// assert_eq!(KnnParams { k: 5 }.check().unwrap().k, 5);
/// assert_eq!(KnnParams { k: 0 }.check().unwrap_err(), "k must be at least 1");
/// ```
pub trait ParamGuard: Sized {
    /// The validated form the algorithm runs with.
    type Checked;
    /// The error naming the value at fault.
    type Error;

    /// Validates without consuming (every range and consistency rule lives here).
    fn check_ref(&self) -> Result<(), Self::Error>;

    /// Builds the checked value; called only after [`check_ref`](ParamGuard::check_ref) passed.
    fn build(self) -> Self::Checked;

    /// Validates and builds.
    fn check(self) -> Result<Self::Checked, Self::Error> {
        self.check_ref()?;
        Ok(self.build())
    }
}
