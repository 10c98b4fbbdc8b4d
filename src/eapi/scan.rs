//! A reader for JSON as eAPI writes it, for the one reply read every poll: a cursor over the
//! text that borrows plain strings, checks numbers by the grammar without converting the ones
//! nobody reads, and skips what the caller does not ask for. At 1,000 peers a summary is
//! 230 kB a second, and serde's visitor machinery made reading it twice the cost of a bare
//! `serde_json` pass over it.
//!
//! It reads only what is plainly valid: every `None` means "not this way", never "invalid", and
//! the caller then reads the text with `serde_json`, which takes what this refuses (escaped keys,
//! deep nesting) and names what is wrong. So this may refuse more than `serde_json` does, never
//! less: a string is taken only without escapes, or skipped with simple ones; nesting stops at
//! [`MAX_DEPTH`], below `serde_json`'s limit.

/// Nesting this reader follows: below `serde_json`'s 128, so nothing it takes is too deep there.
const MAX_DEPTH: usize = 64;

/// A position in JSON text.
#[derive(Clone)]
pub(crate) struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Cursor { text, at: 0 }
    }

    /// The next byte after any whitespace, not taken.
    pub(crate) fn peek(&mut self) -> Option<u8> {
        let bytes = self.text.as_bytes();
        while let Some(&byte) = bytes.get(self.at) {
            if !matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(byte);
            }
            self.at += 1;
        }
        None
    }

    /// Takes `byte`, after any whitespace.
    pub(crate) fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Whether only whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// `null`, taken if next.
    pub(crate) fn null(&mut self) -> bool {
        self.peek() == Some(b'n') && self.literal("null").is_some()
    }

    /// A string without escapes, borrowed from the text.
    pub(crate) fn str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let end = start + plain_run(self.text.as_bytes().get(start..)?);
        if self.text.as_bytes().get(end) != Some(&b'"') {
            return None;
        }
        // Both ends are ASCII quotes, so the slice falls on character boundaries.
        let text = self.text.get(start..end)?;
        self.at = end + 1;
        Some(text)
    }

    /// A number's text, checked against JSON's grammar.
    pub(crate) fn number(&mut self) -> Option<&'a str> {
        self.peek()?;
        let start = self.at;
        self.at += number_len(self.text.as_bytes().get(start..)?)?;
        self.text.get(start..self.at)
    }

    /// Where the cursor is in the text.
    pub(crate) fn position(&self) -> usize {
        self.at
    }

    /// Takes the next text if it is `before` (text read earlier from where its cursor stood,
    /// whitespace and all: a value, or an object's member) over again, except that the numbers
    /// at `numbers` (ascending places in `before`) may be any other numbers: such text reads
    /// exactly as `before` did, apart from those numbers, without being read again. Where those
    /// numbers are in the taken text goes to `found`, relative to where the cursor stood.
    /// `None` leaves the cursor and `found` as they were.
    pub(crate) fn same_as(
        &mut self,
        before: &[u8],
        numbers: &[(u32, u32)],
        found: &mut Vec<(u32, u32)>,
    ) -> Option<()> {
        let kept = found.len();
        match self.text.as_bytes().get(self.at..).and_then(|text| {
            let (mut old, mut new) = (0, 0);
            let mut numbers = numbers
                .iter()
                .map(|&(start, end)| (start as usize, end as usize));
            loop {
                let same = common_prefix(before.get(old..)?, text.get(new..)?);
                let differs = old + same;
                // Untouched numbers keep their distance from the last changed one. (Places
                // out of order, which no reading writes, refuse rather than wrap.)
                let moved = |start: usize, end: usize| {
                    Some((
                        u32::try_from(new + start.checked_sub(old)?).ok()?,
                        u32::try_from(new + end.checked_sub(old)?).ok()?,
                    ))
                };
                if differs == before.len() {
                    for (start, end) in numbers {
                        found.push(moved(start, end)?);
                    }
                    return Some(new + same);
                }
                // Only a number may differ, from its first byte up to just past its last.
                let (start, end) = loop {
                    let (start, end) = numbers.next()?;
                    if end >= differs {
                        break (start <= differs).then_some((start, end))?;
                    }
                    found.push(moved(start, end)?);
                };
                let at = new + start.checked_sub(old)?;
                let len = number_len(text.get(at..)?)?;
                found.push((u32::try_from(at).ok()?, u32::try_from(at + len).ok()?));
                (old, new) = (end, at + len);
            }
        }) {
            Some(len) => {
                self.at += len;
                Some(())
            }
            None => {
                found.truncate(kept);
                None
            }
        }
    }

    /// The members of an object, each key handed to `member`, which must take its value.
    pub(crate) fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.members(|cursor| {
            let key = cursor.str()?;
            cursor.eat(b':')?;
            member(cursor, key)
        })
    }

    /// The members of an object, each taken whole (key, colon and value) by `member`.
    pub(crate) fn members(&mut self, member: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.delimited(b'{', b'}', member)
    }

    /// The elements of an array, each handed to `element`, which must take it.
    pub(crate) fn array(&mut self, element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.delimited(b'[', b']', element)
    }

    /// `open`, then items separated by commas, then `close`; `item` takes each item.
    fn delimited(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.eat(open)?;
        if self.peek()? == close {
            self.at += 1;
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.at += 1,
                byte if byte == close => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Skips one value of any kind.
    pub(crate) fn skip(&mut self) -> Option<()> {
        self.skip_within(0)
    }

    fn skip_within(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_str(),
            b'{' if depth < MAX_DEPTH => self.skip_object(depth + 1),
            b'[' if depth < MAX_DEPTH => self.array(|cursor| cursor.skip_within(depth + 1)),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            b'-' | b'0'..=b'9' => self.number().map(drop),
            _ => None,
        }
    }

    /// An object skipped, its keys escapes and all (so not through [`Cursor::object`]).
    fn skip_object(&mut self, depth: usize) -> Option<()> {
        self.delimited(b'{', b'}', |cursor| {
            cursor.skip_str()?;
            cursor.eat(b':')?;
            cursor.skip_within(depth)
        })
    }

    /// A string skipped, escapes and all; a `\u` escape of a surrogate is refused rather than
    /// paired up, which no EOS field needs.
    fn skip_str(&mut self) -> Option<()> {
        self.eat(b'"')?;
        let bytes = self.text.as_bytes();
        let mut at = self.at;
        loop {
            at += plain_run(bytes.get(at..)?);
            match *bytes.get(at)? {
                b'"' => break,
                b'\\' => {
                    match *bytes.get(at + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            let hex = self.text.get(at + 2..at + 6)?;
                            let unit = u16::from_str_radix(hex, 16).ok()?;
                            if hex.starts_with('+') || (0xD800..0xE000).contains(&unit) {
                                return None;
                            }
                            at += 4;
                        }
                        _ => return None,
                    }
                    at += 2;
                }
                _ => return None,
            }
        }
        self.at = at + 1;
        Some(())
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.at + word.len();
        (self.text.get(self.at..end)? == word).then(|| self.at = end)
    }
}

