//! The running node's end of the control socket: bind it (replacing a socket a killed node left, never one a live
//! node answers on), accept connections from the node's own user only, and answer each request with the handler
//! `dims run` gave it.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::wire::{Connection, Reply, Request, VERSION, WireError};

/// How many requests run at once; more wait for a slot (each may hold a store snapshot or a large output).
const CONCURRENT: usize = 4;

/// How long a client may take to send its request after connecting, so a silent one cannot hold a slot.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A request the node's user made, as the handler sees it.
#[derive(Debug)]
pub struct Call {
    /// The operator's login name, as their shell gave it.
    pub user: String,
    /// Their uid, from the kernel (always the node's own: others are refused before this).
    pub uid: u32,
    /// Where they typed the command.
    pub cwd: PathBuf,
    /// The command's standard input.
    pub stdin: Vec<u8>,
    /// The encoded command.
    pub command: Vec<u8>,
}

/// What the handler answers: the command's output and how it ended.
#[derive(Debug)]
pub struct Answer {
    /// Its standard output.
    pub out: Vec<u8>,
    /// Its standard error.
    pub err: Vec<u8>,
    /// Its exit code, or the error it failed with.
    pub outcome: Result<u8, String>,
}

/// Runs a command for the node: `dims run` gives the command line's executor.
pub type Handler = Arc<dyn Fn(Call) -> Pin<Box<dyn Future<Output = Answer> + Send>> + Send + Sync>;

/// Why the control socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Something that is not a socket has the socket's name.
    #[error("{} exists and is not a socket: move it away; the node puts its control socket there", .path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// A live process answers on the socket: another node uses this data folder.
    #[error(
        "another process answers on the control socket {}: is a second node running with this data folder?",
        .path.display()
    )]
    InUse {
        /// The path.
        path: PathBuf,
    },
    /// The operating system refused.
    #[error("binding the control socket {}: {source}", .path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Binds the control socket at `path`, owner-only. A socket file nobody answers on is what a killed node leaves: it
/// is removed and replaced. One a live process answers on is not touched.
pub fn bind(path: &Path) -> Result<UnixListener, BindError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let io = |source| BindError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(BindError::NotASocket { path: path.to_owned() });
        }
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => return Err(BindError::InUse { path: path.to_owned() }),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                warn!(socket = %path.display(), "replacing a control socket no process answers on (left by a node that was killed)");
                std::fs::remove_file(path).map_err(io)?;
            }
            Err(e) => return Err(io(e)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    // The data folder is already owner-only, so nobody else can reach the socket; the mode and the uid check on
    // every connection hold even if the folder's mode is loosened later.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    Ok(listener)
}

