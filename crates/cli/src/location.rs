//! The `--store` argument: a local directory or an `s3://bucket/prefix` URL.
//!
//! hnswtune-journal owns the address and its parser ([`StoreUrl`]); this module only
//! turns its typed errors into sentences that name the flag and say what to write
//! instead, before any network call.

use hnswtune_journal::{LocationError, StoreUrl};

/// Parses `--store`, explaining a bad address in one paragraph.
pub fn parse_store(text: &str) -> anyhow::Result<StoreUrl> {
    match StoreUrl::parse(text) {
        // The journal's in-memory store is gone when the command ends: every later
        // command would find an empty study.
        Ok(StoreUrl::Memory { .. }) => anyhow::bail!(
            "--store {text:?} is an in-memory store, which is gone when the command ends. \
             Give a directory (for example ./hnswtune-store) or an s3://bucket/prefix URL."
        ),
        Ok(url) => Ok(url),
        Err(e) => Err(anyhow::anyhow!(sentence(text, &e))),
    }
}

fn sentence(text: &str, error: &LocationError) -> String {
    match error {
        LocationError::Empty => "--store is empty. Give a directory (for example \
            ./hnswtune-store) or an s3://bucket/prefix URL."
            .into(),
        LocationError::UnsupportedScheme { scheme } => format!(
            "--store {text:?} uses the scheme {scheme:?}, which hnswtune does not support. \
             Give a local directory or an s3://bucket/prefix URL."
        ),
        LocationError::RelativeFile => format!(
            "--store {text:?} is a file:// URL with a relative path. Write file:///absolute/path \
             or just the path."
        ),
        LocationError::NoBucket => {
            format!("--store {text:?} has no bucket name. Write it as s3://bucket/prefix.")
        }
        LocationError::BadBucket { bucket } => format!(
            "--store {text:?} names the bucket {bucket:?}, which is not a valid S3 bucket name: \
             use 3 to 63 lowercase letters, digits, '-' or '.', starting and ending with a \
             letter or digit."
        ),
        LocationError::BadPrefix { prefix } => format!(
            "--store {text:?} has the key prefix {prefix:?}, which contains an empty, '.' or \
             '..' segment or a control character. Use plain segments such as \
             s3://bucket/hnswtune/prod."
        ),
        other => format!("--store {text:?}: {other}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_and_s3_urls() {
        assert_eq!(
            parse_store("./store").unwrap(),
            StoreUrl::Local("./store".into())
        );
        assert_eq!(
            parse_store("s3://my-bucket/a/b/").unwrap(),
            StoreUrl::S3 {
                bucket: "my-bucket".into(),
                prefix: "a/b".into()
            }
        );
        assert_eq!(
            parse_store("s3://my-bucket").unwrap().to_string(),
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
            ("file://x", "relative path"),
            ("memory://", "in-memory"),
            ("", "empty"),
        ] {
            let msg = parse_store(url).unwrap_err().to_string();
            assert!(
                msg.contains(needle) && msg.contains("--store"),
                "{url}: {msg}"
            );
        }
    }
}
