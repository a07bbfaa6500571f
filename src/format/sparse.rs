//! Sparse files in the pax 1.0 sparse format (`GNU.sparse.major=1`,
//! `GNU.sparse.minor=0`), which GNU tar and bsdtar both read.
//!
//! The stored content of such a member begins with a map in decimal text:
//! the number of data regions, then each region's offset and length, one
//! number per line, padded with zeros to a whole block. The regions' bytes
//! follow, back to back. Everything between regions, and after the last one
//! up to `GNU.sparse.realsize`, is a hole that reads as zeros.

use super::tar::padding;
#[cfg(test)]
use super::tar::BLOCK;

/// Largest number of regions a reader accepts in one map, which bounds the
/// memory a hostile map can claim (16 bytes per region).
pub const MAX_REGIONS: u64 = 1 << 20;
/// Largest real size of a sparse member that is expanded and digested. Its
/// holes are hashed as zeros, so this bounds the work a claimed size can
/// demand of a verifier (about ten minutes at 1 TiB); the collector records
/// larger sparse files without content.
pub const MAX_REAL_SIZE: u64 = 1 << 40;
/// Longest line of a map: a `u64` in decimal.
const MAX_LINE: usize = 20;

/// A run of stored bytes at a logical offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Logical offset of the first byte.
    pub offset: u64,
    /// Number of bytes.
    pub len: u64,
}

/// The map that begins a sparse member's stored content, padded to a block.
pub fn encode_map(regions: &[Region]) -> Vec<u8> {
    let mut out = format!("{}\n", regions.len()).into_bytes();
    for r in regions {
        out.extend_from_slice(format!("{}\n{}\n", r.offset, r.len).as_bytes());
    }
    out.resize(out.len() + padding(out.len() as u64), 0);
    out
}

/// Stored size of a sparse member: its map block plus its regions' bytes.
pub fn stored_size(regions: &[Region]) -> u64 {
    encode_map(regions).len() as u64 + regions.iter().map(|r| r.len).sum::<u64>()
}

/// Logical content, piece by piece, as an [`Expander`] yields it.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Bytes stored in the archive.
    Data(&'a [u8]),
    /// This many zero bytes that the archive does not store.
    Hole(u64),
}

/// Why stored sparse content cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sparse map: {0}")]
pub struct SparseError(pub String);

#[derive(Debug)]
enum Phase {
    /// Reading the map's lines.
    Map,
    /// Skipping this many padding bytes after the map.
    Pad(usize),
    /// Emitting region data.
    Data,
}

/// Turns the stored content of a sparse member back into its logical
/// content, incrementally and with bounded memory.
#[derive(Debug)]
pub struct Expander<'a, E> {
    real_size: u64,
    phase: Phase,
    line: Vec<u8>,
    map_bytes: u64,
    count: Option<u64>,
    pending_offset: Option<u64>,
    regions: Vec<Region>,
    /// Index of the region being filled and bytes of it seen so far.
    index: usize,
    filled: u64,
    /// Logical bytes emitted so far.
    logical: u64,
    emit: &'a mut E,
}