/// Serves `listener` until `cancel`, answering with `handler`; removes the socket file `path` when it stops.
pub async fn serve(listener: UnixListener, path: PathBuf, handler: Handler, cancel: CancellationToken) {
    let own_uid = nix::unistd::geteuid().as_raw();
    let slots = Arc::new(Semaphore::new(CONCURRENT));
    let connections = tokio_util::task::TaskTracker::new();
    loop {
        let stream = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!(error = %e, "accepting on the control socket failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (handler, slots) = (handler.clone(), slots.clone());
        connections.spawn(async move {
            let Ok(_slot) = slots.acquire_owned().await else { return };
            if let Err(e) = answer(Connection::new(stream), own_uid, &handler).await {
                debug!(error = %e, "a control connection ended early");
            }
        });
    }
    connections.close();
    connections.wait().await;
    let _ = std::fs::remove_file(&path);
}

/// Answers one connection.
async fn answer(mut connection: Connection, own_uid: u32, handler: &Handler) -> Result<(), WireError> {
    let uid = connection.stream().peer_cred()?.uid();
    if uid != own_uid {
        warn!(uid, "refused a control connection from another user");
        let refusal = format!(
            "the node's control socket answers only the user that runs the node (uid {own_uid}), not uid {uid}: \
             run dims as that user (sudo -u <user> dims ...)"
        );
        return connection.send(&Reply::Failed(refusal)).await;
    }
    let request: Request = match tokio::time::timeout(REQUEST_TIMEOUT, connection.receive()).await {
        Ok(Ok(Some(request))) => request,
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(e)) => return connection.send(&Reply::Failed(e.to_string())).await,
        Err(_) => return Ok(()),
    };
    if request.version != VERSION {
        let refusal = format!(
            "this dims is version {}, the running node is version {VERSION}: use the node's own dims binary",
            request.version
        );
        return connection.send(&Reply::Failed(refusal)).await;
    }
    let call = Call {
        user: request.user,
        uid,
        cwd: request.cwd,
        stdin: request.stdin,
        command: request.command,
    };
    // The command runs as its own task, so that a panic in it fails this request, not the listener.
    let answer = match tokio::spawn(handler(call)).await {
        Ok(answer) => answer,
        Err(e) => Answer {
            out: Vec::new(),
            err: Vec::new(),
            outcome: Err(format!(
                "the command stopped unexpectedly ({e}); the node's log has the details"
            )),
        },
    };
    for chunk in answer.out.chunks(super::wire::MAX_FRAME / 2) {
        connection.send(&Reply::Out(chunk.to_vec())).await?;
    }
    for chunk in answer.err.chunks(super::wire::MAX_FRAME / 2) {
        connection.send(&Reply::Err(chunk.to_vec())).await?;
    }
    match answer.outcome {
        Ok(code) => connection.send(&Reply::Exit(code)).await,
        Err(message) => connection.send(&Reply::Failed(message)).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stale_socket_is_replaced_a_live_one_and_other_files_are_not() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("control.sock");

        // A socket nobody answers on: what a killed node leaves.
        drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
        assert!(path.exists());
        let live = bind(&path).expect("a stale socket is replaced");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
            0o600
        );

        // A socket a live process answers on is never taken over.
        assert!(matches!(bind(&path), Err(BindError::InUse { .. })));
        drop(live);

        let file = dir.path().join("not-a-socket");
        std::fs::write(&file, "notes").expect("write");
        assert!(matches!(bind(&file), Err(BindError::NotASocket { .. })));
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "notes", "left as it was");
    }

    #[tokio::test]
    async fn a_request_from_another_version_is_refused_naming_both() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("control.sock");
        let listener = bind(&path).expect("bind");
        let handler: Handler = Arc::new(|_call| {
            Box::pin(async {
                Answer {
                    out: b"ran\n".to_vec(),
                    err: Vec::new(),
                    outcome: Ok(0),
                }
            })
        });
        let cancel = CancellationToken::new();
        let server = tokio::spawn(serve(listener, path.clone(), handler, cancel.clone()));

        let ask = |version: &str| {
            let (path, version) = (path.clone(), version.to_owned());
            async move {
                let mut connection = super::super::client::connect(&path)
                    .await
                    .expect("connect")
                    .expect("a node");
                connection
                    .send(&Request {
                        version,
                        user: "ops".into(),
                        cwd: "/".into(),
                        stdin: Vec::new(),
                        command: Vec::new(),
                    })
                    .await
                    .expect("send");
                let mut replies = Vec::new();
                while let Some(reply) = connection.receive::<Reply>().await.expect("receive") {
                    replies.push(format!("{reply:?}"));
                }
                replies
            }
        };
        assert_eq!(ask(VERSION).await, ["Out([114, 97, 110, 10])", "Exit(0)"]);
        let refused = ask("0.0.1").await;
        assert_eq!(refused.len(), 1);
        assert!(
            refused[0].contains("this dims is version 0.0.1") && refused[0].contains(VERSION),
            "{refused:?}"
        );
        cancel.cancel();
        server.await.expect("server");
        assert!(!path.exists(), "a stopped server removes its socket");
    }
}
