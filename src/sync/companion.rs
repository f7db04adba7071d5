//! The Unix companion region of a named mutex or event: `<name>#mutex` or `<name>#event`, made
//! zero-filled by whoever comes first, with the crate's region lifetime.
//!
//! Its owner is checked by default (another user's object under the name is refused with
//! [`SharedMemoryError::ForeignOwner`]), and every failure names the companion object rather
//! than coming back as a bare `CreateMapping`.

use crate::name::RegionName;
use crate::{Options, ReadWrite, SharedMemory, SharedMemoryError};

/// Opens the companion `<name>#<kind>` of at least `len` bytes, creating it if nobody has it.
pub(super) fn open_or_create(
    name: &RegionName,
    kind: &str,
    len: usize,
    options: &Options,
) -> Result<SharedMemory<ReadWrite>, SharedMemoryError> {
    let object = format!("{}#{kind}", name.as_str());
    SharedMemory::<ReadWrite>::get_or_create_with(&object, len, &companion_options(options))
        .map_err(|error| named(error, object))
}

/// Opens the existing companion `<name>#<kind>`, which must have at least `len` bytes.
pub(super) fn open_existing(
    name: &RegionName,
    kind: &str,
    len: usize,
    options: &Options,
) -> Result<SharedMemory<ReadWrite>, SharedMemoryError> {
    let object = format!("{}#{kind}", name.as_str());
    SharedMemory::<ReadWrite>::open_existing_with(&object, &companion_options(options))
        .and_then(|region| check_len(region, &object, len))
        .map_err(|error| named(error, object))
}

/// Refuses an existing companion too small for its state.
fn check_len(
    region: SharedMemory<ReadWrite>,
    object: &str,
    len: usize,
) -> Result<SharedMemory<ReadWrite>, SharedMemoryError> {
    if region.len() < len {
        return Err(SharedMemoryError::SizeMismatch {
            name: object.to_owned(),
            required: len,
            actual: region.len() as u64,
        });
    }
    Ok(region)
}

/// The error, with the companion object's name where the variant has none.
fn named(error: SharedMemoryError, object: String) -> SharedMemoryError {
    let (call, source) = match error {
        SharedMemoryError::OpenMapping(source) => (crate::sys::OPEN_CALL, source),
        SharedMemoryError::CreateMapping(source) => (crate::sys::CREATE_CALL, source),
        SharedMemoryError::MapView(source) => (crate::sys::MAP_CALL, source),
        other => return other,
    };
    SharedMemoryError::Synchronization {
        name: object,
        call,
        source,
    }
}

/// The options of a synchronisation object's companion region: its owner is checked unless
/// the options say otherwise.
pub(super) fn companion_options(options: &Options) -> Options {
    options
        .clone()
        .require_owner(options.owner_check().unwrap_or(true))
}
