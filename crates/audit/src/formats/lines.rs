//! Reading lines with a bound on their length, so that a file without
//! newlines cannot make the reader hold it whole.

use std::io::{BufRead, ErrorKind};
use std::path::Path;

use super::InputError;

#[derive(Debug)]
pub enum LineError {
    /// Line `line` is longer than the limit.
    TooLong { line: u64, limit: usize },
    /// Reading failed before line `line` was complete.
    Io { line: u64, error: std::io::Error },
}

impl LineError {
    pub fn into_input_error(self, path: &Path) -> InputError {
        match self {
            LineError::TooLong { line, limit } => {
                InputError::new(path, format!("line is longer than {} MiB without a line break", limit >> 20))
                    .at_line(line)
                    .with_hint("this is not a log of records (binary data, or records joined without newlines); check the file")
            }
            LineError::Io { line, error } => {
                let (msg, hint) = match error.kind() {
                    ErrorKind::UnexpectedEof => (
                        "the gzip stream ends early: the file is truncated".to_string(),
                        "the records before this line were read; fetch the complete file again",
                    ),
                    ErrorKind::InvalidInput | ErrorKind::InvalidData => {
                        (format!("the compressed data is corrupt ({error})"), "fetch the file again; `gzip -t FILE` shows the same problem")
                    }
                    _ => (format!("cannot read: {error}"), "check that the file is readable"),
                };
                InputError::new(path, msg).at_line(line).with_hint(hint)
            }
        }
    }
}

/// Lines of a reader, numbered from 1, at most `limit` bytes each.
pub struct Lines<'r, R: BufRead + ?Sized> {
    inner: &'r mut R,
    limit: usize,
    number: u64,
}

impl<'r, R: BufRead + ?Sized> Lines<'r, R> {
    pub fn new(inner: &'r mut R, limit: usize) -> Self {
        Self { inner, limit, number: 0 }
    }

    /// Reads the next line into `buf` (without its line break) and returns
    /// its number, or `None` at the end.
    pub fn next_line(&mut self, buf: &mut Vec<u8>) -> Result<Option<u64>, LineError> {
        buf.clear();
        let line = self.number + 1;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(LineError::Io { line, error }),
            };
            if chunk.is_empty() {
                if buf.is_empty() {
                    return Ok(None);
                }
                self.number = line;
                return Ok(Some(line));
            }
            let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let content = if done { take - 1 } else { take };
            if buf.len() + content > self.limit {
                return Err(LineError::TooLong { line, limit: self.limit });
            }
            buf.extend_from_slice(&chunk[..content]);
            self.inner.consume(take);
            if done {
                self.number = line;
                return Ok(Some(line));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_lines_and_keeps_the_last_unterminated_one() {
        let mut r = std::io::Cursor::new(b"a\n\nbc\r\nd".to_vec());
        let mut l = Lines::new(&mut r, 10);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        while let Some(n) = l.next_line(&mut buf).unwrap() {
            got.push((n, String::from_utf8(buf.clone()).unwrap()));
        }
        assert_eq!(got, vec![(1, "a".into()), (2, "".into()), (3, "bc\r".into()), (4, "d".into())]);
    }

    #[test]
    fn refuses_a_line_over_the_limit_without_reading_it_all() {
        let data = vec![b'x'; 10_000];
        let mut r = std::io::BufReader::with_capacity(64, std::io::Cursor::new(data));
        let mut l = Lines::new(&mut r, 100);
        let mut buf = Vec::new();
        match l.next_line(&mut buf) {
            Err(LineError::TooLong { line: 1, limit: 100 }) => {}
            other => panic!("{other:?}"),
        }
        assert!(buf.capacity() < 1000, "kept only what fits the limit");
    }
}
