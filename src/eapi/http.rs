//! Just enough HTTP/1.1 for eAPI's unix socket: `POST /command-api`, and a response reader that
//! accepts `Content-Length`, `chunked` or read-until-close bodies and says whether the
//! connection may carry another request.
//!
//! The reader is a pure state machine fed with the bytes read so far, so it is tested (and
//! fuzzed) without sockets, and it resumes where it stopped instead of re-scanning the buffer,
//! which keeps multi-megabyte replies linear.

use super::EapiError;

/// Headers longer than this are not an eAPI server talking.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// A chunk-size line is a few hex digits plus optional extensions.
const MAX_CHUNK_LINE: usize = 1024;

/// Frames a JSON-RPC body as the request EOS expects (pyeapi's headers). Without `keep`, the
/// request asks the server to close the connection after answering (spec §1.2: whether the
/// socket keeps connections is not established).
pub(crate) fn encode_request(body: &[u8], keep: bool) -> Vec<u8> {
    let head = format!(
        "POST /command-api HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json-rpc\r\n\
         Content-Length: {}\r\n{}\r\n",
        body.len(),
        if keep { "" } else { "Connection: close\r\n" }
    );
    let mut request = Vec::with_capacity(head.len() + body.len());
    request.extend_from_slice(head.as_bytes());
    request.extend_from_slice(body);
    request
}

#[derive(Debug, Clone, Copy)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// Where the reader stands: headers not yet complete, or parsed with the body starting at
/// `body_start`.
#[derive(Debug, Clone, Copy)]
struct Head {
    body_start: usize,
    framing: Framing,
    /// HTTP/1.1 without `Connection: close`: the server keeps the connection.
    persistent: bool,
}

/// A complete body: where it lies in the bytes received, or joined from its chunks.
#[derive(Debug)]
pub(crate) enum Complete {
    Within(std::ops::Range<usize>),
    Joined(Vec<u8>),
}

impl Complete {
    /// The buffer holding the body, and where the body starts in it: the received bytes
    /// themselves when the body lies within them, so that a large reply is not copied.
    pub(crate) fn into_buffer(self, mut received: Vec<u8>) -> (Vec<u8>, usize) {
        match self {
            Complete::Within(range) => {
                received.truncate(range.end);
                (received, range.start)
            }
            Complete::Joined(body) => (body, 0),
        }
    }
}

/// Incremental HTTP/1.1 response reader.
#[derive(Debug)]
pub(crate) struct ResponseReader {
    limit: usize,
    head: Option<Head>,
    /// Offset of the next chunk-size line, for chunked bodies.
    chunk_pos: usize,
    body: Vec<u8>,
    /// Where the response ended in the bytes received, once complete.
    end: Option<usize>,
}

impl ResponseReader {
    /// `limit` caps the decoded body; the caller also caps the raw bytes it reads.
    pub(crate) fn new(limit: usize) -> Self {
        ResponseReader {
            limit,
            head: None,
            chunk_pos: 0,
            body: Vec::new(),
            end: None,
        }
    }

    /// After a complete response: the connection may carry another request, since the server
    /// keeps it and every byte received belonged to this response (a body read to the close,
    /// or bytes past the response, leave nothing to reuse).
    pub(crate) fn reusable(&self, received: usize) -> bool {
        self.head.is_some_and(|head| head.persistent) && self.end == Some(received)
    }

    /// Looks at everything received so far (`buf` only ever grows) and returns the body once
    /// complete. `eof` says the peer closed the connection, so nothing more will come.
    pub(crate) fn advance(&mut self, buf: &[u8], eof: bool) -> Result<Option<Complete>, EapiError> {
        if self.head.is_none() {
            match parse_head(buf, self.limit)? {
                Some(head) => {
                    self.chunk_pos = head.body_start;
                    self.head = Some(head);
                }
                None if eof => return Err(http("connection closed before the response headers")),
                None => return Ok(None),
            }
        }
        let Some(Head {
            body_start,
            framing,
            ..
        }) = self.head
        else {
            return Ok(None);
        };
        match framing {
            Framing::Length(len) => {
                let available = buf.len() - body_start;
                if available >= len {
                    self.end = Some(body_start + len);
                    Ok(Some(Complete::Within(body_start..body_start + len)))
                } else if eof {
                    Err(http(format!("body truncated: {available} of {len} bytes")))
                } else {
                    Ok(None)
                }
            }
            Framing::UntilClose if eof => Ok(Some(Complete::Within(body_start..buf.len()))),
            Framing::UntilClose => Ok(None),
            Framing::Chunked => match self.advance_chunks(buf)? {
                true => Ok(Some(Complete::Joined(std::mem::take(&mut self.body)))),
                false if eof => Err(http("chunked body truncated")),
                false => Ok(None),
            },
        }
    }

