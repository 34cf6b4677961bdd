//! Undoing defanging: `hxxp://evil[.]example` back to `http://evil.example`.
//!
//! Threat reports defang indicators so that nobody clicks them and no mail filter trips over them. The conventions
//! are loose, so the rules here are a union of what analysts and tools write (MISP's freetext import, CyberChef,
//! ioc-fanger):
//!
//! * bracketed markers, anywhere: `[.]` `(.)` `{.}` `[dot]` `(dot)` `{dot}` → `.`; `[:]` → `:`;
//!   `[://]` → `://`; `[/]` → `/`; `[@]` `[at]` `(at)` `{at}` → `@`; `h[tt]p` → `http`; `\.` → `.`
//!   (regex-escaped names from YARA and Sigma rules). Markers are matched without regard to case.
//! * the word markers `[dot]`, `[at]` and their variants also swallow the spaces around them when words stand on both
//!   sides, because e-mail obfuscation writes `soc [at] example [dot] org`.
//! * defanged schemes before `://`: `hxxp`, `hxxps`, `hXXp`, `hxtp`, `hxtps`, `meow` → `http(s)`; `fxp`, `fxps`,
//!   `sfxp` → `ftp`, `ftps`, `sftp`.
//! * a bare ` dot ` only where it is clearly inside a host name: `evil dot example dot com`, or `evil dot com` when
//!   the last word is a common top-level domain and the first is not an English function word. So `the dot com
//!   bubble` and `connect the dots` stay prose.
//!
//! **Invariant:** only the markers above change; every other character, including all non-ASCII text, is copied
//! unchanged, and text without markers comes back borrowed. `refang_mapped` also records, for every output byte,
//! the input byte it came from, so callers can point at the defanged original (line and column in the text the
//! analyst pasted).

use std::borrow::Cow;

/// Undoes defanging in `text`. Returns the input unchanged (borrowed) when it holds no defanging.
///
/// ```
/// use dims_node::intake::refang;
/// assert_eq!(refang("hxxps://evil[.]example/login"), "https://evil.example/login");
/// assert_eq!(refang("soc [at] example [dot] org"), "soc@example.org");
/// assert_eq!(refang("plain prose, e.g. this."), "plain prose, e.g. this.");
/// ```
pub fn refang(text: &str) -> Cow<'_, str> {
    if !might_be_defanged(text) {
        return Cow::Borrowed(text);
    }
    let refanged = refang_mapped(text);
    if refanged.text == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(refanged.text)
    }
}

/// Refanged text with the way back to the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refanged {
    /// The refanged text.
    pub text: String,
    /// For every byte of `text`, the offset of the input byte it came from, plus one final entry holding the input's
    /// length, so that `origin[end]` is valid for any range end. A replaced marker maps all its output bytes to the
    /// marker's first byte.
    pub origin: Vec<usize>,
}

impl Refanged {
    /// The input bytes that produced `text[start..end]`.
    pub fn source_range(&self, start: usize, end: usize) -> (usize, usize) {
        let at = |index: usize| self.origin.get(index).copied().unwrap_or(0);
        (at(start), at(end))
    }
}

/// Refangs `text` and records where each output byte came from.
pub(crate) fn refang_mapped(text: &str) -> Refanged {
    let markers = replace_markers(text);
    let dotted = replace_spaced_dots(&markers);
    let origin = dotted
        .origin
        .iter()
        .map(|&i| markers.origin.get(i).copied().unwrap_or(text.len()))
        .collect();
    let mut result = Refanged {
        text: dotted.text,
        origin,
    };
    fix_schemes(&mut result.text);
    result
}

/// A cheap test that lets the common case (no defanging) skip all allocation.
fn might_be_defanged(text: &str) -> bool {
    text.bytes().any(|b| matches!(b, b'[' | b'(' | b'{' | b'\\'))
        || text.contains("://")
        || contains_ignore_case(text, " dot ")
}

