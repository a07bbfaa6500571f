//! The archive file's SHA-256 (`--archive-sha256` or the `ARCHIVE.sha256`
//! sidecar): the input hashed as it is read, and compared at the end.

use std::io::{self, Read};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::findings::FindingKind;
use super::{Verifier, VerifyOptions, READ_PIECE};

/// Where the SHA-256 recorded for the archive file came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestSource {
    /// `verify --archive-sha256 HEX`, as read from the custody form.
    Option,
    /// The `ARCHIVE.sha256` file that `collect` writes beside a file output.
    Sidecar,
}

/// The SHA-256 the archive file should have.
#[derive(Clone, Debug)]
pub struct ExpectedDigest {
    /// 64 lowercase hexadecimal digits.
    pub sha256: String,
    /// Where it came from.
    pub source: DigestSource,
    /// How to name that place to people: `--archive-sha256` or the sidecar's path.
    pub origin: String,
}

/// The archive file's SHA-256 as read, against the one recorded for it.
#[derive(Clone, Debug, Serialize)]
pub struct ArchiveFile {
    /// SHA-256 (hex) of every byte of the input, as read.
    pub sha256: String,
    /// The SHA-256 recorded for it.
    pub expected: String,
    /// Where `expected` came from.
    pub source: DigestSource,
    /// Whether they are equal.
    pub matches: bool,
    /// `--archive-sha256` or the sidecar's path, for people.
    #[serde(skip)]
    pub origin: String,
}

/// Read a SHA-256 written as 64 hexadecimal digits (either case), as
/// `sha256sum` prints it; lowercase hex.
pub fn parse_sha256_hex(text: &str) -> Result<String, String> {
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!(
            "{text:?} is not a SHA-256: it must be 64 hexadecimal digits, as sha256sum prints them ({} characters given)",
            text.chars().count()
        ))
    }
}

/// Read the digest of an `ARCHIVE.sha256` sidecar: one line in the form
/// `sha256sum` writes, `HEX  NAME` (or `HEX *NAME`, or with a leading `\`
/// when the name is escaped), with or without a final newline. The name
/// is not compared with the archive's: the two files may have been
/// renamed together.
pub fn parse_sidecar(bytes: &[u8]) -> Result<String, String> {
    let line = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let line = line.strip_prefix(b"\\").unwrap_or(line);
    let form = "one line `<64 hexadecimal digits>  <archive name>`, as collect and sha256sum write it";
    if line.contains(&b'\n') {
        return Err(format!("it holds more than one line; expected {form}"));
    }
    if line.len() < 67 || !matches!(&line[64..66], b"  " | b" *") {
        return Err(format!("expected {form}"));
    }
    let hex = std::str::from_utf8(&line[..64]).map_err(|_| format!("expected {form}"))?;
    parse_sha256_hex(hex).map_err(|e| format!("{e}; expected {form}"))
}

/// The input, hashed as it is read when the file's digest is wanted: each
/// byte is read once, by the decoder or, after it stops, by [`Hashed::finish`].
pub(super) struct Hashed<R> {
    pub(super) inner: R,
    pub(super) sha: Option<Sha256>,
}

impl<R: Read> Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(sha) = &mut self.sha {
            sha.update(&buf[..n]);
        }
        Ok(n)
    }
}

impl<R: Read> Hashed<R> {
    /// Read and hash what is left of the input (the decoder stops early
    /// after data following the seal, for one); the digest of it all, if
    /// it was wanted.
    pub(super) fn finish(mut self) -> io::Result<Option<String>> {
        let Some(mut sha) = self.sha.take() else {
            return Ok(None);
        };
        let mut buf = vec![0u8; READ_PIECE];
        loop {
            match self.inner.read(&mut buf) {
                Ok(0) => return Ok(Some(hex::encode(sha.finalize()))),
                Ok(n) => sha.update(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Verifier<'_> {
    /// The archive file's SHA-256 as read (`file_sha256`, when it was
    /// wanted) against the one recorded for it; a difference is an
    /// `archive-digest-mismatch` finding.
    pub(super) fn check_archive_file(&mut self, opts: &VerifyOptions, file_sha256: Option<String>) -> Option<ArchiveFile> {
        let archive_file = opts.archive_sha256.as_ref().zip(file_sha256).map(|(expected, sha256)| ArchiveFile {
            matches: sha256 == expected.sha256,
            sha256,
            expected: expected.sha256.clone(),
            source: expected.source,
            origin: expected.origin.clone(),
        });
        if let Some(f) = archive_file.as_ref().filter(|f| !f.matches) {
            let msg = format!(
                "the archive file's SHA-256 is {}, but {} gives {}: this file is not the one recorded. \
                 An honest recompression also changes it while the chain still verifies: then the final chain value \
                 must equal the one collect printed and the custody form records",
                f.sha256, f.origin, f.expected
            );
            self.find(FindingKind::ArchiveDigestMismatch, msg, None, None, None);
        }
        archive_file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn sha256_hex_is_64_hex_digits_in_either_case() {
        assert_eq!(parse_sha256_hex(HEX).unwrap(), HEX);
        assert_eq!(parse_sha256_hex(&HEX.to_uppercase()).unwrap(), HEX);
        for bad in [
            "",
            &HEX[1..],
            &format!("{HEX}0"),
            &HEX.replace('9', "g"),
            &format!(" {}", &HEX[1..]),
        ] {
            let e = parse_sha256_hex(bad).unwrap_err();
            assert!(e.contains("64 hexadecimal digits"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn sidecars_are_read_in_the_form_sha256sum_writes() {
        for good in [
            format!("{HEX}  a.tar.zst\n"),
            format!("{HEX}  a.tar.zst"),
            format!("{HEX} *a.tar.zst\n"),
            format!("\\{HEX}  a\\nb.tar.zst\n"),
            format!("{}  renamed.tar.zst\n", HEX.to_uppercase()),
        ] {
            assert_eq!(parse_sidecar(good.as_bytes()).unwrap(), HEX, "{good:?}");
        }
        for bad in [
            String::new(),
            format!("{HEX}\n"),
            format!("{HEX}  \n"),
            format!("{HEX} a.tar.zst\n"),
            format!("{HEX}  a.tar.zst\n{HEX}  b.tar.zst\n"),
            format!("{}  a.tar.zst\n", &HEX[2..]),
            format!("SHA256 (a.tar.zst) = {HEX}\n"),
        ] {
            let e = parse_sidecar(bad.as_bytes()).unwrap_err();
            assert!(e.contains("as collect and sha256sum write it"), "{bad:?}: {e}");
        }
    }
}
