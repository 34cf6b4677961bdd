//! Type detection: what kind of indicator one token is, if any.
//!
//! The rules, in the order they are tried (the first that matches the token's shape decides):
//!
//! 1. `scheme://…` with a scheme of two or more letters is a **URL** (`hxxp` and friends were already refanged).
//!    `mailto:` is stripped and the rest tried as an e-mail address.
//! 2. `address/digits` is a **CIDR** network; host bits set is an error that names the network meant
//!    (`10.0.0.1/8` → "did you mean 10.0.0.0/8?"), never a silent mask. `host/anything` where the host is a domain
//!    name or an IPv4 address (optionally with a port) is a **URL** without its scheme, as in MISP: it becomes
//!    `http://host/anything`.
//! 3. `local@domain` with a domain as in rule 7 is an **e-mail** address.
//! 4. Four dot-separated groups of one to three digits are an **IPv4** address; `256.1.1.1` has the shape and so is
//!    an error, while `1.2.3` (a version) and `10.0.19041.1` (a build number) are not addresses at all. A port after
//!    the address (`192.0.2.1:443`) is dropped: dims has no address-and-port kind, and the address is the indicator.
//! 5. Hex digits and colons with a `::` or with exactly seven colons are an **IPv6** address. This keeps times
//!    (`12:30:45`) and MAC addresses (`00:1a:2b:3c:4d:5e`) out.
//! 6. 32, 40, 64 or 128 hex digits are an **MD5**, **SHA-1**, **SHA-256** or **SHA-512** hash, also after a label
//!    such as `sha256:` or `md5=`. `AS64500` and `ASN64500` (any case) are an **ASN**; a bare number is not.
//! 7. Dot-separated labels of letters, digits, `-` and `_` whose last label is 2 to 63 letters are a **domain**
//!    (a port after it is dropped, as in rule 4). These exceptions keep file names, code and prose out:
//!    * a last label from [`FILE_EXTENSIONS`] (`invoice.pdf`, `payload.exe`, `jquery.min.js`) is a file name: none
//!      of these is a delegated top-level domain, so nothing real is lost. Extensions with a digit (`run.ps1`,
//!      `archive.7z`) need no entry, since a top-level domain is letters only;
//!    * a last label from [`AMBIGUOUS_EXTENSIONS`] is a real top-level domain that is also a common file extension
//!      (`.zip`, `.mov`, `.sh`, `.py`, …). In free text a two-label name with one of them (`invoice.zip`,
//!      `install.sh`) is a file name, because reports name attachments and scripts far more often than such hosts;
//!      with three or more labels (`login.microsoft.zip`) it is a domain. In a URL, an e-mail address, a CSV value
//!      cell, or with an explicit type, it is always a host. To import a bare two-label `.zip` domain from free text,
//!      write it as a URL or use CSV;
//!    * in free text, three shapes of code and prose are not host names either: a label with a lowercase letter
//!      followed by an uppercase one (`System.Net.WebClient`, `document.getElementById`); a last label in title case
//!      (`Mr.Smith`, `java.lang.Runtime`, `end.Next` where a space was lost), since people write top-level domains
//!      in lower or upper case; and a reverse-DNS package name of three or more labels starting with `com`, `org`,
//!      `net` or `android` (`com.android.chrome`, `android.permission.INTERNET`), common in mobile malware reports.
//!
//! Everything else is prose and is ignored. Only the values that have the shape of a kind and still fail its
//! validation are reported as [`Detection::Invalid`], so that a typo in an indicator is shown to the analyst while
//! ordinary words stay silent. Final validation and the normal form always come from
//! [`IndicatorValue::parse`].

use dims_protocol::{FieldError, IndicatorKind, IndicatorValue};

use super::refang::refang;

/// File extensions that are not top-level domains: a name ending in one is a file name, never a domain.
pub const FILE_EXTENSIONS: &[&str] = &[
    "apk", "ashx", "asp", "aspx", "bak", "bat", "bin", "bmp", "cer", "cfg", "cgi", "chm", "class", "cmd", "conf",
    "cpl", "cpp", "crt", "crx", "csv", "dat", "deb", "der", "dex", "dll", "dmg", "doc", "docm", "docx", "dotm", "drv",
    "dylib", "elf", "eml", "exe", "gif", "gz", "hta", "htm", "html", "ico", "img", "inf", "ini", "iqy", "iso", "jar",
    "java", "jpeg", "jpg", "js", "jse", "json", "jsp", "lnk", "log", "lua", "mht", "mkv", "msg", "msi", "ocx", "odt",
    "ova", "pdf", "pem", "pfx", "php", "plist", "png", "ppt", "pptm", "pptx", "rar", "rb", "reg", "rpm", "rtf", "scr",
    "slk", "sqlite", "svg", "sys", "tar", "tgz", "tif", "tiff", "tmp", "tsv", "txt", "url", "vbe", "vbs", "vhd",
    "vhdx", "vmdk", "wav", "webp", "wsf", "wsh", "xll", "xls", "xlsb", "xlsm", "xlsx", "xml", "xpi", "xz", "yaml",
    "yml",
];

