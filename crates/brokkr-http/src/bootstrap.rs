//! The admin PAK file: written once, readable only by its owner.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use brokkr_core::Pak;

/// Writes `pak` to `path` with mode 0600, replacing any older file atomically.
///
/// The PAK is written to a new file beside `path` and renamed over it, so the file is
/// never visible with the wrong mode or half written.
///
/// # Errors
///
/// The I/O error of creating, writing or renaming the file.
pub fn write_pak_file(path: &Path, pak: &Pak) -> io::Result<()> {
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "admin pak path names no file")
    })?;
    let mut staging_name = file_name.to_os_string();
    staging_name.push(format!(".{}.tmp", std::process::id()));
    let staging = path.with_file_name(staging_name);

    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&staging)?;
        file.write_all(pak.expose_secret().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        fs::rename(&staging, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&staging);
    }
    written
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use brokkr_core::PrincipalKind;
    use brokkr_core::pak::{self, HashParams};

    use super::*;

    #[test]
    fn pak_file_is_private_and_holds_the_pak() {
        let dir = std::env::temp_dir().join(format!("brokkr-pakfile-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("admin.pak");
        fs::write(&path, "old").expect("older file");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let issued = pak::issue(PrincipalKind::Admin, HashParams::INSECURE_FOR_TESTS).expect("pak");

        write_pak_file(&path, &issued.pak).expect("written");

        let mode = fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = fs::read_to_string(&path).expect("read");
        assert_eq!(text.trim_end(), issued.pak.expose_secret());
        let _ = fs::remove_dir_all(&dir);
    }
}
