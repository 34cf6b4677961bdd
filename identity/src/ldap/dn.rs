//! Distinguished names compared the way the directory compares them, not byte for byte.
//!
//! The group DNs in the configuration (role and org mappings) are written by people; the ones in `memberOf` or a
//! group search come from the server. `CN=Dims-Admins, ou=Groups,dc=example,dc=org` and
//! `cn=dims-admins,ou=groups,dc=example,dc=org` name the same group, and so do `cn=a\,b` and `cn=a\2Cb`. [`normalize`]
//! parses a DN by RFC 4514 and writes it back in one canonical form: attribute types and values lowercased (the
//! naming attributes used for groups, `cn`, `ou`, `o`, `dc` and `uid`, all match case-insensitively), spaces around
//! separators dropped, escapes decoded and re-applied with [`ldap3::dn_escape`], and the parts of a multi-valued RDN
//! sorted. Attribute type aliases (`commonName` for `cn`) are not resolved: write DNs with the short names your
//! directory returns.

use ldap3::dn_escape;

/// One `type=value` of an RDN, both already canonical.
type Ava = (String, String);

/// The canonical form of `dn`, or why it is not a distinguished name.
pub(crate) fn normalize(dn: &str) -> Result<String, &'static str> {
    let rdns = parse(dn)?;
    if rdns.is_empty() {
        return Err("a distinguished name must not be empty");
    }
    let rdns: Vec<String> = rdns
        .into_iter()
        .map(|mut avas| {
            avas.sort();
            avas.iter()
                .map(|(kind, value)| format!("{kind}={}", dn_escape(value.as_str())))
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    Ok(rdns.join(","))
}

/// The RDNs of `dn`, each a list of attribute type and value pairs.
fn parse(dn: &str) -> Result<Vec<Vec<Ava>>, &'static str> {
    let bytes = dn.as_bytes();
    let mut rdns = Vec::new();
    let mut avas = Vec::new();
    let mut at = skip_spaces(bytes, 0);
    if at == bytes.len() {
        return Ok(rdns);
    }
    loop {
        let (kind, next) = attribute_type(bytes, at)?;
        let (value, next) = attribute_value(bytes, next)?;
        avas.push((kind, value));
        match bytes.get(next) {
            None => {
                rdns.push(avas);
                return Ok(rdns);
            }
            Some(b'+') => {}
            Some(b',' | b';') => rdns.push(std::mem::take(&mut avas)),
            Some(_) => return Err("unexpected character after an attribute value"),
        }
        at = skip_spaces(bytes, next + 1);
    }
}

fn skip_spaces(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at) == Some(&b' ') {
        at += 1;
    }
    at
}

/// Reads `type =` starting at `at`; returns the lowercased type and the index after the `=`.
fn attribute_type(bytes: &[u8], at: usize) -> Result<(String, usize), &'static str> {
    let mut end = at;
    while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'-' | b'.')) {
        end += 1;
    }
    let kind = &bytes[at..end];
    let descriptor = kind.first().is_some_and(u8::is_ascii_alphabetic)
        && kind.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-');
    let oid = kind.first().is_some_and(u8::is_ascii_digit)
        && kind.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        && !kind.ends_with(b".")
        && !kind.windows(2).any(|pair| pair == b"..");
    if !descriptor && !oid {
        return Err("an attribute type must be a name such as cn or a numeric OID");
    }
    let equals = skip_spaces(bytes, end);
    if bytes.get(equals) != Some(&b'=') {
        return Err("expected '=' after an attribute type");
    }
    let kind = String::from_utf8_lossy(kind).to_ascii_lowercase();
    Ok((kind, skip_spaces(bytes, equals + 1)))
}

