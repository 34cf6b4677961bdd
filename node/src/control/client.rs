//! The command line's end of the control socket: find the running node, check it is served by this user, send one
//! request and copy the answer to the terminal.

use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::net::UnixStream;

use super::wire::{Connection, Reply, Request, VERSION, WireError};

/// How a command ended on the running node.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// With this exit code.
    Exit(u8),
    /// With this error.
    Failed(String),
}

/// Why the running node could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket is there, but this user may not open it.
    #[error(
        "the node's control socket {} is not open to you: run dims as the user that runs the node",
        .path.display()
    )]
    Denied {
        /// The socket.
        path: PathBuf,
    },
    /// The socket is served by another user: not trusted with the command or its input.
    #[error(
        "the control socket {} is served by uid {served_by}, not by you (uid {you}): refusing to send it anything; \
         run dims as the user that runs the node",
        .path.display()
    )]
    ForeignServer {
        /// The socket.
        path: PathBuf,
        /// The uid of the process serving it.
        served_by: u32,
        /// Ours.
        you: u32,
    },
    /// The conversation failed.
    #[error("asking the running node through {}: {source}", .path.display())]
    Wire {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: WireError,
    },
}

/// Connects to the node serving `path`: `None` when no node runs (no socket, or a socket nobody answers on, which a
/// killed node leaves behind and the next `dims run` replaces).
pub async fn connect(path: &Path) -> Result<Option<Connection>, ClientError> {
    let wire = |source: std::io::Error| ClientError::Wire {
        path: path.to_owned(),
        source: source.into(),
    };
    let stream = match UnixStream::connect(path).await {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(ClientError::Denied { path: path.to_owned() });
        }
        Err(e) => return Err(wire(e)),
    };
    let served_by = stream.peer_cred().map_err(wire)?.uid();
    let you = nix::unistd::geteuid().as_raw();
    if served_by != you {
        return Err(ClientError::ForeignServer {
            path: path.to_owned(),
            served_by,
            you,
        });
    }
    Ok(Some(Connection::new(stream)))
}

/// Sends `command` (with `stdin`) and copies the node's output to `out` and `err` as it arrives.
pub async fn call(
    mut connection: Connection,
    path: &Path,
    command: Vec<u8>,
    stdin: Vec<u8>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Ended, ClientError> {
    let wire = |source: WireError| ClientError::Wire {
        path: path.to_owned(),
        source,
    };
    let request = Request {
        version: VERSION.to_owned(),
        user: std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_default(),
        cwd: std::env::current_dir().unwrap_or_default(),
        stdin,
        command,
    };
    connection.send(&request).await.map_err(wire)?;
    loop {
        match connection.receive().await.map_err(wire)? {
            Some(Reply::Out(bytes)) => out.write_all(&bytes).map_err(|e| wire(e.into()))?,
            Some(Reply::Err(bytes)) => err.write_all(&bytes).map_err(|e| wire(e.into()))?,
            Some(Reply::Exit(code)) => return Ok(Ended::Exit(code)),
            Some(Reply::Failed(message)) => return Ok(Ended::Failed(message)),
            None => return Err(wire(WireError::Closed)),
        }
    }
}
