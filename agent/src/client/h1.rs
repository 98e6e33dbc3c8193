//! The HTTP/1.1 wire format, without I/O: a request is serialised once into
//! bytes, and a response is parsed in place with `httparse`. The load path
//! skips the body (its bytes are counted by the socket, not kept): no
//! per-request allocation, no header map, no body frames, which is what lets
//! one core keep up with wrk. A full exchange passes sinks instead
//! ([`parse_head_with`], [`Body::read`]) that see each header and each piece
//! of body data (chunked framing removed).
//!
//! Response framing follows RFC 9112 §6.3: no body for HEAD, 1xx, 204 and
//! 304; chunked when it is the final transfer coding; else Content-Length;
//! else until the server closes.

use http::HeaderMap;

/// Longest response head accepted (status line and headers).
pub const MAX_HEAD: usize = 64 * 1024;
/// Most response headers accepted.
const MAX_HEADERS: usize = 100;

/// Serialises a request: `method target HTTP/1.1`, the headers in order, a
/// Content-Length computed from `body` (a template's own Content-Length or
/// Transfer-Encoding would misframe the body, so they are left out), the body.
pub fn encode_request(method: &http::Method, target: &str, headers: &HeaderMap, body: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(64 + target.len() + headers.len() * 32 + body.len());
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        if name == http::header::CONTENT_LENGTH || name == http::header::TRANSFER_ENCODING {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let body_expected = matches!(*method, http::Method::POST | http::Method::PUT | http::Method::PATCH);
    if !body.is_empty() || body_expected {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The head is not HTTP/1.x.
    Head(String),
    /// The head is longer than [`MAX_HEAD`].
    HeadTooLarge,
    /// Content-Length is not a number, or appears twice with two values.
    ContentLength,
    /// A chunk size line is malformed.
    Chunk,
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Bytes of the head, blank line included.
    pub len: usize,
    /// How the body is delimited.
    pub body: Body,
    /// Whether the connection may carry another request afterwards.
    pub keep_alive: bool,
}

/// Parses the head at the start of `buf`: `Ok(None)` while incomplete.
/// Interim 1xx responses (100 Continue, 103 Early Hints) are returned like
/// any head; the caller skips them (`status < 200`).
pub fn parse_head(buf: &[u8], head_request: bool) -> Result<Option<Head>, ParseError> {
    parse_head_with(buf, head_request, |_, _| {})
}

/// [`parse_head`], calling `on_header(name, value)` for each header of a
/// complete head, in order.
pub fn parse_head_with(
    buf: &[u8],
    head_request: bool,
    mut on_header: impl FnMut(&[u8], &[u8]),
) -> Result<Option<Head>, ParseError> {
    // Uninitialised: zeroing 100 headers per response was 5 % of the
    // closed loop's CPU.
    let mut headers = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut resp, buf, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(ParseError::HeadTooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ParseError::Head(e.to_string())),
    };
    let status = resp.code.unwrap_or(0);
    let http10 = resp.version == Some(0);
    let (mut length, mut chunked, mut close, mut keep_alive_token, mut encoded) = (None, false, false, false, false);
    for h in resp.headers.iter() {
        on_header(h.name.as_bytes(), h.value);
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse::<u64>().ok());
            match (v, length) {
                (None, _) => return Err(ParseError::ContentLength),
                (Some(v), Some(prev)) if v != prev => return Err(ParseError::ContentLength),
                (Some(v), _) => length = Some(v),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            encoded = true;
            // Only the final coding decides the framing.
            let last = h.value.rsplit(|b| *b == b',').next().unwrap_or_default();
            chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let body = if head_request || status < 200 || status == 204 || status == 304 {
        Body::Length(0)
    } else if encoded {
        if chunked { Body::Chunked(Chunked::default()) } else { Body::UntilClose }
    } else {
        match length {
            Some(n) => Body::Length(n),
            None => Body::UntilClose,
        }
    };
    let keep_alive = status != 101 && !close && (!http10 || keep_alive_token) && !matches!(body, Body::UntilClose);
    Ok(Some(Head { status, len, body, keep_alive }))
}

/// The body still to be skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// This many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked(Chunked),
    /// Everything until the server closes the connection.
    UntilClose,
}

impl Body {
    /// Skips body bytes from the start of `buf`: how many were part of the
    /// body, and whether the body is complete.
    pub fn skip(&mut self, buf: &[u8]) -> Result<(usize, bool), ParseError> {
        self.read(buf, |_| {})
    }

    /// [`Body::skip`], handing each piece of body data (without chunked
    /// framing) to `on_data`.
    pub fn read(&mut self, buf: &[u8], mut on_data: impl FnMut(&[u8])) -> Result<(usize, bool), ParseError> {
        match self {
            Body::Length(left) => {
                let n = (*left).min(buf.len() as u64);
                *left -= n;
                if n > 0 {
                    on_data(&buf[..n as usize]);
                }
                Ok((n as usize, *left == 0))
            }
            Body::Chunked(c) => c.read(buf, on_data),
            Body::UntilClose => {
                if !buf.is_empty() {
                    on_data(buf);
                }
                Ok((buf.len(), false))
            }
        }
    }
}

/// Where a chunked body's decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Chunked {
    /// Reading the hex size (`digits` read so far).
    #[default]
    SizeStart,
    /// Inside the size.
    Size {
        /// Value so far.
        value: u64,
        /// Hex digits read.
        digits: u8,
    },
    /// After the size: whitespace or `;extension` up to the line end.
    SizeRest {
        /// The chunk's size.
        value: u64,
    },
    /// The line feed after a size line's carriage return.
    SizeLf {
        /// The chunk's size.
        value: u64,
    },
    /// Inside chunk data.
    Data {
        /// Bytes left.
        left: u64,
    },
    /// The CRLF after chunk data.
    DataCr,
    /// The LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or the final blank line).
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// The LF of the final blank line.
    EndLf,
    /// Complete.
    Done,
}

