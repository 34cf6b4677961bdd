//! Writes the committed seed corpora, `fuzz/corpus/<target>/`, from the golden vectors and fixtures in `fixtures/`
//! and the deterministic samples of `dims_protocol::samples`. Deterministic: a second run writes the same bytes, so a
//! change in `git status` after a run means an encoder or a fixture changed.
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example seeds            # (re)write the seeds
//! cargo run --manifest-path fuzz/Cargo.toml --example seeds -- --check # fail if a committed seed differs or is missing
//! ```
//!
//! Each seed is a valid (or nearly valid) input that reaches deep into its decoder, so that the coverage-guided
//! fuzzer starts from inputs it could not find from random bytes (a signed envelope, a reconciliation session).
//! Files this program does not name (minimised finds merged in by hand) are left alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dims_node::federation::wire::{self, CheckReport, Request, Response, SealedBundle};
use dims_protocol::reconcile::{Config, Item, ItemId, Message, Reconciler, SortedItems};
use dims_protocol::{Audience, KeyStatement, Recipient, SignedRoster, samples};
use serde_bytes::ByteBuf;
use serde_json::json;

/// Seeds by target, then by file name.
type Seeds = BTreeMap<&'static str, BTreeMap<String, Vec<u8>>>;

fn main() {
    let check = std::env::args().any(|arg| arg == "--check");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixtures = root.join("../fixtures");
    let mut seeds = Seeds::new();

    let bundles = bundles(&fixtures);
    let roster = hex_file(&fixtures.join("vectors/roster-v1/sample-2-of-3.hex"));
    let reconcile_golden = hex_file(&fixtures.join("vectors/reconcile-v1/every-mode.hex"));
    let statements = key_statements();
    let sessions = reconcile_sessions();

    let target = seeds.entry("bundle_decode").or_default();
    for (name, bytes) in &bundles {
        target.insert(name.clone(), bytes.clone());
    }

    let target = seeds.entry("roster_decode").or_default();
    target.insert("golden-sample-2-of-3".into(), roster.clone());
    for (name, bytes) in rosters() {
        target.insert(name, bytes);
    }

    let target = seeds.entry("key_statement_decode").or_default();
    for (name, bytes) in &statements {
        target.insert(name.clone(), bytes.clone());
    }

    let target = seeds.entry("reconcile_message").or_default();
    target.insert("golden-every-mode".into(), reconcile_golden.clone());
    for (name, bytes) in &sessions {
        target.insert(name.clone(), bytes.clone());
    }

    let target = seeds.entry("fed_request").or_default();
    for (name, bytes) in fed_frames(&bundles, &roster, &reconcile_golden, &statements) {
        target.insert(name, bytes);
    }

    let target = seeds.entry("stix_import").or_default();
    for (name, bytes) in files_in(&fixtures.join("stix/samples")) {
        target.insert(format!("fixture-{name}"), bytes);
    }

    let target = seeds.entry("intake_freetext").or_default();
    target.insert(
        "fixture-phishing-report.txt".into(),
        read(&fixtures.join("demo/phishing-report.txt")),
    );
    for (name, text) in FREETEXT {
        target.insert(format!("{name}.txt"), text.as_bytes().to_vec());
    }

    let target = seeds.entry("intake_csv").or_default();
    target.insert(
        "fixture-blocklist.csv".into(),
        read(&fixtures.join("demo/blocklist.csv")),
    );
    for (name, text) in CSV {
        target.insert(format!("{name}.csv"), text.as_bytes().to_vec());
    }

    let target = seeds.entry("api_publish_body").or_default();
    for (name, body) in publish_bodies() {
        target.insert(format!("{name}.json"), body);
    }

    let target = seeds.entry("taxii_query").or_default();
    let cursor = dims_node::taxii::seal_cursor(&[7; 32], b"token/collection", 1_765_152_000_123_456, 3);
    for (name, query) in [
        ("empty", String::new()),
        ("paged", format!("limit=2&next={cursor}")),
        (
            "filters",
            "added_after=2026-12-08T00:00:00.000001Z&match[type]=indicator,report&match[version]=all\
             &match[spec_version]=2.1&match[id]=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
                .to_owned(),
        ),
        (
            "versions",
            "match[version]=first,2026-01-01T00:00:00.000Z,last".to_owned(),
        ),
    ] {
        target.insert(format!("{name}.txt"), query.into_bytes());
    }

    let corpus = root.join("corpus");
    let mut stale = Vec::new();
    for (target, files) in &seeds {
        let dir = corpus.join(target);
        if !check {
            std::fs::create_dir_all(&dir).expect("create the corpus folder");
        }
        for (name, bytes) in files {
            let path = dir.join(name);
            if check {
                if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
                    stale.push(path.display().to_string());
                }
            } else {
                std::fs::write(&path, bytes).expect("write a seed");
            }
        }
        println!("{target}: {} seeds", files.len());
    }
    if !stale.is_empty() {
        eprintln!("seeds missing or out of date (run `cargo run --manifest-path fuzz/Cargo.toml --example seeds`):");
        for path in stale {
            eprintln!("  {path}");
        }
        std::process::exit(1);
    }
}