impl<'a, E, X> Expander<'a, E>
where
    E: FnMut(Piece<'_>) -> Result<(), X>,
    X: From<SparseError>,
{
    /// An expander for a member whose logical size is `real_size`, handing
    /// each piece of logical content to `emit` in order.
    pub fn new(real_size: u64, emit: &'a mut E) -> Self {
        Expander {
            real_size,
            phase: Phase::Map,
            line: Vec::new(),
            map_bytes: 0,
            count: None,
            pending_offset: None,
            regions: Vec::new(),
            index: 0,
            filled: 0,
            logical: 0,
            emit,
        }
    }

    fn bad(what: impl Into<String>) -> X {
        X::from(SparseError(what.into()))
    }

    fn map_line(&mut self) -> Result<(), X> {
        let text = std::str::from_utf8(&self.line)
            .ok()
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()));
        let n: u64 = text
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| Self::bad("a map line is not a decimal number"))?;
        self.line.clear();
        match (self.count, self.pending_offset.take()) {
            (None, _) if n > MAX_REGIONS => return Err(Self::bad(format!("{n} regions exceed the limit of {MAX_REGIONS}"))),
            (None, _) if self.real_size > MAX_REAL_SIZE => {
                return Err(Self::bad(format!(
                    "a real size of {} bytes exceeds the limit of {MAX_REAL_SIZE}",
                    self.real_size
                )))
            }
            (None, _) => self.count = Some(n),
            (Some(_), None) => self.pending_offset = Some(n),
            (Some(_), Some(offset)) => {
                let end = offset.checked_add(n).filter(|&e| e <= self.real_size);
                let after_previous = self.regions.last().is_none_or(|p| p.offset + p.len <= offset);
                if end.is_none() || !after_previous {
                    return Err(Self::bad("regions overlap, are out of order or end past the real size"));
                }
                self.regions.push(Region { offset, len: n });
            }
        }
        if self.count == Some(self.regions.len() as u64) && self.pending_offset.is_none() {
            self.phase = Phase::Pad(padding(self.map_bytes));
        }
        Ok(())
    }

    /// Emit holes up to the current region and skip regions already full.
    fn advance(&mut self) -> Result<(), X> {
        while let Some(r) = self.regions.get(self.index) {
            if self.logical < r.offset {
                let gap = r.offset - self.logical;
                (self.emit)(Piece::Hole(gap))?;
                self.logical = r.offset;
            }
            if self.filled < r.len {
                break;
            }
            self.index += 1;
            self.filled = 0;
        }
        Ok(())
    }

    /// Feed the next stored bytes.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), X> {
        while !chunk.is_empty() {
            match self.phase {
                Phase::Map => {
                    let take = chunk.iter().position(|&b| b == b'\n').map_or(chunk.len(), |i| i + 1);
                    let (part, rest) = chunk.split_at(take);
                    chunk = rest;
                    self.map_bytes += part.len() as u64;
                    match part.split_last() {
                        Some((b'\n', digits)) => {
                            self.line.extend_from_slice(digits);
                            self.map_line()?;
                        }
                        _ => self.line.extend_from_slice(part),
                    }
                    if self.line.len() > MAX_LINE {
                        return Err(Self::bad("a map line is too long"));
                    }
                }
                Phase::Pad(0) => {
                    self.phase = Phase::Data;
                    self.advance()?;
                }
                Phase::Pad(n) => {
                    let k = n.min(chunk.len());
                    if chunk[..k].iter().any(|&b| b != 0) {
                        return Err(Self::bad("non-zero bytes in the padding after the map"));
                    }
                    chunk = &chunk[k..];
                    self.phase = Phase::Pad(n - k);
                }
                Phase::Data => {
                    self.advance()?;
                    let Some(r) = self.regions.get(self.index) else {
                        return Err(Self::bad("more stored bytes than the map's regions hold"));
                    };
                    let k = (r.len - self.filled).min(chunk.len() as u64) as usize;
                    (self.emit)(Piece::Data(&chunk[..k]))?;
                    chunk = &chunk[k..];
                    self.filled += k as u64;
                    self.logical += k as u64;
                }
            }
        }
        Ok(())
    }

    /// All stored bytes were fed: emit the trailing hole.
    pub fn finish(mut self) -> Result<(), X> {
        if self.real_size > MAX_REAL_SIZE {
            return Err(Self::bad(format!(
                "a real size of {} bytes exceeds the limit of {MAX_REAL_SIZE}",
                self.real_size
            )));
        }
        if let Phase::Pad(0) = self.phase {
            self.phase = Phase::Data;
        }
        if !matches!(self.phase, Phase::Data) {
            return Err(Self::bad("the stored content ends inside the map"));
        }
        self.advance()?;
        if self.index < self.regions.len() {
            return Err(Self::bad("the stored content ends before the map's regions"));
        }
        if self.logical < self.real_size {
            let gap = self.real_size - self.logical;
            (self.emit)(Piece::Hole(gap))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(real: u64, stored: &[u8], chunk: usize) -> Result<Vec<u8>, SparseError> {
        let mut out = Vec::new();
        let mut emit = |p: Piece<'_>| -> Result<(), SparseError> {
            match p {
                Piece::Data(d) => out.extend_from_slice(d),
                Piece::Hole(n) => out.resize(out.len() + n as usize, 0),
            }
            Ok(())
        };
        let mut x = Expander::new(real, &mut emit);
        for c in stored.chunks(chunk) {
            x.feed(c)?;
        }
        x.finish()?;
        Ok(out)
    }

    #[test]
    fn map_and_data_expand_to_the_logical_content() {
        let regions = [
            Region { offset: 4096, len: 3 },
            Region { offset: 10_000, len: 2 },
            Region { offset: 20_000, len: 0 },
        ];
        let mut stored = encode_map(&regions);
        assert_eq!(&stored[..23], b"3\n4096\n3\n10000\n2\n20000\n");
        assert_eq!(stored.len(), BLOCK);
        stored.extend_from_slice(b"abcde");
        assert_eq!(stored_size(&regions), stored.len() as u64);
        let mut want = vec![0u8; 20_000];
        want[4096..4099].copy_from_slice(b"abc");
        want[10_000..10_002].copy_from_slice(b"de");
        for chunk in [1, 7, 512, 100_000] {
            assert_eq!(expand(20_000, &stored, chunk).unwrap(), want, "chunk {chunk}");
        }
    }

    #[test]
    fn hostile_maps_are_refused() {
        let cases: [(&[u8], u64); 6] = [
            (b"x\n", 10),
            (b"99999999999999999999\n", 10),
            (b"1\n5\n10\n", 10),
            (b"2\n8\n1\n4\n1\n", 10),
            (b"1\n0\n1\n", 10),
            (b"0\n", 10),
        ];
        for (map, real) in cases {
            let mut stored = map.to_vec();
            stored.resize(BLOCK, 0);
            if map == b"1\n0\n1\n" {
                // One region of one byte, but two bytes stored.
                stored.extend_from_slice(b"ab");
            }
            if map == b"0\n" {
                stored[100] = 1;
            }
            assert!(expand(real, &stored, 64).is_err(), "{map:?}");
        }
        assert!(expand(10, b"1\n0\n", 64).is_err(), "ends inside the map");
        let huge = encode_map(&[Region {
            offset: u64::MAX - 1,
            len: 0,
        }]);
        assert!(
            expand(u64::MAX, &huge, 64).is_err(),
            "a claimed real size past the limit is refused before any hashing"
        );
    }
}
