//! Decompression of a sequence of zstd frames that survives damage: after a
//! frame fails to decode, reading can resume at the next frame, so a
//! corrupted region loses only the frames it touches.

use std::io::{self, Read};

use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};
use zstd::zstd_safe::{self, DCtx};

/// Magic number that begins every zstd frame, as it appears in the stream.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// Compressed bytes read from the input at a time.
const INPUT_CHUNK: usize = 256 * 1024;
/// Largest frame decoded in one call by [`FrameReader::read_whole_frame`]:
/// custody's own frames all fit. Larger frames (from other compressors),
/// and frames whose header does not state their size, are streamed.
pub const WHOLE_FRAME_MAX: usize = crate::format::FRAME_LIMIT;
/// Most bytes of a frame header, which holds the content size.
const FRAME_HEADER_MAX: usize = 18;
/// A skippable frame's magic is `5x 2A 4D 18`, then a 4-byte payload length.
const SKIPPABLE_MAGIC_TAIL: [u8; 3] = [0x2A, 0x4D, 0x18];
const SKIPPABLE_HEADER: usize = 8;
/// Most skippable frames kept: bounds the memory a hostile input can take.
const MAX_SKIPPABLE_KEPT: usize = 16;

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
    /// Decodes whole frames in one call, straight into the caller's buffer.
    whole: DCtx<'static>,
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
    /// Skippable frames kept whole, up to this payload size (0: none kept).
    keep_skippable: usize,
    /// The payloads of the skippable frames kept, in stream order.
    skippable: Vec<Vec<u8>>,
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
            whole: DCtx::create(),
            in_frame: false,
            input_done: false,
            frame_begin: 0,
            magic_inside: false,
            failed_at: None,
            keep_skippable: 0,
            skippable: Vec::new(),
        })
    }

    /// Keep the payload of each skippable frame of at most `max` bytes, for
    /// [`FrameReader::take_skippable`] (larger ones are skipped unread).
    pub fn keep_skippable(&mut self, max: usize) {
        self.keep_skippable = max;
    }

    /// The payloads of the skippable frames kept so far.
    pub fn take_skippable(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.skippable)
    }

    /// At a frame's start: a skippable frame small enough to keep, read
    /// whole. Returns whether it was consumed.
    fn kept_skippable(&mut self) -> io::Result<bool> {
        let head = &self.buf[self.start..self.end];
        if self.keep_skippable == 0 || head.len() < SKIPPABLE_HEADER || head[0] & 0xF0 != 0x50 || head[1..4] != SKIPPABLE_MAGIC_TAIL {
            return Ok(false);
        }
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        if len > self.keep_skippable || self.skippable.len() >= MAX_SKIPPABLE_KEPT {
            return Ok(false);
        }
        while self.end - self.start < SKIPPABLE_HEADER + len && !self.input_done {
            self.refill_in_frame()?;
        }
        if self.end - self.start < SKIPPABLE_HEADER + len {
            // Cut off: streaming reports it.
            return Ok(false);
        }
        let payload = self.buf[self.start + SKIPPABLE_HEADER..self.start + SKIPPABLE_HEADER + len].to_vec();
        self.skippable.push(payload);
        self.start += SKIPPABLE_HEADER + len;
        self.offset += (SKIPPABLE_HEADER + len) as u64;
        Ok(true)
    }

    /// Compressed offset where the current (or last, or failed) frame began.
    pub fn frame_begin(&self) -> u64 {
        self.frame_begin
    }

    /// The input, for reading what is left of it. Compressed bytes already
    /// read from it and not yet decoded are dropped.
    pub fn into_inner(self) -> R {
        self.input
    }

    /// Whether the last bytes returned ended their frame.
    pub fn frame_ended(&self) -> bool {
        !self.in_frame
    }

    /// Read more input, first moving unconsumed bytes to the front (the
    /// buffer grows when it is full).
    fn refill(&mut self) -> io::Result<()> {
        // Keep up to three consumed bytes in front, so that a frame magic
        // split across two reads is still seen by the scan in `read`.
        // Unconsumed bytes are moved when that is cheap or room is short,
        // not at every read while a frame is gathered whole.
        let keep = self.start.min(3);
        if self.start > keep && (self.end - self.start <= INPUT_CHUNK || self.buf.len() - self.end < INPUT_CHUNK) {
            self.buf.copy_within(self.start - keep..self.end, 0);
            self.end -= self.start - keep;
            self.start = keep;
        }
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

    /// Decode the next frame whole into `out` (replacing what it held), with
    /// no copy through a window. Returns `false`, having consumed nothing
    /// (and left `out` alone unless decoding failed), when the
    /// next frame must be read with [`Read::read`] instead: in the middle of
    /// a frame, after an error, at the end of the input, or when the frame
    /// does not state its size, is larger than [`WHOLE_FRAME_MAX`], is cut
    /// off, or fails to decode (streaming then reports the failure, with
    /// the bytes before it).
    pub fn read_whole_frame(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        if self.in_frame || self.failed_at.is_some() {
            return Ok(false);
        }
        self.frame_begin = self.offset;
        self.magic_inside = false;
        while self.end - self.start < FRAME_HEADER_MAX && !self.input_done {
            self.refill_in_frame()?;
        }
        if self.kept_skippable()? {
            out.clear();
            return Ok(true);
        }
        let size = match zstd_safe::get_frame_content_size(&self.buf[self.start..self.end]) {
            Ok(Some(n)) if n <= WHOLE_FRAME_MAX as u64 => n as usize,
            _ => return Ok(false),
        };
        // A frame's compressed size is its content's, plus a little for
        // block headers and the checksum, when the content does not compress.
        let most = zstd_safe::compress_bound(size) + FRAME_HEADER_MAX + 4;
        let compressed = loop {
            match zstd_safe::find_frame_compressed_size(&self.buf[self.start..self.end]) {
                Ok(n) => break n,
                Err(_) if !self.input_done && self.end - self.start < most => self.refill_in_frame()?,
                Err(_) => return Ok(false),
            }
        };
        if out.capacity() < size {
            *out = Vec::with_capacity(size);
        }
        out.clear();
        match self.whole.decompress(out, &self.buf[self.start..self.start + compressed]) {
            Ok(n) if n == size => {}
            _ => {
                out.clear();
                return Ok(false);
            }
        }
        self.start += compressed;
        self.offset += compressed as u64;
        Ok(true)
    }

    /// [`FrameReader::refill`] for a frame gathered whole: a read error counts
    /// against the frame, so that [`FrameReader::resync`] moves past it
    /// rather than finding the same frame again.
    fn refill_in_frame(&mut self) -> io::Result<()> {
        self.refill().inspect_err(|_| self.failed_at = Some(self.frame_begin))
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
    fn frames_that_state_their_size_are_decoded_whole_and_others_streamed() {
        let a: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let b = vec![9u8; 70_000];
        let c = vec![3u8; 50_000];
        let (fa, fb) = (zstd::bulk::compress(&a, 3).unwrap(), frame(&b));
        let mut fc = zstd::bulk::compress(&c, 3).unwrap();
        let last = fc.len() - 1;
        fc[last] ^= 0x40; // the checksum or the last block: decoding fails
        let whole = [fa.clone(), fb.clone(), fc].concat();
        let mut r = FrameReader::new(&whole[..]).unwrap();
        let mut out = Vec::new();
        assert!(r.read_whole_frame(&mut out).unwrap(), "a frame with its content size");
        assert_eq!(out, a);
        assert_eq!(r.frame_begin(), 0);
        // The stream encoder does not state the size: the frame is streamed,
        // and `out` is left alone.
        assert!(!r.read_whole_frame(&mut out).unwrap());
        assert_eq!(out, a);
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !r.frame_ended() || got.is_empty() {
            let n = r.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b);
        assert_eq!(r.frame_begin(), fa.len() as u64);
        // A damaged frame is not decoded whole; streaming reports the damage.
        assert!(!r.read_whole_frame(&mut out).unwrap());
        assert_eq!(read_all(&mut r).1, Some(io::ErrorKind::InvalidData));
        assert_eq!(r.frame_begin(), (fa.len() + fb.len()) as u64);
        assert_eq!(r.resync().unwrap(), None);
    }

    /// Gives `data`, then fails every read.
    struct FailingAfter<'a>(&'a [u8]);
    impl Read for FailingAfter<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("the disk failed"));
            }
            let n = out.len().min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_while_a_frame_is_gathered_is_not_met_again_at_the_same_frame() {
        let a: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
        let fa = zstd::bulk::compress(&a, 3).unwrap();
        let fb = zstd::bulk::compress(&vec![1u8; 200_000], 3).unwrap();
        let data = [fa.clone(), fb[..fb.len() / 2].to_vec()].concat();
        let mut r = FrameReader::new(FailingAfter(&data)).unwrap();
        let mut out = Vec::new();
        assert!(r.read_whole_frame(&mut out).unwrap());
        assert_eq!(out, a);
        assert_eq!(r.read_whole_frame(&mut out).unwrap_err().to_string(), "the disk failed");
        // Resynchronising skips the frame the error struck; the next read
        // fails in turn, and the error comes back instead of that frame.
        assert!(r.resync().is_err());
    }

    #[test]
    fn a_cut_frame_is_unexpected_eof() {
        let f = frame(&vec![1u8; 100_000]);
        let mut r = FrameReader::new(&f[..f.len() - 10]).unwrap();
        assert_eq!(read_all(&mut r).1, Some(io::ErrorKind::UnexpectedEof));
    }
}
