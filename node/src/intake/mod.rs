//! Human and feed input turned into indicators. Being written; see the node runtime issue.
