//! The framing of a Server-Sent Events stream (the `text/event-stream`
//! format of the HTML standard): lines of `field: value`, blocks ended by
//! an empty line, `:` comments. Bytes go in as they arrive, in chunks cut
//! anywhere; whole blocks come out.
//!
//! Written here rather than taken from a crate because a client that
//! resumes needs the `id:` of a block without data too (the standard's way
//! for a server to move `Last-Event-ID` without an event), and because a
//! line without end must not grow the buffer without bound.

/// The longest line, or block of data lines, accepted: far above any change
/// the API sends (a task body is at most 64 KiB before JSON escaping).
pub(crate) const MAX_BLOCK: usize = 4 * 1024 * 1024;

/// One dispatched block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    /// The stream's last event id after this block: set by this block's
    /// `id:` line or kept from an earlier one (`None` if none ever came).
    pub id: Option<String>,
    /// The `event:` name, `message` when the block named none.
    pub event: String,
    /// The `data:` lines joined with `\n`; empty for a block that only
    /// moved the id.
    pub data: String,
}

/// A stream that is not SSE the SDK can read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SseError {
    /// A line that is not UTF-8.
    #[error("a line of the event stream is not UTF-8")]
    NotUtf8,
    /// A line, or a block's data, longer than [`MAX_BLOCK`].
    #[error("the event stream sent a line or an event longer than {MAX_BLOCK} bytes")]
    TooLong,
}

/// Reads blocks out of the bytes of one connection.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    /// Bytes of a line not yet ended.
    pending: Vec<u8>,
    /// The last chunk ended with CR: an LF at the start of the next one
    /// belongs to that line end (CRLF cut in two).
    after_cr: bool,
    /// Nothing read yet: a byte order mark may start the stream.
    started: bool,
    last_id: Option<String>,
    /// Whether this block had an `id:` line.
    id_in_block: bool,
    event: String,
    data: String,
    has_data: bool,
}

impl Parser {
    /// Takes the next bytes of the stream and answers every block they
    /// complete, in order. An incomplete block waits for more bytes (and is
    /// dropped if the stream ends, as the standard says).
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<Vec<Block>, SseError> {
        let mut blocks = Vec::new();
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.pending.extend_from_slice(&chunk[..end]);
            let mut next = end + 1;
            if chunk[end] == b'\r' {
                match chunk.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            chunk = &chunk[next..];
            let line = std::mem::take(&mut self.pending);
            if let Some(block) = self.line(&line)? {
                blocks.push(block);
            }
        }
        if self.pending.len() + chunk.len() > MAX_BLOCK {
            return Err(SseError::TooLong);
        }
        self.pending.extend_from_slice(chunk);
        Ok(blocks)
    }

