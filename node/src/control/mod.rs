//! The control socket: how the command line works on a store that a running node holds.
//!
//! redb lets one process open a store. While `dims run` holds it, `dims publish`, `dims bundles list`, `dims tokens
//! create` and the other store commands send their parsed command to the node over a Unix domain socket in its data
//! folder ([`SOCKET_FILE`]); the node runs the same code on its own store and sends back what it printed, so the
//! output is the same either way. With no node running they open the store themselves, as before. Like Consul's and
//! garage's command lines, the operator never chooses: the command finds out.
//!
//! Who may ask: only the user the node runs as. The data folder is owner-only, the socket is mode 0600, and each
//! connection's peer uid (from the kernel, `SO_PEERCRED`) must be the node's, or it is refused with a reason. The
//! client checks the server's uid the same way before sending anything, so a socket served by another user is not
//! trusted with a command or its input. A socket file that nobody answers on is what a killed node leaves: the
//! command line treats it as "no node" and the next `dims run` replaces it; a socket a live process answers on is
//! never replaced. There is no TCP form.
//!
//! [`wire`] is the framing, [`server`] the node's end, [`client`] the command line's.

pub mod client;
pub mod server;
pub mod wire;

/// The control socket's file name in the node's data folder.
pub const SOCKET_FILE: &str = "control.sock";