fn contains_ignore_case(text: &str, needle: &str) -> bool {
    text.as_bytes()
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

/// What a bracketed marker becomes, and whether it is a word marker that may swallow surrounding spaces.
struct Marker {
    text: &'static str,
    replacement: &'static str,
    word: bool,
}

const MARKERS: &[Marker] = &[
    Marker {
        text: "[.]",
        replacement: ".",
        word: false,
    },
    Marker {
        text: "(.)",
        replacement: ".",
        word: false,
    },
    Marker {
        text: "{.}",
        replacement: ".",
        word: false,
    },
    Marker {
        text: "[dot]",
        replacement: ".",
        word: true,
    },
    Marker {
        text: "(dot)",
        replacement: ".",
        word: true,
    },
    Marker {
        text: "{dot}",
        replacement: ".",
        word: true,
    },
    Marker {
        text: "[://]",
        replacement: "://",
        word: false,
    },
    Marker {
        text: "[:]",
        replacement: ":",
        word: false,
    },
    Marker {
        text: "[/]",
        replacement: "/",
        word: false,
    },
    Marker {
        text: "[@]",
        replacement: "@",
        word: true,
    },
    Marker {
        text: "[at]",
        replacement: "@",
        word: true,
    },
    Marker {
        text: "(at)",
        replacement: "@",
        word: true,
    },
    Marker {
        text: "{at}",
        replacement: "@",
        word: true,
    },
];

/// Characters that may stand next to a word marker for it to swallow the spaces between them.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')
}

/// The first pass: bracketed markers, `h[tt]p` and `\.`.
fn replace_markers(text: &str) -> Refanged {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut origin = Vec::with_capacity(text.len() + 1);
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if let Some(marker) = MARKERS.iter().find(|m| starts_with_ignore_case(rest, m.text)) {
            let mut next = i + marker.text.len();
            if marker.word {
                let after_spaces = skip_blanks(bytes, next);
                let before_len = out.trim_end_matches([' ', '\t']).len();
                let word_before = out.as_bytes()[..before_len].last().copied().is_some_and(is_word_byte);
                let word_after = bytes.get(after_spaces).copied().is_some_and(is_word_byte);
                if word_before && word_after {
                    out.truncate(before_len);
                    origin.truncate(before_len);
                    next = after_spaces;
                }
            }
            out.push_str(marker.replacement);
            origin.extend(std::iter::repeat_n(i, marker.replacement.len()));
            i = next;
            continue;
        }
        // `h[tt]p`: only the bracketed `tt` between an `h` and a `p` is a marker.
        if starts_with_ignore_case(rest, "[tt]")
            && out.as_bytes().last().is_some_and(|b| b.eq_ignore_ascii_case(&b'h'))
            && bytes.get(i + 4).is_some_and(|b| b.eq_ignore_ascii_case(&b'p'))
        {
            out.push_str("tt");
            origin.extend([i, i]);
            i += 4;
            continue;
        }
        if rest.starts_with(b"\\.") {
            out.push('.');
            origin.push(i);
            i += 2;
            continue;
        }
        // Copy one whole character: markers are ASCII, so multi-byte characters are never split.
        let width = text[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&text[i..i + width]);
        origin.extend(i..i + width);
        i += width;
    }
    origin.push(text.len());
    Refanged { text: out, origin }
}

fn starts_with_ignore_case(haystack: &[u8], needle: &str) -> bool {
    haystack.len() >= needle.len() && haystack[..needle.len()].eq_ignore_ascii_case(needle.as_bytes())
}

fn skip_blanks(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(|&b| b == b' ' || b == b'\t') {
        i += 1;
    }
    i
}

/// Top-level domains common enough in reports that `name dot com` is unmistakably a host.
const COMMON_TLDS: &[&str] = &[
    "com", "net", "org", "info", "biz", "io", "co", "me", "xyz", "top", "online", "site", "club", "ru", "su", "cn",
    "uk", "de", "fr", "nl", "pl", "br", "in", "ir", "kp", "ua", "us", "tk", "ml", "ga", "cf", "gq", "cc", "ws", "pw",
    "onion", "gov", "edu", "mil", "int",
];

/// Words that begin English phrases such as `the dot com bubble`; a chain starting with one is prose.
const FUNCTION_WORDS: &[&str] = &[
    "a", "an", "and", "at", "by", "for", "from", "her", "his", "in", "its", "of", "on", "or", "our", "that", "the",
    "their", "this", "to", "with", "your",
];

/// One ` dot ` between two words: the blank-dot-blank span and the words around it.
struct SpacedDot {
    span: (usize, usize),
    left: (usize, usize),
    right: (usize, usize),
}

fn is_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')
}