/// The golden bundle envelopes, and one small bundle of a single indicator.
fn bundles(fixtures: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (name, text) in files_in(&fixtures.join("vectors/bundle-v1")) {
        let stem = name.trim_end_matches(".hex");
        out.insert(format!("golden-{stem}"), hex_text(&text));
    }
    let key = samples::node_key(1);
    let small = key
        .sign(samples::indicator_bundle(&key, 1, samples::SAMPLE_TIME))
        .expect("the sample signs");
    out.insert("one-indicator".into(), small.envelope().to_vec());
    out
}

/// The sample roster signed by one admin (below threshold), by all three, and a second version.
fn rosters() -> Vec<(String, Vec<u8>)> {
    let signed = |roster, admins: &[u8]| {
        let mut signed = SignedRoster::new(roster).expect("the sample roster is valid");
        for &seed in admins {
            signed.sign(&samples::admin_key(seed)).expect("an admin signs");
        }
        signed.encode()
    };
    let mut successor = samples::roster();
    successor.version += 1;
    successor.issued += 86_400_000;
    successor.remove(&samples::node_key(3).node_id());
    vec![
        ("sample-1-of-3".into(), signed(samples::roster(), &[1])),
        ("sample-3-of-3".into(), signed(samples::roster(), &[1, 2, 3])),
        ("successor-2-of-3".into(), signed(successor, &[2, 3])),
    ]
}

/// A rotation and a revocation.
fn key_statements() -> BTreeMap<String, Vec<u8>> {
    let old = samples::node_key(1);
    let new = samples::node_key(4);
    let rotation = KeyStatement::rotation(&old, &new, samples::SAMPLE_TIME).expect("the rotation signs");
    let revocation = KeyStatement::revocation(&new, "key material left on a stolen laptop", samples::SAMPLE_TIME + 1)
        .expect("the revocation signs");
    BTreeMap::from([
        ("rotation".into(), rotation.encode()),
        ("revocation".into(), revocation.encode()),
    ])
}

/// The items the `reconcile_message` target holds: 64 items, one a second apart.
fn target_items() -> Vec<Item> {
    (0u64..64).filter_map(item).collect()
}

fn item(i: u64) -> Option<Item> {
    Item::new(i * 1000, ItemId(*blake3::hash(&i.to_le_bytes()).as_bytes())).ok()
}

/// Every message of real sessions between the target's items and a peer's: a few differences (id lists), a much
/// larger peer (fingerprint splits), and a peer with nothing, each with the default tuning and with a small one.
fn reconcile_sessions() -> BTreeMap<String, Vec<u8>> {
    let peers: [(&str, Vec<Item>); 3] = [
        (
            "few",
            (0u64..70)
                .filter(|i| ![5, 17, 40].contains(i))
                .filter_map(item)
                .collect(),
        ),
        ("many", (0u64..400).filter_map(item).collect()),
        ("empty", Vec::new()),
    ];
    let small = Config {
        branching_factor: 2,
        id_list_threshold: 4,
        ..Config::default()
    };
    let mut out = BTreeMap::new();
    for (tuning, config) in [("default", Config::default()), ("small", small)] {
        for (peer, items) in &peers {
            for (side, initiator_items, responder_items) in [
                ("peer-initiates", items.clone(), target_items()),
                ("we-initiate", target_items(), items.clone()),
            ] {
                let messages = session(initiator_items, responder_items, config);
                for (round, message) in messages.iter().enumerate() {
                    out.insert(format!("session-{tuning}-{peer}-{side}-{round:02}"), message.encode());
                }
            }
        }
    }
    // Keep one file per distinct message.
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|_, bytes| seen.insert(bytes.clone()));
    out
}

/// The first messages of one session, in order (at most 6: later rounds only narrow the ranges).
fn session(initiator: Vec<Item>, responder: Vec<Item>, config: Config) -> Vec<Message> {
    let mut initiator = Reconciler::new(SortedItems::from_items(initiator), config).expect("valid config");
    let mut responder = Reconciler::new(SortedItems::from_items(responder), config).expect("valid config");
    let mut messages = vec![initiator.initiate()];
    while messages.len() < 6 {
        let last = messages.last().expect("one message");
        let reply = responder
            .reconcile(last)
            .expect("the responder answers")
            .reply
            .expect("responders reply");
        messages.push(reply.clone());
        match initiator.reconcile(&reply).expect("the initiator answers").reply {
            Some(next) => messages.push(next),
            None => break,
        }
    }
    messages
}