/// Delegated top-level domains that are also common file extensions; see the module documentation for how a name
/// ending in one is read.
pub const AMBIGUOUS_EXTENSIONS: &[&str] = &["cab", "md", "mov", "one", "py", "sh", "so", "zip"];

/// Labels that may precede a hash (`sha256:…`, `md5=…`).
const HASH_LABELS: &[&str] = &["md5", "sha1", "sha-1", "sha256", "sha-256", "sha512", "sha-512", "hash"];

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detection {
    /// An indicator, in normal form.
    Found(IndicatorValue),
    /// The token has the shape of a kind but is not a valid value of it (`256.1.1.1`, `10.0.0.1/8`): worth showing.
    Invalid(FieldError),
    /// Prose, a file name, a number: not an indicator.
    NotAnIndicator,
}

impl Detection {
    /// The indicator, if one was found.
    pub fn found(self) -> Option<IndicatorValue> {
        match self {
            Detection::Found(value) => Some(value),
            Detection::Invalid(_) | Detection::NotAnIndicator => None,
        }
    }
}

/// Where a token came from, which decides how much benefit of the doubt it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Context {
    /// A word in free text: file names and code are common, so ambiguous names are not hosts.
    Prose,
    /// A CSV value cell: it is declared to hold an indicator.
    Cell,
}

/// Where a name stands, for the domain rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// On its own.
    Bare,
    /// Before the path of a URL written without a scheme.
    UrlHost,
    /// After the `@` of an e-mail address.
    EmailDomain,
}

/// Detects the kind of one token (refanging it first) and returns the value in normal form, or `None` for prose,
/// file names and invalid values alike. Use [`classify`] to tell invalid values apart.
///
/// ```
/// use dims_node::intake::detect;
/// assert_eq!(detect("hxxp://evil[.]example/a").map(|v| v.to_string()).as_deref(), Some("http://evil.example/a"));
/// assert_eq!(detect("invoice.pdf"), None);
/// ```
pub fn detect(token: &str) -> Option<IndicatorValue> {
    classify(token).found()
}

/// Classifies one token (refanging it first) with free-text rules: an indicator, an invalid value of a recognisable
/// kind, or not an indicator.
pub fn classify(token: &str) -> Detection {
    classify_refanged(&refang(token), Context::Prose)
}

/// [`classify`] for a token that is already refanged.
pub(crate) fn classify_refanged(token: &str, context: Context) -> Detection {
    let token = token.trim();
    if let Some(separator) = token.find("://") {
        // Nothing after the scheme is prose about URLs ("prefix it with http://"), not a broken indicator.
        if is_scheme(&token[..separator]) && token.len() > separator + 3 {
            return parse(IndicatorKind::Url, token);
        }
        return Detection::NotAnIndicator;
    }
    if let Some(address) = strip_prefix_ignore_case(token, "mailto:") {
        return email(address, context);
    }
    // A fully qualified name may end in a dot; sentence-ending dots were trimmed by the tokeniser already.
    let token = token.strip_suffix('.').unwrap_or(token);
    if token.is_empty() {
        return Detection::NotAnIndicator;
    }
    if let Some((left, right)) = token.split_once('/') {
        return network_or_url(token, left, right, context);
    }
    if token.contains('@') {
        return email(token, context);
    }
    if is_ipv4_shape(token) {
        return parse(IndicatorKind::Ipv4, token);
    }
    if let Some((host, port)) = split_port(token)
        && is_ipv4_shape(host)
    {
        return with_port(port, || parse(IndicatorKind::Ipv4, host));
    }
    if is_ipv6_shape(token) {
        return parse(IndicatorKind::Ipv6, token);
    }
    let unlabelled = strip_hash_label(token);
    if let Some(kind) = hash_kind(unlabelled) {
        return parse(kind, unlabelled);
    }
    if let Some(digits) = asn_digits(token) {
        return match digits.parse::<u32>() {
            Ok(number) => Detection::Found(IndicatorValue::Asn(number)),
            Err(_) => Detection::Invalid(FieldError::new(
                "asn",
                token,
                "an AS number from 0 to 4294967295, such as AS64500",
            )),
        };
    }
    let (host, port) = split_port(token).unwrap_or((token, ""));
    if looks_like_domain(host, Place::Bare, context) {
        return with_port(port, || parse(IndicatorKind::Domain, host));
    }
    Detection::NotAnIndicator
}

fn parse(kind: IndicatorKind, text: &str) -> Detection {
    match IndicatorValue::parse(kind, text) {
        Ok(value) => Detection::Found(value),
        Err(error) => Detection::Invalid(error),
    }
}

