//! What crosses the control socket: one [`Request`] from the command line, then [`Reply`] frames until the
//! [`Reply::Exit`] (or [`Reply::Failed`]) that ends the conversation. Each frame is a length-prefixed CBOR value.
//!
//! The command itself travels as opaque bytes ([`Request::command`]): this layer carries it, the command line both
//! encodes and decodes it (`cli::operation`), so the transport knows nothing of commands and the command line nothing
//! of sockets. Both ends are the same `dims` build: a request from another version is refused, naming both, rather
//! than decoded by guesswork.

use std::path::PathBuf;

use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::net::UnixStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// The largest frame either end accepts. A request carries the command's standard input (a STIX file piped to
/// `dims publish -`), so this is generous; a bigger input is refused before it is read, with this number.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// The command line's request.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// The `dims` version that sent it ([`VERSION`]).
    pub version: String,
    /// The operator's login name (`$USER`), for the audit log; the uid comes from the kernel, not from here.
    pub user: String,
    /// The folder the command was typed in: relative paths in the command are resolved against it.
    pub cwd: PathBuf,
    /// The command's standard input, when it reads one (`-` as its input file).
    #[serde(with = "serde_bytes")]
    pub stdin: Vec<u8>,
    /// The command, encoded by the command line.
    #[serde(with = "serde_bytes")]
    pub command: Vec<u8>,
}

/// One frame of the node's answer.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    /// Bytes for the command line's standard output.
    Out(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Bytes for its standard error.
    Err(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The command finished with this exit code; the last frame.
    Exit(u8),
    /// The command failed with this message (printed as `error: ...`, as a local failure is); the last frame.
    Failed(String),
}

/// The version both ends must share.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A connection carrying frames.
pub struct Connection {
    framed: Framed<UnixStream, LengthDelimitedCodec>,
}

/// Why a frame could not be sent or read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed, or a frame was over [`MAX_FRAME`].
    #[error("the control socket: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection before the conversation ended.
    #[error("the control socket closed before the answer ended")]
    Closed,
    /// A frame was not what this end expects.
    #[error("the control socket carried a frame this dims cannot read: {0}")]
    Decode(String),
}

impl Connection {
    /// Frames `stream`.
    pub fn new(stream: UnixStream) -> Self {
        let codec = LengthDelimitedCodec::builder().max_frame_length(MAX_FRAME).new_codec();
        Self {
            framed: Framed::new(stream, codec),
        }
    }

    /// The socket underneath, for the peer's credentials.
    pub fn stream(&self) -> &UnixStream {
        self.framed.get_ref()
    }

    /// Sends one frame.
    pub async fn send(&mut self, value: &impl Serialize) -> Result<(), WireError> {
        let bytes = cbor4ii::serde::to_vec(Vec::new(), value).map_err(|e| WireError::Decode(e.to_string()))?;
        if bytes.len() > MAX_FRAME {
            return Err(WireError::Io(std::io::Error::other(format!(
                "{} bytes is over the limit of {MAX_FRAME} bytes a frame may carry",
                bytes.len()
            ))));
        }
        self.framed.send(tokio_util::bytes::Bytes::from(bytes)).await?;
        Ok(())
    }

    /// Reads one frame; `None` when the peer closed the connection cleanly between frames.
    pub async fn receive<T: DeserializeOwned>(&mut self) -> Result<Option<T>, WireError> {
        match self.framed.next().await {
            None => Ok(None),
            Some(frame) => {
                let frame = frame?;
                cbor4ii::serde::from_slice(&frame)
                    .map(Some)
                    .map_err(|e| WireError::Decode(e.to_string()))
            }
        }
    }
}
