//! Where a journal and a registry live: a store plus a key prefix, and the one parser
//! of the addresses users write for it ([`StoreUrl`]).

use std::fmt;
use std::path::PathBuf;
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
        let parsed = StoreUrl::parse(url)
            .map_err(|e| Error::invalid("store location", format!("{url:?}: {e}")))?;
        StoreLocation::open(&parsed)
    }

    /// Opens the store that `url` names (see [`StoreLocation::parse`]).
    pub fn open(url: &StoreUrl) -> Result<Self, Error> {
        let location = match url {
            StoreUrl::Local(path) => StoreLocation::local(path, false)?,
            StoreUrl::Memory { prefix } => StoreLocation {
                prefix: prefix.clone(),
                ..StoreLocation::in_memory()
            },
            StoreUrl::S3 { bucket, prefix } => {
                StoreLocation::new(s3_store(&url.to_string(), bucket)?, prefix.clone())
            }
        };
        Layout::new(&location.prefix)?;
        Ok(location)
    }
}

/// A store address as a user writes it, checked before anything is opened or any
/// request is sent.
///
/// - a plain path, or `file:///abs/path`: a directory on this machine;
/// - `memory://` or `memory:///prefix`: a fresh in-memory store;
/// - `s3://bucket/prefix`: Amazon S3 or an S3-compatible server.
///
/// ```
/// use hnswtune_journal::{LocationError, StoreUrl};
/// let url = StoreUrl::parse("s3://my-bucket/team/a/")?;
/// assert_eq!(url, StoreUrl::S3 { bucket: "my-bucket".into(), prefix: "team/a".into() });
/// assert_eq!(url.to_string(), "s3://my-bucket/team/a");
/// assert_eq!(StoreUrl::parse("s3://Bad_Bucket/x"), Err(LocationError::BadBucket { bucket: "Bad_Bucket".into() }));
/// # Ok::<(), LocationError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreUrl {
    /// A directory on this machine (created when opened).
    Local(PathBuf),
    /// An in-memory store with a key prefix.
    Memory {
        /// Key prefix, without leading or trailing '/'.
        prefix: String,
    },
    /// An S3 bucket and a key prefix; credentials, region and endpoint come from the
    /// usual `AWS_*` environment variables.
    S3 {
        /// The bucket.
        bucket: String,
        /// Key prefix, without leading or trailing '/'.
        prefix: String,
    },
}

/// What is wrong with a store address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocationError {
    /// Nothing was given.
    #[error("the location is empty")]
    Empty,
    /// A `scheme://` other than file, memory and s3.
    #[error("unsupported scheme {scheme:?} (use a path, file://, memory:// or s3://)")]
    UnsupportedScheme {
        /// The scheme given.
        scheme: String,
    },
    /// `file://` followed by a relative path.
    #[error("a file:// location needs an absolute path")]
    RelativeFile,
    /// `s3://` with no bucket.
    #[error("the bucket name is empty")]
    NoBucket,
    /// A bucket name S3 would refuse.
    #[error(
        "{bucket:?} is not a valid S3 bucket name: use 3 to 63 lowercase letters, digits, \
         '-' or '.', starting and ending with a letter or digit"
    )]
    BadBucket {
        /// The bucket given.
        bucket: String,
    },
    /// A key prefix with an empty, `.` or `..` segment or a control character.
    #[error(
        "the key prefix {prefix:?} contains an empty, '.' or '..' segment or a control character"
    )]
    BadPrefix {
        /// The prefix given.
        prefix: String,
    },
}

impl StoreUrl {
    /// Parses an address (see the type's docs).
    pub fn parse(text: &str) -> Result<StoreUrl, LocationError> {
        let Some((scheme, rest)) = text.split_once("://") else {
            if text.trim().is_empty() {
                return Err(LocationError::Empty);
            }
            return Ok(StoreUrl::Local(PathBuf::from(text)));
        };
        match scheme {
            "file" if rest.starts_with('/') => Ok(StoreUrl::Local(PathBuf::from(rest))),
            "file" => Err(LocationError::RelativeFile),
            "memory" => Ok(StoreUrl::Memory {
                prefix: checked_prefix(rest)?,
            }),
            "s3" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                check_bucket(bucket)?;
                Ok(StoreUrl::S3 {
                    bucket: bucket.to_owned(),
                    prefix: checked_prefix(prefix)?,
                })
            }
            other => Err(LocationError::UnsupportedScheme {
                scheme: other.to_owned(),
            }),
        }
    }
}

