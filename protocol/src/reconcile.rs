//! Range-based set reconciliation of (time, id) items: the messages and the pure state machine.