impl Chunked {
    fn read(&mut self, buf: &[u8], mut on_data: impl FnMut(&[u8])) -> Result<(usize, bool), ParseError> {
        use Chunked::*;
        let mut i = 0;
        while i < buf.len() && *self != Done {
            let b = buf[i];
            *self = match *self {
                Data { left } => {
                    let n = left.min((buf.len() - i) as u64);
                    on_data(&buf[i..i + n as usize]);
                    i += n as usize;
                    if n == left { DataCr } else { Data { left: left - n } }
                }
                state => {
                    i += 1;
                    Self::step(state, b)?
                }
            };
        }
        Ok((i, *self == Done))
    }

    fn step(state: Chunked, b: u8) -> Result<Chunked, ParseError> {
        use Chunked::*;
        let hex = |b: u8| (b as char).to_digit(16).map(u64::from);
        Ok(match (state, b) {
            (SizeStart, b) => match hex(b) {
                Some(d) => Size { value: d, digits: 1 },
                None => return Err(ParseError::Chunk),
            },
            (Size { value, digits }, b) => match hex(b) {
                Some(_) if digits >= 15 => return Err(ParseError::Chunk),
                Some(d) => Size { value: value << 4 | d, digits: digits + 1 },
                None => Self::size_end(value, b)?,
            },
            (SizeRest { value }, b) => Self::size_end(value, b)?,
            (SizeLf { value }, b'\n') => Self::after_size(value),
            (DataCr, b'\r') => DataLf,
            (DataCr | DataLf, b'\n') => SizeStart,
            (TrailerStart, b'\r') => EndLf,
            (TrailerStart | EndLf, b'\n') => Done,
            (Trailer, b'\n') => TrailerStart,
            (TrailerStart | Trailer, _) => Trailer,
            _ => return Err(ParseError::Chunk),
        })
    }

