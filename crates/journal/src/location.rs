//! Where a journal and a registry live: a store plus a key prefix.

use std::sync::Arc;

use hnswtune_core::Error;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;

use crate::keys::Layout;

/// An object store and the key prefix under which hnswtune keeps its objects.
///
/// A journal and a registry opened on the same location share the store and never
/// touch each other's keys (`trials/...` and `promotions/...`).
#[derive(Clone, Debug)]
pub struct StoreLocation {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// Key prefix, `""` for the root of the store.
    pub prefix: String,
}

impl StoreLocation {
    /// `store` under `prefix` (`""` for its root). The prefix is checked when a
    /// journal or registry is opened on the location.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: impl Into<String>) -> Self {
        StoreLocation {
            store,
            prefix: prefix.into(),
        }
    }

    /// A fresh, empty in-memory store (tests, examples, benchmarks).
    pub fn in_memory() -> Self {
        StoreLocation::new(Arc::new(InMemory::new()), "")
    }

    /// The local default: files under `dir`, which is created if it is missing.
    ///
    /// With `fsync`, every written file and its directory are synced before a write
    /// returns, so an acknowledged append survives a power loss; without it an append
    /// survives a process crash (each entry is staged and hard-linked into place) but
    /// not necessarily a power loss.
    pub fn local(dir: impl AsRef<std::path::Path>, fsync: bool) -> Result<Self, Error> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::Backend {
            op: format!("create directory {}", dir.display()),
            source: Box::new(e),
        })?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| Error::Backend {
                op: format!("open directory {}", dir.display()),
                source: Box::new(e),
            })?
            .with_fsync(fsync);
        Ok(StoreLocation::new(Arc::new(store), ""))
    }

    /// Parses a location:
    ///
    /// - a plain path or `file:///abs/path`: [`StoreLocation::local`] without fsync;
    /// - `memory://` or `memory:///prefix`: a fresh in-memory store;
    /// - `s3://bucket/prefix` (feature `s3`): Amazon S3 or an S3-compatible server,
    ///   configured from the usual `AWS_*` environment variables (`AWS_ENDPOINT`,
    ///   `AWS_ALLOW_HTTP`, `AWS_REGION`, credentials).
    ///
    /// Anything else is an [`Error::InvalidInput`].
    ///
    /// ```
    /// use hnswtune_journal::StoreLocation;
    /// let location = StoreLocation::parse("memory:///team-a")?;
    /// assert_eq!(location.prefix, "team-a");
    /// assert!(StoreLocation::parse("ftp://host/x").is_err());
    /// # Ok::<(), hnswtune_core::Error>(())
    /// ```
    pub fn parse(url: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::invalid("store location", format!("{url:?}: {why}"));
        let Some((scheme, rest)) = url.split_once("://") else {
            if url.trim().is_empty() {
                return Err(bad("the location is empty"));
            }
            return StoreLocation::local(url, false);
        };
        let location = match scheme {
            "file" => {
                if !rest.starts_with('/') {
                    return Err(bad("a file:// location needs an absolute path"));
                }
                StoreLocation::local(rest, false)?
            }
            "memory" => StoreLocation {
                prefix: rest.trim_matches('/').to_owned(),
                ..StoreLocation::in_memory()
            },
            "s3" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(bad("the bucket name is empty"));
                }
                StoreLocation::new(s3_store(url, bucket)?, prefix.trim_matches('/'))
            }
            other => {
                return Err(bad(&format!(
                    "unsupported scheme {other:?} (use a path, file://, memory:// or s3://)"
                )));
            }
        };
        Layout::new(&location.prefix)?;
        Ok(location)
    }
}

#[cfg(feature = "s3")]
fn s3_store(url: &str, bucket: &str) -> Result<Arc<dyn ObjectStore>, Error> {
    let store = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()
        .map_err(|e| Error::invalid("store location", format!("{url:?}: {e}")))?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "s3"))]
fn s3_store(url: &str, _bucket: &str) -> Result<Arc<dyn ObjectStore>, Error> {
    Err(Error::Unsupported {
        what: format!("{url:?}: S3 locations need the `s3` feature of hnswtune-journal"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        let location = StoreLocation::parse(nested.to_str().unwrap()).unwrap();
        assert_eq!(location.prefix, "");
        assert!(nested.is_dir(), "the directory is created");
        let url = format!("file://{}", dir.path().join("c").display());
        StoreLocation::parse(&url).unwrap();

        for bad in [
            "",
            "ftp://x/y",
            "file://relative/path",
            "s3:///prefix",
            "memory:///a/../b",
        ] {
            let err = StoreLocation::parse(bad).unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput { .. }),
                "{bad:?} gave {err}"
            );
        }
    }

    #[cfg(feature = "s3")]
    #[test]
    fn parses_s3_bucket_and_prefix() {
        let location = StoreLocation::parse("s3://bucket/team/a/").unwrap();
        assert_eq!(location.prefix, "team/a");
    }
}