    /// The whole response's size once its head says (`Content-Length`), so the caller can
    /// make room for it at once rather than regrowing (and copying) a large reply as it comes.
    pub(crate) fn expected_len(&self) -> Option<usize> {
        match self.head {
            Some(Head {
                body_start,
                framing: Framing::Length(len),
                ..
            }) => Some(body_start.saturating_add(len)),
            _ => None,
        }
    }

    /// Decodes every complete chunk after `chunk_pos`; true once the last chunk and the
    /// trailer section have arrived.
    fn advance_chunks(&mut self, buf: &[u8]) -> Result<bool, EapiError> {
        loop {
            let rest = &buf[self.chunk_pos..];
            let Some(line_end) = find(rest, b"\r\n") else {
                if rest.len() > MAX_CHUNK_LINE {
                    return Err(http("chunk-size line too long"));
                }
                return Ok(false);
            };
            let size = parse_chunk_size(&rest[..line_end])?;
            let data_start = line_end + 2;
            if size == 0 {
                // Trailers (rare) end with an empty line; without trailers it follows at once.
                let trailers = &rest[data_start..];
                let end = match trailers.starts_with(b"\r\n") {
                    true => Some(2),
                    false => find(trailers, b"\r\n\r\n").map(|at| at + 4),
                };
                self.end = end.map(|end| self.chunk_pos + data_start + end);
                return Ok(end.is_some());
            }
            if size > self.limit.saturating_sub(self.body.len()) {
                return Err(EapiError::ReplyTooLarge { limit: self.limit });
            }
            let data_end = data_start + size;
            if rest.len() < data_end + 2 {
                return Ok(false);
            }
            if &rest[data_end..data_end + 2] != b"\r\n" {
                return Err(http("chunk not followed by CRLF"));
            }
            self.body.extend_from_slice(&rest[data_start..data_end]);
            self.chunk_pos += data_end + 2;
        }
    }
}

fn parse_head(buf: &[u8], limit: usize) -> Result<Option<Head>, EapiError> {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD_BYTES {
            return Err(http("response headers too long"));
        }
        return Ok(None);
    };
    let head =
        std::str::from_utf8(&buf[..end]).map_err(|_| http("response headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(http(format!(
            "not an HTTP/1.x status line: {:?}",
            truncate(status_line)
        )));
    }
    if status != "200" {
        return Err(http(format!("server answered {:?}", truncate(status_line))));
    }
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut persistent = version == "HTTP/1.1";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(http(format!("malformed header line {:?}", truncate(line))));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let parsed: usize = value
                .parse()
                .map_err(|_| http(format!("bad Content-Length {:?}", truncate(value))))?;
            if length.is_some_and(|previous| previous != parsed) {
                return Err(http("conflicting Content-Length headers"));
            }
            length = Some(parsed);
        } else if name.eq_ignore_ascii_case("connection") {
            persistent &= !value
                .split(',')
                .any(|option| option.trim().eq_ignore_ascii_case("close"));
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .to_ascii_lowercase()
                .split(',')
                .any(|coding| coding.trim() == "chunked");
        }
    }
    let framing = match (chunked, length) {
        // RFC 9112 §6.3: chunked wins over Content-Length.
        (true, _) => Framing::Chunked,
        (false, Some(len)) if len > limit => return Err(EapiError::ReplyTooLarge { limit }),
        (false, Some(len)) => Framing::Length(len),
        (false, None) => Framing::UntilClose,
    };
    Ok(Some(Head {
        body_start: end + 4,
        framing,
        persistent,
    }))
}

fn parse_chunk_size(line: &[u8]) -> Result<usize, EapiError> {
    let line = std::str::from_utf8(line).map_err(|_| http("chunk-size line is not UTF-8"))?;
    let digits = line.split(';').next().unwrap_or_default().trim();
    usize::from_str_radix(digits, 16)
        .map_err(|_| http(format!("bad chunk size {:?}", truncate(digits))))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}