/// The second pass: ` dot ` where it is clearly inside a host.
fn replace_spaced_dots(input: &Refanged) -> Refanged {
    let text = input.text.as_str();
    let identity = || Refanged {
        text: text.to_owned(),
        origin: (0..=text.len()).collect(),
    };
    if !contains_ignore_case(text, " dot ") {
        return identity();
    }
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if matches!(bytes[i], b' ' | b'\t') {
            let word_start = skip_blanks(bytes, i);
            let word = bytes.get(word_start..word_start + 3);
            if word == Some(b"dot") || word == Some(b"DOT") {
                let span_end = skip_blanks(bytes, word_start + 3);
                let mut left_start = i;
                while left_start > 0 && is_label_byte(bytes[left_start - 1]) {
                    left_start -= 1;
                }
                let mut right_end = span_end;
                while right_end < bytes.len() && is_label_byte(bytes[right_end]) {
                    right_end += 1;
                }
                if span_end > word_start + 3 && left_start < i && right_end > span_end {
                    found.push(SpacedDot {
                        span: (i, span_end),
                        left: (left_start, i),
                        right: (span_end, right_end),
                    });
                    i = span_end;
                    continue;
                }
            }
            i = word_start.max(i + 1);
            continue;
        }
        i += 1;
    }
    // Group consecutive dots into chains (`www dot evil dot com`) and keep the spans of the chains that are hosts.
    let mut keep: Vec<(usize, usize)> = Vec::new();
    let mut chain: Vec<&SpacedDot> = Vec::new();
    let flush = |chain: &mut Vec<&SpacedDot>, keep: &mut Vec<(usize, usize)>| {
        if is_host_chain(text, chain) {
            keep.extend(chain.iter().map(|dot| dot.span));
        }
        chain.clear();
    };
    for dot in &found {
        if chain.last().is_some_and(|last| last.right != dot.left) {
            flush(&mut chain, &mut keep);
        }
        chain.push(dot);
    }
    flush(&mut chain, &mut keep);
    if keep.is_empty() {
        return identity();
    }
    let mut out = String::with_capacity(text.len());
    let mut origin = Vec::with_capacity(text.len() + 1);
    let mut copied = 0;
    for (start, end) in keep {
        out.push_str(&text[copied..start]);
        origin.extend(copied..start);
        out.push('.');
        origin.push(start);
        copied = end;
    }
    out.push_str(&text[copied..]);
    origin.extend(copied..=text.len());
    Refanged { text: out, origin }
}

fn is_host_chain(text: &str, chain: &[&SpacedDot]) -> bool {
    let (Some(first), Some(last)) = (chain.first(), chain.last()) else {
        return false;
    };
    let first_word = text[first.left.0..first.left.1].to_ascii_lowercase();
    let tld = text[last.right.0..last.right.1].to_ascii_lowercase();
    let plausible_tld = (2..=63).contains(&tld.len()) && tld.bytes().all(|b| b.is_ascii_alphabetic());
    let known_tld = COMMON_TLDS.contains(&tld.as_str());
    plausible_tld && (known_tld || chain.len() >= 2) && !FUNCTION_WORDS.contains(&first_word.as_str())
}

/// Defanged schemes and what they stand for. Each pair has the same length, so replacing in place keeps the map.
const SCHEMES: &[(&str, &str)] = &[
    ("hxxps", "https"),
    ("hxtps", "https"),
    ("hxxp", "http"),
    ("hxtp", "http"),
    ("meow", "http"),
    ("fxps", "ftps"),
    ("sfxp", "sftp"),
    ("fxp", "ftp"),
];

/// The third pass: defanged schemes in front of `://`.
fn fix_schemes(text: &mut String) {
    let mut replacements = Vec::new();
    let bytes = text.as_bytes();
    let mut search = 0;
    while let Some(found) = text[search..].find("://") {
        let colon = search + found;
        let mut start = colon;
        while start > 0 && bytes[start - 1].is_ascii_alphabetic() {
            start -= 1;
        }
        let scheme = &bytes[start..colon];
        if let Some((_, fanged)) = SCHEMES
            .iter()
            .find(|(defanged, _)| scheme.eq_ignore_ascii_case(defanged.as_bytes()))
        {
            replacements.push((start, *fanged));
        }
        search = colon + 3;
    }
    for (start, fanged) in replacements {
        text.replace_range(start..start + fanged.len(), fanged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_points_back_into_the_input() {
        let input = "see hxxp://evil[.]example [at] x";
        let refanged = refang_mapped(input);
        assert_eq!(refanged.text, "see http://evil.example@x");
        assert_eq!(refanged.origin.len(), refanged.text.len() + 1);
        let start = refanged.text.find("evil").unwrap_or(0);
        let end = refanged.text.find('@').unwrap_or(0);
        let (from, to) = refanged.source_range(start, end);
        assert_eq!(&input[from..to], "evil[.]example ");
    }

    #[test]
    fn spaced_dots_map_back() {
        let input = "x evil dot example dot com y";
        let refanged = refang_mapped(input);
        assert_eq!(refanged.text, "x evil.example.com y");
        let (from, to) = refanged.source_range(2, 18);
        assert_eq!(&input[from..to], "evil dot example dot com");
    }
}
