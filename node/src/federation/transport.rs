//! The byte stream under every federation connection: counted always, and delayed or broken when the simulator asks.
//!
//! [`super::swarm::build`] wraps the raw stream of each connection (the TCP socket, or the memory transport's
//! channel) in [`Metered`] *before* Noise and Yamux run over it. Before Noise is the point: what it counts is what
//! crosses the wire (handshakes, Noise framing and tags, Yamux headers, gossip control, pings), which is what an
//! operator pays for and what the simulator compares across designs; and what it delays is the whole connection, as a
//! slow link would. QUIC connections (the `quic` feature) bring their encryption and multiplexing in one upgrade and
//! expose no raw stream, so their bytes are not counted.
//!
//! Faults come from a [`LinkFaults`] handle. A production node never sets one, and then the wrapper costs one atomic
//! load per read and the two counters; it holds nothing and spawns nothing.
//! * **Delay**: bytes read by this node become readable `delay ± jitter` after they arrived (only what this node
//!   receives is delayed; a slow link both ways is a delay on both ends). While a delay is set, each read first takes
//!   what the wire has now (up to [`MAX_HELD_BYTES`] per connection), stamps each chunk with the moment it becomes
//!   readable, and hands out only chunks whose moment has passed, in order: jitter never reorders bytes, since a
//!   stream cannot. Whoever reads the connection (Yamux) polls it whenever it waits for data, and each wake-up of the
//!   wire or of the timer stamps new arrivals, so no task of its own is needed; a reader that stops reading leaves
//!   bytes on the wire as a full socket buffer would, and they are stamped when it reads again (later, never earlier).
//! * **Drop**: a byte stream under Noise cannot lose bytes: a missing byte breaks the next frame's authentication and
//!   Noise closes the connection anyway. So a drop probability `p` means that each chunk read from the wire resets
//!   the connection with probability `p` (an [`io::ErrorKind::ConnectionReset`] error); the federation then redials
//!   and reconciles, as after any lost connection. That is harsher than packet loss on TCP, which retransmits and only
//!   slows down, and it is what "drop" means in the simulator's reports.
//!
//! Faults apply to connections already open as well as new ones: each read looks at the handle.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use libp2p::futures::{AsyncRead, AsyncWrite};
use prometheus_client::metrics::counter::Counter;
use tokio::time::{Instant, Sleep};

/// The most bytes one delayed connection holds read from the wire and not yet readable; past it, the wire is not read
/// until the reader catches up (backpressure, as a socket's receive buffer gives).
pub const MAX_HELD_BYTES: usize = 1 << 20;

/// The most bytes one read from the wire takes while a delay is set.
const READ_CHUNK: usize = 16 * 1024;

/// Wire bytes of every connection of one node, both directions. Clones share the counters: they are the same
/// counters `/metrics` exports as `dims_federation_bytes_total`.
#[derive(Clone, Debug, Default)]
pub struct Traffic {
    sent: Counter,
    received: Counter,
}

impl Traffic {
    /// Counts into `sent` and `received`.
    pub fn new(sent: Counter, received: Counter) -> Self {
        Self { sent, received }
    }

    /// Bytes written to the wire so far.
    pub fn sent(&self) -> u64 {
        self.sent.get()
    }

    /// Bytes read from the wire so far.
    pub fn received(&self) -> u64 {
        self.received.get()
    }
}

/// The faults of one node's links: what it receives is delayed, and its connections may be reset. Clones share the
/// settings, which apply at once to every connection of the node, open or future. No fault is set by default.
#[derive(Clone, Debug, Default)]
pub struct LinkFaults(Arc<FaultState>);

#[derive(Debug, Default)]
struct FaultState {
    /// Seeds each connection's random choices.
    seed: u64,
    /// Connections wrapped so far: the other half of each connection's seed.
    connections: AtomicU64,
    /// Whether any fault is set: the one load a read makes when none is.
    active: AtomicBool,
    /// Connections reset by a drop so far.
    resets: AtomicU64,
    settings: Mutex<Settings>,
}

/// The fault settings at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Settings {
    delay: Duration,
    jitter: Duration,
    drop: f64,
}

impl Settings {
    fn active(&self) -> bool {
        !self.delay.is_zero() || !self.jitter.is_zero() || self.drop > 0.0
    }

    fn delays(&self) -> bool {
        !self.delay.is_zero() || !self.jitter.is_zero()
    }
}

