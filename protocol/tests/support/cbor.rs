//! A tiny independent CBOR reader and writer for tests: it keeps every encoding choice (head width, definite or
//! indefinite length, key order) so tests can build the non-canonical variants of a valid encoding, and it checks
//! RFC 8949 §4.2.1 deterministic encoding without trusting the encoder under test.

/// One CBOR data item, with the encoding choices that matter for canonicality.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Uint(u64),
    Nint(u64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Item>),
    Map(Vec<(Item, Item)>),
    Tag(u64, Box<Item>),
    Simple(u8),
}

/// Parses exactly one item from `bytes`, requiring no trailing bytes. Accepts any valid encoding, and reports
/// whether it was the canonical one.
pub fn parse(bytes: &[u8]) -> Result<(Item, bool), String> {
    let mut parser = Parser {
        bytes,
        at: 0,
        canonical: true,
    };
    let item = parser.item(0)?;
    if parser.at != bytes.len() {
        return Err(format!("{} trailing bytes", bytes.len() - parser.at));
    }
    Ok((item, parser.canonical))
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
    canonical: bool,
}

impl Parser<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let byte = *self.bytes.get(self.at).ok_or("truncated")?;
        self.at += 1;
        Ok(byte)
    }

    fn argument(&mut self, info: u8) -> Result<Option<u64>, String> {
        let (value, minimum) = match info {
            0..=23 => (u64::from(info), 0),
            24 => (u64::from(self.byte()?), 24),
            25 => (
                (0..2).try_fold(0u64, |acc, _| Ok::<_, String>(acc << 8 | u64::from(self.byte()?)))?,
                0x100,
            ),
            26 => (
                (0..4).try_fold(0u64, |acc, _| Ok::<_, String>(acc << 8 | u64::from(self.byte()?)))?,
                0x1_0000,
            ),
            27 => (
                (0..8).try_fold(0u64, |acc, _| Ok::<_, String>(acc << 8 | u64::from(self.byte()?)))?,
                1 << 32,
            ),
            31 => {
                self.canonical = false;
                return Ok(None);
            }
            _ => return Err(format!("reserved additional info {info}")),
        };
        if value < minimum {
            self.canonical = false;
        }
        Ok(Some(value))
    }

    fn item(&mut self, depth: usize) -> Result<Item, String> {
        if depth > 64 {
            return Err("too deep".into());
        }
        let initial = self.byte()?;
        let (major, info) = (initial >> 5, initial & 0x1f);
        let argument = self.argument(info)?;
        Ok(match (major, argument) {
            (0, Some(value)) => Item::Uint(value),
            (1, Some(value)) => Item::Nint(value),
            (2 | 3, Some(len)) => {
                let len = usize::try_from(len).map_err(|_| "huge")?;
                let end = self
                    .at
                    .checked_add(len)
                    .filter(|&end| end <= self.bytes.len())
                    .ok_or("truncated")?;
                let raw = self.bytes[self.at..end].to_vec();
                self.at = end;
                if major == 2 {
                    Item::Bytes(raw)
                } else {
                    Item::Text(String::from_utf8(raw).map_err(|e| e.to_string())?)
                }
            }
            (2 | 3, None) => {
                let mut raw = Vec::new();
                while self.bytes.get(self.at) != Some(&0xff) {
                    match self.item(depth + 1)? {
                        Item::Bytes(chunk) if major == 2 => raw.extend(chunk),
                        Item::Text(chunk) if major == 3 => raw.extend(chunk.into_bytes()),
                        _ => return Err("bad chunk".into()),
                    }
                }
                self.at += 1;
                if major == 2 {
                    Item::Bytes(raw)
                } else {
                    Item::Text(String::from_utf8(raw).map_err(|e| e.to_string())?)
                }
            }
            (4, len) => {
                let mut items = Vec::new();
                match len {
                    Some(len) => {
                        for _ in 0..len {
                            items.push(self.item(depth + 1)?);
                        }
                    }
                    None => {
                        while self.bytes.get(self.at) != Some(&0xff) {
                            items.push(self.item(depth + 1)?);
                        }
                        self.at += 1;
                    }
                }
                Item::Array(items)
            }
            (5, len) => {
                let mut entries: Vec<(Item, Item)> = Vec::new();
                let mut previous_key: Option<Vec<u8>> = None;
                let mut index = 0u64;
                loop {
                    match len {
                        Some(len) if index == len => break,
                        None if self.bytes.get(self.at) == Some(&0xff) => {
                            self.at += 1;
                            break;
                        }
                        _ => {}
                    }
                    let key_start = self.at;
                    let key = self.item(depth + 1)?;
                    let key_bytes = self.bytes[key_start..self.at].to_vec();
                    if previous_key.as_ref().is_some_and(|previous| previous >= &key_bytes) {
                        self.canonical = false;
                    }
                    previous_key = Some(key_bytes);
                    let value = self.item(depth + 1)?;
                    entries.push((key, value));
                    index += 1;
                }
                Item::Map(entries)
            }
            (6, Some(tag)) => {
                self.canonical = false;
                Item::Tag(tag, Box::new(self.item(depth + 1)?))
            }
            (7, Some(value)) if value < 24 => Item::Simple(value as u8),
            (7, _) => {
                self.canonical = false;
                return Err("floats are never used by dims".into());
            }
            _ => return Err("indefinite integer".into()),
        })
    }
}

