//! Sealed list cursors: where `GET /api/v1/bundles` continues, as opaque text that only this node can read.
//!
//! A page that ends on its scan budget continues after the last row it looked at, which may be a bundle the caller
//! may not read. So the place (creation time and id) never leaves the node in the clear: it is sealed with keys
//! derived from the node's secret key, bound to the token that asked, as a synthetic-IV construction over keyed
//! BLAKE3. The tag is a MAC of (token, place); the place is XORed with a keystream drawn from the tag. The text
//! reveals nothing about the place beyond what the same token's own pages show (the same place seals to the same
//! text), another token cannot use it, and a changed or made-up cursor is refused. Cursors stay valid across
//! restarts and become invalid when the node's key changes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dims_protocol::BundleId;

/// The place a cursor seals: creation time (8 bytes, big-endian) and id.
const PLACE: usize = 8 + 32;
/// The MAC's length.
const TAG: usize = 32;

/// The keys that seal and open this node's cursors.
#[derive(Clone)]
pub(crate) struct CursorKeys {
    tag: [u8; 32],
    stream: [u8; 32],
}

impl CursorKeys {
    /// The keys derived from `secret`, the node's own secret material.
    pub(crate) fn derive(secret: &[u8; 32]) -> Self {
        Self {
            tag: blake3::derive_key("dims 2026 api list cursor tag v1", secret),
            stream: blake3::derive_key("dims 2026 api list cursor stream v1", secret),
        }
    }

    /// The cursor text of `place` for the reader `reader` (the token's id).
    pub(crate) fn seal(&self, reader: &[u8], place: (u64, BundleId)) -> String {
        self.seal_bytes(reader, encode(place))
    }

    /// The place sealed in `text` for `reader`; `None` for text this node did not seal for this reader.
    pub(crate) fn open(&self, reader: &[u8], text: &str) -> Option<(u64, BundleId)> {
        self.open_bytes(reader, text).map(|plain| decode(&plain))
    }

    /// The cursor text of any fixed-size place for `reader`: what [`CursorKeys::seal`] does for a list's place,
    /// for other places (TAXII's, `crate::taxii`). Use keys derived for that purpose, so one kind of cursor never
    /// opens as another.
    pub(crate) fn seal_bytes<const N: usize>(&self, reader: &[u8], plain: [u8; N]) -> String {
        let mut sealed = vec![0u8; TAG + N];
        let (tag, body) = sealed.split_at_mut(TAG);
        tag.copy_from_slice(self.mac(reader, &plain).as_bytes());
        body.copy_from_slice(&plain);
        self.xor_stream(tag, body);
        URL_SAFE_NO_PAD.encode(sealed)
    }

    /// The place of `N` bytes sealed in `text` for `reader`; `None` for text this node did not seal for this reader
    /// with these keys, or of another length. Untrusted input: fuzzed (`fuzz/fuzz_targets/taxii_query.rs`).
    pub(crate) fn open_bytes<const N: usize>(&self, reader: &[u8], text: &str) -> Option<[u8; N]> {
        if text.len() > 4 * (TAG + N).div_ceil(3) {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        if bytes.len() != TAG + N {
            return None;
        }
        let (tag, body) = bytes.split_at(TAG);
        let mut plain = [0u8; N];
        plain.copy_from_slice(body);
        self.xor_stream(tag, &mut plain);
        let presented = blake3::Hash::from_bytes(tag.try_into().ok()?);
        // `blake3::Hash` compares in constant time.
        (presented == self.mac(reader, &plain)).then_some(plain)
    }

    fn mac(&self, reader: &[u8], plain: &[u8]) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new_keyed(&self.tag);
        hasher.update(&(reader.len() as u64).to_be_bytes());
        hasher.update(reader);
        hasher.update(plain);
        hasher.finalize()
    }

    fn xor_stream(&self, tag: &[u8], data: &mut [u8]) {
        let mut stream = blake3::Hasher::new_keyed(&self.stream).update(tag).finalize_xof();
        let mut key = [0u8; 64];
        for chunk in data.chunks_mut(key.len()) {
            stream.fill(&mut key[..chunk.len()]);
            for (byte, key) in chunk.iter_mut().zip(key) {
                *byte ^= key;
            }
        }
    }
}

fn encode((created, id): (u64, BundleId)) -> [u8; PLACE] {
    let mut plain = [0u8; PLACE];
    plain[..8].copy_from_slice(&created.to_be_bytes());
    plain[8..].copy_from_slice(&id.0);
    plain
}

fn decode(plain: &[u8; PLACE]) -> (u64, BundleId) {
    let mut created = [0u8; 8];
    created.copy_from_slice(&plain[..8]);
    let mut id = [0u8; 32];
    id.copy_from_slice(&plain[8..]);
    (u64::from_be_bytes(created), BundleId(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACE_SEALED: (u64, BundleId) = (1_700_000_000_123, BundleId([0xab; 32]));

    fn keys() -> CursorKeys {
        CursorKeys::derive(&[7; 32])
    }

    #[test]
    fn a_sealed_place_opens_only_for_its_reader_and_shows_nothing() {
        let text = keys().seal(b"token-a", PLACE_SEALED);
        assert_eq!(keys().open(b"token-a", &text), Some(PLACE_SEALED));
        assert_eq!(keys().open(b"token-b", &text), None, "another token cannot use it");
        assert_eq!(
            CursorKeys::derive(&[8; 32]).open(b"token-a", &text),
            None,
            "another node cannot read it"
        );
        assert!(!text.contains("1700000000123") && !text.to_lowercase().contains("abab"));
        assert!(text.len() <= dims_web::api::bundles::MAX_CURSOR_CHARS);
        assert!(
            text.parse::<dims_web::api::Cursor>().is_ok(),
            "the web layer takes it as a cursor"
        );
    }

    #[test]
    fn a_changed_or_made_up_cursor_is_refused() {
        let text = keys().seal(b"token-a", PLACE_SEALED);
        for index in 0..text.len() {
            let mut changed = text.clone().into_bytes();
            changed[index] = if changed[index] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(changed).expect("ascii");
            assert_eq!(keys().open(b"token-a", &changed), None, "changed at {index}");
        }
        for made_up in [
            "",
            "AAAA",
            &"A".repeat(96),
            &format!("{}.{}", PLACE_SEALED.0, PLACE_SEALED.1),
        ] {
            assert_eq!(keys().open(b"token-a", made_up), None, "{made_up}");
        }
    }
}