/// Reads an attribute value starting at `at` up to an unescaped `,`, `;`, `+` or the end; returns the decoded,
/// lowercased value and the index of the separator (or the end).
fn attribute_value(bytes: &[u8], at: usize) -> Result<(String, usize), &'static str> {
    let mut value = Vec::new();
    // Unescaped trailing spaces are not part of the value; escaped ones are. This marks where trimming must stop.
    let mut keep = 0;
    let mut i = at;
    while i < bytes.len() {
        match bytes[i] {
            b',' | b';' | b'+' => break,
            b'"' | b'<' | b'>' | b'=' => return Err("unescaped special character in an attribute value"),
            b'\\' => {
                let (byte, width) = match (bytes.get(i + 1), bytes.get(i + 2)) {
                    (Some(high), Some(low)) if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
                        (hex_value(*high) << 4 | hex_value(*low), 3)
                    }
                    (Some(special), _) if b" \"#+,;<=>\\".contains(special) => (*special, 2),
                    _ => return Err("a backslash must be followed by a special character or two hex digits"),
                };
                value.push(byte);
                keep = value.len();
                i += width;
            }
            byte => {
                value.push(byte);
                if byte != b' ' {
                    keep = value.len();
                }
                i += 1;
            }
        }
    }
    value.truncate(keep);
    if value.is_empty() {
        return Err("an attribute value must not be empty");
    }
    let value = String::from_utf8(value).map_err(|_| "escaped bytes in an attribute value are not UTF-8")?;
    Ok((value.to_lowercase(), i))
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &str, b: &str) {
        assert_eq!(normalize(a), normalize(b), "{a:?} and {b:?} should name the same entry");
        assert!(normalize(a).is_ok(), "{a:?} should parse");
    }

    fn different(a: &str, b: &str) {
        assert_ne!(
            normalize(a),
            normalize(b),
            "{a:?} and {b:?} should name different entries"
        );
    }

    fn invalid(dn: &str) {
        assert!(
            normalize(dn).is_err(),
            "{dn:?} should be refused, got {:?}",
            normalize(dn)
        );
    }

    #[test]
    fn equivalent_spellings_normalize_alike() {
        same(
            "cn=dims-admins,ou=groups,dc=example,dc=org",
            "CN=Dims-Admins, OU=Groups , dc=EXAMPLE,DC=org",
        );
        same("cn=a\\,b,dc=x", "cn=a\\2Cb,dc=x");
        same("cn=a\\2cb,dc=x", "cn=a\\2Cb,dc=x");
        same("cn=x+uid=y,dc=x", "uid=y+cn=x,dc=x");
        same("cn=x;dc=y", "cn=x,dc=y");
        same("cn=Jürgen,dc=x", "cn=J\\c3\\bcrgen,dc=x");
        same("cn=trailing\\ ,dc=x", "cn=trailing\\20,dc=x");
        same("cn=\\#hash,dc=x", "cn=\\23hash,dc=x");
        same("2.5.4.3=x,dc=y", "2.5.4.3=X,DC=Y");
    }

    #[test]
    fn different_entries_stay_different() {
        different("cn=a,dc=x", "cn=b,dc=x");
        different("cn=a\\,dc=x,dc=y", "cn=a,dc=x,dc=y");
        different("cn=trailing\\ ,dc=x", "cn=trailing,dc=x");
        different("cn=a+cn=b,dc=x", "cn=a,cn=b,dc=x");
    }

    #[test]
    fn normal_form_reescapes_specials() {
        assert_eq!(
            normalize("CN=a\\2Cb\\+c, DC=X").as_deref(),
            Ok("cn=a\\2cb\\2bc,dc=x"),
            "values are re-escaped with dn_escape"
        );
    }

    #[test]
    fn malformed_names_are_refused() {
        for dn in [
            "",
            "   ",
            "cn",
            "cn=",
            "=x",
            "cn=a,",
            "cn=a,,dc=x",
            "cn=a\\",
            "cn=a\\zz",
            "cn=a=b",
            "c n=x",
            "1..2=x",
        ] {
            invalid(dn);
        }
    }
}
