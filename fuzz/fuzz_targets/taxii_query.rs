//! Fuzz target: what any TAXII caller controls in a read, the query string of an object route
//! (`dims_web::taxii::query::parse`, for each route) and the `next` cursor the node opens
//! (`dims_node::taxii::open_cursor`). Neither may panic; a cursor opens only if this node's keys sealed it for this
//! reader, so arbitrary text never opens, and a place sealed here opens to itself.
#![no_main]

use dims_web::taxii::Route;
use libfuzzer_sys::fuzz_target;

const SECRET: [u8; 32] = [7; 32];
const READER: &[u8] = b"token/collection";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for route in [Route::Objects, Route::Object, Route::Versions] {
        if let Ok(query) = dims_web::taxii::query::parse(Some(text), route)
            && let Some(next) = &query.next
            && let Some((arrival, index)) = dims_node::taxii::open_cursor(&SECRET, READER, next)
        {
            assert_eq!(dims_node::taxii::seal_cursor(&SECRET, READER, arrival, index), *next);
        }
    }
    assert!(
        dims_node::taxii::open_cursor(&SECRET, b"another reader", text).is_none(),
        "text sealed for no one opened"
    );
});