impl LinkFaults {
    /// No fault set; each connection's random choices derive from `seed` and the connection's number.
    pub fn new(seed: u64) -> Self {
        Self(Arc::new(FaultState {
            seed,
            ..FaultState::default()
        }))
    }

    /// Bytes this node reads become readable `delay` plus a uniform draw in `[-jitter, +jitter]` after they arrived
    /// (never before they arrived, and never before the bytes ahead of them).
    pub fn set_delay(&self, delay: Duration, jitter: Duration) {
        self.update(|s| {
            s.delay = delay;
            s.jitter = jitter;
        });
    }

    /// Each chunk this node reads resets its connection with `probability` (clamped to 0..=1; 0 ends dropping).
    pub fn set_drop(&self, probability: f64) {
        let probability = if probability.is_nan() {
            0.0
        } else {
            probability.clamp(0.0, 1.0)
        };
        self.update(|s| s.drop = probability);
    }

    /// Ends every fault. Bytes already held stay held until their moment.
    pub fn clear(&self) {
        self.update(|s| *s = Settings::default());
    }

    /// The delay and jitter set.
    pub fn delay(&self) -> (Duration, Duration) {
        let s = self.settings();
        (s.delay, s.jitter)
    }

    /// The drop probability set.
    pub fn drop_probability(&self) -> f64 {
        self.settings().drop
    }

    /// How many connections a drop has reset so far.
    pub fn resets(&self) -> u64 {
        self.0.resets.load(Ordering::Relaxed)
    }

    fn update(&self, change: impl FnOnce(&mut Settings)) {
        let mut settings = self.0.settings.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut settings);
        self.0.active.store(settings.active(), Ordering::Relaxed);
    }

    fn settings(&self) -> Settings {
        *self.0.settings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_active(&self) -> bool {
        self.0.active.load(Ordering::Relaxed)
    }

    /// The random state of the next connection: BLAKE3 of the seed and the connection's number.
    fn next_rng(&self) -> XorShift {
        let number = self.0.connections.fetch_add(1, Ordering::Relaxed);
        let mut input = [0u8; 16];
        input[..8].copy_from_slice(&self.0.seed.to_le_bytes());
        input[8..].copy_from_slice(&number.to_le_bytes());
        let hash = blake3::hash(&input);
        let mut state = [0u8; 8];
        state.copy_from_slice(&hash.as_bytes()[..8]);
        XorShift(u64::from_le_bytes(state) | 1)
    }
}

/// xorshift64*: cheap, and good enough to decide drops and jitter.
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A uniform draw in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether an event of `probability` happens.
    fn chance(&mut self, probability: f64) -> bool {
        probability > 0.0 && self.unit() < probability
    }
}

/// What a swarm wraps each connection with: where it counts, and which faults it obeys.
#[derive(Clone, Debug, Default)]
pub struct Link {
    /// The node's byte counters.
    pub traffic: Traffic,
    /// The node's link faults.
    pub faults: LinkFaults,
}

impl Link {
    /// Wraps one connection's raw stream.
    pub fn wrap<S>(&self, stream: S) -> Metered<S> {
        Metered::new(stream, self.traffic.clone(), self.faults.clone())
    }
}

/// A connection's raw stream, counted and subject to the node's [`LinkFaults`].
#[derive(Debug)]
pub struct Metered<S> {
    inner: S,
    traffic: Traffic,
    faults: LinkFaults,
    rng: XorShift,
    /// Set once a drop reset the connection: every later read and write fails too.
    reset: bool,
    /// While delaying: chunks read from the wire, in order, each with the moment it becomes readable.
    held: VecDeque<(Vec<u8>, Instant)>,
    /// Bytes of the front chunk already handed out.
    front_read: usize,
    /// Bytes in `held`, less `front_read`.
    held_bytes: usize,
    /// The latest moment stamped, so that no chunk is ready before the one ahead of it.
    last_ready: Option<Instant>,
    /// The end of the wire (`Ok`) or its error, seen while chunks were held: reported after them.
    end: Option<io::Result<()>>,
    /// The wait for the front chunk.
    timer: Option<Pin<Box<Sleep>>>,
    /// The buffer delayed reads take from the wire into, made on the first delayed read.
    scratch: Vec<u8>,
}

impl<S> Metered<S> {
    /// Wraps `inner`, counting into `traffic` and obeying `faults`.
    pub fn new(inner: S, traffic: Traffic, faults: LinkFaults) -> Self {
        let rng = faults.next_rng();
        Self {
            inner,
            traffic,
            faults,
            rng,
            reset: false,
            held: VecDeque::new(),
            front_read: 0,
            held_bytes: 0,
            last_ready: None,
            end: None,
            timer: None,
            scratch: Vec::new(),
        }
    }

