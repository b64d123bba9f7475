//! Problem bodies on hyper's own answers to requests it cannot parse.
//!
//! hyper answers a request line or head it cannot take (a URI over 64 KiB:
//! 414; a head over its buffer or with too many headers: 431; a malformed
//! one: 400) by itself, before any service sees a request, with an empty
//! body, and offers no hook to change that answer. It is always the last
//! thing hyper writes on the connection, and its head has nothing but
//! `content-length: 0`, `date` and maybe `connection: close`, which no
//! answer of ours looks like (ours always have a body and a content type).
//! So the stream between hyper and the socket recognises that head as it
//! goes out and sends the same status as a problem+json answer instead.

use crate::http::problem::ApiError;
use bytes::Bytes;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// hyper's automatic answer is far shorter than this; only the tail of a
/// write is searched.
const LONGEST_AUTOMATIC_HEAD: usize = 256;

/// A stream that replaces hyper's empty parse-error answers with problem
/// bodies (see the module docs). Not vectored, so hyper hands it each head
/// whole, in one buffer.
pub(super) struct ParseErrorBodies<S> {
    inner: S,
    /// Our answer in place of hyper's, and how much of it is written.
    replacement: Option<(Bytes, usize)>,
}

impl<S> ParseErrorBodies<S> {
    pub(super) fn new(inner: S) -> Self {
        Self {
            inner,
            replacement: None,
        }
    }
}

impl<S: AsyncWrite + Unpin> ParseErrorBodies<S> {
    /// Writes what is left of the replacement.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.replacement {
            if *written == bytes.len() {
                self.replacement = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ParseErrorBodies<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ParseErrorBodies<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        match automatic_answer(buf) {
            // Responses to earlier pipelined requests go out first, as they are.
            Some((start, _)) if start > 0 => {
                Pin::new(&mut this.inner).poll_write(cx, &buf[..start])
            }
            Some((_, answer)) => {
                // Taken whole: what is not written yet goes out on the next
                // write, flush or shutdown.
                this.replacement = Some((answer, 0));
                let _ = this.poll_drain(cx)?;
                Poll::Ready(Ok(buf.len()))
            }
            None => Pin::new(&mut this.inner).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// When `buf` ends with hyper's automatic answer to a request it could not
/// parse: where that head starts, and the problem+json answer to send
/// instead.
fn automatic_answer(buf: &[u8]) -> Option<(usize, Bytes)> {
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let tail_start = buf.len().saturating_sub(LONGEST_AUTOMATIC_HEAD);
    let start = tail_start + rfind(&buf[tail_start..], b"HTTP/1.1 ")?;
    let head = std::str::from_utf8(&buf[start..buf.len() - 4]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.get(9..12)?;
    let error = match status {
        "400" => ApiError::MalformedRequest,
        "414" => ApiError::UriTooLong,
        "431" => ApiError::HeadersTooLarge,
        _ => return None,
    };
    let mut date = None;
    for line in lines {
        let (name, value) = line.split_once(": ")?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" if value == "0" => {}
            "connection" if value.eq_ignore_ascii_case("close") => {}
            "date" => date = Some(value),
            // Any other header: an answer of ours, left alone.
            _ => return None,
        }
    }
    Some((start, encode(error, date)))
}

/// The problem answer as HTTP/1.1 bytes, closing the connection (hyper
/// closes it after a parse error anyway).
fn encode(error: ApiError, date: Option<&str>) -> Bytes {
    let response = error.into_response();
    let status = response.status();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or("")
    );
    for (name, value) in response.headers() {
        if let Ok(value) = value.to_str() {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if let Ok(id) = crate::http::new_request_id().to_str() {
        out.push_str(&format!("x-request-id: {id}\r\n"));
    }
    if let Some(date) = date {
        out.push_str(&format!("date: {date}\r\n"));
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        response.body().len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(response.body());
    Bytes::from(bytes)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper_util::rt::TokioIo;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves one connection with hyper through the adaptor, sends `request`
    /// and returns everything that comes back.
    async fn exchange(request: Vec<u8>) -> String {
        let (server, mut client) = tokio::io::duplex(1 << 20);
        let service = hyper::service::service_fn(|_req| async {
            Ok::<_, std::convert::Infallible>(
                ApiError::NotFound.into_response().map(http_body_full),
            )
        });
        let connection = super::super::http1()
            .serve_connection(TokioIo::new(ParseErrorBodies::new(server)), service);
        let serving = tokio::spawn(connection);
        // The server may answer and close before it has read everything.
        let _ = client.write_all(&request).await;
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer))
            .await
            .expect("the server closes the connection")
            .expect("read");
        let _ = serving.await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    fn http_body_full(bytes: Bytes) -> String {
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn problem_of(answer: &str, status: &str, code: &str) {
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{answer}"
        );
        assert!(
            answer.contains("content-type: application/problem+json\r\n"),
            "{answer}"
        );
        assert!(answer.contains("x-request-id: "), "{answer}");
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let problem: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
        assert_eq!(problem["code"], code, "{answer}");
        assert_eq!(problem["status"].to_string(), status, "{answer}");
    }

    #[tokio::test]
    async fn hypers_own_errors_get_problem_bodies() {
        let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(100_000));
        problem_of(
            &exchange(long_uri.into_bytes()).await,
            "414",
            "uri_too_long",
        );
        let huge_header = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(300_000)
        );
        problem_of(
            &exchange(huge_header.into_bytes()).await,
            "431",
            "headers_too_large",
        );
        let many: String = (0..200).map(|i| format!("X-{i}: 1\r\n")).collect();
        let many_headers = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
        problem_of(
            &exchange(many_headers.into_bytes()).await,
            "431",
            "headers_too_large",
        );
        problem_of(
            &exchange(b"G(T / HTTP/1.1\r\n\r\n".to_vec()).await,
            "400",
            "malformed_request",
        );
    }

    #[tokio::test]
    async fn answers_before_the_bad_request_go_out_unchanged() {
        let pipelined = format!(
            "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(70_000)
        );
        let answer = exchange(pipelined.into_bytes()).await;
        let (first, second) = answer.split_once("HTTP/1.1 414 ").expect("two answers");
        assert!(first.starts_with("HTTP/1.1 404 "), "{answer}");
        assert!(first.contains("\"code\":\"not_found\""), "{answer}");
        problem_of(&format!("HTTP/1.1 414 {second}"), "414", "uri_too_long");
    }

    #[test]
    fn answers_of_ours_are_never_taken_for_hypers() {
        for ours in [
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n{}",
        ] {
            assert!(automatic_answer(ours.as_bytes()).is_none(), "{ours}");
        }
        assert!(
            automatic_answer(b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n").is_some()
        );
    }
}