/// One request frame of every kind, and the response frames that carry something decoded further.
fn fed_frames(
    bundles: &BTreeMap<String, Vec<u8>>,
    roster: &[u8],
    reconcile: &[u8],
    statements: &BTreeMap<String, Vec<u8>>,
) -> Vec<(String, Vec<u8>)> {
    let buf = |bytes: &[u8]| ByteBuf::from(bytes.to_vec());
    let bundle = &bundles["one-indicator"];
    let id = |n: u8| ByteBuf::from(vec![n; 32]);
    let member = |n: u8| ByteBuf::from(samples::member(n).0.to_vec());
    let requests = [
        ("deliver", Request::Deliver { envelope: buf(bundle) }),
        (
            "deliver-sealed",
            Request::DeliverSealed {
                sealed: SealedBundle {
                    id: id(1),
                    members: vec![member(9), member(10)],
                    // Not a real OpenPGP message: the target never opens it.
                    ciphertext: ByteBuf::from(b"\xc1\x0c\x03\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a".to_vec()),
                },
            },
        ),
        (
            "reconcile",
            Request::Reconcile {
                message: buf(reconcile),
            },
        ),
        (
            "fetch",
            Request::Fetch {
                ids: vec![id(1), id(2), id(3)],
            },
        ),
        (
            "member-certs",
            Request::MemberCerts {
                members: vec![member(9)],
            },
        ),
        ("roster", Request::Roster { envelope: buf(roster) }),
        (
            "key-statement",
            Request::KeyStatement {
                statement: buf(&statements["rotation"]),
            },
        ),
        (
            "check",
            Request::Check {
                now_ms: samples::SAMPLE_TIME,
            },
        ),
    ];
    let mut out: Vec<(String, Vec<u8>)> = requests
        .iter()
        .map(|(name, request)| (format!("request-{name}"), wire::encode_request(request)))
        .collect();
    let responses = [
        (
            "bundles",
            Response::Bundles {
                envelopes: vec![buf(bundle), buf(&bundles["golden-01-sitrep-green"])],
                withheld: 1,
                deferred: 0,
            },
        ),
        (
            "refused",
            Response::Refused {
                reason: "not on any roster".into(),
            },
        ),
        (
            "check",
            Response::Check(CheckReport {
                protocol: 1,
                now_ms: samples::SAMPLE_TIME,
                rosters: vec![("us-sltt".into(), 1)],
                knows_asker: true,
            }),
        ),
    ];
    for (name, response) in responses {
        let mut bytes = Vec::new();
        cbor4ii::serde::to_writer(&mut bytes, &response).expect("writing to a Vec cannot fail");
        out.push((format!("response-{name}"), bytes));
    }
    out
}

/// Free text: every indicator kind, fanged and defanged, in prose and in lists.
const FREETEXT: &[(&str, &str)] = &[
    (
        "every-kind",
        "IPv4 198.51.100.7, IPv6 2001:db8::bad:1, net 203.0.113.0/24 and 2001:db8:bad::/48\n\
         domain evil.example, url https://evil.example/path?q=1#frag, mail phish@evil.example\n\
         md5 9e107d9d372bb6826bd81d3542a419d6\n\
         sha1 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12\n\
         sha256 d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592\n\
         sha512 07e547d9586f6a73f73fbac0435ed76951218fb7d0c8d788a309d785436bbb642e93a252a954f23912547d1e8a3b5ed6e1bfd7097821233fa0538f3db854fee6\n\
         AS64511 asn 64512\n",
    ),
    (
        "defanged",
        "hxxps://payroll-update[.]example/login.php and hxxp[:]//cdn(.)bad{.}example/x\n\
         203.0.113[.]46, 198[.]51[.]100[.]9, billing-notice[@]payroll-update[.]example, evil[dot]example\n\
         fxp://files[.]example/drop.zip meow://x[.]example 2001:db8[:]:1\n",
    ),
    (
        "noise",
        "Not indicators: version 1.2.3.4.5, 999.1.1.1, file.exe, readme.md, 10.0.0.1 (private), localhost,\n\
         example.com is documentation, a sha-looking 0123456789abcdef0123456789abcdef0123, user@localhost,\n\
         \u{2024}unicode\u{ff0e}dots, ＩＰ 198․51․100․7, tab\tseparated\t192.0.2.1\r\nwindows line\r\n",
    ),
    (
        "markdown",
        "| value | type |\n|---|---|\n| `c2.rustbucket.example` | domain |\n| <http://198.51.100.23:8080/a> | url |\n\
         * [link](https://evil.example/x) ... \"quoted.example\" 'single.example' (paren.example)\n",
    ),
];

