//! Where a store command writes and reads: the terminal it was typed at, or, when the running node runs it for the
//! command line (`crate::control`), buffers that go back over the control socket with the caller's folder and input.
//! A command written against a [`Console`] prints the same bytes either way.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The exit code of a command that did what it was asked.
pub const SUCCESS: u8 = 0;
/// The exit code of a command that ran but found a problem (a broken audit chain, a bundle not found).
pub const FAILURE: u8 = 1;

/// A command's terminal.
pub struct Console {
    /// Its standard output.
    pub out: Sink,
    /// Its standard error.
    pub err: Sink,
    stdin: Option<Vec<u8>>,
    cwd: Option<PathBuf>,
}

/// One output stream.
pub enum Sink {
    /// This process's standard output.
    Stdout,
    /// This process's standard error.
    Stderr,
    /// Kept, to be sent to the command line that asked.
    Buffer(Vec<u8>),
}

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Stdout => std::io::stdout().write(bytes),
            Sink::Stderr => std::io::stderr().write(bytes),
            Sink::Buffer(buffer) => buffer.write(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stdout => std::io::stdout().flush(),
            Sink::Stderr => std::io::stderr().flush(),
            Sink::Buffer(_) => Ok(()),
        }
    }
}

impl Console {
    /// This process's terminal.
    pub fn terminal() -> Self {
        Self {
            out: Sink::Stdout,
            err: Sink::Stderr,
            stdin: None,
            cwd: None,
        }
    }

    /// A caller elsewhere, who typed the command in `cwd` with `stdin` as its input.
    pub fn remote(cwd: PathBuf, stdin: Vec<u8>) -> Self {
        Self {
            out: Sink::Buffer(Vec::new()),
            err: Sink::Buffer(Vec::new()),
            stdin: Some(stdin),
            cwd: Some(cwd),
        }
    }

    /// `path` as the caller meant it: a relative path is relative to the folder the command was typed in.
    pub fn path(&self, path: &Path) -> PathBuf {
        match &self.cwd {
            Some(cwd) if path.is_relative() => cwd.join(path),
            _ => path.to_owned(),
        }
    }

    /// The bytes of the input file `path`, or of standard input when it is `-`.
    pub fn read_input(&mut self, path: &Path) -> anyhow::Result<Vec<u8>> {
        if path.as_os_str() != "-" {
            let path = self.path(path);
            return std::fs::read(&path).with_context(|| format!("reading {}", path.display()));
        }
        match self.stdin.take() {
            Some(bytes) => Ok(bytes),
            None => {
                let mut bytes = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut bytes)
                    .context("reading standard input")?;
                Ok(bytes)
            }
        }
    }

    /// What was written to the buffers (empty for the terminal's streams).
    pub fn into_buffers(self) -> (Vec<u8>, Vec<u8>) {
        let take = |sink| match sink {
            Sink::Buffer(buffer) => buffer,
            Sink::Stdout | Sink::Stderr => Vec::new(),
        };
        (take(self.out), take(self.err))
    }
}