/// The prefix without leading and trailing '/', if every segment is a plain name.
fn checked_prefix(prefix: &str) -> Result<String, LocationError> {
    let trimmed = prefix.trim_matches('/');
    if trimmed.split('/').any(|seg| seg == "." || seg == "..")
        || trimmed.contains("//")
        || trimmed.chars().any(char::is_control)
    {
        return Err(LocationError::BadPrefix {
            prefix: trimmed.to_owned(),
        });
    }
    Ok(trimmed.to_owned())
}

/// S3 bucket naming rules: 3 to 63 characters of lowercase letters, digits, '-' and
/// '.', starting and ending with a letter or digit.
fn check_bucket(bucket: &str) -> Result<(), LocationError> {
    if bucket.is_empty() {
        return Err(LocationError::NoBucket);
    }
    let ok_chars = bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ok_ends = bucket
        .chars()
        .next()
        .zip(bucket.chars().last())
        .is_some_and(|(a, b)| a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric());
    if !(3..=63).contains(&bucket.len()) || !ok_chars || !ok_ends {
        return Err(LocationError::BadBucket {
            bucket: bucket.to_owned(),
        });
    }
    Ok(())
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with_prefix = |f: &mut fmt::Formatter<'_>, base: &str, prefix: &str| {
            if prefix.is_empty() {
                write!(f, "{base}")
            } else {
                write!(f, "{base}/{prefix}")
            }
        };
        match self {
            StoreUrl::Local(path) => write!(f, "{}", path.display()),
            StoreUrl::Memory { prefix } => with_prefix(f, "memory://", prefix),
            StoreUrl::S3 { bucket, prefix } => with_prefix(f, &format!("s3://{bucket}"), prefix),
        }
    }
}

#[cfg(feature = "s3")]
fn s3_store(url: &str, bucket: &str) -> Result<Arc<dyn ObjectStore>, Error> {
    // The client's own retries are kept short (3 retries within 30 s instead of 10
    // within 3 minutes): the agent retries every journal call with its own backoff and
    // reports each retry, so an outage is reported within seconds, not absorbed for
    // minutes.
    let retry = object_store::RetryConfig {
        max_retries: 3,
        retry_timeout: std::time::Duration::from_secs(30),
        ..object_store::RetryConfig::default()
    };
    let store = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry)
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

    #[test]
    fn bad_urls_get_the_error_that_names_the_bad_part() {
        for (url, want) in [
            ("", LocationError::Empty),
            ("s3://", LocationError::NoBucket),
            ("s3:///prefix", LocationError::NoBucket),
            (
                "s3://ab/x",
                LocationError::BadBucket {
                    bucket: "ab".into(),
                },
            ),
            (
                "s3://bucket/a//b",
                LocationError::BadPrefix {
                    prefix: "a//b".into(),
                },
            ),
            (
                "memory:///a/../b",
                LocationError::BadPrefix {
                    prefix: "a/../b".into(),
                },
            ),
            (
                "gs://bucket/x",
                LocationError::UnsupportedScheme {
                    scheme: "gs".into(),
                },
            ),
            ("file://relative", LocationError::RelativeFile),
        ] {
            assert_eq!(StoreUrl::parse(url), Err(want), "{url:?}");
        }
        assert_eq!(
            StoreUrl::parse("./store"),
            Ok(StoreUrl::Local("./store".into()))
        );
        assert_eq!(
            StoreUrl::parse("memory://").unwrap().to_string(),
            "memory://"
        );
    }

    #[cfg(feature = "s3")]
    #[test]
    fn parses_s3_bucket_and_prefix() {
        let location = StoreLocation::parse("s3://bucket/team/a/").unwrap();
        assert_eq!(location.prefix, "team/a");
    }
}