/// Rule 2: `address/prefix` or a URL without its scheme.
fn network_or_url(token: &str, left: &str, right: &str, context: Context) -> Detection {
    let prefix_shaped = !right.is_empty() && right.len() <= 3 && right.bytes().all(|b| b.is_ascii_digit());
    if prefix_shaped && (is_ipv4_shape(left) || is_ipv6_shape(left)) {
        return parse(IndicatorKind::Cidr, token);
    }
    let host = split_port(left).map_or(left, |(host, _)| host);
    if is_ipv4_shape(host) || looks_like_domain(host, Place::UrlHost, context) {
        return parse(IndicatorKind::Url, &format!("http://{token}"));
    }
    Detection::NotAnIndicator
}

/// Rule 3: an e-mail address, if the part after the last `@` is a plausible domain.
fn email(token: &str, context: Context) -> Detection {
    match token.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && looks_like_domain(domain, Place::EmailDomain, context) => {
            parse(IndicatorKind::Email, token)
        }
        _ => Detection::NotAnIndicator,
    }
}

/// Keeps a detection made without its port, unless the port itself is impossible.
fn with_port(port: &str, detect: impl FnOnce() -> Detection) -> Detection {
    if !port.is_empty() && port.parse::<u16>().is_err() {
        return Detection::Invalid(FieldError::new("port", port, "a port from 0 to 65535"));
    }
    detect()
}

/// `host:port` with one to five digits after the last colon.
fn split_port(token: &str) -> Option<(&str, &str)> {
    let (host, port) = token.rsplit_once(':')?;
    let digits = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    (digits && !host.is_empty() && !host.contains(':')).then_some((host, port))
}

fn is_scheme(text: &str) -> bool {
    let mut bytes = text.bytes();
    text.len() >= 2
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

fn is_ipv4_shape(text: &str) -> bool {
    let mut groups = 0;
    for group in text.split('.') {
        groups += 1;
        if group.is_empty() || group.len() > 3 || !group.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    groups == 4
}

fn is_ipv6_shape(text: &str) -> bool {
    let allowed = text.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    let colons = text.bytes().filter(|&b| b == b':').count();
    allowed && text.bytes().any(|b| b.is_ascii_hexdigit()) && (text.contains("::") || colons == 7)
}

fn strip_hash_label(token: &str) -> &str {
    let Some(split) = token.find([':', '=']) else {
        return token;
    };
    let label = &token[..split];
    if HASH_LABELS.iter().any(|known| label.eq_ignore_ascii_case(known)) {
        &token[split + 1..]
    } else {
        token
    }
}

fn hash_kind(text: &str) -> Option<IndicatorKind> {
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match text.len() {
        32 => Some(IndicatorKind::Md5),
        40 => Some(IndicatorKind::Sha1),
        64 => Some(IndicatorKind::Sha256),
        128 => Some(IndicatorKind::Sha512),
        _ => None,
    }
}

fn asn_digits(token: &str) -> Option<&str> {
    let digits = strip_prefix_ignore_case(token, "asn").or_else(|| strip_prefix_ignore_case(token, "as"))?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// Rule 7: whether `name` reads as a domain name where it stands.
fn looks_like_domain(name: &str, place: Place, context: Context) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    let Some(&top_label) = labels.last() else {
        return false;
    };
    let shaped = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && (2..=63).contains(&top_label.len())
        && top_label.bytes().all(|b| b.is_ascii_alphabetic());
    if !shaped {
        return false;
    }
    let top = top_label.to_ascii_lowercase();
    if FILE_EXTENSIONS.contains(&top.as_str()) {
        return false;
    }
    if context == Context::Prose {
        if place == Place::Bare && labels.len() == 2 && AMBIGUOUS_EXTENSIONS.contains(&top.as_str()) {
            return false;
        }
        if place != Place::EmailDomain && labels.iter().any(|label| is_camel_case(label)) {
            return false;
        }
        if place == Place::Bare && (is_title_case(top_label) || is_package_name(&labels)) {
            return false;
        }
    }
    true
}

/// Prefixes of reverse-DNS package names (`com.android.chrome`).
const PACKAGE_ROOTS: &[&str] = &["com", "org", "net", "android"];

fn is_title_case(label: &str) -> bool {
    let bytes = label.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_uppercase) && bytes[1..].iter().any(u8::is_ascii_lowercase)
}

fn is_package_name(labels: &[&str]) -> bool {
    labels.len() >= 3
        && labels
            .first()
            .is_some_and(|root| PACKAGE_ROOTS.contains(&root.to_ascii_lowercase().as_str()))
}

fn is_camel_case(label: &str) -> bool {
    label
        .as_bytes()
        .windows(2)
        .any(|pair| pair[0].is_ascii_lowercase() && pair[1].is_ascii_uppercase())
}