/// How to write an item.
#[derive(Clone, Copy, Default)]
pub struct Style {
    /// Write every integer head one size wider than needed.
    pub wide_ints: bool,
    /// Write arrays and maps with indefinite lengths.
    pub indefinite: bool,
    /// Reverse the key order of every map.
    pub reverse_keys: bool,
}

/// Writes an item in the given style.
pub fn write(item: &Item, style: Style) -> Vec<u8> {
    let mut out = Vec::new();
    emit(item, style, &mut out);
    out
}

fn head(out: &mut Vec<u8>, major: u8, value: u64, wide: bool) {
    let major = major << 5;
    let natural = match value {
        0..=23 => 0,
        24..=0xff => 1,
        0x100..=0xffff => 2,
        0x1_0000..=0xffff_ffff => 4,
        _ => 8,
    };
    let width = if wide {
        [1, 2, 4, 4, 8, 8, 8, 8, 8][natural]
    } else {
        natural
    };
    match width {
        0 => out.push(major | value as u8),
        1 => out.extend([major | 24, value as u8]),
        2 => {
            out.push(major | 25);
            out.extend((value as u16).to_be_bytes());
        }
        4 => {
            out.push(major | 26);
            out.extend((value as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend(value.to_be_bytes());
        }
    }
}

fn emit(item: &Item, style: Style, out: &mut Vec<u8>) {
    match item {
        Item::Uint(value) => head(out, 0, *value, style.wide_ints),
        Item::Nint(value) => head(out, 1, *value, style.wide_ints),
        Item::Bytes(raw) => {
            head(out, 2, raw.len() as u64, false);
            out.extend(raw);
        }
        Item::Text(text) => {
            head(out, 3, text.len() as u64, false);
            out.extend(text.as_bytes());
        }
        Item::Array(items) => {
            if style.indefinite {
                out.push(0x9f);
            } else {
                head(out, 4, items.len() as u64, false);
            }
            items.iter().for_each(|item| emit(item, style, out));
            if style.indefinite {
                out.push(0xff);
            }
        }
        Item::Map(entries) => {
            if style.indefinite {
                out.push(0xbf);
            } else {
                head(out, 5, entries.len() as u64, false);
            }
            let ordered: Vec<&(Item, Item)> = if style.reverse_keys {
                entries.iter().rev().collect()
            } else {
                entries.iter().collect()
            };
            for (key, value) in ordered {
                emit(key, style, out);
                emit(value, style, out);
            }
            if style.indefinite {
                out.push(0xff);
            }
        }
        Item::Tag(tag, inner) => {
            head(out, 6, *tag, false);
            emit(inner, style, out);
        }
        Item::Simple(value) => out.push(0xe0 | value),
    }
}