    /// Bytes read from the wire and not yet readable.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// The moment a chunk arriving `now` becomes readable.
    fn ready_at(&mut self, now: Instant, settings: &Settings) -> Instant {
        let delay = u64::try_from(settings.delay.as_micros()).unwrap_or(u64::MAX);
        let jitter = u64::try_from(settings.jitter.as_micros()).unwrap_or(u64::MAX / 4);
        let draw = if jitter == 0 {
            0
        } else {
            self.rng.next() % (2 * jitter + 1)
        };
        // delay + (draw - jitter), not below zero.
        let micros = (delay.saturating_add(draw)).saturating_sub(jitter);
        let at = now + Duration::from_micros(micros);
        let at = self.last_ready.map_or(at, |last| at.max(last));
        self.last_ready = Some(at);
        at
    }

    fn fail_reset(&mut self) -> io::Error {
        self.faults.0.resets.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(held = self.held_bytes, "link fault: connection reset");
        self.reset = true;
        self.held.clear();
        self.held_bytes = 0;
        reset_error()
    }
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by a simulated drop")
}

impl<S: AsyncRead + Unpin> Metered<S> {
    /// A read while a fault is set or bytes are held.
    fn poll_read_faulty(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let settings = self.faults.settings();
        // The tokio clock (not the node's `clock` module) so that timers and stamps agree, paused time included.
        let now = Instant::now();
        // Take what the wire has now, so that each chunk is stamped when it arrived.
        while self.end.is_none() && self.held_bytes < MAX_HELD_BYTES {
            if !settings.delays() && self.held.is_empty() {
                // Dropping only: read straight into the caller's buffer.
                let n = ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
                self.traffic.received.inc_by(n as u64);
                if n > 0 && self.rng.chance(settings.drop) {
                    return Poll::Ready(Err(self.fail_reset()));
                }
                return Poll::Ready(Ok(n));
            }
            if self.scratch.is_empty() {
                self.scratch = vec![0; READ_CHUNK];
            }
            match Pin::new(&mut self.inner).poll_read(cx, &mut self.scratch) {
                Poll::Pending => break,
                Poll::Ready(Ok(0)) => self.end = Some(Ok(())),
                Poll::Ready(Ok(n)) => {
                    self.traffic.received.inc_by(n as u64);
                    if self.rng.chance(settings.drop) {
                        return Poll::Ready(Err(self.fail_reset()));
                    }
                    let ready_at = self.ready_at(now, &settings);
                    self.held.push_back((self.scratch[..n].to_vec(), ready_at));
                    self.held_bytes += n;
                }
                Poll::Ready(Err(e)) => self.end = Some(Err(e)),
            }
        }
        // Hand out the front chunk once its moment has passed.
        if let Some((chunk, ready_at)) = self.held.front() {
            if *ready_at > now {
                let ready_at = *ready_at;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(ready_at)));
                timer.as_mut().reset(ready_at);
                ready!(timer.as_mut().poll(cx));
            }
            let n = buf.len().min(chunk.len() - self.front_read);
            buf[..n].copy_from_slice(&chunk[self.front_read..self.front_read + n]);
            self.front_read += n;
            self.held_bytes -= n;
            if self.front_read == chunk.len() {
                self.held.pop_front();
                self.front_read = 0;
            }
            return Poll::Ready(Ok(n));
        }
        match self.end.take() {
            Some(Ok(())) => {
                self.end = Some(Ok(()));
                Poll::Ready(Ok(0))
            }
            Some(Err(e)) => {
                self.end = Some(Ok(()));
                Poll::Ready(Err(e))
            }
            // The wire said Pending above, so its waker is registered.
            None => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.reset {
            return Poll::Ready(Err(reset_error()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if !this.faults.is_active() && this.held.is_empty() && this.end.is_none() {
            let n = ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            this.traffic.received.inc_by(n as u64);
            return Poll::Ready(Ok(n));
        }
        this.poll_read_faulty(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.reset {
            return Poll::Ready(Err(reset_error()));
        }
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        this.traffic.sent.inc_by(n as u64);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.reset {
            return Poll::Ready(Err(reset_error()));
        }
        let n = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs))?;
        this.traffic.sent.inc_by(n as u64);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.reset {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use libp2p::core::Endpoint;
    use libp2p::core::transport::memory::Channel;
    use libp2p::core::transport::{DialOpts, ListenerId, MemoryTransport, PortUse, Transport, TransportEvent};
    use libp2p::futures::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Two ends of one memory-transport connection (the transport the simulator and the federation tests run on).
    async fn pair() -> (Channel<Vec<u8>>, Channel<Vec<u8>>) {
        let mut listener = MemoryTransport::default();
        listener
            .listen_on(ListenerId::next(), "/memory/0".parse().expect("an address"))
            .expect("listens");
        let address = poll_fn(|cx| match Pin::new(&mut listener).poll(cx) {
            Poll::Ready(TransportEvent::NewAddress { listen_addr, .. }) => Poll::Ready(listen_addr),
            Poll::Ready(_) => panic!("the listener's first event is its address"),
            Poll::Pending => Poll::Pending,
        })
        .await;
        let dial = MemoryTransport::default()
            .dial(
                address,
                DialOpts {
                    role: Endpoint::Dialer,
                    port_use: PortUse::New,
                },
            )
            .expect("dials");
        let dialer = dial.await.expect("connects");
        let incoming = poll_fn(|cx| match Pin::new(&mut listener).poll(cx) {
            Poll::Ready(TransportEvent::Incoming { upgrade, .. }) => Poll::Ready(upgrade),
            Poll::Ready(_) => panic!("the listener's next event is the dialer"),
            Poll::Pending => Poll::Pending,
        })
        .await;
        (dialer, incoming.await.expect("accepted"))
    }

    /// Both ends wrapped, each with its own counters and faults.
    async fn metered_pair() -> ((Metered<Channel<Vec<u8>>>, Link), (Metered<Channel<Vec<u8>>>, Link)) {
        let (a, b) = pair().await;
        let (la, lb) = (Link::default(), Link::default());
        ((la.wrap(a), la), (lb.wrap(b), lb))
    }

    async fn read_exactly(stream: &mut Metered<Channel<Vec<u8>>>, n: usize) -> Vec<u8> {
        let mut out = vec![0; n];
        stream.read_exact(&mut out).await.expect("reads");
        out
    }

    #[tokio::test]
    async fn counts_wire_bytes_both_ways() {
        let ((mut a, la), (mut b, lb)) = metered_pair().await;
        a.write_all(&[7; 1000]).await.expect("writes");
        a.flush().await.expect("flushes");
        assert_eq!(read_exactly(&mut b, 1000).await, vec![7; 1000]);
        b.write_all(b"pong").await.expect("writes");
        b.flush().await.expect("flushes");
        assert_eq!(read_exactly(&mut a, 4).await, b"pong");
        assert_eq!((la.traffic.sent(), la.traffic.received()), (1000, 4));
        assert_eq!((lb.traffic.sent(), lb.traffic.received()), (4, 1000));
    }

    #[tokio::test]
    async fn the_counters_are_the_metrics_counters() {
        let mut metrics = crate::metrics::Metrics::new();
        let federation = super::super::FederationMetrics::registered(&mut metrics);
        let (a, b) = pair().await;
        let link = Link {
            traffic: federation.traffic(),
            faults: LinkFaults::default(),
        };
        let (mut a, mut b) = (link.wrap(a), link.wrap(b));
        a.write_all(b"hello").await.expect("writes");
        assert_eq!(read_exactly(&mut b, 5).await, b"hello");
        let text = metrics.encode();
        for line in [
            "dims_federation_bytes_total{direction=\"sent\"} 5",
            "dims_federation_bytes_total{direction=\"received\"} 5",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[tokio::test]
    async fn delay_holds_bytes_at_least_the_delay_and_keeps_their_order() {
        let ((mut a, _), (mut b, lb)) = metered_pair().await;
        let delay = Duration::from_millis(120);
        lb.faults.set_delay(delay, Duration::from_millis(40));
        let started = Instant::now();
        // Many small writes, each a chunk on the memory transport: jitter must not reorder them.
        let sent: Vec<u8> = (0..=255).collect();
        for byte in &sent {
            a.write_all(&[*byte]).await.expect("writes");
        }
        a.flush().await.expect("flushes");
        let first = read_exactly(&mut b, 1).await;
        assert!(
            started.elapsed() >= delay - Duration::from_millis(40),
            "the first byte came after {:?}",
            started.elapsed()
        );
        let rest = read_exactly(&mut b, 255).await;
        assert_eq!([first, rest].concat(), sent, "bytes kept their order");
        assert_eq!(b.held_bytes(), 0);
        assert_eq!(lb.traffic.received(), 256);
    }

    #[tokio::test]
    async fn delay_without_jitter_holds_every_chunk_for_the_delay() {
        let ((mut a, _), (mut b, lb)) = metered_pair().await;
        let delay = Duration::from_millis(80);
        lb.faults.set_delay(delay, Duration::ZERO);
        for round in 0..3u8 {
            let started = Instant::now();
            a.write_all(&[round; 10]).await.expect("writes");
            a.flush().await.expect("flushes");
            assert_eq!(read_exactly(&mut b, 10).await, vec![round; 10]);
            assert!(started.elapsed() >= delay, "round {round} took {:?}", started.elapsed());
        }
    }

    #[tokio::test]
    async fn a_delayed_connection_holds_a_bounded_amount() {
        let ((mut a, _), (mut b, lb)) = metered_pair().await;
        lb.faults.set_delay(Duration::from_secs(3600), Duration::ZERO);
        for _ in 0..48 {
            a.write_all(&[5; 64 * 1024]).await.expect("writes");
        }
        let mut buf = [0; 16];
        let once = poll_fn(|cx| Poll::Ready(Pin::new(&mut b).poll_read(cx, &mut buf).is_pending())).await;
        assert!(once, "nothing is readable before the delay");
        assert!(
            (MAX_HELD_BYTES..MAX_HELD_BYTES + READ_CHUNK).contains(&b.held_bytes()),
            "{} bytes held",
            b.held_bytes()
        );
        assert_eq!(
            lb.traffic.received(),
            b.held_bytes() as u64,
            "the rest waits on the wire"
        );
    }

    #[tokio::test]
    async fn clearing_a_delay_passes_bytes_straight_through_again() {
        let ((mut a, _), (mut b, lb)) = metered_pair().await;
        lb.faults.set_delay(Duration::from_millis(30), Duration::ZERO);
        a.write_all(b"one").await.expect("writes");
        assert_eq!(read_exactly(&mut b, 3).await, b"one");
        lb.faults.clear();
        a.write_all(b"two").await.expect("writes");
        assert_eq!(read_exactly(&mut b, 3).await, b"two");
        assert_eq!(b.held_bytes(), 0);
        assert_eq!(lb.traffic.received(), 6);
    }

    #[tokio::test]
    async fn drop_with_certainty_resets_the_connection_at_the_first_chunk() {
        let ((mut a, _), (mut b, lb)) = metered_pair().await;
        lb.faults.set_drop(1.0);
        a.write_all(b"lost").await.expect("writes");
        let mut buf = [0; 4];
        let error = b.read(&mut buf).await.expect_err("reset");
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(
            b.write(b"x").await.expect_err("still reset").kind(),
            io::ErrorKind::ConnectionReset
        );
        assert_eq!(lb.faults.resets(), 1);
        // With a delay as well, the reset comes when the chunk arrives, not when it would have been readable.
        let ((mut a, _), (mut b, lb)) = metered_pair().await;
        lb.faults.set_delay(Duration::from_secs(3600), Duration::ZERO);
        lb.faults.set_drop(1.0);
        a.write_all(b"lost").await.expect("writes");
        let error = b.read(&mut buf).await.expect_err("reset");
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
    }

    #[tokio::test]
    async fn no_fault_and_drop_zero_lose_nothing() {
        let ((mut a, _), (mut b, lb)) = metered_pair().await;
        lb.faults.set_drop(0.0);
        assert_eq!(lb.faults.drop_probability(), 0.0);
        for _ in 0..100 {
            a.write_all(&[1; 64]).await.expect("writes");
        }
        assert_eq!(read_exactly(&mut b, 6400).await, vec![1; 6400]);
    }

    #[test]
    fn drop_probabilities_are_clamped_and_draws_are_uniform_enough() {
        let faults = LinkFaults::new(3);
        faults.set_drop(f64::NAN);
        assert_eq!(faults.drop_probability(), 0.0);
        faults.set_drop(7.0);
        assert_eq!(faults.drop_probability(), 1.0);
        let mut rng = faults.next_rng();
        let hits = (0..100_000).filter(|_| rng.chance(0.01)).count();
        assert!((700..1300).contains(&hits), "{hits} of 100,000 at p = 0.01");
        assert!(!(0..1000).any(|_| rng.chance(0.0)));
        assert!((0..1000).all(|_| rng.chance(1.0)));
    }
}