/// The length of the JSON number at the start of `bytes`, checked against the grammar.
fn number_len(bytes: &[u8]) -> Option<usize> {
    let digits = |at: &mut usize| {
        let from = *at;
        while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
            *at += 1;
        }
        *at > from
    };
    let mut at = 0;
    if bytes.first() == Some(&b'-') {
        at += 1;
    }
    match bytes.get(at)? {
        b'0' => at += 1,
        b'1'..=b'9' => {
            digits(&mut at);
        }
        _ => return None,
    }
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        if !digits(&mut at) {
            return None;
        }
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        if !digits(&mut at) {
            return None;
        }
    }
    Some(at)
}

/// How many bytes `a` and `b` have in common from their starts, compared eight at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let mut same = 0;
    let run = |a: &[u8], b: &[u8]| a.iter().zip(b).take_while(|(x, y)| x == y).count();
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        if x != y {
            return same + run(x, y);
        }
        same += 8;
    }
    same + run(&a[same..], &b[same..])
}

/// How many bytes from the start of `bytes` are string content needing no care: up to a
/// quote, a backslash or a control character (which JSON forbids raw in a string). Eight bytes
/// at a time: strings are most of a summary's bytes.
fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // High bit of each byte equal to `byte`, or below it for `below`; exact up to the first
    // such byte, which is all that is asked.
    let equal = |word: u64, byte: u8| {
        let diff = word ^ (ONES * u64::from(byte));
        diff.wrapping_sub(ONES) & !diff & HIGH
    };
    let below = |word: u64, bound: u8| word.wrapping_sub(ONES * u64::from(bound)) & !word & HIGH;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or([b'"'; 8]));
        let found = equal(word, b'"') | equal(word, b'\\') | below(word, 0x20);
        if found != 0 {
            return offset + (found.trailing_zeros() / 8) as usize;
        }
        offset += 8;
    }
    offset
        + chunks
            .remainder()
            .iter()
            .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
            .unwrap_or(chunks.remainder().len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::de::IgnoredAny;

    fn skips_whole(text: &str) -> bool {
        let mut cursor = Cursor::new(text);
        cursor.skip().is_some() && cursor.at_end()
    }

    #[test]
    fn values_of_every_kind_are_skipped() {
        for text in [
            r#"{"a": [1, -2.5e+3, "x\"y\\z\u00e9", true, false, null, {}], "b\n": {"c": []}}"#,
            " 0 ",
            "-0.0E-7",
            r#""\/\b\f\n\r\t""#,
        ] {
            assert!(skips_whole(text), "{text}");
        }
    }

    #[test]
    fn what_is_not_plain_json_is_refused() {
        for text in [
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "+1",
            "tru",
            "nul",
            "[1,]",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "[1 2]",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\u+fff\"",
            "\"a\nb\"",
            "\"open",
            "{",
            "",
        ] {
            assert!(!skips_whole(text), "{text:?}");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(!skips_whole(&deep));
        let fits = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(skips_whole(&fits));
    }

    #[test]
    fn strings_are_borrowed_only_without_escapes() {
        assert_eq!(Cursor::new(r#" "10.0.0.1" "#).str(), Some("10.0.0.1"));
        assert_eq!(Cursor::new(r#""a\"b""#).str(), None);
        assert_eq!(
            Cursor::new("\"\u{e9}t\u{e9}\"").str(),
            Some("\u{e9}t\u{e9}")
        );
    }

    /// `text` taken by [`Cursor::same_as`] against `before` and its `numbers`, after `:`:
    /// where the cursor stops and the numbers found, or `None` (the cursor must not move).
    fn same_as(
        before: &str,
        numbers: &[(u32, u32)],
        text: &str,
    ) -> Option<(usize, Vec<(u32, u32)>)> {
        let text = format!(":{text}");
        let mut cursor = Cursor::new(&text);
        cursor.eat(b':')?;
        let mut found = vec![(7, 7)];
        let taken = cursor.same_as(before.as_bytes(), numbers, &mut found);
        let found = found.split_off(1);
        match taken {
            Some(()) => Some((cursor.position() - 1, found)),
            None => {
                assert_eq!((cursor.position(), found.len()), (1, 0), "{text}");
                None
            }
        }
    }

    #[test]
    fn a_value_is_taken_again_when_only_its_unread_numbers_differ() {
        // Where the value of `key` is in `text`.
        let place = |text: &str, key: &str| {
            let start = text.find(&format!(r#""{key}": "#)).unwrap() + key.len() + 4;
            let len = text[start..].find([',', '}']).unwrap();
            (start as u32, (start + len) as u32)
        };
        let places = |text: &str, keys: &[&str]| keys.iter().map(|key| place(text, key)).collect();
        let before = r#" {"a": 5, "b": "x", "c": 17, "d": 1.5}"#;
        // `5`, `17` and `1.5` may change; the text around them and `"x"` may not.
        let numbers: Vec<(u32, u32)> = places(before, &["a", "c", "d"]);
        assert_eq!(
            same_as(before, &numbers, before),
            Some((before.len(), numbers.clone()))
        );
        let after = r#" {"a": 123, "b": "x", "c": 9, "d": -2e5}"#;
        assert_eq!(
            same_as(before, &numbers, &format!("{after}, 4")),
            Some((after.len(), places(after, &["a", "c", "d"]))),
        );
        let after = r#" {"a": 60, "b": "x", "c": 17, "d": 1.5}"#;
        assert_eq!(
            same_as(before, &numbers[..1], after),
            Some((after.len(), places(after, &["a"]))),
        );
        for other in [
            r#" {"a": 5, "b": "y", "c": 17, "d": 1.5}"#,
            r#" {"a": 05, "b": "x", "c": 17, "d": 1.5}"#,
            r#" {"a": 5., "b": "x", "c": 17, "d": 1.5}"#,
            r#" {"a": "5", "b": "x", "c": 17, "d": 1.5}"#,
            r#" {"a": 5,"b": "x", "c": 17, "d": 1.5}"#,
            r#" {"a": 5, "b": "x", "c": 17, "d": 1.5"#,
            r#" {"a": 5, "b": "x", "c": 17, "d": 1.5]"#,
            r#" {"a": 5, "b": "x", "c": 17, "d": 1.5 }"#,
            r#"{"a": 5, "b": "x", "c": 17, "d": 1.5}"#,
            "",
        ] {
            assert_eq!(same_as(before, &numbers, other), None, "{other}");
        }
        assert_eq!(
            same_as(
                before,
                &numbers[1..],
                r#" {"a": 6, "b": "x", "c": 17, "d": 1.5}"#
            ),
            None,
            "a number not listed must be the same"
        );
        let unordered = [numbers[1], numbers[0]];
        let after = r#" {"a": 5, "b": "x", "c": 18, "d": 1.5}"#;
        assert_eq!(same_as(before, &unordered, after), None);
    }

    proptest! {
        #[test]
        fn common_prefix_is_where_a_byte_by_byte_search_stops(
            a in prop::collection::vec(0u8..3, 0..40),
            b in prop::collection::vec(0u8..3, 0..40),
        ) {
            let expected = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
            prop_assert_eq!(common_prefix(&a, &b), expected);
        }

        #[test]
        fn plain_run_stops_where_a_byte_by_byte_search_does(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
            let expected = bytes
                .iter()
                .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
                .unwrap_or(bytes.len());
            prop_assert_eq!(plain_run(&bytes), expected);
        }

        /// Never more than `serde_json` takes, on any text at all.
        #[test]
        fn what_is_skipped_serde_json_reads(text in ".{0,40}") {
            if skips_whole(&text) {
                prop_assert!(serde_json::from_str::<IgnoredAny>(&text).is_ok(), "{text:?}");
            }
        }

        /// Whatever JSON writes, compact or pretty (it escapes no surrogate: a Rust string
        /// holds none alone).
        #[test]
        fn what_serde_json_writes_is_skipped(value in json_value()) {
            let text = value.to_string();
            prop_assert!(skips_whole(&text), "{text}");
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            prop_assert!(skips_whole(&pretty), "{pretty}");
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(".{0,6}", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }
}
