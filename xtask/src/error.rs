//! The xtask's error type: a message for a human, with `bail!` and `Context` to build it.

use std::fmt::{self, Display};

/// The xtask's error: a message for a human. Nothing here recovers from an
/// error; it is reported and turned into a failed step or exit code.
#[derive(Debug)]
pub(crate) struct Error(pub(crate) String);

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Result with the xtask's [`Error`]; `()` by default since most steps
/// only succeed or fail.
pub(crate) type Result<T = ()> = std::result::Result<T, Error>;

/// Return early with an [`Error`] built like `format!`.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::Error(format!($($arg)*)))
    };
}
pub(crate) use bail;

/// Adds what we were doing to a low-level error: an `io::Error` alone says
/// "No such file or directory" but not which file.
pub(crate) trait Context<T> {
    /// Prefix the error, if any, with `what`.
    fn context(self, what: impl Display) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl Display) -> Result<T> {
        self.map_err(|e| Error(format!("{what}: {e}")))
    }
}
