//! The node's store (redb). Being written; see the node runtime issue.
