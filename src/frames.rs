//! Decompression of a sequence of zstd frames that survives damage: after a
//! frame fails to decode, reading can resume at the next frame, so a
//! corrupted region loses only the frames it touches.

use std::io::{self, Read};

use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};

/// Magic number that begins every zstd frame, as it appears in the stream.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// Compressed bytes read from the input at a time.
const INPUT_CHUNK: usize = 256 * 1024;

/// Reads the decompressed bytes of consecutive zstd frames. A decoding
/// error is returned once; [`FrameReader::resync`] then looks for the next
/// frame.
pub struct FrameReader<R: Read> {
    input: R,
    buf: Vec<u8>,
    /// Unconsumed compressed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Compressed offset of `buf[start]`.
    offset: u64,
    decoder: Decoder<'static>,
    /// Inside a frame that has not ended.
    in_frame: bool,
    input_done: bool,
    /// Compressed offset where the current frame began.
    frame_begin: u64,
    /// A zstd frame magic seen inside the current frame after its start: if
    /// the input then ends inside the frame, the frame was damaged (a block
    /// length or last-block flag altered), not cut off.
    magic_inside: bool,
    /// Compressed offset where the frame that failed began, once a decoding
    /// error was returned.
    failed_at: Option<u64>,
}

impl<R: Read> FrameReader<R> {
    /// A reader over `input`, which should begin with a zstd frame.
    pub fn new(input: R) -> io::Result<Self> {
        Ok(FrameReader {
            input,
            buf: vec![0; INPUT_CHUNK],
            start: 0,
            end: 0,
            offset: 0,
            decoder: Decoder::new()?,
            in_frame: false,
            input_done: false,
            frame_begin: 0,
            magic_inside: false,
            failed_at: None,
        })
    }

    /// Compressed offset where the current (or last, or failed) frame began.
    pub fn frame_begin(&self) -> u64 {
        self.frame_begin
    }

    /// Whether the last bytes returned ended their frame.
    pub fn frame_ended(&self) -> bool {
        !self.in_frame
    }

    /// Move unconsumed bytes to the front and read more input.
    fn refill(&mut self) -> io::Result<()> {
        // Keep up to three consumed bytes in front, so that a frame magic
        // split across two reads is still seen by the scan in `read`.
        let keep = self.start.min(3);
        self.buf.copy_within(self.start - keep..self.end, 0);
        self.end -= self.start - keep;
        self.start = keep;
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.input_done = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// After a decoding error: skip to the next zstd frame. Returns the
    /// compressed range lost (`from..to`: from the start of the frame that
    /// failed to the next frame), or `None` when the input holds no further
    /// frame.
    pub fn resync(&mut self) -> io::Result<Option<(u64, u64)>> {
        let failed = self.failed_at.is_some();
        let from = self.failed_at.take().unwrap_or(self.frame_begin);
        // Inside a frame (or at one that failed), search from one byte on so
        // that the same frame is not found again; between frames, the next
        // frame may begin right here.
        if self.start < self.end && (failed || self.in_frame) {
            self.start += 1;
            self.offset += 1;
        }
        loop {
            let window = &self.buf[self.start..self.end];
            if let Some(i) = memchr::memmem::find(window, &ZSTD_MAGIC) {
                self.start += i;
                self.offset += i as u64;
                self.decoder.reinit()?;
                self.in_frame = false;
                return Ok(Some((from, self.offset)));
            }
            // Keep the last three bytes: a magic may straddle the refill.
            let keep = window.len().min(3);
            let skip = window.len() - keep;
            self.start += skip;
            self.offset += skip as u64;
            if self.input_done {
                self.offset += (self.end - self.start) as u64;
                self.start = self.end;
                return Ok(None);
            }
            self.refill()?;
        }
    }
}

impl<R: Read> Read for FrameReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.failed_at.is_some() {
            return Err(io::Error::other("the compressed data is damaged here; resynchronise first"));
        }
        loop {
            if !self.in_frame {
                self.frame_begin = self.offset;
                self.magic_inside = false;
            }
            let mut input = InBuffer::around(&self.buf[self.start..self.end]);
            let mut output = OutBuffer::around(out);
            let result = self.decoder.run(&mut input, &mut output);
            let (used, produced) = (input.pos(), output.pos());
            match result {
                Ok(hint) => {
                    // Look for a frame magic in what the frame consumed,
                    // past its own (and three bytes back, across calls).
                    let from = self
                        .start
                        .saturating_sub(3)
                        .max(if self.offset == self.frame_begin { self.start + 1 } else { 0 });
                    if !self.magic_inside && from < self.start + used {
                        self.magic_inside = memchr::memmem::find(&self.buf[from..self.start + used], &ZSTD_MAGIC).is_some();
                    }
                    self.start += used;
                    self.offset += used as u64;
                    if used > 0 || produced > 0 {
                        self.in_frame = hint != 0;
                    }
                    if produced > 0 {
                        return Ok(produced);
                    }
                    if used == 0 {
                        if self.input_done && self.start == self.end {
                            return if self.in_frame && self.magic_inside {
                                self.failed_at = Some(self.frame_begin);
                                Err(io::Error::new(
                                    io::ErrorKind::InvalidData,
                                    "a zstd frame never ends, yet another frame begins inside it: damaged, not cut off",
                                ))
                            } else if self.in_frame {
                                Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the input ends inside a zstd frame"))
                            } else {
                                Ok(0)
                            };
                        }
                        self.refill()?;
                    }
                }
                Err(e) => {
                    self.failed_at = Some(self.frame_begin);
                    self.start += used;
                    self.offset += used as u64;
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(data: &[u8]) -> Vec<u8> {
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        e.include_checksum(true).unwrap();
        io::Write::write_all(&mut e, data).unwrap();
        e.finish().unwrap()
    }

    fn read_all(r: &mut FrameReader<&[u8]>) -> (Vec<u8>, Option<io::ErrorKind>) {
        let mut out = Vec::new();
        let mut buf = [0u8; 1000];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return (out, None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return (out, Some(e.kind())),
            }
        }
    }

    #[test]
    fn reads_frames_in_sequence_and_resumes_after_a_damaged_one() {
        let a: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let b = vec![7u8; 30_000];
        let c = b"third frame".to_vec();
        let (fa, fb, fc) = (frame(&a), frame(&b), frame(&c));
        let whole = [fa.clone(), fb.clone(), fc.clone()].concat();
        let mut r = FrameReader::new(&whole[..]).unwrap();
        assert_eq!(read_all(&mut r), ([a.clone(), b.clone(), c.clone()].concat(), None));

        let mut damaged = whole.clone();
        damaged[fa.len() + fb.len() / 2] ^= 0x55;
        let mut r = FrameReader::new(&damaged[..]).unwrap();
        let (got, err) = read_all(&mut r);
        assert!(err.is_some(), "the damage is reported");
        assert!(got.starts_with(&a), "the frame before the damage is intact");
        let (from, to) = r.resync().unwrap().expect("a later frame exists");
        assert!(
            from <= (fa.len() + fb.len() / 2) as u64 && to == (fa.len() + fb.len()) as u64,
            "{from}..{to}"
        );
        assert_eq!(read_all(&mut r), (c, None));
        assert_eq!(r.resync().unwrap(), None);
    }

    #[test]
    fn a_cut_frame_is_unexpected_eof() {
        let f = frame(&vec![1u8; 100_000]);
        let mut r = FrameReader::new(&f[..f.len() - 10]).unwrap();
        assert_eq!(read_all(&mut r).1, Some(io::ErrorKind::UnexpectedEof));
    }
}
