//! The first member: the header document, which names the archive and its
//! signer, and whose tar header must be the one custody writes.

use ssh_key::PublicKey;

use super::checkpoint::non_canonical;
use super::findings::FindingKind;
use super::members::{Next, ReadEnd};
use super::{Verifier, VerifyError};
use crate::format::doc::{self, HeaderDoc};
use crate::format::tar::BLOCK;

impl Verifier<'_> {
    pub(super) fn read_header_document(&mut self) -> Result<(), VerifyError> {
        let first = match self.next_member()? {
            Next::Member(m) => m,
            Next::EndMarker(_) => return Err(VerifyError::NotAnArchive("the tar stream is empty".into())),
            Next::Stopped(ReadEnd::Damaged(e), 0) => {
                // It begins with a zstd frame, so it is compressed data that
                // is damaged from the start, not some other kind of file.
                let msg = format!("the first zstd frame is damaged ({e}): the header document, and with it the signer's key, is lost");
                self.find(FindingKind::CompressedDamage, msg, None, Some(0), Some(1));
                if !self.resync(0)? {
                    self.exhausted = true;
                }
                return Ok(());
            }
            Next::Stopped(ReadEnd::Malformed { reason, not_tar: true }, 0) => return Err(VerifyError::NotAnArchive(reason)),
            Next::Stopped(ReadEnd::Eof, 0) if self.stream.pos < BLOCK as u64 => {
                return Err(VerifyError::NotAnArchive(format!(
                    "it decompresses to {} bytes, less than one tar header",
                    self.stream.pos
                )))
            }
            Next::Stopped(end, off) => {
                self.stopped(end, off, "inside its header document");
                return Ok(());
            }
        };
        if let Some(part) = crate::format::part::parse_part_path(&first.meta.path) {
            return self.part_document(part, first, true);
        }
        if first.meta.path != doc::HEADER_PATH.as_bytes() {
            return Err(VerifyError::NotAnArchive(format!(
                "its first member is {:?}, not {}",
                doc::display(&first.meta.path),
                doc::HEADER_PATH
            )));
        }
        let mut first = first;
        let bytes = first.content.take().unwrap_or_default();
        match serde_json::from_slice::<HeaderDoc>(&bytes) {
            Ok(h) if doc::check_format(&h.format) && h.doc_type == doc::HEADER_TYPE => {
                match PublicKey::from_openssh(&h.signer.public_key) {
                    Ok(k) => {
                        self.trusted = self.trust.principal_for(&k).is_some();
                        self.key = Some(k);
                    }
                    Err(e) => self.find(
                        FindingKind::BadHeaderDocument,
                        format!("the signer's public key in the header is malformed: {e}"),
                        Some(&first.meta.path),
                        Some(0),
                        Some(1),
                    ),
                }
                let what = "the header document's start_time";
                if let Some(msg) = non_canonical(doc::HEADER_PATH, &first, what, &h.start_time) {
                    self.find(
                        FindingKind::NonCanonicalCustodyMember,
                        msg,
                        Some(&first.meta.path),
                        Some(0),
                        Some(1),
                    );
                }
                self.parts.split = h.parameters.split_bytes.is_some();
                self.header = Some(h);
            }
            Ok(h) => self.find(
                FindingKind::BadHeaderDocument,
                format!(
                    "the header document has format {:?} and type {:?}; this verifier reads {}",
                    h.format,
                    h.doc_type,
                    crate::format::FORMAT_ID
                ),
                Some(&first.meta.path),
                Some(0),
                Some(1),
            ),
            Err(e) => self.find(
                FindingKind::BadHeaderDocument,
                format!("the header document is not valid: {e}"),
                Some(&first.meta.path),
                Some(0),
                Some(1),
            ),
        }
        self.chain = doc::chain_value(&bytes);
        self.parts.last = 1;
        let name = self
            .part_files
            .first()
            .map_or_else(|| "part 1".to_string(), |f| format!("{} (part 1)", f.name));
        self.parts.last_file = Some(name.clone());
        self.parts.seen.push((1, name));
        self.segment_members.push(*first);
        Ok(())
    }
}
