//! STIX patterns: writing one for every indicator value, and reading the simple ones back.
//!
//! Export writes one comparison per indicator: `[ipv4-addr:value = '198.51.100.7']`, a network as the address
//! object's value with its prefix, `[file:hashes.'SHA-256' = '…']`, `[autonomous-system:number = 64500]`.
//!
//! Import understands the part of the pattern language that means "any of these values": comparisons with `=`
//! (and `IN (…)`, and `ISSUBSET` for networks) joined by `OR`, inside one observation or across several, with any
//! grouping parentheses (which cannot change the meaning of a pure disjunction). Each comparison becomes one value.
//! A comparison dims cannot map (another object path, `LIKE`, `!=`) is skipped and reported, since dropping one arm
//! of an `OR` loses detections but never adds false ones. Anything that changes the meaning of the whole pattern
//! (`AND`, `FOLLOWEDBY`, `NOT`, qualifiers such as `WITHIN`) makes the pattern unsupported as a whole, with one
//! exception: the idiom `[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '…']`
//! (MISP's `ip-dst`, and `src_ref` for `ip-src`) names one address and is read as that address. MISP's quoted
//! `autonomous-system:number = '174'` is read as the number.
//!
//! The reader is a hand-written tokenizer and a loop, not a recursive parser: input length and the number of
//! comparisons are bounded by the caller's limits, and nothing nests, so hostile input cannot exhaust the stack.

use std::net::IpAddr;

use crate::indicator::{IndicatorKind, IndicatorValue};

/// The pattern for one indicator value.
pub fn to_pattern(value: &IndicatorValue) -> String {
    let text = value.to_string();
    match value {
        IndicatorValue::Ipv4(_) => format!("[ipv4-addr:value = '{text}']"),
        IndicatorValue::Ipv6(_) => format!("[ipv6-addr:value = '{text}']"),
        IndicatorValue::Cidr {
            addr: IpAddr::V4(_), ..
        } => format!("[ipv4-addr:value = '{text}']"),
        IndicatorValue::Cidr {
            addr: IpAddr::V6(_), ..
        } => format!("[ipv6-addr:value = '{text}']"),
        IndicatorValue::Domain(name) => format!("[domain-name:value = '{}']", quote(name)),
        IndicatorValue::Url(url) => format!("[url:value = '{}']", quote(url)),
        IndicatorValue::Email(address) => format!("[email-addr:value = '{}']", quote(address)),
        IndicatorValue::Md5(_) => format!("[file:hashes.'MD5' = '{text}']"),
        IndicatorValue::Sha1(_) => format!("[file:hashes.'SHA-1' = '{text}']"),
        IndicatorValue::Sha256(_) => format!("[file:hashes.'SHA-256' = '{text}']"),
        IndicatorValue::Sha512(_) => format!("[file:hashes.'SHA-512' = '{text}']"),
        IndicatorValue::Asn(number) => format!("[autonomous-system:number = {number}]"),
    }
}

/// Escapes a string for a pattern literal: the pattern grammar knows only `\'` and `\\`.
fn quote(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\'', "\\'")
}

/// Bounds on the patterns [`parse`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatternLimits {
    /// The longest pattern, in bytes.
    pub max_bytes: usize,
    /// The most comparisons (and `IN` list members) in one pattern.
    pub max_terms: usize,
}

impl Default for PatternLimits {
    fn default() -> Self {
        Self {
            max_bytes: 16 * 1024,
            max_terms: 1_000,
        }
    }
}

/// What a pattern means to dims: the values it matches, and the comparisons that could not be mapped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Terms {
    /// One value per mapped comparison, in pattern order.
    pub values: Vec<IndicatorValue>,
    /// Comparisons left out, with the reason.
    pub skipped: Vec<SkippedTerm>,
}

/// A comparison of a pattern that dims could not map to a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedTerm {
    /// The comparison, as written (shortened).
    pub term: String,
    /// Why it was left out.
    pub reason: String,
}

