//! Readers for TEXMEX `.fvecs`, `.ivecs`, `.bvecs` and NumPy `.npy` (float32, C order).
//!
//! TEXMEX files (<http://corpus-texmex.irisa.fr/>) store each row as a little-endian `i32`
//! dimension `d` followed by `d` components (`f32`, `i32` or `u8`). Every row must repeat
//! the first row's dimension. NumPy's format is described in
//! <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>: a magic string,
//! a version, a header length and a Python-literal header dict, then the raw array.
//!
//! Every error names the file and the byte offset where parsing stopped
//! ([`Error::Malformed`]), so a truncated download is found at once.

use std::path::Path;

use crate::error::{Error, Result};

/// A row-major matrix read from a file: `rows × dim` values.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix<T> {
    /// Values per row.
    pub dim: usize,
    /// All values, row-major.
    pub data: Vec<T>,
}

impl<T> Matrix<T> {
    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Row `i`, or `None` when out of range.
    pub fn row(&self, i: usize) -> Option<&[T]> {
        self.data.get(i * self.dim..(i + 1) * self.dim)
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a `.fvecs` file.
pub fn read_fvecs(path: impl AsRef<Path>) -> Result<Matrix<f32>> {
    let path = path.as_ref();
    parse_fvecs(&read(path)?, path)
}

/// Reads an `.ivecs` file (TEXMEX ground truth).
pub fn read_ivecs(path: impl AsRef<Path>) -> Result<Matrix<i32>> {
    let path = path.as_ref();
    parse_ivecs(&read(path)?, path)
}

/// Reads a `.bvecs` file; components are widened to `f32`.
pub fn read_bvecs(path: impl AsRef<Path>) -> Result<Matrix<f32>> {
    let path = path.as_ref();
    parse_bvecs(&read(path)?, path)
}

/// Reads a `.npy` file holding a 2-D little-endian float32 array in C order.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Matrix<f32>> {
    let path = path.as_ref();
    parse_npy(&read(path)?, path)
}

/// Parses `.fvecs` bytes; `path` is only used in errors.
pub fn parse_fvecs(bytes: &[u8], path: &Path) -> Result<Matrix<f32>> {
    parse_texmex(bytes, path, 4, |b| {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    })
}

/// Parses `.ivecs` bytes; `path` is only used in errors.
pub fn parse_ivecs(bytes: &[u8], path: &Path) -> Result<Matrix<i32>> {
    parse_texmex(bytes, path, 4, |b| {
        i32::from_le_bytes([b[0], b[1], b[2], b[3]])
    })
}

/// Parses `.bvecs` bytes; `path` is only used in errors.
pub fn parse_bvecs(bytes: &[u8], path: &Path) -> Result<Matrix<f32>> {
    parse_texmex(bytes, path, 1, |b| f32::from(b[0]))
}

fn parse_texmex<T>(
    bytes: &[u8],
    path: &Path,
    width: usize,
    decode: impl Fn(&[u8]) -> T,
) -> Result<Matrix<T>> {
    if bytes.is_empty() {
        return Err(Error::malformed(path, 0, "file holds no vectors"));
    }
    let mut offset = 0usize;
    let mut dim: Option<usize> = None;
    let mut data = Vec::new();
    while offset < bytes.len() {
        let header = bytes.get(offset..offset + 4).ok_or_else(|| {
            Error::malformed(path, offset as u64, "truncated row header (need 4 bytes)")
        })?;
        let d = i32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        if d <= 0 {
            return Err(Error::malformed(
                path,
                offset as u64,
                format!("row dimension {d} is not positive"),
            ));
        }
        let d = d as usize;
        match dim {
            None => {
                dim = Some(d);
                let rows_hint = bytes.len() / (4 + d * width);
                data.reserve(rows_hint * d);
            }
            Some(first) if first != d => {
                return Err(Error::malformed(
                    path,
                    offset as u64,
                    format!("row dimension {d} differs from the first row's {first}"),
                ));
            }
            Some(_) => {}
        }
        let body_start = offset + 4;
        let body_end = body_start + d * width;
        let body = bytes.get(body_start..body_end).ok_or_else(|| {
            Error::malformed(
                path,
                body_start as u64,
                format!(
                    "truncated row: need {} bytes, {} left",
                    d * width,
                    bytes.len() - body_start
                ),
            )
        })?;
        data.extend(body.chunks_exact(width).map(&decode));
        offset = body_end;
    }
    Ok(Matrix {
        dim: dim.unwrap_or(0),
        data,
    })
}

/// Parses `.npy` bytes; `path` is only used in errors.
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<Matrix<f32>> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(Error::malformed(
            path,
            0,
            "missing the \\x93NUMPY magic (or file shorter than 10 bytes)",
        ));
    }
    let major = bytes[6];
    let (header_len, header_start) = match major {
        1 => (
            usize::from(u16::from_le_bytes([bytes[8], bytes[9]])),
            10usize,
        ),
        2 | 3 => {
            let raw = bytes
                .get(8..12)
                .ok_or_else(|| Error::malformed(path, 8, "truncated header length"))?;
            (
                u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize,
                12usize,
            )
        }
        other => {
            return Err(Error::malformed(
                path,
                6,
                format!("unsupported npy version {other}"),
            ));
        }
    };
    let header_bytes = bytes
        .get(header_start..header_start + header_len)
        .ok_or_else(|| Error::malformed(path, header_start as u64, "truncated header"))?;
    let header = std::str::from_utf8(header_bytes)
        .map_err(|_| Error::malformed(path, header_start as u64, "header is not UTF-8"))?;
    let at = header_start as u64;
    let descr = dict_value(header, "descr")
        .ok_or_else(|| Error::malformed(path, at, "header lacks 'descr'"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    if descr != "<f4" && descr != "f4" {
        return Err(Error::malformed(
            path,
            at,
            format!("dtype {descr:?} is not little-endian float32 ('<f4')"),
        ));
    }
    let fortran = dict_value(header, "fortran_order")
        .ok_or_else(|| Error::malformed(path, at, "header lacks 'fortran_order'"))?;
    if fortran != "False" {
        return Err(Error::malformed(
            path,
            at,
            "Fortran-order arrays are not supported; save in C order",
        ));
    }
    let shape = dict_value(header, "shape")
        .ok_or_else(|| Error::malformed(path, at, "header lacks 'shape'"))?;
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::malformed(path, at, format!("cannot parse shape {shape}")))?;
    let [rows, dim] = dims[..] else {
        return Err(Error::malformed(
            path,
            at,
            format!("shape {shape} is not 2-D"),
        ));
    };
    if rows == 0 || dim == 0 {
        return Err(Error::malformed(
            path,
            at,
            format!("shape {shape} holds no vectors"),
        ));
    }
    let data_start = header_start + header_len;
    let need = rows
        .checked_mul(dim)
        .and_then(|n| n.checked_mul(4))
        .ok_or_else(|| Error::malformed(path, at, format!("shape {shape} overflows")))?;
    let body = &bytes[data_start.min(bytes.len())..];
    if body.len() != need {
        return Err(Error::malformed(
            path,
            (data_start + body.len().min(need)) as u64,
            format!(
                "array data is {} bytes, shape {shape} needs {need}",
                body.len()
            ),
        ));
    }
    let data = body
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Matrix { dim, data })
}

