//! The tool's JSON files beside the project (drift's expected schema, the
//! rehearsals), which the release reads in the image: read with the place of a
//! syntax error named, written whole (a temporary file renamed into place) and
//! readable by any user.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Reads `path` as `what` (for the error); None when there is no such file.
/// `help` says how the file is written anew.
pub fn read<T: DeserializeOwned>(path: &Path, what: &str, help: &str) -> Result<Option<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(Error::io("read", path, err)),
    };
    serde_json::from_str(&text).map(Some).map_err(|err| {
        Error::usage(format!("{} is not {what}", path.display()))
            .note("at", format!("line {}, column {}", err.line(), err.column()))
            .note("reason", err.to_string())
            .help(help.to_owned())
    })
}

/// Writes `value` to `path` whole, pretty-printed.
pub fn write(path: &Path, value: &impl Serialize) -> Result<()> {
    let folder = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).map_err(|err| Error::io("create", folder, err))?;
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|err| Error::internal(format!("could not write {}: {err}", path.display())))?;
    text.push('\n');
    let temporary = tempfile::NamedTempFile::new_in(folder).map_err(|err| Error::io("create", folder, err))?;
    std::fs::write(temporary.path(), text).map_err(|err| Error::io("write", temporary.path(), err))?;
    // A temporary file is the owner's alone; this one is read by the release, as any user.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(temporary.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|err| Error::io("write", temporary.path(), err))?;
    }
    temporary.persist(path).map_err(|err| Error::io("write", path, err.error))?;
    Ok(())
}
