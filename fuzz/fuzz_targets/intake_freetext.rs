//! Fuzz target: free text pasted by people or pulled from feeds. Extraction must never panic, and every value it
//! finds must be valid in its normal form.
#![no_main]

use dims_node::intake::{FreetextOptions, freetext, refang};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = refang(text);
    let outcome = freetext(text, FreetextOptions::default());
    for found in outcome.indicators {
        found.value.check().expect("detected values are valid and normal");
    }
});
