//! A client of `/sessions/active/stream` over one HTTP/1.1 connection (chunked body), for
//! the tests and the live benchmark.

use std::collections::VecDeque;
use std::time::Instant;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Reads an HTTP/1.1 response head: its status, and its header lines in lower case
/// (without their line ends).
pub async fn read_head<R: AsyncBufRead + Unpin>(
    reader: &mut R,
) -> Result<(u16, Vec<String>), String> {
    let mut status_line = String::new();
    reader
        .read_line(&mut status_line)
        .await
        .map_err(|e| format!("status line: {e}"))?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("status line {status_line:?}"))?;
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader
            .read_line(&mut header)
            .await
            .map_err(|e| e.to_string())?
            == 0
        {
            return Err("connection closed in the headers".into());
        }
        if header == "\r\n" {
            return Ok((status, headers));
        }
        headers.push(header.trim_end().to_ascii_lowercase());
    }
}

/// An SSE event as read off the wire, with when its last byte arrived.
#[derive(Debug)]
pub struct SseEvent {
    pub name: String,
    pub id: String,
    pub data: serde_json::Value,
    pub at: Instant,
}

/// One open stream.
pub struct SseStream {
    reader: BufReader<TcpStream>,
    chunked: bool,
    /// Body text not yet split into events.
    text: String,
    events: VecDeque<SseEvent>,
}

impl SseStream {
    /// Connects with a bearer token; anything but 200 is an error.
    pub async fn open(port: u16, token: &str) -> Result<Self, String> {
        match Self::connect(port, &format!("Authorization: Bearer {token}\r\n")).await? {
            (_, Some(stream)) => Ok(stream),
            (status, None) => Err(format!("status {status}")),
        }
    }

    /// Connects with these request headers (each ending in `\r\n`) and reads the response
    /// head: its status, and the stream when the status is 200.
    pub async fn connect(port: u16, headers: &str) -> Result<(u16, Option<Self>), String> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let request = format!(
            "GET /sessions/active/stream HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n{headers}\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("request: {e}"))?;
        let mut reader = BufReader::new(stream);
        let (status, headers) = read_head(&mut reader).await?;
        let chunked = headers
            .iter()
            .any(|h| h.starts_with("transfer-encoding:") && h.contains("chunked"));
        let stream = (status == 200).then(|| Self {
            reader,
            chunked,
            text: String::new(),
            events: VecDeque::new(),
        });
        Ok((status, stream))
    }

    /// The next event (comments such as heartbeats are skipped).
    pub async fn next(&mut self) -> Result<SseEvent, String> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Ok(event);
            }
            self.read_body().await?;
            let at = Instant::now();
            while let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let (mut name, mut id, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim_start().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim_start().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if !name.is_empty() {
                    let data = serde_json::from_str(&data)
                        .map_err(|e| format!("event data is not JSON ({e}): {data}"))?;
                    self.events.push_back(SseEvent { name, id, data, at });
                }
            }
        }
    }

    /// Appends the next piece of the body (one chunk) to `text`.
    async fn read_body(&mut self) -> Result<(), String> {
        let closed = || "the stream ended".to_owned();
        if !self.chunked {
            let mut buf = [0u8; 8192];
            let n = self
                .reader
                .read(&mut buf)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(closed());
            }
            self.text.push_str(&String::from_utf8_lossy(&buf[..n]));
            return Ok(());
        }
        let mut size = String::new();
        if self
            .reader
            .read_line(&mut size)
            .await
            .map_err(|e| e.to_string())?
            == 0
        {
            return Err(closed());
        }
        let size = size.trim_end();
        let size = size.split(';').next().unwrap_or_default();
        let size =
            usize::from_str_radix(size, 16).map_err(|e| format!("chunk size {size:?}: {e}"))?;
        if size == 0 {
            return Err(closed());
        }
        let mut chunk = vec![0; size + 2];
        self.reader
            .read_exact(&mut chunk)
            .await
            .map_err(|e| e.to_string())?;
        chunk.truncate(size);
        self.text.push_str(&String::from_utf8_lossy(&chunk));
        Ok(())
    }
}
