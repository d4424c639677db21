//! A real Redis to compare with: Debian's `redis-server` on a free loopback port, without
//! persistence, and a raw pipelining connection that returns each reply's bytes.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use seshat_core::resp::{decode_reply, encode_request};

/// A real Redis on a free loopback port, stopped (by pid) when dropped.
pub struct RedisServer {
    child: Child,
    /// The loopback port it listens on.
    pub port: u16,
}

impl RedisServer {
    /// Starts it and waits until it listens.
    pub fn start() -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect(
                "redis-server runs (Debian's redis-server package; scripts/env.sh installs it)",
            );
        let server = RedisServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One connection, pipelining: writes a batch, then reads one reply per command.
pub struct Peer {
    stream: TcpStream,
    buffer: BytesMut,
}

impl Peer {
    /// Connects to `port` on loopback.
    pub fn connect(port: u16) -> Peer {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Peer {
            stream,
            buffer: BytesMut::new(),
        }
    }

    /// The raw bytes of each reply to `batch`, in order.
    pub fn pipeline(&mut self, batch: &[Vec<Bytes>]) -> Vec<Vec<u8>> {
        let mut out = BytesMut::new();
        for command in batch {
            encode_request(command, &mut out);
        }
        self.stream.write_all(&out).expect("writes");
        let mut replies = Vec::with_capacity(batch.len());
        let mut chunk = [0u8; 16 * 1024];
        while replies.len() < batch.len() {
            let before = self.buffer.clone();
            match decode_reply(&mut self.buffer).expect("a well-formed reply") {
                Some(_) => {
                    let used = before.len() - self.buffer.len();
                    replies.push(before[..used].to_vec());
                }
                None => {
                    let n = self.stream.read(&mut chunk).expect("a reply in time");
                    assert!(n > 0, "the server closed the connection");
                    self.buffer.extend_from_slice(&chunk[..n]);
                }
            }
        }
        replies
    }
}