fn http(detail: impl Into<String>) -> EapiError {
    EapiError::Http {
        detail: detail.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(bytes: &[u8], step: usize) -> Result<Vec<u8>, EapiError> {
        let mut reader = ResponseReader::new(1 << 20);
        let mut received = Vec::new();
        let body = |complete: Complete, received: Vec<u8>| {
            let (buffer, start) = complete.into_buffer(received);
            buffer[start..].to_vec()
        };
        for piece in bytes.chunks(step.max(1)) {
            received.extend_from_slice(piece);
            if let Some(complete) = reader.advance(&received, false)? {
                return Ok(body(complete, received));
            }
        }
        let complete = reader
            .advance(&received, true)?
            .ok_or_else(|| http("incomplete"))?;
        Ok(body(complete, received))
    }

    #[test]
    fn content_length_body_is_returned_even_in_one_byte_reads() {
        let reply =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(read_all(reply, 1).unwrap(), b"{}");
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers_is_joined() {
        let reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\n{\"a\r\n4\r\n\":1}\r\n0\r\nX-T: 1\r\n\r\n";
        for step in [1, 2, 7, reply.len()] {
            assert_eq!(read_all(reply, step).unwrap(), br#"{"a":1}"#);
        }
    }

    #[test]
    fn body_without_length_ends_at_close() {
        let reply = b"HTTP/1.0 200 OK\r\n\r\n[1,2]";
        assert_eq!(read_all(reply, 3).unwrap(), b"[1,2]");
    }

    #[test]
    fn non_200_status_is_an_http_error_naming_the_status() {
        let err = read_all(b"HTTP/1.1 503 Service Unavailable\r\n\r\n", 64).unwrap_err();
        assert!(err.to_string().contains("503"), "{err}");
        assert!(err.is_transient());
    }

    #[test]
    fn truncated_content_length_body_is_an_error() {
        let err = read_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", 64).unwrap_err();
        assert!(matches!(err, EapiError::Http { .. }), "{err}");
    }

    #[test]
    fn announced_length_over_the_cap_is_refused_before_reading_it() {
        let mut reader = ResponseReader::new(10);
        let err = reader
            .advance(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", false)
            .unwrap_err();
        assert!(matches!(err, EapiError::ReplyTooLarge { limit: 10 }));
    }

    #[test]
    fn chunk_sizes_that_overflow_are_errors_not_panics() {
        let reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n";
        assert!(read_all(reply, 64).is_err());
        let reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n";
        assert!(matches!(
            read_all(reply, 64),
            Err(EapiError::ReplyTooLarge { .. })
        ));
    }

    #[test]
    fn request_carries_length_and_json_rpc_content_type() {
        for keep in [true, false] {
            let request = String::from_utf8(encode_request(b"{}", keep)).unwrap();
            assert!(request.starts_with("POST /command-api HTTP/1.1\r\n"));
            assert!(request.contains("Content-Type: application/json-rpc\r\n"));
            assert!(request.contains("Content-Length: 2\r\n"));
            assert!(request.ends_with("\r\n\r\n{}"));
            assert_eq!(request.contains("Connection: close\r\n"), !keep);
        }
    }

    /// Whether the connection may carry another request after the whole response was read.
    fn reusable(reply: &[u8]) -> bool {
        let mut reader = ResponseReader::new(1 << 20);
        let complete = reader.advance(reply, false).unwrap();
        assert!(complete.is_some(), "{}", String::from_utf8_lossy(reply));
        reader.reusable(reply.len())
    }

    #[test]
    fn a_connection_is_reused_only_when_the_server_keeps_it_and_the_response_ends_cleanly() {
        assert!(reusable(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"));
        assert!(reusable(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
        ));
        assert!(reusable(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-T: 1\r\n\r\n"
        ));
        assert!(reusable(
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}"
        ));
        assert!(!reusable(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
        ));
        assert!(!reusable(
            b"HTTP/1.1 200 OK\r\nconnection: Keep-Alive, CLOSE\r\nContent-Length: 2\r\n\r\n{}"
        ));
        assert!(!reusable(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}"));
        assert!(
            !reusable(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP"),
            "bytes past the response"
        );
        let mut reader = ResponseReader::new(1 << 20);
        let until_close = b"HTTP/1.1 200 OK\r\n\r\n{}";
        assert!(reader.advance(until_close, true).unwrap().is_some());
        assert!(
            !reader.reusable(until_close.len()),
            "a body read to the close"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_as_a_reply_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), step in 1usize..64) {
            let _ = read_all(&bytes, step);
        }

        #[test]
        fn arbitrary_bytes_after_a_valid_head_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512), chunked: bool, step in 1usize..64) {
            let head: &[u8] = if chunked {
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            } else {
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
            };
            let _ = read_all(&[head, &body].concat(), step);
        }
    }
}