/// Why a pattern as a whole could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The pattern is longer than the limit.
    #[error("the pattern is {len} bytes, more than the limit of {max}: split it into several indicators")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The pattern has more comparisons than the limit.
    #[error("the pattern has more than {max} comparisons: split it into several indicators")]
    TooManyTerms {
        /// The limit.
        max: usize,
    },
    /// The pattern is not valid pattern syntax.
    #[error("syntax error at byte {at}: expected {expected}; check the pattern with the OASIS stix2-patterns tool")]
    Syntax {
        /// Where, in bytes from the start.
        at: usize,
        /// What would have been valid there.
        expected: &'static str,
    },
    /// The pattern uses a construct that changes its meaning beyond "any of these values".
    #[error(
        "the pattern uses {construct}, which dims cannot represent: dims indicators are single values, so only \
         comparisons joined by OR can be imported"
    )]
    Unsupported {
        /// The construct (`AND`, `FOLLOWEDBY`, `qualifier WITHIN`, ...).
        construct: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    OpenObservation,
    CloseObservation,
    OpenParen,
    CloseParen,
    Comma,
    Operator(&'static str),
    Str(String),
    /// A literal of another type: `h'..'`, `b'..'`, `t'..'`, or a number with a fraction or sign.
    OtherLiteral(String),
    Integer(String),
    Path(String),
    Word(String),
}

struct Tokenizer<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Tokenizer<'a> {
    fn peek_byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn syntax(&self, expected: &'static str) -> PatternError {
        PatternError::Syntax { at: self.at, expected }
    }

    /// Reads a quoted literal starting at the opening quote; returns its unescaped text.
    fn quoted(&mut self) -> Result<String, PatternError> {
        self.at += 1;
        let mut out = String::new();
        let rest = &self.text[self.at..];
        let mut chars = rest.char_indices();
        while let Some((offset, c)) = chars.next() {
            match c {
                '\'' => {
                    self.at += offset + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, escaped @ ('\'' | '\\'))) => out.push(escaped),
                    _ => {
                        self.at += offset;
                        return Err(self.syntax("only \\' or \\\\ after a backslash"));
                    }
                },
                other => out.push(other),
            }
        }
        self.at = self.text.len();
        Err(self.syntax("a closing quote"))
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a str {
        let start = self.at;
        while self.peek_byte().is_some_and(&keep) {
            self.at += 1;
        }
        &self.text[start..self.at]
    }

    fn next_token(&mut self) -> Result<Option<(usize, Token)>, PatternError> {
        self.take_while(|b| b.is_ascii_whitespace());
        let start = self.at;
        let Some(byte) = self.peek_byte() else {
            return Ok(None);
        };
        let next = self.text.as_bytes().get(self.at + 1).copied();
        let single = |token| (1, token);
        let (len, token) = match byte {
            b'[' => single(Token::OpenObservation),
            b']' => single(Token::CloseObservation),
            b'(' => single(Token::OpenParen),
            b')' => single(Token::CloseParen),
            b',' => single(Token::Comma),
            b'=' => single(Token::Operator("=")),
            b'!' if next == Some(b'=') => (2, Token::Operator("!=")),
            b'<' if next == Some(b'=') => (2, Token::Operator("<=")),
            b'>' if next == Some(b'=') => (2, Token::Operator(">=")),
            b'<' => single(Token::Operator("<")),
            b'>' => single(Token::Operator(">")),
            b'\'' => return self.quoted().map(|text| Some((start, Token::Str(text)))),
            b'h' | b'b' | b't' if next == Some(b'\'') => {
                self.at += 1;
                return self.quoted().map(|text| Some((start, Token::OtherLiteral(text))));
            }
            b'-' | b'0'..=b'9' => {
                self.at += 1;
                let digits = self.take_while(|b| b.is_ascii_digit() || b == b'.');
                let literal = format!("{}{digits}", byte as char);
                let token = if byte.is_ascii_digit() && !literal.contains('.') {
                    Token::Integer(literal)
                } else {
                    Token::OtherLiteral(literal)
                };
                return Ok(Some((start, token)));
            }
            b if b.is_ascii_alphabetic() || b == b'_' => return self.word().map(|token| Some((start, token))),
            _ => return Err(self.syntax("a bracket, an operator, a literal, an object path or a keyword")),
        };
        self.at += len;
        Ok(Some((start, token)))
    }

    /// A keyword, or an object path `type:property(.step | .'quoted step' | [index])*`.
    fn word(&mut self) -> Result<Token, PatternError> {
        let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        let head = self.take_while(ident).to_owned();
        if self.peek_byte() != Some(b':') {
            return Ok(Token::Word(head));
        }
        self.at += 1;
        let mut path = format!("{head}:");
        path.push_str(self.take_while(ident));
        loop {
            match self.peek_byte() {
                Some(b'.') => {
                    self.at += 1;
                    path.push('.');
                    if self.peek_byte() == Some(b'\'') {
                        path.push_str(&self.quoted()?);
                    } else {
                        let step = self.take_while(ident);
                        if step.is_empty() {
                            return Err(self.syntax("a property name after '.'"));
                        }
                        path.push_str(step);
                    }
                }
                // A list index such as `to_refs[*]`: kept in the path, which then maps to nothing dims knows.
                Some(b'[') => {
                    self.at += 1;
                    let index = self.take_while(|b| b.is_ascii_digit() || b == b'*');
                    if self.peek_byte() != Some(b']') {
                        return Err(self.syntax("']' closing a list index"));
                    }
                    self.at += 1;
                    path.push('[');
                    path.push_str(index);
                    path.push(']');
                }
                _ => return Ok(Token::Path(path)),
            }
        }
    }
}