    fn line(&mut self, line: &[u8]) -> Result<Option<Block>, SseError> {
        let mut line = std::str::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        if !self.started {
            self.started = true;
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        if line.starts_with(':') {
            return Ok(None); // a comment: the server's heartbeat
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if self.data.len() + value.len() >= MAX_BLOCK {
                    return Err(SseError::TooLong);
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => {
                self.last_id = Some(value.to_string()).filter(|id| !id.is_empty());
                self.id_in_block = true;
            }
            // `retry:` and unknown fields: the client keeps its own backoff.
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<Block> {
        let event = std::mem::take(&mut self.event);
        let data = std::mem::take(&mut self.data);
        let has_data = std::mem::take(&mut self.has_data);
        let moved_id = std::mem::take(&mut self.id_in_block);
        if !has_data && !moved_id {
            return None;
        }
        Some(Block {
            id: self.last_id.clone(),
            event: if event.is_empty() {
                "message".to_string()
            } else {
                event
            },
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(id: Option<&str>, event: &str, data: &str) -> Block {
        Block {
            id: id.map(str::to_string),
            event: event.to_string(),
            data: data.to_string(),
        }
    }

    fn parse_all(chunks: &[&[u8]]) -> Vec<Block> {
        let mut parser = Parser::default();
        chunks
            .iter()
            .flat_map(|chunk| parser.push(chunk).expect("valid stream"))
            .collect()
    }

    #[test]
    fn events_with_ids_names_and_comments() {
        let stream = b": heartbeat\n\nid: c1\nevent: task\ndata: {\"a\":1}\n\n: ping\n\nid: c2\nevent: task_deleted\ndata: {}\n\n";
        assert_eq!(
            parse_all(&[stream]),
            [
                block(Some("c1"), "task", "{\"a\":1}"),
                block(Some("c2"), "task_deleted", "{}"),
            ]
        );
    }

    #[test]
    fn every_line_ending_and_any_cut_give_the_same_blocks() {
        let lf = "id: 7\nevent: task\ndata: one\ndata:two\n\ndata: three\n\n";
        let expected = [
            block(Some("7"), "task", "one\ntwo"),
            block(Some("7"), "message", "three"),
        ];
        for text in [
            lf.to_string(),
            lf.replace('\n', "\r\n"),
            lf.replace('\n', "\r"),
        ] {
            let bytes = text.as_bytes();
            assert_eq!(parse_all(&[bytes]), expected, "{text:?} whole");
            // Cut at every place, CRLF pairs included, and byte by byte.
            for cut in 0..=bytes.len() {
                let (a, b) = bytes.split_at(cut);
                assert_eq!(parse_all(&[a, b]), expected, "{text:?} cut at {cut}");
            }
            let singles: Vec<&[u8]> = bytes.chunks(1).collect();
            assert_eq!(parse_all(&singles), expected, "{text:?} byte by byte");
        }
    }

    #[test]
    fn a_block_that_only_moves_the_id_is_reported_without_data() {
        assert_eq!(
            parse_all(&[b"id: start\n\n: hb\n\ndata: x\n\n"]),
            [
                block(Some("start"), "message", ""),
                block(Some("start"), "message", "x"),
            ]
        );
        // An empty `id:` forgets it; an id with NUL is ignored.
        assert_eq!(
            parse_all(&[b"id: a\ndata: 1\n\nid\ndata: 2\n\nid: b\0c\ndata: 3\n\n"]),
            [
                block(Some("a"), "message", "1"),
                block(None, "message", "2"),
                block(None, "message", "3"),
            ]
        );
    }

    #[test]
    fn field_values_keep_all_but_one_leading_space_and_colons() {
        assert_eq!(
            parse_all(&[b"data:  two spaces: and a colon\ndata\n\n"]),
            [block(None, "message", " two spaces: and a colon\n")]
        );
    }

    #[test]
    fn an_unfinished_block_is_not_dispatched() {
        assert_eq!(parse_all(&[b"id: 1\ndata: half"]), []);
        assert_eq!(parse_all(&[b"id: 1\ndata: whole\n"]), []);
    }

    #[test]
    fn a_byte_order_mark_may_start_the_stream() {
        assert_eq!(
            parse_all(&["\u{feff}data: x\n\n".as_bytes()]),
            [block(None, "message", "x")]
        );
    }

    #[test]
    fn unbounded_lines_and_bad_bytes_are_errors() {
        let mut parser = Parser::default();
        let chunk = vec![b'a'; 64 * 1024];
        let mut result = Ok(Vec::new());
        for _ in 0..=(MAX_BLOCK / chunk.len()) {
            result = parser.push(&chunk);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(SseError::TooLong));

        let mut parser = Parser::default();
        let line = [b"data: ".as_slice(), &vec![b'x'; 1024 * 1024], b"\n"].concat();
        let mut result = Ok(Vec::new());
        for _ in 0..5 {
            result = parser.push(&line);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(
            result,
            Err(SseError::TooLong),
            "many data lines in one block"
        );

        assert_eq!(
            Parser::default().push(b"data: \xff\n\n"),
            Err(SseError::NotUtf8)
        );
    }
}
