//! Specification of `dims_node::intake`: refanging, type detection, freetext import, warninglists and CSV import, as
//! tables of input and expected output, plus properties that no input makes them panic.

use std::borrow::Cow;

use dims_node::intake::{
    AMBIGUOUS_EXTENSIONS, CsvError, CsvOptions, CsvOutcome, CsvWarning, Detection, FILE_EXTENSIONS, FreetextOptions,
    classify, csv, detect, freetext, refang, warninglist,
};
use dims_protocol::IndicatorValue;
use dims_protocol::samples;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------------------------
// Refanging

#[test]
fn refang_undoes_defanging() {
    let cases = [
        ("hxxp://evil.example/a", "http://evil.example/a"),
        ("hXXps://evil.example", "https://evil.example"),
        ("HXXP://EVIL.EXAMPLE", "http://EVIL.EXAMPLE"),
        ("hxtp://evil.example", "http://evil.example"),
        ("fxp://files.evil.example", "ftp://files.evil.example"),
        ("meow://evil.example", "http://evil.example"),
        ("h[tt]ps://evil.example", "https://evil.example"),
        ("evil[.]example", "evil.example"),
        ("evil(.)example", "evil.example"),
        ("evil{.}example", "evil.example"),
        ("evil[dot]example", "evil.example"),
        ("evil(DOT)example", "evil.example"),
        ("evil{dot}example", "evil.example"),
        ("evil\\.example", "evil.example"),
        ("192[.]0[.]2[.]1", "192.0.2.1"),
        ("2001[:]db8[:][:]1", "2001:db8::1"),
        ("http[:]//evil.example", "http://evil.example"),
        ("hxxps[:]//evil[.]example", "https://evil.example"),
        ("hxxp[://]evil[.]example[/]gate", "http://evil.example/gate"),
        ("bob[@]evil.example", "bob@evil.example"),
        ("bob[at]evil.example", "bob@evil.example"),
        ("bob(at)evil.example", "bob@evil.example"),
        ("soc [at] example [dot] org", "soc@example.org"),
        ("soc (AT) example (DOT) org", "soc@example.org"),
        ("evil dot com", "evil.com"),
        ("www dot evil dot example", "www.evil.example"),
        ("visit evil dot example dot com now", "visit evil.example.com now"),
        (
            "C2: hxxps://cdn[.]evil[.]example/x and 10[.]0[.]0[.]1",
            "C2: https://cdn.evil.example/x and 10.0.0.1",
        ),
        ("ünïcode hxxp://évil[.]example/ü", "ünïcode http://évil.example/ü"),
    ];
    for (input, expected) in cases {
        assert_eq!(refang(input), expected, "refang({input:?})");
    }
}