/// One comparison as read: the path, the operator and the literal(s).
struct Comparison {
    path: String,
    operator: String,
    literals: Vec<Token>,
}

impl Comparison {
    fn shown(&self) -> String {
        let literals: Vec<String> = self
            .literals
            .iter()
            .map(|literal| match literal {
                Token::Str(text) => format!("'{}'", quote(text)),
                Token::Integer(text) | Token::OtherLiteral(text) => text.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        let shown = format!("{} {} {}", self.path, self.operator, literals.join(", "));
        shown.chars().take(160).collect()
    }
}

/// The address in `[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '…']` (or
/// `src_ref`, either order, IPv4 or IPv6): traffic to or from one address, which is what a dims address indicator
/// matches. MISP writes its `ip-dst` and `ip-src` attributes this way.
fn traffic_address(observation: &[Comparison]) -> Option<Comparison> {
    let [first, second] = observation else {
        return None;
    };
    let (kind, value) = if first.path.ends_with(".type") {
        (first, second)
    } else {
        (second, first)
    };
    let reference = kind.path.strip_suffix(".type")?;
    let same_reference = value.path.strip_suffix(".value") == Some(reference);
    let traffic = matches!(reference, "network-traffic:dst_ref" | "network-traffic:src_ref");
    let object = match kind.literals.as_slice() {
        [Token::Str(object)] if matches!(object.as_str(), "ipv4-addr" | "ipv6-addr") => object,
        _ => return None,
    };
    (same_reference && traffic && kind.operator == "=" && value.operator == "=").then(|| Comparison {
        path: format!("{object}:value"),
        operator: value.operator.clone(),
        literals: value.literals.clone(),
    })
}

/// Reads `pattern` into the values it matches.
pub fn parse(pattern: &str, limits: PatternLimits) -> Result<Terms, PatternError> {
    if pattern.len() > limits.max_bytes {
        return Err(PatternError::TooLong {
            len: pattern.len(),
            max: limits.max_bytes,
        });
    }
    let mut tokenizer = Tokenizer { text: pattern, at: 0 };
    let mut tokens = Vec::new();
    while let Some(token) = tokenizer.next_token()? {
        // Every token is at least one byte, so this bound is also met by the byte limit; it keeps memory small.
        tokens.push(token);
    }
    let comparisons = Parser {
        tokens: &tokens,
        next: 0,
        end: pattern.len(),
        limits,
        count: 0,
    }
    .pattern()?;
    let mut terms = Terms::default();
    for comparison in comparisons {
        match map(&comparison) {
            Ok(values) => terms.values.extend(values),
            Err(reason) => terms.skipped.push(SkippedTerm {
                term: comparison.shown(),
                reason,
            }),
        }
    }
    Ok(terms)
}

struct Parser<'t> {
    tokens: &'t [(usize, Token)],
    next: usize,
    end: usize,
    limits: PatternLimits,
    count: usize,
}

const QUALIFIERS: [&str; 4] = ["WITHIN", "REPEATS", "START", "STOP"];

impl<'t> Parser<'t> {
    fn peek(&self) -> Option<&'t Token> {
        self.tokens.get(self.next).map(|(_, token)| token)
    }

