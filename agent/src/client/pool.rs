//! The pool layer: one worker's connections to one [`Endpoint`]. HTTP/1.1
//! connections ([`H1Conn`]) are kept idle between requests, most recently
//! used first, and closed after [`IDLE_TTL`] unused; HTTP/2 multiplexes on
//! one shared connection ([`H2Sender`]), re-opened when it closes. When
//! HTTP/2 was asked for but the server's ALPN chose HTTP/1.1, the pool
//! pools HTTP/1.1 from then on.
//!
//! A pool belongs to one worker thread; its locks are only ever contended by
//! the worker's own tasks (and by [`Pool::clear`] at the end).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::error::ErrorKind;
use super::h1_conn::H1Conn;
use super::h2::{self, H2Sender};
use super::transport::{self, ConnectTimings, Endpoint, IoCounters};

/// Idle HTTP/1.1 connections unused for this long are closed, so a burst's
/// connections (and their buffers) do not stay forever.
pub const IDLE_TTL: Duration = Duration::from_secs(5);

/// A connection checked out of a pool for one exchange.
pub enum Conn {
    /// HTTP/1.1: exclusively this exchange's; give it back with [`Pool::checkin`].
    H1(H1Conn),
    /// HTTP/2: a handle to the shared connection.
    H2 {
        /// The handle.
        sender: H2Sender,
        /// Where the connection goes.
        remote: SocketAddr,
        /// How long opening took, when this checkout opened it.
        opened: Option<ConnectTimings>,
    },
}

/// Connections of one worker to one endpoint.
pub struct Pool {
    ep: Arc<Endpoint>,
    counters: Arc<IoCounters>,
    h2: tokio::sync::Mutex<Option<(H2Sender, SocketAddr)>>,
    h1_fallback: AtomicBool,
    /// Idle HTTP/1.1 connections, most recently used last.
    h1_idle: Mutex<VecDeque<(H1Conn, Instant)>>,
}

impl Pool {
    /// An empty pool.
    pub fn new(ep: Arc<Endpoint>, counters: Arc<IoCounters>) -> Pool {
        Pool {
            ep,
            counters,
            h2: tokio::sync::Mutex::new(None),
            h1_fallback: AtomicBool::new(false),
            h1_idle: Mutex::new(VecDeque::new()),
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    /// The byte counters of this pool's connections.
    pub fn counters(&self) -> &Arc<IoCounters> {
        &self.counters
    }

    /// Whether requests go over HTTP/2: asked for, and not refused by ALPN.
    pub fn uses_h2(&self) -> bool {
        self.ep.http2 && !self.h1_fallback.load(Ordering::Relaxed)
    }

    /// A connection for one exchange: the shared HTTP/2 one, an idle
    /// HTTP/1.1 one that is still alive, or a new one opened by `deadline`.
    pub async fn checkout(&self, deadline: tokio::time::Instant) -> Result<Conn, ErrorKind> {
        if self.uses_h2() {
            return self.checkout_h2(deadline).await;
        }
        if let Some(c) = self.idle_h1() {
            return Ok(Conn::H1(c));
        }
        H1Conn::open(&self.ep, &self.counters, deadline).await.map(Conn::H1)
    }

    /// The most recently used idle HTTP/1.1 connection that is still alive.
    fn idle_h1(&self) -> Option<H1Conn> {
        loop {
            let (mut c, _) = self.h1_idle.lock().expect("pool lock").pop_back()?;
            if c.alive() {
                return Some(c);
            }
        }
    }

    async fn checkout_h2(&self, deadline: tokio::time::Instant) -> Result<Conn, ErrorKind> {
        // Held while connecting: concurrent requests wait for the one
        // connection instead of each opening their own.
        let mut shared = self.h2.lock().await;
        if let Some((sender, remote)) = shared.as_ref()
            && !sender.is_closed()
        {
            return Ok(Conn::H2 { sender: sender.clone(), remote: *remote, opened: None });
        }
        let opening = async {
            let c = transport::connect(&self.ep, &self.counters).await?;
            if !c.h2 {
                // ALPN chose HTTP/1.1: pool like HTTP/1.1 from now on.
                self.h1_fallback.store(true, Ordering::Relaxed);
                return Ok(Conn::H1(H1Conn::new(c, deadline)));
            }
            let sender = h2::handshake(c.io).await?;
            *shared = Some((sender.clone(), c.remote));
            Ok(Conn::H2 { sender, remote: c.remote, opened: Some(c.timings) })
        };
        tokio::time::timeout_at(deadline, opening).await.map_err(|_| ErrorKind::Timeout)?
    }

    /// Gives back an HTTP/1.1 connection whose exchange completed; kept if
    /// it can carry another request.
    pub fn checkin(&self, c: H1Conn) {
        if !c.reusable() {
            return;
        }
        // The most recently used is reused first; the least recently used age out.
        let now = Instant::now();
        let mut q = self.h1_idle.lock().expect("pool lock");
        for _ in 0..4 {
            match q.front() {
                Some((_, since)) if now.duration_since(*since) > IDLE_TTL => drop(q.pop_front()),
                _ => break,
            }
        }
        q.push_back((c, now));
    }

    /// Drops every idle connection.
    pub fn clear(&self) {
        self.h1_idle.lock().expect("pool lock").clear();
        if let Ok(mut g) = self.h2.try_lock() {
            *g = None;
        }
    }
}