#[test]
fn refang_leaves_prose_alone() {
    let cases = [
        "A plain sentence, e.g. this one. Nothing to do.",
        "We will dot the i's and cross the t's.",
        "The dot com bubble burst in 2000.",
        "Connect the dots between these events.",
        "Polka dot pattern",
        "An array a[i] and a call f(x) and a set {a, b}.",
        "at the meeting (at noon) we met",
        "http://already.fanged.example/path",
        "shhxxp://not-a-scheme.example",
        "price: 10.5 dot matrix",
        "",
    ];
    for input in cases {
        let output = refang(input);
        assert_eq!(output, input, "refang({input:?}) changed prose");
        assert!(
            matches!(output, Cow::Borrowed(_)),
            "refang({input:?}) allocated without need"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Detection

/// `kind:normal form` of what `token` is detected as.
fn detected(token: &str) -> Option<String> {
    detect(token).map(|value| format!("{value:?}"))
}

const SHA256_EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const SHA512_EMPTY: &str = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
                            47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

#[test]
fn detects_every_kind() {
    let sha256_labelled = format!("sha256:{SHA256_EMPTY}");
    let sha256_expected = format!("sha256:{SHA256_EMPTY}");
    let sha512_expected = format!("sha512:{SHA512_EMPTY}");
    let cases: Vec<(&str, &str)> = vec![
        ("192.0.2.1", "ipv4:192.0.2.1"),
        ("192.0.2.1:8080", "ipv4:192.0.2.1"),
        ("192[.]0[.]2[.]1", "ipv4:192.0.2.1"),
        ("2001:DB8::1", "ipv6:2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "ipv6:2001:db8::1"),
        ("::1", "ipv6:::1"),
        ("fe80::1:2:3:4", "ipv6:fe80::1:2:3:4"),
        ("::ffff:192.0.2.1", "ipv6:::ffff:192.0.2.1"),
        ("10.0.0.0/8", "cidr:10.0.0.0/8"),
        ("2001:db8::/32", "cidr:2001:db8::/32"),
        ("HTTPS://Evil.Example/Login?x=1", "url:https://evil.example/Login?x=1"),
        ("hxxp://evil[.]example", "url:http://evil.example/"),
        ("ftp://files.evil.example/x", "url:ftp://files.evil.example/x"),
        ("http://[2001:db8::1]:8080/x", "url:http://[2001:db8::1]:8080/x"),
        ("www.evil.example/path/x.php", "url:http://www.evil.example/path/x.php"),
        ("192.0.2.1/payload.bin", "url:http://192.0.2.1/payload.bin"),
        ("evil.example:8443/gate", "url:http://evil.example:8443/gate"),
        ("evil.zip/download", "url:http://evil.zip/download"),
        ("Evil.Example.COM", "domain:evil.example.com"),
        ("evil.example.", "domain:evil.example"),
        ("c2.evil.example:443", "domain:c2.evil.example"),
        ("login.microsoft.zip", "domain:login.microsoft.zip"),
        ("xn--80ak6aa92e.com", "domain:xn--80ak6aa92e.com"),
        ("_dmarc.evil.example", "domain:_dmarc.evil.example"),
        ("evil.onion", "domain:evil.onion"),
        ("bob@evil.example", "email:bob@evil.example"),
        ("mailto:Bob@Evil.Example", "email:Bob@evil.example"),
        ("bob[at]evil[.]zip", "email:bob@evil.zip"),
        (
            "D41D8CD98F00B204E9800998ECF8427E",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
        ),
        (
            "md5=d41d8cd98f00b204e9800998ecf8427e",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
        ),
        (
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
        ),
        (SHA256_EMPTY, &sha256_expected),
        (&sha256_labelled, &sha256_expected),
        (SHA512_EMPTY, &sha512_expected),
        ("AS64500", "asn:AS64500"),
        ("as13335", "asn:AS13335"),
        ("ASN64501", "asn:AS64501"),
    ];
    for (token, expected) in cases {
        assert_eq!(detected(token).as_deref(), Some(expected), "detect({token:?})");
    }
}

#[test]
fn ignores_tricky_non_indicators() {
    let cases = [
        // Versions, numbers, times, dates.
        "1.2.3",
        "v1.2",
        "10.0.19041.1",
        "3.14",
        "1,000.50",
        "50%",
        "10:30",
        "12:30:45",
        "2026-03-05",
        "64500",
        "00:1a:2b:3c:4d:5e",
        // Abbreviations and sentence ends.
        "e.g.",
        "i.e.",
        "U.S.",
        "etc.",
        // File names, including real top-level domains that are common extensions.
        "invoice.pdf",
        "report.docx",
        "payload.exe",
        "jquery.min.js",
        "run.ps1",
        "Invoice_0305.xlsm",
        "invoice.zip",
        "install.sh",
        "clip.mov",
        "README.md",
        // Code.
        "System.Net.WebClient",
        "document.getElementById",
        "std::vector",
        "::",
        "java.lang.Runtime",
        "com.android.chrome",
        "android.permission.INTERNET",
        "Mr.Smith",
        // Words and fragments.
        "",
        "hello",
        "AS",
        "@handle",
        "user@host",
        "http://",
        "C://temp",
        "TLP:GREEN",
    ];
    for token in cases {
        assert_eq!(classify(token), Detection::NotAnIndicator, "classify({token:?})");
    }
}

#[test]
fn extension_lists_are_sorted_and_disjoint() {
    for list in [FILE_EXTENSIONS, AMBIGUOUS_EXTENSIONS] {
        assert!(
            list.windows(2).all(|pair| pair[0] < pair[1]),
            "{list:?} is sorted, so additions are easy to review"
        );
    }
    for extension in AMBIGUOUS_EXTENSIONS {
        assert!(!FILE_EXTENSIONS.contains(extension), "{extension} is in both lists");
        let name = format!("invoice.{extension}");
        let host = format!("cdn.invoice.{extension}");
        assert_eq!((detect(&name), detected(&host)), (None, Some(format!("domain:{host}"))));
    }
}

#[test]
fn reports_invalid_values_that_look_like_indicators() {
    let long_label = format!("{}.example", "a".repeat(64));
    let long_local = format!("{}@evil.example", "b".repeat(65));
    let cases: Vec<(&str, &str)> = vec![
        ("256.1.1.1", "invalid ipv4 \"256.1.1.1\""),
        ("010.1.1.1", "invalid ipv4"),
        ("10.0.0.1/8", "did you mean 10.0.0.0/8?"),
        ("10.0.0.0/33", "a prefix length of at most 32"),
        ("2001:db8::1/129", "a prefix length of at most 128"),
        ("2001:db8:::1", "invalid ipv6"),
        ("AS99999999999", "invalid asn"),
        ("192.0.2.1:99999", "invalid port \"99999\""),
        ("-evil.example", "invalid domain"),
        (&long_label, "invalid domain"),
        (&long_local, "invalid email"),
        ("http://[::1", "invalid url"),
    ];
    for (token, expected) in cases {
        match classify(token) {
            Detection::Invalid(error) => {
                let message = error.to_string();
                assert!(
                    message.contains(expected),
                    "classify({token:?}): {message:?} lacks {expected:?}"
                );
            }
            other => panic!("classify({token:?}) = {other:?}, expected an invalid value"),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Freetext

const REPORT: &str = "\
TLP:GREEN - Payroll phishing wave, 5 March 2026 (v1.2.3 of this report)

Between 09:15 and 10:30 UTC, staff in three cities received mail from payroll-update[@]city-hr-portal[.]example
with an attachment, invoice.pdf (e.g. \"Invoice_0305.xlsm\" in some cases). The macro downloads
hxxps://cdn.badcdn[.]example/stage2/loader.bin?id=7,8 and runs it; the loader (SHA256:
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855) beacons to 203.0.113[.]45:443 and
2001:db8:dead::beef every 10 minutes. It resolves update-check[.]badcdn[.]example via 8.8.8.8.
Infrastructure sits in AS64500, mostly in 198.51.100.0/24; one alert listed 198.51.100.7/24, a typo.
Older samples (MD5 d41d8cd98f00b204e9800998ecf8427e) also contacted hxxp://203.0.113.45/gate.php. Block 203.0.113.45
and report sightings to soc (at) county-cert.example. Hosts on build 10.0.19041.1 were unaffected; 3.5% of mail
was blocked. An old ticket mentions 256.1.1.1.
";

#[test]
fn freetext_reads_a_threat_report() {
    let outcome = freetext(REPORT, FreetextOptions::default());
    let found: Vec<(String, usize, &str)> = outcome
        .indicators
        .iter()
        .map(|found| (format!("{:?}", found.value), found.line, found.original.as_str()))
        .collect();
    let expected = [
        (
            "email:payroll-update@city-hr-portal.example",
            3,
            "payroll-update[@]city-hr-portal[.]example",
        ),
        (
            "url:https://cdn.badcdn.example/stage2/loader.bin?id=7,8",
            5,
            "hxxps://cdn.badcdn[.]example/stage2/loader.bin?id=7,8",
        ),
        (
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            6,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        ("ipv4:203.0.113.45", 6, "203.0.113[.]45:443"),
        ("ipv6:2001:db8:dead::beef", 7, "2001:db8:dead::beef"),
        (
            "domain:update-check.badcdn.example",
            7,
            "update-check[.]badcdn[.]example",
        ),
        ("ipv4:8.8.8.8", 7, "8.8.8.8"),
        ("asn:AS64500", 8, "AS64500"),
        ("cidr:198.51.100.0/24", 8, "198.51.100.0/24"),
        (
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            9,
            "d41d8cd98f00b204e9800998ecf8427e",
        ),
        ("url:http://203.0.113.45/gate.php", 9, "hxxp://203.0.113.45/gate.php"),
        ("email:soc@county-cert.example", 10, "soc (at) county-cert.example"),
    ];
    let expected: Vec<(String, usize, &str)> = expected
        .iter()
        .map(|(value, line, original)| ((*value).to_owned(), *line, *original))
        .collect();
    assert_eq!(found, expected);

    let ipv4 = &outcome.indicators[3];
    assert_eq!((ipv4.line, ipv4.column), (6, 78), "column counts characters from 1");
    let lines: Vec<&str> = REPORT.lines().collect();
    for found in &outcome.indicators {
        let at: String = lines[found.line - 1].chars().skip(found.column - 1).collect();
        assert!(
            at.starts_with(&found.original),
            "{found:?} does not point at its original"
        );
    }
    let names = |index: usize| {
        outcome.indicators[index]
            .warnings
            .iter()
            .map(|w| w.list)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(3), ["documentation"]);
    assert_eq!(names(6), ["public-resolver"]);
    assert_eq!(names(7), Vec::<&str>::new());

    // The repeated 203.0.113.45 on line 9 is counted, not listed again.
    assert_eq!(outcome.duplicates, 1);
    let rejected: Vec<String> = outcome.rejected.iter().map(ToString::to_string).collect();
    assert_eq!(rejected.len(), 2, "{rejected:#?}");
    assert!(
        rejected[0].starts_with("line 8, column 77: invalid cidr \"198.51.100.7/24\""),
        "{}",
        rejected[0]
    );
    assert!(rejected[0].contains("did you mean 198.51.100.0/24?"), "{}", rejected[0]);
    assert!(
        rejected[1].starts_with("line 11, column 37: invalid ipv4 \"256.1.1.1\""),
        "{}",
        rejected[1]
    );
    assert_eq!(outcome.rejected[1].token, "256.1.1.1");
    assert_eq!(outcome.cut, None);
}

#[test]
fn freetext_deduplicates_keeping_the_first_occurrence() {
    let outcome = freetext(
        "evil[.]example\nEVIL.EXAMPLE and evil.example.\nhxxp://x.example/ http://x.example",
        FreetextOptions::default(),
    );
    let found: Vec<(String, usize, usize)> = outcome
        .indicators
        .iter()
        .map(|found| (found.value.to_string(), found.line, found.column))
        .collect();
    assert_eq!(
        found,
        [
            ("evil.example".to_owned(), 1, 1),
            ("http://x.example/".to_owned(), 3, 1)
        ]
    );
    assert_eq!(outcome.duplicates, 3);
}

#[test]
fn freetext_cap_cuts_the_input_and_says_where() {
    let text = "192.0.2.1 192.0.2.1 192.0.2.2\n192.0.2.3\n  192.0.2.4 192.0.2.5\n";
    let outcome = freetext(text, FreetextOptions { max: 3 });
    assert_eq!(outcome.indicators.len(), 3);
    let cut = outcome.cut.expect("the cap was reached");
    assert_eq!((cut.line, cut.column, cut.max), (3, 3, 3));
    assert_eq!(
        cut.to_string(),
        "stopped at line 3, column 3: at most 3 indicators per import; import the rest separately"
    );
    // Duplicates do not count against the cap.
    let outcome = freetext("192.0.2.1 192.0.2.1 192.0.2.2", FreetextOptions { max: 2 });
    assert_eq!(
        (outcome.indicators.len(), outcome.duplicates, outcome.cut),
        (2, 1, None)
    );
}

#[test]
fn freetext_returns_a_thousand_sample_indicators() {
    let values: Vec<IndicatorValue> = samples::indicators(1000)
        .into_iter()
        .map(|indicator| indicator.value)
        .collect();
    // One per line; every third defanged, every seventh inside a sentence.
    let text: String = values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let mut shown = value.to_string();
            if index % 3 == 0 {
                shown = shown.replace("http", "hxxp").replace('.', "[.]").replace('@', "[@]");
            }
            if index % 7 == 0 {
                shown = format!("Seen ({shown}), twice.");
            }
            shown + "\n"
        })
        .collect();
    let outcome = freetext(&text, FreetextOptions::default());
    let found: Vec<IndicatorValue> = outcome.indicators.into_iter().map(|found| found.value).collect();
    assert_eq!(found.len(), 1000);
    assert_eq!(found, values);
    assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
    assert_eq!((outcome.duplicates, outcome.cut), (0, None));
}

// ---------------------------------------------------------------------------------------------------------------
// Warninglists

#[test]
fn warninglists_flag_known_benign_values() {
    let cases: &[(&str, &[&str])] = &[
        ("10.1.2.3", &["private"]),
        ("172.16.0.0/12", &["private"]),
        ("192.168.1.1", &["private"]),
        ("fd00::1", &["private"]),
        ("::ffff:10.0.0.1", &["private"]),
        ("127.0.0.1", &["loopback"]),
        ("::1", &["loopback"]),
        ("169.254.1.1", &["link-local"]),
        ("fe80::1", &["link-local"]),
        ("192.0.2.1", &["documentation"]),
        ("198.51.100.7", &["documentation"]),
        ("203.0.113.0/24", &["documentation"]),
        ("2001:db8::1", &["documentation"]),
        ("224.0.0.251", &["multicast"]),
        ("ff02::1", &["multicast"]),
        ("8.8.8.8", &["public-resolver"]),
        ("1.1.1.1", &["public-resolver"]),
        ("208.67.222.222", &["public-resolver"]),
        ("2606:4700:4700::1111", &["public-resolver"]),
        ("8.0.0.0/8", &["public-resolver"]),
        ("www.example.com", &["documentation"]),
        ("bob@example.org", &["documentation"]),
        ("c2.evil.example", &["documentation"]),
        ("http://localhost:8080/x", &["loopback"]),
        ("http://10.0.0.1/admin", &["private"]),
        ("printer.local", &["special-use"]),
        ("evil-example.com", &[]),
        ("notexample.com", &[]),
        ("93.184.216.34", &[]),
        ("AS64500", &[]),
    ];
    for (token, expected) in cases {
        let value = detect(token).unwrap_or_else(|| panic!("{token:?} is an indicator"));
        let lists: Vec<&str> = warninglist::check(&value).iter().map(|warning| warning.list).collect();
        assert_eq!(lists, *expected, "warnings for {token:?}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// CSV

fn imported(input: &str) -> CsvOutcome {
    csv(input.as_bytes(), CsvOptions::default()).unwrap_or_else(|e| panic!("import of {input:?} failed: {e}"))
}

#[test]
fn csv_imports_every_column() {
    let input = "\
value,type,tags,confidence,valid_from,valid_until,comment,name,category
evil[.]example,domain,phishing;payroll,80,2026-11-01T00:00:00Z,2026-12-01,\"Sends payroll\r\nphish\",Phish,Network
203.0.113.7,,c2|botnet| c2 ,,1793491200000,,,,
hxxps://evil[.]example/login,url,,,,,,,
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855,sha256,,100,,,,,
invoice.zip,,,,,,,,
";
    let outcome = imported(input);
    let values: Vec<String> = outcome.indicators.iter().map(|i| format!("{:?}", i.value)).collect();
    assert_eq!(
        values,
        [
            "domain:evil.example",
            "ipv4:203.0.113.7",
            "url:https://evil.example/login",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "domain:invoice.zip",
        ]
    );
    let first = &outcome.indicators[0];
    assert_eq!(first.labels, ["payroll", "phishing"]);
    assert_eq!(first.confidence, Some(80));
    assert_eq!(first.valid_from, Some(samples::SAMPLE_TIME));
    assert_eq!(first.valid_until, Some(samples::SAMPLE_TIME + 30 * 86_400_000));
    assert_eq!(first.description.as_deref(), Some("Sends payroll\nphish"));
    assert_eq!(first.name.as_deref(), Some("Phish"));
    let second = &outcome.indicators[1];
    assert_eq!(
        second.labels,
        ["botnet", "c2"],
        "labels are split, trimmed, sorted and deduplicated"
    );
    assert_eq!(
        (second.valid_from, second.confidence),
        (Some(samples::SAMPLE_TIME), None)
    );
    for indicator in &outcome.indicators {
        assert_eq!(indicator.check(), Ok(()));
    }
    let warnings: Vec<String> = outcome.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings[0].starts_with("ignored columns \"category\": dims reads only value"),
        "{warnings:?}"
    );
    let listed = "line 4: 203.0.113.7 is on the documentation warninglist (reserved for documentation and examples, \
                  RFC 5737, RFC 3849 or RFC 2606)";
    assert!(warnings.iter().any(|warning| warning == listed), "{warnings:?}");
    assert_eq!((outcome.duplicates, outcome.skipped_rows), (0, 0));
}

/// A header of a million columns: every message about them stays a line, counting the columns and naming the first
/// few, shortened, instead of repeating the header.
#[test]
fn csv_messages_about_many_columns_are_summaries() {
    let many = |first: &str| {
        let mut header = String::from(first);
        for index in 0..999_998 {
            header.push_str(&format!(",extra{index}"));
        }
        header
    };
    let row = format!("evil.example,domain{}", ",x".repeat(999_998));
    let outcome = imported(&format!("{}\n{row}\n", many("value,type")));
    assert_eq!(outcome.indicators.len(), 1);
    assert_eq!(
        outcome.warnings[0].to_string(),
        "ignored 999,998 columns (\"extra0\", \"extra1\", \"extra2\", \"extra3\", \"extra4\" and 999,993 more): \
             dims reads only value (or indicator), type (or kind), labels (or tags), confidence, valid_from, valid_until, \
         description (or comment), name"
    );
    let strict = csv(
        format!("{}\n{row}\n", many("value,type")).as_bytes(),
        CsvOptions {
            strict_columns: true,
            ..CsvOptions::default()
        },
    )
    .expect_err("strict");
    assert!(strict.to_string().len() < 400, "{strict}");
    assert!(strict.to_string().contains("999,998 columns"), "{strict}");
    let no_value = csv(format!("{}\nx,y\n", many("a,b")).as_bytes(), CsvOptions::default()).expect_err("no value");
    assert!(no_value.to_string().len() < 400, "{no_value}");
    assert!(no_value.to_string().contains("1,000,000 columns"), "{no_value}");
    let long_name = format!("value,{}\nevil.example,x\n", "n".repeat(1_000_000));
    let warning = imported(&long_name).warnings[0].to_string();
    assert!(warning.len() < 300, "a column name is shortened too: {warning}");
}

#[test]
fn csv_understands_misp_and_stix_type_names() {
    let input = "\
Value,Type
192.0.2.1,ip-dst
10.0.0.0/8,ip-src
evil.example,hostname
bob@evil.example,email-src
AS64500,AS
2001:db8::1,ipv6-addr
";
    let values: Vec<String> = imported(input)
        .indicators
        .iter()
        .map(|i| format!("{:?}", i.value))
        .collect();
    assert_eq!(
        values,
        [
            "ipv4:192.0.2.1",
            "cidr:10.0.0.0/8",
            "domain:evil.example",
            "email:bob@evil.example",
            "asn:AS64500",
            "ipv6:2001:db8::1"
        ]
    );
}

#[test]
fn csv_reads_other_delimiters_comments_and_a_bom() {
    let cases: &[(&str, &[&str])] = &[
        ("value;labels\nevil.example;a|b\n", &["a", "b"]),
        ("value\tlabels\nevil.example\ta;b\n", &["a", "b"]),
        ("\u{feff}# a feed\nvalue,labels\n# a comment\nevil.example,a\n", &["a"]),
        ("value,labels\n\n\"evil.example\",\"a;b\"\n\n", &["a", "b"]),
    ];
    for (input, labels) in cases {
        let outcome = imported(input);
        assert_eq!(outcome.indicators.len(), 1, "{input:?}");
        assert_eq!(outcome.indicators[0].value.to_string(), "evil.example", "{input:?}");
        assert_eq!(outcome.indicators[0].labels, *labels, "{input:?}");
    }
}

#[test]
fn csv_drops_and_reports_duplicate_values() {
    let outcome = imported("value\nevil.example\n10.9.8.7\nEVIL.example.\n");
    assert_eq!(outcome.indicators.len(), 2);
    assert_eq!(outcome.duplicates, 1);
    let warnings: Vec<String> = outcome.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "line 2: evil.example is on the documentation warninglist (reserved for documentation and examples, RFC \
             5737, RFC 3849 or RFC 2606)",
            "line 3: 10.9.8.7 is on the private warninglist (private network, RFC 1918, RFC 6598 or RFC 4193)",
            "line 4: evil.example repeats line 2, which was kept",
        ]
    );
    assert!(matches!(
        outcome.warnings[2],
        CsvWarning::Duplicate {
            line: 4,
            first_line: 2,
            ..
        }
    ));
}

/// The error a CSV import is refused with, as shown to people.
fn refused(input: &[u8], options: CsvOptions) -> CsvError {
    match csv(input, options) {
        Ok(outcome) => panic!("import of {:?} succeeded: {outcome:?}", String::from_utf8_lossy(input)),
        Err(error) => error,
    }
}

#[test]
fn csv_refuses_bad_files_saying_what_to_do() {
    let strict = CsvOptions {
        strict_columns: true,
        ..CsvOptions::default()
    };
    let two = CsvOptions {
        max: 2,
        ..CsvOptions::default()
    };
    let default = CsvOptions::default();
    let cases: &[(&[u8], CsvOptions, &str)] = &[
        (
            b"",
            default,
            "the CSV has no header row: its first line must name the columns, e.g. value,type,labels",
        ),
        (b"\n\n", default, "no header row"),
        (b"# only a comment\n", default, "no header row"),
        (
            b"evil.example\nbad.example\n",
            default,
            "the header names no value column (it has columns \"evil.example\"): call the column of indicators `value` or \
             `indicator`, or import a plain list of values as freetext",
        ),
        (
            b"value,Indicator\na.example,b.example\n",
            default,
            "columns \"value\" and \"Indicator\" both mean value: keep one of them",
        ),
        (b"value,tags,labels\n", default, "both mean labels"),
        (
            b"value,first_seen,uuid\nevil.example,x,y\n",
            strict,
            "unknown columns \"first_seen\", \"uuid\": rename or remove them; dims reads value (or indicator)",
        ),
        (
            b"val\xffue\nevil.example\n",
            default,
            "the header row is not UTF-8: save the file as UTF-8",
        ),
        (
            b"value\na.example\nb.example\nc.example\n",
            two,
            "more than 2 indicators: split the file into several imports",
        ),
    ];
    for (input, options, expected) in cases {
        let message = refused(input, *options).to_string();
        assert!(
            message.contains(expected),
            "{:?}:\n  got      {message:?}\n  expected {expected:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn csv_refuses_every_kind_of_bad_row_naming_line_and_column() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"value,type\n,domain\n",
            "line 2: invalid value \"\": a value: fill it in or delete the row",
        ),
        (
            b"value,type\n256.1.1.1,ipv4\n",
            "line 2: invalid value \"256.1.1.1\": a dotted-quad IPv4 address",
        ),
        (
            b"value,type\nevil.example,ipv5\n",
            "line 2: invalid type \"ipv5\": one of ipv4, ipv6, cidr",
        ),
        (
            b"value,type\n192.0.2.1,domain\n",
            "line 2: invalid value \"192.0.2.1\": a lowercase DNS name",
        ),
        (
            b"value,type\nevil.example,ip-dst\n",
            "line 2: invalid value \"evil.example\": an IP address or network",
        ),
        (
            b"indicator\nhello world\n",
            "line 2: invalid indicator \"hello world\": an indicator of a recognisable type",
        ),
        (
            b"value\ninvoice.pdf\n",
            "line 2: invalid value \"invoice.pdf\": an indicator of a recognisable type",
        ),
        (
            b"value\n10.0.0.1/8\n",
            "line 2: invalid value \"10.0.0.1/8\": host bits zero: did you mean 10.0.0.0/8?",
        ),
        (
            b"value,confidence\nevil.example,101\n",
            "line 2: invalid confidence \"101\": a whole number from 0 to 100",
        ),
        (
            b"value,confidence\nevil.example,high\n",
            "line 2: invalid confidence \"high\"",
        ),
        (
            b"value,valid_from\nevil.example,yesterday\n",
            "line 2: invalid valid_from \"yesterday\": an RFC 3339 time",
        ),
        (
            b"value,valid_from\nevil.example,1793491200\n",
            "this looks like seconds: multiply by 1000",
        ),
        (
            b"value,valid_until\nevil.example,1969-12-31T00:00:00Z\n",
            "invalid valid_until \"1969-12-31T00:00:00Z\": a time after 1970",
        ),
        (
            b"value,valid_from,valid_until\nevil.example,2026-12-01,2026-11-01\n",
            "line 2: invalid valid_until \"1793491200000\": a time after valid_from",
        ),
        (
            b"value,tags\nevil.example,ok;bad\x01label\n",
            "line 2: invalid tags[0].label",
        ),
        (
            b"value,name\nevil.example,\"two\nlines\"\n",
            "line 2: invalid name \"two\\nlines\": no control characters",
        ),
        (
            b"value,type\nevil.example,domain,extra\n",
            "line 2: invalid row \"3 fields\": 2 fields, as many as the header names",
        ),
        (
            b"value,type\nevil.example\n",
            "line 2: invalid row \"1 field\": 2 fields",
        ),
        (
            b"value,description\nevil.example,caf\xe9\n",
            "line 2: invalid description \"caf\u{fffd}\": UTF-8 text",
        ),
        (
            b"value,description\na.example,\"multi\nline\"\n256.1.1.1,x\n",
            "line 4: invalid value \"256.1.1.1\"",
        ),
    ];
    for (input, expected) in cases {
        let error = refused(input, CsvOptions::default());
        let CsvError::BadRows { rows, total } = &error else {
            panic!("{:?}: expected bad rows, got {error:?}", String::from_utf8_lossy(input));
        };
        assert_eq!((rows.len(), *total), (1, 1), "{error}");
        let message = error.to_string();
        assert!(
            message.starts_with("1 bad row, nothing imported (first: line"),
            "{message}"
        );
        assert!(
            message.ends_with("): correct them, or skip bad rows to import the rest"),
            "{message}"
        );
        assert!(
            message.contains(expected),
            "{:?}:\n  got      {message:?}\n  expected {expected:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn csv_refuses_the_whole_file_or_skips_bad_rows_on_request() {
    let input = b"value\nevil.example\n256.1.1.1\nok.example\nhello\n";
    let error = refused(input, CsvOptions::default());
    assert!(
        error
            .to_string()
            .starts_with("2 bad rows, nothing imported (first: line 3: invalid value \"256.1.1.1\""),
        "{error}"
    );

    let skip = CsvOptions {
        skip_bad_rows: true,
        ..CsvOptions::default()
    };
    let outcome = csv(input, skip).expect("bad rows are skipped");
    let values: Vec<String> = outcome.indicators.iter().map(|i| i.value.to_string()).collect();
    assert_eq!(values, ["evil.example", "ok.example"]);
    let lines: Vec<usize> = outcome.skipped.iter().map(|row| row.line).collect();
    assert_eq!((lines, outcome.skipped_rows), (vec![3, 5], 2));
}

// ---------------------------------------------------------------------------------------------------------------
// Properties: nothing panics, whatever comes in.

proptest! {
    #[test]
    fn refang_never_panics(text in any::<String>()) {
        let _ = refang(&text);
    }

    #[test]
    fn refang_never_panics_on_marker_soup(text in r"[\[\]\(\)\{\}\\.:/@ atdoATDOhxpsfme\t\nü]{0,64}") {
        let _ = refang(&text);
    }

    #[test]
    fn freetext_never_panics_and_keeps_its_promises(text in any::<String>(), max in 0usize..4) {
        let outcome = freetext(&text, FreetextOptions { max });
        prop_assert!(outcome.indicators.len() <= max);
        for found in &outcome.indicators {
            prop_assert!(found.line >= 1 && found.column >= 1);
            prop_assert!(found.value.check().is_ok());
        }
    }

    #[test]
    fn freetext_never_panics_on_indicator_like_text(
        text in r"[0-9a-fA-F:./\[\]()@ hxtpsw,;<>'*=%\n-]{0,200}"
    ) {
        let outcome = freetext(&text, FreetextOptions::default());
        for found in &outcome.indicators {
            prop_assert!(text.contains(found.original.as_str()));
        }
    }

    #[test]
    fn csv_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = csv(&bytes, CsvOptions::default());
    }

    #[test]
    fn csv_rows_never_panic(body in r#"[0-9a-z:./\[\]@,;|"\n\r#-]{0,300}"#) {
        let input = format!("value,type,labels,confidence,valid_from,valid_until,description,name\n{body}");
        if let Ok(outcome) = csv(input.as_bytes(), CsvOptions::default()) {
            for indicator in &outcome.indicators {
                prop_assert!(indicator.check().is_ok());
            }
        }
    }
}