    fn at(&self) -> usize {
        self.tokens.get(self.next).map_or(self.end, |(at, _)| *at)
    }

    fn syntax(&self, expected: &'static str) -> PatternError {
        PatternError::Syntax {
            at: self.at(),
            expected,
        }
    }

    fn advance(&mut self) -> Option<&'t Token> {
        let token = self.tokens.get(self.next).map(|(_, token)| token);
        self.next += 1;
        token
    }

    fn keyword(&self) -> Option<String> {
        match self.peek() {
            Some(Token::Word(word)) => Some(word.to_ascii_uppercase()),
            _ => None,
        }
    }

    fn unsupported_keyword(&self) -> Option<PatternError> {
        let word = self.keyword()?;
        let construct = match word.as_str() {
            "AND" | "FOLLOWEDBY" | "NOT" => word,
            q if QUALIFIERS.contains(&q) => format!("the qualifier {word}"),
            _ => return None,
        };
        Some(PatternError::Unsupported { construct })
    }

    fn skip_open_parens(&mut self) -> usize {
        let mut opened = 0;
        while self.peek() == Some(&Token::OpenParen) {
            self.next += 1;
            opened += 1;
        }
        opened
    }

    fn skip_close_parens(&mut self, depth: &mut usize) {
        while *depth > 0 && self.peek() == Some(&Token::CloseParen) {
            self.next += 1;
            *depth -= 1;
        }
    }

    /// `observation (OR observation)*`, with grouping parentheses anywhere a disjunction allows them.
    fn pattern(mut self) -> Result<Vec<Comparison>, PatternError> {
        let mut comparisons = Vec::new();
        let mut outer = 0usize;
        loop {
            outer += self.skip_open_parens();
            if self.advance() != Some(&Token::OpenObservation) {
                self.next = self.next.saturating_sub(1);
                return Err(self.syntax("'[' opening an observation"));
            }
            let mut inner = 0usize;
            let mut observation = Vec::new();
            let (mut any_and, mut any_or) = (false, false);
            loop {
                inner += self.skip_open_parens();
                observation.push(self.comparison()?);
                self.skip_close_parens(&mut inner);
                match self.keyword().as_deref() {
                    Some("AND") => {
                        any_and = true;
                        self.next += 1;
                        continue;
                    }
                    Some("OR") => {
                        any_or = true;
                        self.next += 1;
                        continue;
                    }
                    _ => {}
                }
                if let Some(error) = self.unsupported_keyword() {
                    return Err(error);
                }
                match self.peek() {
                    Some(Token::CloseObservation) if inner == 0 => break,
                    _ => return Err(self.syntax("AND, OR, ')' or ']' after a comparison")),
                }
            }
            if any_and {
                // A conjunction means one value only in the network-traffic idiom of MISP and many feeds.
                match (any_or, traffic_address(&observation)) {
                    (false, Some(address)) => comparisons.push(address),
                    _ => {
                        return Err(PatternError::Unsupported {
                            construct: "AND".to_owned(),
                        });
                    }
                }
            } else {
                comparisons.append(&mut observation);
            }
            self.next += 1;
            self.skip_close_parens(&mut outer);
            if let Some(error) = self.unsupported_keyword() {
                return Err(error);
            }
            match self.peek() {
                None if outer == 0 => return Ok(comparisons),
                Some(Token::Word(_)) if self.keyword().as_deref() == Some("OR") => self.next += 1,
                _ => return Err(self.syntax("OR, ')' or the end of the pattern after an observation")),
            }
        }
    }

    fn counted(&mut self, terms: usize) -> Result<(), PatternError> {
        self.count += terms;
        if self.count > self.limits.max_terms {
            return Err(PatternError::TooManyTerms {
                max: self.limits.max_terms,
            });
        }
        Ok(())
    }

    fn literal(&mut self) -> Result<Token, PatternError> {
        match self.peek() {
            Some(token @ (Token::Str(_) | Token::Integer(_) | Token::OtherLiteral(_))) => {
                let token = token.clone();
                self.next += 1;
                Ok(token)
            }
            Some(Token::Word(word)) if matches!(word.to_ascii_lowercase().as_str(), "true" | "false") => {
                let token = Token::OtherLiteral(word.clone());
                self.next += 1;
                Ok(token)
            }
            _ => Err(self.syntax("a literal")),
        }
    }

    /// `path operator literal`, or `path IN (literal, ...)`.
    fn comparison(&mut self) -> Result<Comparison, PatternError> {
        let Some(Token::Path(path)) = self.peek() else {
            return Err(self.syntax("an object path such as ipv4-addr:value"));
        };
        let path = path.clone();
        self.next += 1;
        if self.keyword().as_deref() == Some("NOT") {
            return Err(PatternError::Unsupported {
                construct: "NOT".to_owned(),
            });
        }
        let operator = match self.peek() {
            Some(Token::Operator(op)) => (*op).to_owned(),
            Some(Token::Word(word))
                if matches!(
                    word.to_ascii_uppercase().as_str(),
                    "IN" | "LIKE" | "MATCHES" | "ISSUBSET" | "ISSUPERSET"
                ) =>
            {
                word.to_ascii_uppercase()
            }
            _ => return Err(self.syntax("a comparison operator")),
        };
        self.next += 1;
        let mut literals = Vec::new();
        if operator == "IN" {
            if self.advance() != Some(&Token::OpenParen) {
                self.next = self.next.saturating_sub(1);
                return Err(self.syntax("'(' opening the IN list"));
            }
            loop {
                literals.push(self.literal()?);
                self.counted(1)?;
                match self.advance() {
                    Some(Token::Comma) => {}
                    Some(Token::CloseParen) => break,
                    _ => {
                        self.next = self.next.saturating_sub(1);
                        return Err(self.syntax("',' or ')' in the IN list"));
                    }
                }
            }
        } else {
            literals.push(self.literal()?);
            self.counted(1)?;
        }
        Ok(Comparison {
            path,
            operator,
            literals,
        })
    }
}

