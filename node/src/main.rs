//! The `dims` binary. The node runtime issue gives it its commands (`init`, `run`, `doctor`, ...); until then it
//! only names its version, so that the workspace builds the binary the README will run.

fn main() {
    let _ = dims_node::clock::now_ms;
    println!("dims {}", env!("CARGO_PKG_VERSION"));
}
