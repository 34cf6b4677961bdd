//! Fuzz target: CSV indicator files. Parsing must never panic, and every indicator it yields must pass the checks a
//! bundle applies.
#![no_main]

use dims_node::intake::{CsvOptions, csv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for skip_bad_rows in [false, true] {
        if let Ok(outcome) = csv(
            data,
            CsvOptions {
                skip_bad_rows,
                ..CsvOptions::default()
            },
        ) {
            for indicator in outcome.indicators {
                indicator.check().expect("imported indicators are valid");
            }
        }
    }
});