/// What an object path means to dims.
#[derive(Clone, Copy)]
enum Target {
    Address { v6: bool },
    Text(IndicatorKind),
    Hash(IndicatorKind),
    Asn,
}

fn target(path: &str) -> Option<Target> {
    let lower = path.to_ascii_lowercase();
    let (object, property) = lower.split_once(':')?;
    let target = match (object, property) {
        ("ipv4-addr", "value") => Target::Address { v6: false },
        ("ipv6-addr", "value") => Target::Address { v6: true },
        ("domain-name", "value") => Target::Text(IndicatorKind::Domain),
        ("url", "value") => Target::Text(IndicatorKind::Url),
        ("email-addr", "value") | ("email-message", "from_ref.value" | "sender_ref.value") => {
            Target::Text(IndicatorKind::Email)
        }
        ("autonomous-system", "number") => Target::Asn,
        ("file", hash) => {
            let algorithm: String = hash.strip_prefix("hashes.")?.chars().filter(|c| *c != '-').collect();
            Target::Hash(match algorithm.as_str() {
                "md5" => IndicatorKind::Md5,
                "sha1" => IndicatorKind::Sha1,
                "sha256" => IndicatorKind::Sha256,
                "sha512" => IndicatorKind::Sha512,
                _ => return None,
            })
        }
        _ => return None,
    };
    Some(target)
}

fn map(comparison: &Comparison) -> Result<Vec<IndicatorValue>, String> {
    let target = target(&comparison.path).ok_or_else(|| {
        format!(
            "dims has no indicator for the object path {}: it maps ipv4-addr, ipv6-addr, domain-name, url and \
             email-addr values, file hashes (MD5, SHA-1, SHA-256, SHA-512) and autonomous-system numbers",
            comparison.path
        )
    })?;
    let operator_ok = match comparison.operator.as_str() {
        "=" | "IN" => true,
        "ISSUBSET" => matches!(target, Target::Address { .. }),
        _ => false,
    };
    if !operator_ok {
        return Err(format!(
            "the operator {} cannot be mapped: dims indicators are exact values (use = or IN)",
            comparison.operator
        ));
    }
    comparison
        .literals
        .iter()
        .map(|literal| value(target, literal))
        .collect()
}