/// The raw text of `key`'s value in a Python dict literal such as NumPy's header.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let quoted = [format!("'{key}'"), format!("\"{key}\"")];
    let start = quoted
        .iter()
        .find_map(|q| header.find(q.as_str()).map(|i| i + q.len()))?;
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

/// Serialises rows as `.fvecs` bytes (for tests and for writing sample data).
pub fn to_fvecs(dim: usize, data: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 4 + data.len() / dim.max(1) * 4);
    for row in data.chunks_exact(dim.max(1)) {
        out.extend_from_slice(&(dim as i32).to_le_bytes());
        for x in row {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, body: &[f32]) -> Vec<u8> {
        let mut h = header.to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        out.extend_from_slice(h.as_bytes());
        for x in body {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out
    }

    #[test]
    fn fvecs_round_trip_and_truncation_names_offset() {
        let p = Path::new("x.fvecs");
        let bytes = to_fvecs(3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let m = parse_fvecs(&bytes, p).unwrap();
        assert_eq!((m.dim, m.rows()), (3, 2));
        assert_eq!(m.row(1), Some(&[4.0, 5.0, 6.0][..]));
        let err = parse_fvecs(&bytes[..bytes.len() - 2], p).unwrap_err();
        match err {
            Error::Malformed { path, offset, .. } => {
                assert_eq!(path, p);
                assert_eq!(offset, 20);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse_fvecs(&bytes[..18], p),
            Err(Error::Malformed { offset: 16, .. })
        ));
        assert!(matches!(
            parse_fvecs(&[], p),
            Err(Error::Malformed { offset: 0, .. })
        ));
        let mut bad = bytes.clone();
        bad[16..20].copy_from_slice(&4i32.to_le_bytes());
        assert!(matches!(
            parse_fvecs(&bad, p),
            Err(Error::Malformed { offset: 16, .. })
        ));
        bad[16..20].copy_from_slice(&(-1i32).to_le_bytes());
        assert!(matches!(
            parse_fvecs(&bad, p),
            Err(Error::Malformed { offset: 16, .. })
        ));
    }

    #[test]
    fn ivecs_and_bvecs() {
        let p = Path::new("gt.ivecs");
        let mut bytes = Vec::new();
        for row in [[7i32, 8], [9, 10]] {
            bytes.extend_from_slice(&2i32.to_le_bytes());
            for x in row {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
        }
        assert_eq!(parse_ivecs(&bytes, p).unwrap().data, vec![7, 8, 9, 10]);
        let b = [2u8, 0, 0, 0, 200, 3];
        assert_eq!(parse_bvecs(&b, p).unwrap().data, vec![200.0, 3.0]);
        assert!(matches!(
            parse_bvecs(&b[..5], p),
            Err(Error::Malformed { offset: 4, .. })
        ));
    }

    #[test]
    fn npy_parses_and_rejects() {
        let p = Path::new("a.npy");
        let good = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &[1., 2., 3., 4., 5., 6.],
        );
        let m = parse_npy(&good, p).unwrap();
        assert_eq!((m.dim, m.rows()), (3, 2));
        assert_eq!(m.data[5], 6.0);
        let cut = good.len() as u64 - 1;
        assert!(
            matches!(parse_npy(&good[..good.len() - 1], p), Err(Error::Malformed { offset, .. }) if offset == cut)
        );
        let f8 = npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
            &[0.0; 12],
        );
        assert!(matches!(
            parse_npy(&f8, p),
            Err(Error::Malformed { offset: 10, .. })
        ));
        let fortran = npy(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
            &[0.0; 6],
        );
        assert!(parse_npy(&fortran, p).is_err());
        let one_d = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }",
            &[0.0; 6],
        );
        assert!(parse_npy(&one_d, p).is_err());
        assert!(matches!(
            parse_npy(b"garbage!!!!", p),
            Err(Error::Malformed { offset: 0, .. })
        ));
    }
}
