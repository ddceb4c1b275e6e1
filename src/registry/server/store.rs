//! Durable state: one `registry.json` per data directory, rewritten atomically (temp file, fsync,
//! rename, fsync of the directory) before a mutating request is answered. Every request goes
//! through one mutex, so registrations are serialized (concurrent registrations of one schema
//! get one id).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::sync::Mutex;

use super::error::{ApiError, RegistryServerError};
use super::state::State;

pub const STATE_FILE: &str = "registry.json";
const TEMP_FILE: &str = "registry.json.tmp";

pub struct Store {
    state: Mutex<State>,
    /// `dir/registry.json` when durable; in-memory otherwise.
    path: Option<PathBuf>,
}

impl Store {
    /// An in-memory store (`data = None`) or one loaded from `dir/registry.json` (created, with
    /// the directory, when missing; a corrupt file is an error, never silently replaced).
    pub fn open(data: Option<&Path>) -> Result<Store, RegistryServerError> {
        let Some(dir) = data else {
            return Ok(Store {
                state: Mutex::new(State::default()),
                path: None,
            });
        };
        fs::create_dir_all(dir).map_err(|source| RegistryServerError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(STATE_FILE);
        let state = match fs::read(&path) {
            Ok(bytes) => load(&path, &bytes)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let state = State::default();
                // Write it now: an unwritable directory fails at start, not at the first request.
                write_atomically(&path, &encode(&state, &path)?)?;
                state
            }
            Err(source) => return Err(RegistryServerError::ReadState { path, source }),
        };
        tracing::info!(
            path = %path.display(),
            schemas = state.schemas.len(),
            subjects = state.subjects.len(),
            "schema registry state loaded"
        );
        Ok(Store {
            state: Mutex::new(state),
            path: Some(path),
        })
    }

    pub async fn read<T>(
        &self,
        f: impl FnOnce(&State) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let state = self.state.lock().await;
        f(&state)
    }

    /// Runs `f` on a copy of the state; when it succeeds and changed something, persists the
    /// copy and only then makes it current. A failed write leaves the previous state in place.
    pub async fn mutate<T>(
        &self,
        f: impl FnOnce(&mut State) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut current = self.state.lock().await;
        let mut next = current.clone();
        let answer = f(&mut next)?;
        if next == *current {
            return Ok(answer);
        }
        if let Some(path) = &self.path {
            let bytes = encode(&next, path).map_err(|error| ApiError::store(error.to_string()))?;
            let path = path.clone();
            let written =
                tokio::task::spawn_blocking(move || write_atomically(&path, &bytes)).await;
            match written {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::error!(%error, "schema registry state not saved");
                    return Err(ApiError::store(format!(
                        "Error in the backend data store: {error}"
                    )));
                }
                Err(join) => {
                    return Err(ApiError::store(format!(
                        "Error in the backend data store: the writer task failed: {join}"
                    )))
                }
            }
        }
        *current = next;
        Ok(answer)
    }
}

fn load(path: &Path, bytes: &[u8]) -> Result<State, RegistryServerError> {
    let corrupt = |reason: String| RegistryServerError::CorruptState {
        path: path.to_path_buf(),
        reason,
    };
    let mut state: State =
        serde_json::from_slice(bytes).map_err(|error| corrupt(error.to_string()))?;
    state.validate().map_err(corrupt)?;
    Ok(state)
}

fn encode(state: &State, path: &Path) -> Result<Vec<u8>, RegistryServerError> {
    serde_json::to_vec_pretty(state).map_err(|error| RegistryServerError::WriteState {
        path: path.to_path_buf(),
        source: std::io::Error::other(error),
    })
}

/// Temp file, fsync, rename over `path`, fsync the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RegistryServerError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = dir.join(TEMP_FILE);
    let fail = |at: &Path| {
        let at = at.to_path_buf();
        move |source| RegistryServerError::WriteState { path: at, source }
    };
    let mut file = File::create(&temp).map_err(fail(&temp))?;
    file.write_all(bytes).map_err(fail(&temp))?;
    file.sync_all().map_err(fail(&temp))?;
    drop(file);
    fs::rename(&temp, path).map_err(fail(path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fail(dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_created_and_corrupt_file_is_refused() {
        let dir = match tempfile::tempdir() {
            Ok(dir) => dir,
            Err(error) => panic!("tempdir: {error}"),
        };
        let data = dir.path().join("nested/data");
        assert!(Store::open(Some(&data)).is_ok());
        assert!(data.join(STATE_FILE).exists());
        assert!(Store::open(Some(&data)).is_ok());

        if let Err(error) = fs::write(data.join(STATE_FILE), b"{not json") {
            panic!("write: {error}");
        }
        match Store::open(Some(&data)) {
            Err(RegistryServerError::CorruptState { path, .. }) => {
                assert_eq!(path, data.join(STATE_FILE))
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("corrupt state accepted"),
        }
    }
}