    /// A byte after the size's digits: whitespace or an extension go on,
    /// CR or LF end the line.
    fn size_end(value: u64, b: u8) -> Result<Chunked, ParseError> {
        Ok(match b {
            b'\r' => Chunked::SizeLf { value },
            b'\n' => Self::after_size(value),
            b';' | b' ' | b'\t' => Chunked::SizeRest { value },
            _ if !b.is_ascii_control() => Chunked::SizeRest { value },
            _ => return Err(ParseError::Chunk),
        })
    }

    fn after_size(value: u64) -> Chunked {
        if value == 0 { Chunked::TrailerStart } else { Chunked::Data { left: value } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        parse_head(text.as_bytes(), false).unwrap().unwrap()
    }

    /// Skips a whole body fed in pieces of `step` bytes; returns the bytes used.
    fn skip_all(mut body: Body, bytes: &[u8], step: usize) -> Result<(usize, bool), ParseError> {
        let mut used = 0;
        for piece in bytes.chunks(step) {
            let (n, done) = body.skip(piece)?;
            used += n;
            if done {
                return Ok((used, true));
            }
            assert_eq!(n, piece.len(), "an incomplete body takes everything");
        }
        Ok((used, false))
    }

    #[test]
    fn encodes_the_request_line_headers_and_a_computed_length() {
        let mut h = HeaderMap::new();
        h.insert("host", "example.com:8080".parse().unwrap());
        h.insert("content-length", "999".parse().unwrap());
        h.insert("x-a", "1".parse().unwrap());
        let mut out = Vec::new();
        encode_request(&http::Method::POST, "/p?q=1", &h, b"{}", &mut out);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "POST /p?q=1 HTTP/1.1\r\nhost: example.com:8080\r\nx-a: 1\r\ncontent-length: 2\r\n\r\n{}"
        );
        encode_request(&http::Method::GET, "/", &HeaderMap::new(), b"", &mut out);
        assert_eq!(out, b"GET / HTTP/1.1\r\n\r\n");
        encode_request(&http::Method::PUT, "/", &HeaderMap::new(), b"", &mut out);
        assert_eq!(out, b"PUT / HTTP/1.1\r\ncontent-length: 0\r\n\r\n");
    }

    #[test]
    fn content_length_frames_the_body() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!((h.status, h.len, h.keep_alive), (200, 38, true));
        assert_eq!(skip_all(h.body, b"hello", 2), Ok((5, true)));
        let h = head("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(h.body, Body::Length(0));
    }

    #[test]
    fn no_body_for_head_requests_204_304_and_interim_responses() {
        let t = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        assert_eq!(parse_head(t.as_bytes(), true).unwrap().unwrap().body, Body::Length(0));
        for status in ["204 No Content", "304 Not Modified", "100 Continue", "103 Early Hints"] {
            let h = head(&format!("HTTP/1.1 {status}\r\nContent-Length: 10\r\n\r\n"));
            assert_eq!(h.body, Body::Length(0), "{status}");
        }
    }