fn value(target: Target, literal: &Token) -> Result<IndicatorValue, String> {
    let parse = |kind, text: &str| IndicatorValue::parse(kind, text).map_err(|error| error.to_string());
    match (target, literal) {
        // MISP quotes the number; the value is the same.
        (Target::Asn, Token::Integer(digits) | Token::Str(digits)) => parse(IndicatorKind::Asn, digits),
        (Target::Asn, _) => Err("autonomous-system:number takes an integer".to_owned()),
        (Target::Address { v6 }, Token::Str(text)) => {
            let kind = match (text.contains('/'), v6) {
                (true, _) => IndicatorKind::Cidr,
                (false, false) => IndicatorKind::Ipv4,
                (false, true) => IndicatorKind::Ipv6,
            };
            let value = parse(kind, text)?;
            let family_ok = match &value {
                IndicatorValue::Cidr { addr, .. } => addr.is_ipv6() == v6,
                _ => true,
            };
            if !family_ok {
                let object = if v6 { "ipv6-addr" } else { "ipv4-addr" };
                return Err(format!("{text:?} is not an address of the {object} family"));
            }
            Ok(value)
        }
        (Target::Text(kind) | Target::Hash(kind), Token::Str(text)) => parse(kind, text),
        (_, _) => Err("this object path takes a quoted string".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pattern: &str) -> Result<Vec<String>, String> {
        let terms = parse(pattern, PatternLimits::default()).map_err(|e| e.to_string())?;
        if let Some(skipped) = terms.skipped.first() {
            return Err(format!("skipped {}: {}", skipped.term, skipped.reason));
        }
        Ok(terms.values.iter().map(|v| format!("{v:?}")).collect())
    }

    #[test]
    fn reads_simple_and_or_patterns() {
        let cases: [(&str, &[&str]); 14] = [
            ("[ipv4-addr:value = '198.51.100.7']", &["ipv4:198.51.100.7"]),
            ("[ipv4-addr:value = '198.51.100.0/24']", &["cidr:198.51.100.0/24"]),
            ("[ipv6-addr:value = '2001:db8::/32']", &["cidr:2001:db8::/32"]),
            ("[domain-name:value = 'Evil.Example']", &["domain:evil.example"]),
            (
                "[url:value = 'http://a.example/it\\'s']",
                &["url:http://a.example/it's"],
            ),
            (
                "[file:hashes.'SHA-256' = 'AEC070645FE53EE3B3763059376134F058CC337247C978ADD178B6CCDFB0019F']",
                &["sha256:aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"],
            ),
            (
                "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
                &["md5:d41d8cd98f00b204e9800998ecf8427e"],
            ),
            ("[autonomous-system:number = 64500]", &["asn:AS64500"]),
            (
                "[email-message:from_ref.value = 'x@fraud.example']",
                &["email:x@fraud.example"],
            ),
            (
                "[ipv4-addr:value = '192.0.2.1' OR domain-name:value = 'a.example']",
                &["ipv4:192.0.2.1", "domain:a.example"],
            ),
            (
                "([ipv4-addr:value = '192.0.2.1'] OR ([ipv4-addr:value = '192.0.2.2']))",
                &["ipv4:192.0.2.1", "ipv4:192.0.2.2"],
            ),
            (
                "[ipv4-addr:value IN ('192.0.2.1', '192.0.2.2')]",
                &["ipv4:192.0.2.1", "ipv4:192.0.2.2"],
            ),
            (
                "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '5.6.7.8']",
                &["ipv4:5.6.7.8"],
            ),
            (
                "[network-traffic:src_ref.value = '2001:db8::/48' AND network-traffic:src_ref.type = 'ipv6-addr'] \
                 OR [autonomous-system:number = '174']",
                &["cidr:2001:db8::/48", "asn:AS174"],
            ),
        ];
        for (pattern, expected) in cases {
            assert_eq!(
                values(pattern),
                Ok(expected.iter().map(|s| (*s).to_owned()).collect()),
                "{pattern}"
            );
        }
    }

    #[test]
    fn exported_patterns_read_back() {
        for index in 0..10 {
            let value = crate::samples::indicator(index).value;
            let terms = parse(&to_pattern(&value), PatternLimits::default()).expect("own pattern");
            assert_eq!(terms.values, vec![value]);
        }
        for (kind, text) in [
            (IndicatorKind::Url, "http://a.example/?q=a\\b"),
            (IndicatorKind::Email, "o'brien@example.org"),
        ] {
            let tricky = IndicatorValue::parse(kind, text).expect("valid");
            let terms = parse(&to_pattern(&tricky), PatternLimits::default()).expect("escaped");
            assert_eq!(terms.values, vec![tricky]);
        }
    }

    #[test]
    fn refuses_what_changes_the_meaning() {
        for (pattern, construct) in [
            (
                "[ipv4-addr:value = '192.0.2.1' AND domain-name:value = 'a.example']",
                "AND",
            ),
            (
                "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '5.6.7.8' \
                 AND network-traffic:dst_port = 443]",
                "AND",
            ),
            (
                "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:src_ref.value = '5.6.7.8']",
                "AND",
            ),
            (
                "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '5.6.7.8' \
                 OR ipv4-addr:value = '1.2.3.4']",
                "AND",
            ),
            (
                "[ipv4-addr:value = '192.0.2.1'] FOLLOWEDBY [ipv4-addr:value = '192.0.2.2']",
                "FOLLOWEDBY",
            ),
            ("[ipv4-addr:value NOT = '192.0.2.1']", "NOT"),
            (
                "[ipv4-addr:value = '192.0.2.1'] WITHIN 300 SECONDS",
                "the qualifier WITHIN",
            ),
        ] {
            assert_eq!(
                parse(pattern, PatternLimits::default()),
                Err(PatternError::Unsupported {
                    construct: construct.to_owned()
                }),
                "{pattern}"
            );
        }
    }

    #[test]
    fn skips_unmappable_terms_and_keeps_the_rest() {
        let terms = parse(
            "[file:name = 'evil.exe' OR ipv4-addr:value = '192.0.2.1' OR url:value LIKE 'http://%']",
            PatternLimits::default(),
        )
        .expect("valid syntax");
        assert_eq!(terms.values.len(), 1);
        assert_eq!(terms.skipped.len(), 2);
        assert!(terms.skipped[0].reason.contains("file:name"), "{:?}", terms.skipped);
        assert!(terms.skipped[1].reason.contains("LIKE"), "{:?}", terms.skipped);
        let bad_value = parse("[ipv4-addr:value = '10.1.2.3/8']", PatternLimits::default()).expect("syntax");
        assert!(
            bad_value.skipped[0].reason.contains("10.0.0.0/8"),
            "{:?}",
            bad_value.skipped
        );
    }

    #[test]
    fn reports_syntax_errors_with_a_position() {
        for pattern in [
            "",
            "ipv4-addr:value = '1.2.3.4'",
            "[ipv4-addr:value = '1.2.3.4'",
            "[ipv4-addr:value = '1.2.3.4]",
            "[ipv4-addr:value '1.2.3.4']",
            "[ipv4-addr:value = '1.2.3.4'])",
            "(([ipv4-addr:value = '1.2.3.4'])",
            "[ipv4-addr:value = '\\x']",
            "[ipv4-addr:value = '1.2.3.4'] OR",
            "[(ipv4-addr:value = '1.2.3.4']",
            "[ipv4-addr:value IN ('1.2.3.4' '5.6.7.8')]",
            "[ipv4-addr:value = '1.2.3.4'] ]",
            "[ipv4-addr:value = §]",
        ] {
            assert!(
                matches!(
                    parse(pattern, PatternLimits::default()),
                    Err(PatternError::Syntax { .. })
                ),
                "{pattern:?} gave {:?}",
                parse(pattern, PatternLimits::default())
            );
        }
    }

    #[test]
    fn limits_hold() {
        let limits = PatternLimits {
            max_bytes: 64,
            max_terms: 2,
        };
        let long = format!("[domain-name:value = '{}.example']", "a".repeat(60));
        assert!(matches!(parse(&long, limits), Err(PatternError::TooLong { .. })));
        let many = "[asn:x = 1 OR asn:x = 2 OR asn:x = 3]";
        assert_eq!(parse(many, limits), Err(PatternError::TooManyTerms { max: 2 }));
    }
}