/// CSV: the column names and aliases, other delimiters, comments, quoting, bad rows.
const CSV: &[(&str, &str)] = &[
    (
        "every-column",
        "value,type,labels,confidence,valid_from,valid_until,description,name\n\
         198.51.100.7,ipv4,botnet|c2,90,2026-11-01,2027-02-01T00:00:00Z,\"C2, seen twice\",Loader C2\n\
         2001:db8::1,ipv6,,50,1793491200000,,,\n\
         203.0.113.0/24,cidr,scan,10,,,,\n\
         hxxps://evil[.]example/a,url,phishing,,,,,\n\
         phish@evil.example,email,,,,,,\n\
         d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592,sha256,,,,,,\n\
         2fd4e1c67a2d28fced849ee1bb76e7391b93eb12,sha1,,,,,,\n\
         AS64511,asn,,,,,,\n",
    ),
    (
        "misp-aliases",
        "# exported from MISP\nuuid;category;indicator;kind;tags;comment;to_ids\n\
         5f1c;Network activity;198.51.100.8;ip-dst;tlp:green;seen;1\n\
         5f1d;Network activity;evil.example;hostname;;;1\n\
         5f1e;Payload delivery;phish@evil.example;email-src;;;0\n\
         5f1f;Network activity;64512;AS;;;1\n",
    ),
    (
        "tabs-and-quotes",
        "Indicator\tType\tTag\tComment\n\"198.51.100.9\"\tipv4-addr\t\"a\"\"b\"\t\"multi\nline\"\n\
         evil.zip\tdomain-name\t\t\nbad value\tipv4\t\t\n",
    ),
    (
        "bad-rows",
        "value,type,confidence,valid_until\n198.51.100.10,ipv4,101,\n198.51.100.10,ipv4,5,\nnot-an-ip,ipv4,,\n\
         198.51.100.11,md5,,\n198.51.100.12,,,1700000000\n",
    ),
];

/// Publish bodies: indicators with every field, every kind, free text, and each audience form.
fn publish_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let peer = samples::node_key(2).node_id();
    let recipients = Audience::Recipients(vec![
        Recipient::Node(peer),
        Recipient::Org(peer, samples::org("county-soc")),
        Recipient::Member(peer, samples::member(9)),
    ]);
    let recipients = dims_node::intake::audience::spec(&recipients);
    let bodies = [
        (
            "minimal",
            json!({"tlp": "green", "indicators": [{"value": "198.51.100.7"}]}),
        ),
        (
            "every-field",
            json!({
                "tlp": "amber",
                "audience": "org",
                "labels": ["campaign-x"],
                "indicators": [{
                    "value": "hxxps://payroll-update[.]example/login.php",
                    "type": "url",
                    "labels": ["phishing", "payroll"],
                    "confidence": 80,
                    "name": "Payroll phishing page",
                    "description": "Credential harvester.",
                    "valid_from": "2026-11-01T00:00:00Z",
                    "valid_until": "2027-02-01",
                }],
            }),
        ),
        (
            "every-kind",
            json!({
                "tlp": "clear",
                "audience": "federation:us-sltt",
                "indicators": [
                    {"value": "2001:db8::bad:1", "type": "ipv6"},
                    {"value": "203.0.113.0/24", "type": "cidr"},
                    {"value": "evil.example", "type": "domain-name"},
                    {"value": "phish@evil.example", "type": "email"},
                    {"value": "9e107d9d372bb6826bd81d3542a419d6", "type": "md5"},
                    {"value": "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"},
                    {"value": "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592", "type": "sha256"},
                    {"value": "AS64511", "type": "asn", "valid_until": "1793491200000"},
                ],
            }),
        ),
        (
            "text",
            json!({
                "tlp": "green",
                "audience": "federation",
                "text": "Block hxxp://cdn-payroll[.]example/sso/ and 203.0.113[.]45; MD5 9e107d9d372bb6826bd81d3542a419d6.",
                "labels": ["phishing"],
                "skip_invalid": true,
            }),
        ),
        (
            "recipients",
            json!({"tlp": "red", "audience": recipients, "indicators": [{"value": "198.51.100.9", "confidence": 100}]}),
        ),
        (
            "community",
            json!({"tlp": "amber+strict", "audience": "community", "indicators": [{"value": "evil.example"}]}),
        ),
    ];
    bodies
        .into_iter()
        .map(|(name, body)| (name, serde_json::to_vec_pretty(&body).expect("JSON")))
        .collect()
}

/// The files of a folder, by name, sorted.
fn files_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| {
            let entry = entry.expect("a folder entry");
            (entry.file_name().to_string_lossy().into_owned(), read(&entry.path()))
        })
        .collect()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn hex_file(path: &Path) -> Vec<u8> {
    hex_text(&read(path))
}

fn hex_text(text: &[u8]) -> Vec<u8> {
    hex::decode(String::from_utf8_lossy(text).trim()).expect("a hex vector")
}
