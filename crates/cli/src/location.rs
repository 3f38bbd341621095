//! The `--store` argument: a local directory or an `s3://bucket/prefix` URL.
//!
//! The URL is checked here, before any network call, so that a typo gets a sentence
//! naming the bad part rather than an opaque backend error later.

use std::fmt;
use std::path::PathBuf;

use anyhow::bail;

/// Where a study's journal and promotions live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A directory on this machine (created if missing).
    Local(PathBuf),
    /// An S3 (or S3-compatible) bucket and a key prefix; credentials, region and endpoint
    /// come from the usual `AWS_*` environment variables.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix inside the bucket, without leading or trailing '/'.
        prefix: String,
    },
}

impl StoreLocation {
    /// Parses `--store`. Anything with a `scheme://` must be an S3 URL; everything else
    /// is a local path.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        if text.is_empty() {
            bail!(
                "--store is empty. Give a directory (for example ./hnswtune-store) or an s3://bucket/prefix URL."
            );
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Ok(StoreLocation::Local(PathBuf::from(text)));
        };
        if scheme != "s3" {
            bail!(
                "--store {text:?} uses the scheme {scheme:?}, which hnswtune does not support. \
                 Give a local directory or an s3://bucket/prefix URL."
            );
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(text, bucket)?;
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|seg| seg == "." || seg == "..")
            || prefix.contains("//")
            || prefix.chars().any(char::is_control)
        {
            bail!(
                "--store {text:?} has the key prefix {prefix:?}, which contains an empty, '.' \
                 or '..' segment or a control character. Use plain segments such as \
                 s3://bucket/hnswtune/prod."
            );
        }
        Ok(StoreLocation::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

/// S3 bucket naming rules: 3 to 63 characters of lowercase letters, digits, '-' and
/// '.', starting and ending with a letter or digit.
fn check_bucket(text: &str, bucket: &str) -> anyhow::Result<()> {
    let ok_chars = bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ok_ends = bucket
        .chars()
        .next()
        .zip(bucket.chars().last())
        .is_some_and(|(a, b)| a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric());
    if bucket.is_empty() {
        bail!("--store {text:?} has no bucket name. Write it as s3://bucket/prefix.");
    }
    if !(3..=63).contains(&bucket.len()) || !ok_chars || !ok_ends {
        bail!(
            "--store {text:?} names the bucket {bucket:?}, which is not a valid S3 bucket name: \
             use 3 to 63 lowercase letters, digits, '-' or '.', starting and ending with a \
             letter or digit."
        );
    }
    Ok(())
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Local(path) => write!(f, "{}", path.display()),
            StoreLocation::S3 { bucket, prefix } if prefix.is_empty() => {
                write!(f, "s3://{bucket}")
            }
            StoreLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_and_s3_urls() {
        assert_eq!(
            StoreLocation::parse("./store").unwrap(),
            StoreLocation::Local("./store".into())
        );
        assert_eq!(
            StoreLocation::parse("s3://my-bucket/a/b/").unwrap(),
            StoreLocation::S3 {
                bucket: "my-bucket".into(),
                prefix: "a/b".into()
            }
        );
        assert_eq!(
            StoreLocation::parse("s3://my-bucket").unwrap().to_string(),
            "s3://my-bucket"
        );
    }

    #[test]
    fn bad_urls_name_the_bad_part() {
        for (url, needle) in [
            ("s3://", "no bucket"),
            ("s3:///prefix", "no bucket"),
            ("s3://Bad_Bucket/x", "not a valid S3 bucket"),
            ("s3://ab/x", "not a valid S3 bucket"),
            ("s3://bucket/../x", "'..'"),
            ("s3://bucket/a//b", "empty"),
            ("gs://bucket/x", "scheme \"gs\""),
            ("", "empty"),
        ] {
            let msg = StoreLocation::parse(url).unwrap_err().to_string();
            assert!(msg.contains(needle), "{url}: {msg}");
        }
    }
}
