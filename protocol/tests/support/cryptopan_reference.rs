//! The reference Crypto-PAn: a line-by-line transcription of the paper's loop, shared by the tests (which check the
//! optimised implementation against it) and the bench (which measures it as the baseline).

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::{Aes128, Block};

/// A line-by-line transcription of the paper's loop (as in `panonymizer` and `yacryptopan`): one AES call per bit,
/// no table, no batching. The optimised implementation must agree with it everywhere.
pub struct Reference {
    cipher: Aes128,
    pad: u128,
}

impl Reference {
    pub fn new(key: &[u8; 32]) -> Self {
        let cipher = Aes128::new_from_slice(&key[..16]).expect("16-byte AES key");
        let mut pad = Block::clone_from_slice(&key[16..]);
        cipher.encrypt_block(&mut pad);
        Self {
            cipher,
            pad: u128::from_be_bytes(pad.into()),
        }
    }

    /// Anonymises the `bits`-bit address `addr` (32 or 128), placed in the top bits of the AES input.
    pub fn anonymize(&self, addr: u128, bits: u32) -> u128 {
        let ext = addr << (128 - bits);
        let mut flips = 0u128;
        for pos in 0..bits {
            let rest = !0u128 >> pos;
            let mut block = Block::from(((ext & !rest) | (self.pad & rest)).to_be_bytes());
            self.cipher.encrypt_block(&mut block);
            flips = (flips << 1) | u128::from(block[0] >> 7);
        }
        addr ^ flips
    }
}