    #[test]
    fn keep_alive_follows_version_and_connection_tokens() {
        assert!(!head("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n").keep_alive);
        assert!(!head("HTTP/1.1 200 OK\r\nConnection: x, close\r\nContent-Length: 0\r\n\r\n").keep_alive);
        assert!(!head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
        assert!(head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").keep_alive);
        let until_close = head("HTTP/1.1 200 OK\r\n\r\nabc");
        assert_eq!((until_close.body, until_close.keep_alive), (Body::UntilClose, false));
    }

    #[test]
    fn chunked_bodies_with_extensions_and_trailers_in_any_split() {
        let body = b"5;name=x\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n");
        assert!(matches!(h.body, Body::Chunked(_)), "chunked wins over Content-Length");
        for step in 1..body.len() {
            assert_eq!(skip_all(h.body.clone(), body, step), Ok((body.len() - 4, true)), "step {step}");
        }
        let lf_only = b"3\nabc\n0\n\n";
        assert_eq!(skip_all(h.body.clone(), lf_only, 1), Ok((lf_only.len(), true)));
    }

    /// Reads a whole body fed in pieces of `step` bytes: the data it carried.
    fn read_all(mut body: Body, bytes: &[u8], step: usize) -> Vec<u8> {
        let mut data = Vec::new();
        for piece in bytes.chunks(step) {
            let (_, done) = body.read(piece, |d| data.extend_from_slice(d)).unwrap();
            if done {
                break;
            }
        }
        data
    }

    #[test]
    fn a_full_read_sees_every_header_in_order() {
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\nx-a: two, three\r\n\r\nok";
        let mut seen = Vec::new();
        let h = parse_head_with(text.as_bytes(), false, |n, v| {
            seen.push((String::from_utf8_lossy(n).into_owned(), String::from_utf8_lossy(v).into_owned()))
        })
        .unwrap()
        .unwrap();
        assert_eq!(h.status, 200);
        let want = [("Content-Length", "2"), ("X-A", "1"), ("x-a", "two, three")];
        assert_eq!(seen, want.map(|(n, v)| (n.to_string(), v.to_string())));
    }

    #[test]
    fn a_full_read_yields_the_data_of_every_framing() {
        let chunked = b"5;name=x\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        for step in [1, 3, chunked.len()] {
            assert_eq!(read_all(Body::Chunked(Chunked::default()), chunked, step), b"hello0123456789", "step {step}");
            assert_eq!(read_all(Body::Length(4), b"abcdef", step), b"abcd", "step {step}");
            assert_eq!(read_all(Body::UntilClose, b"to the end", step), b"to the end", "step {step}");
        }
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(matches!(parse_head(b"HTTP/2 200\r\n\r\n", false), Err(ParseError::Head(_))));
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false), Err(ParseError::ContentLength));
        let twice = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(parse_head(twice.as_bytes(), false), Err(ParseError::ContentLength));
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\n", false), Ok(None));
        let long = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD));
        assert_eq!(parse_head(long.as_bytes(), false), Err(ParseError::HeadTooLarge));
        let mut c = Body::Chunked(Chunked::default());
        assert_eq!(c.skip(b"zz\r\n"), Err(ParseError::Chunk));
        let mut c = Body::Chunked(Chunked::default());
        assert_eq!(c.skip(b"fffffffffffffffff\r\n"), Err(ParseError::Chunk), "size overflow");
        let mut c = Body::Chunked(Chunked::default());
        assert_eq!(c.skip(b"1\r\nab"), Err(ParseError::Chunk), "data longer than its size");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Whatever a server sends, reading it ends in a value, never a panic.
        #[test]
        fn any_bytes_parse_without_panicking(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_head(&bytes, false);
            let mut prefixed = b"HTTP/1.1 200 OK\r\n".to_vec();
            prefixed.extend_from_slice(&bytes);
            if let Ok(Some(h)) = parse_head(&prefixed, false) {
                let mut body = h.body;
                let _ = body.skip(&prefixed[h.len..]);
            }
            let mut chunked = Body::Chunked(Chunked::default());
            let _ = chunked.skip(&bytes);
        }

        /// A chunked body of any chunk sizes, read in any pieces, ends exactly
        /// at its last byte.
        #[test]
        fn chunked_bodies_end_exactly(sizes in proptest::collection::vec(1usize..300, 0..8), step in 1usize..64) {
            let mut wire = Vec::new();
            for n in &sizes {
                wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                wire.extend(std::iter::repeat_n(b'x', *n));
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            let whole = wire.len();
            wire.extend_from_slice(b"HTTP/1.1");
            proptest::prop_assert_eq!(skip_all(Body::Chunked(Chunked::default()), &wire, step), Ok((whole, true)));
        }

        /// Read in any pieces, a chunked body yields exactly its data.
        #[test]
        fn chunked_bodies_yield_exactly_their_data(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 1..200), 0..8),
            step in 1usize..64,
        ) {
            let mut wire = Vec::new();
            for c in &chunks {
                wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                wire.extend_from_slice(c);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            proptest::prop_assert_eq!(read_all(Body::Chunked(Chunked::default()), &wire, step), chunks.concat());
        }
    }
}
