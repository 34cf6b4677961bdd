//! STIX 2.1 import and export, as a specification.
//!
//! 1. What dims exports is valid STIX 2.1: the OASIS `stix2-validator` finds no error in an export of every content
//!    kind under every marking, and its only warnings are the documented ones.
//! 2. What the OASIS `stix2` library writes imports, and exporting the import again keeps every field dims models
//!    (the library's output made fresh by `fixtures/stix/make_samples.py`, and one run of it frozen in
//!    `fixtures/stix/samples/` for machines without Python).
//! 3. Bad input is reported, object by object, naming the object and the property; nothing panics, whatever the bytes.
//! 4. dims → STIX → dims gives back the same bodies when a node restores its own export, and a re-share with
//!    provenance when another node imports it.
//!
//! The Python tools live in a virtualenv: `$DIMS_VENV`, else `.venv` at the workspace root, made by `bash .ci/run`
//! (or `python3 -m venv .venv && .venv/bin/pip install stix2 stix2-validator`). A test that needs them fails when
//! they are missing; it never skips.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use dims_protocol::audience::Recipient;
use dims_protocol::content::{IncidentStatus, MAX_INDICATORS};
use dims_protocol::samples::{self, SAMPLE_TIME};
use dims_protocol::stix::marking;
use dims_protocol::stix::pattern::{self, PatternLimits};
use dims_protocol::stix::{
    self, DIMS_EXTENSION_ID, Draft, ExportContext, ImportContext, ImportError, ImportLimits, ImportOutcome, MadeFor,
    ObjectError, Party, PatternError,
};
use dims_protocol::{
    Audience, Author, Body, Content, CourseOfAction, Indicator, IndicatorRef, IndicatorValue, NodeKey, Observer,
    Provenance, Retraction, Sighting, Sitrep, Tlp, VerifiedBundle,
};
use proptest::prelude::*;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------------------------
// Fixtures

fn origin_key() -> NodeKey {
    samples::node_key(1)
}

fn every_kind() -> Vec<Body> {
    samples::every_kind(&origin_key(), samples::node_key(2).node_id())
}

fn sign(key: &NodeKey, bodies: Vec<Body>) -> Vec<VerifiedBundle> {
    bodies
        .into_iter()
        .map(|body| key.sign(body).expect("a valid body signs"))
        .collect()
}

fn export(bundles: &[VerifiedBundle]) -> Value {
    let refs: Vec<&VerifiedBundle> = bundles.iter().collect();
    stix::export(&refs, &ExportContext::default())
        .expect("every sample exports")
        .bundle
}

fn import(json: &Value, ctx: &ImportContext) -> ImportOutcome {
    let bytes = serde_json::to_vec(json).expect("serialises");
    stix::import(&bytes, ctx).expect("the input imports as a whole")
}

/// The origin node restoring its own export.
fn restore_ctx() -> ImportContext {
    let mut ctx = ImportContext::new(
        origin_key().node_id(),
        samples::author("cert-ops", 1),
        SAMPLE_TIME + 86_400_000,
    );
    ctx.restore = true;
    ctx
}

/// Another node's member importing: `county-soc` at node 3, member 7.
fn importer_key() -> NodeKey {
    samples::node_key(3)
}

fn importer_ctx() -> ImportContext {
    let mut ctx = ImportContext::new(
        importer_key().node_id(),
        samples::author("county-soc", 7),
        SAMPLE_TIME + 86_400_000,
    );
    ctx.default_audience = Audience::Federation(samples::federation());
    ctx
}

fn objects(bundle: &Value) -> &[Value] {
    bundle["objects"].as_array().map_or(&[], Vec::as_slice)
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A program from the Python virtualenv; a missing one fails the test with what to do.
fn venv_tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("DIMS_VENV").map_or_else(|| workspace().join(".venv"), PathBuf::from);
    let tool = venv.join("bin").join(name);
    assert!(
        tool.exists(),
        "{} is missing: run `bash .ci/run`, or `python3 -m venv .venv && .venv/bin/pip install stix2 \
         stix2-validator` at the workspace root, or point DIMS_VENV at a virtualenv that has them",
        tool.display()
    );
    tool
}

/// A fresh folder under the system's temp dir, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("dims-stix-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }

    fn write(&self, name: &str, json: &Value) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(json).expect("serialises")).expect("writes");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 1. The OASIS validator accepts every export

/// Validator warnings an export may draw, and why they stay.
const ACCEPTED_WARNINGS: [(&str, &str); 1] = [(
    "{303}",
    "indicators without a description: STIX says SHOULD, and a made-up description would reach other tools as if \
     an analyst had written it",
)];

/// Runs the validator on each of `documents` (in one run, since starting it takes seconds): no errors (exit 0 with
/// `--silent`), and no warnings but the accepted ones.
fn assert_valid_stix(label: &str, documents: &[(String, Value)]) {
    let scratch = Scratch::new(label);
    let files: Vec<PathBuf> = documents
        .iter()
        .map(|(name, json)| scratch.write(&format!("{name}.json"), json))
        .collect();
    let validator = venv_tool("stix2_validator");
    let silent = Command::new(&validator)
        .args(["--version", "2.1", "--silent"])
        .args(&files)
        .status()
        .expect("the validator runs");
    let verbose = Command::new(&validator)
        .args(["--version", "2.1", "-v"])
        .args(&files)
        .output()
        .expect("the validator runs");
    let report = String::from_utf8_lossy(&verbose.stdout);
    assert!(silent.success(), "stix2_validator found errors in {label}:\n{report}");
    let unexpected: Vec<&str> = report
        .lines()
        .filter(|line| line.contains("[!] Warning") || line.contains("[X]"))
        .filter(|line| !ACCEPTED_WARNINGS.iter().any(|(code, _)| line.contains(code)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected validator warnings in {label}:\n{}",
        unexpected.join("\n")
    );
}

/// Every kind plus the edge cases of the mapping: a SITREP with neither indicators nor body, a course of action
/// with neither action nor indicators, a sighting of an indicator in the same export with a count beyond STIX's
/// limit, and an expiring retraction of the first bundle (so that revoked objects are validated and restored too).
fn every_kind_and_edges() -> Vec<Body> {
    let key = origin_key();
    let mut bodies = every_kind();
    let first = key.sign(bodies[0].clone()).expect("valid").id();
    let base = |created, content| {
        Body::new(
            key.node_id(),
            samples::author("cert-ops", 1),
            created,
            Tlp::Green,
            Audience::Community,
            content,
        )
    };
    bodies.push(base(
        SAMPLE_TIME + 10,
        Content::Sitrep(Sitrep {
            body: None,
            title: "Quiet week".to_owned(),
            // Surrounding space is valid dims text and must survive the trip.
            summary: " Nothing new to report.\n".to_owned(),
            indicators: Vec::new(),
        }),
    ));
    bodies.push(base(
        SAMPLE_TIME + 11,
        Content::CourseOfAction(CourseOfAction {
            title: "Patch the VPN concentrators".to_owned(),
            action: None,
            indicators: Vec::new(),
            description: None,
        }),
    ));
    bodies.push(base(
        SAMPLE_TIME + 12,
        Content::Sightings(vec![Sighting {
            count: u32::MAX,
            victims: Vec::new(),
            observer: Observer::Org(samples::node_key(2).node_id(), samples::org("county-soc")),
            indicator: IndicatorRef {
                value: samples::indicator(3).value,
                bundle: Some(first),
            },
            last_seen: SAMPLE_TIME,
            first_seen: SAMPLE_TIME,
        }]),
    ));
    let mut retraction = retraction_of(first, SAMPLE_TIME + 500);
    retraction.expires = Some(SAMPLE_TIME + 365 * 86_400_000);
    bodies.push(retraction);
    bodies
}

#[test]
fn export_of_every_kind_and_marking_passes_the_oasis_validator() {
    let bundle = export(&sign(&origin_key(), every_kind_and_edges()));
    let markings: BTreeSet<&str> = objects(&bundle)
        .iter()
        .filter_map(|object| object["object_marking_refs"][0].as_str())
        .collect();
    for tlp in Tlp::ALL {
        assert!(markings.contains(marking::marking_id(tlp)), "the sample covers {tlp}");
    }
    assert!(objects(&bundle).iter().any(|object| object["revoked"] == true));
    assert_valid_stix("every-kind", &[("every-kind".to_owned(), bundle)]);
}

#[test]
fn a_sighting_refers_to_the_exported_indicator_it_names() {
    let bundle = export(&sign(&origin_key(), every_kind_and_edges()));
    let sighting = objects(&bundle)
        .iter()
        .find(|o| o["type"] == "sighting" && o["count"] == 999_999_999)
        .expect("the large sighting");
    let target = objects(&bundle)
        .iter()
        .find(|o| o["id"] == sighting["sighting_of_ref"])
        .expect("its indicator is in the bundle");
    assert_eq!(
        target["extensions"][DIMS_EXTENSION_ID]["part"], "indicator",
        "no stand-in is made"
    );
    assert_eq!(target["pattern"], "[ipv6-addr:value = '2001:db8::3']");
    assert_eq!(
        sighting["extensions"][DIMS_EXTENSION_ID]["count"],
        u32::MAX,
        "the exact count is kept"
    );
}

#[test]
fn export_refuses_times_stix_cannot_write() {
    let mut body = every_kind().remove(0);
    body.created = 253_402_300_800_000; // 10000-01-01T00:00:00Z
    let bundle = origin_key().sign(body).expect("dims allows any time");
    let error = stix::export(&[&bundle], &ExportContext::default()).expect_err("STIX does not");
    assert_eq!(
        error.to_string(),
        format!(
            "bundle {}: created: 253402300800000 ms since the epoch is past the year 9999, which a STIX timestamp \
             cannot express; the bundle cannot be exported to STIX",
            bundle.id()
        )
    );
}

#[test]
fn node_names_name_node_identities() {
    let key = origin_key();
    let bundles = sign(&key, every_kind());
    let refs: Vec<&VerifiedBundle> = bundles.iter().collect();
    let ctx = ExportContext {
        node_names: BTreeMap::from([(key.node_id(), "Puget Sound regional node".to_owned())]),
        ..ExportContext::default()
    };
    let bundle = stix::export(&refs, &ctx).expect("exports").bundle;
    let node = objects(&bundle)
        .iter()
        .find(|o| o["identity_class"] == "system" && o["id"] != stix::DIMS_IDENTITY_ID)
        .expect("the node identity");
    assert_eq!(node["name"], "Puget Sound regional node");
}

#[test]
fn export_shapes_follow_the_mapping() {
    let bundle = export(&sign(&origin_key(), every_kind()));
    let types: BTreeMap<&str, usize> = objects(&bundle).iter().fold(BTreeMap::new(), |mut counts, object| {
        *counts.entry(object["type"].as_str().unwrap_or("?")).or_default() += 1;
        counts
    });
    let expected = [
        ("marking-definition", 5),
        ("extension-definition", 1),
        // dims itself, the origin node, its org cert-ops (author and observer), the anonymous observer.
        ("identity", 4),
        ("report", 1),
        ("note", 1),
        ("course-of-action", 1),
        ("incident", 1),
        ("relationship", 3),
        ("sighting", 2),
        // 5 + 5 (the superseding copy) + 2 (SITREP) + 1 (course of action) + 2 (incident) + 2 sighted values.
        ("indicator", 17),
    ];
    assert_eq!(types, expected.into_iter().collect::<BTreeMap<_, _>>());
    for object in objects(&bundle) {
        let kind = object["type"].as_str().unwrap_or("?");
        if kind != "marking-definition" {
            assert!(object["object_marking_refs"].is_array(), "{kind} carries its marking");
        }
        if !matches!(kind, "marking-definition" | "extension-definition" | "identity") {
            assert!(object["created_by_ref"].is_string(), "{kind} names its author");
            assert!(
                object["extensions"][DIMS_EXTENSION_ID]["bundle"].is_string(),
                "{kind} names its dims bundle"
            );
        }
    }
    // The TLP 2.0 marking-definitions are the OASIS objects, byte for byte in meaning.
    let amber_strict = objects(&bundle)
        .iter()
        .find(|object| object["name"] == "TLP:AMBER+STRICT")
        .expect("AMBER+STRICT is used");
    assert_eq!(
        amber_strict,
        &json!({
            "type": "marking-definition", "spec_version": "2.1",
            "id": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
            "created": "2022-10-01T00:00:00.000Z", "name": "TLP:AMBER+STRICT",
            "extensions": {"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                "extension_type": "property-extension", "tlp_2_0": "amber+strict"}}
        })
    );
}

#[test]
fn export_is_deterministic() {
    let bundles = sign(&origin_key(), every_kind());
    assert_eq!(export(&bundles), export(&bundles));
}

#[test]
fn patterns_cover_every_indicator_kind() {
    let cases = [
        ("ipv4", "192.0.2.1", "[ipv4-addr:value = '192.0.2.1']"),
        ("ipv6", "2001:db8::1", "[ipv6-addr:value = '2001:db8::1']"),
        ("cidr", "198.51.100.0/24", "[ipv4-addr:value = '198.51.100.0/24']"),
        ("cidr", "2001:db8::/32", "[ipv6-addr:value = '2001:db8::/32']"),
        ("domain", "evil.example", "[domain-name:value = 'evil.example']"),
        (
            "url",
            "http://evil.example/a'b",
            "[url:value = 'http://evil.example/a\\'b']",
        ),
        (
            "email",
            "billing@fraud.example",
            "[email-addr:value = 'billing@fraud.example']",
        ),
        (
            "md5",
            &"ab".repeat(16),
            &format!("[file:hashes.'MD5' = '{}']", "ab".repeat(16)),
        ),
        (
            "sha1",
            &"ab".repeat(20),
            &format!("[file:hashes.'SHA-1' = '{}']", "ab".repeat(20)),
        ),
        (
            "sha256",
            &"ab".repeat(32),
            &format!("[file:hashes.'SHA-256' = '{}']", "ab".repeat(32)),
        ),
        (
            "sha512",
            &"ab".repeat(64),
            &format!("[file:hashes.'SHA-512' = '{}']", "ab".repeat(64)),
        ),
        ("asn", "AS64500", "[autonomous-system:number = 64500]"),
    ];
    for (kind, text, expected) in cases {
        let value = IndicatorValue::parse(kind.parse().expect("kind"), text).expect("valid value");
        assert_eq!(pattern::to_pattern(&value), expected, "{kind}");
        let back = pattern::parse(expected, PatternLimits::default()).expect("reads back");
        assert_eq!(back.values, vec![value], "{kind}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 2. What the stix2 library writes imports without loss

/// The fields dims models, one line per STIX object (one per value for indicators), with references resolved to
/// values and markings to TLP 2.0. Revoked objects and the sighted-value stand-ins of dims exports are left out.
fn modelled_facts(bundle: &Value) -> BTreeSet<String> {
    let list = objects(bundle);
    let by_id: BTreeMap<&str, &Value> = list.iter().filter_map(|o| Some((o["id"].as_str()?, o))).collect();
    let ext = |object: &Value| object["extensions"][DIMS_EXTENSION_ID].clone();
    let marking_of = |object: &Value| {
        object["object_marking_refs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|id| {
                marking::known(id).or_else(|| by_id.get(id).and_then(|m| m.as_object()).and_then(marking::stated))
            })
            .max()
    };
    let time = |value: &Value| value.as_str().map(|text| stix::time::parse(text).expect("a timestamp"));
    let values = |id: &str| -> Vec<String> {
        by_id
            .get(id)
            .and_then(|indicator| indicator["pattern"].as_str())
            .map(|text| {
                pattern::parse(text, PatternLimits::default())
                    .expect("a pattern")
                    .values
            })
            .unwrap_or_default()
            .iter()
            .map(|value| format!("{value:?}"))
            .collect()
    };
    let related = |container: &str, as_source: &[&str], as_target: &[&str]| -> Vec<String> {
        let mut found: Vec<String> = list
            .iter()
            .filter(|o| o["type"] == "relationship")
            .filter_map(|r| {
                let kind = r["relationship_type"].as_str()?;
                let (source, target) = (r["source_ref"].as_str()?, r["target_ref"].as_str()?);
                if source == container && as_source.contains(&kind) {
                    Some(target)
                } else if target == container && as_target.contains(&kind) {
                    Some(source)
                } else {
                    None
                }
            })
            .flat_map(values)
            .collect();
        found.sort();
        found.dedup();
        found
    };
    let mut facts = BTreeSet::new();
    for object in list {
        if object["revoked"] == true || ext(object)["part"] == "sighted_value" {
            continue;
        }
        let id = object["id"].as_str().unwrap_or_default();
        let tlp = marking_of(object);
        match object["type"].as_str().unwrap_or_default() {
            "indicator" => {
                let name = if ext(object)["name_implied"] == true {
                    &Value::Null
                } else {
                    &object["name"]
                };
                let mut labels: Vec<&str> = ["labels", "indicator_types"]
                    .iter()
                    .flat_map(|key| object[*key].as_array().into_iter().flatten())
                    .filter_map(Value::as_str)
                    .collect();
                labels.sort_unstable();
                labels.dedup();
                for value in values(id) {
                    facts.insert(format!(
                        "indicator {value} name={name} description={} labels={labels:?} confidence={} \
                         kill_chain={} valid_from={:?} valid_until={:?} {tlp:?}",
                        object["description"],
                        object["confidence"],
                        object["kill_chain_phases"],
                        time(&object["valid_from"]),
                        time(&object["valid_until"]),
                    ));
                }
            }
            "report" => {
                let mut indicators: Vec<String> = object["object_refs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .flat_map(values)
                    .collect();
                indicators.sort();
                let body: Vec<&str> = list
                    .iter()
                    .filter(|o| o["type"] == "note")
                    .filter(|o| {
                        o["object_refs"]
                            .as_array()
                            .is_some_and(|refs| refs.iter().any(|r| r == id))
                    })
                    .filter_map(|o| o["content"].as_str())
                    .collect();
                facts.insert(format!(
                    "report name={} description={} body={body:?} indicators={indicators:?} {tlp:?}",
                    object["name"], object["description"]
                ));
            }
            "course-of-action" => {
                let indicators = related(id, &["mitigates", "investigates", "remediates", "related-to"], &[]);
                facts.insert(format!(
                    "course-of-action name={} description={} indicators={indicators:?} {tlp:?}",
                    object["name"], object["description"]
                ));
            }
            "incident" => {
                let indicators = related(id, &["related-to"], &["indicates", "related-to"]);
                facts.insert(format!(
                    "incident name={} description={} indicators={indicators:?} {tlp:?}",
                    object["name"], object["description"]
                ));
            }
            "sighting" => {
                let target = object["sighting_of_ref"].as_str().unwrap_or_default();
                let observer_id = object["where_sighted_refs"][0].as_str().unwrap_or_default();
                let observer = by_id.get(observer_id).map(|o| ext(o));
                // A foreign observer comes back as an anonymous observer whose pseudonym is its STIX UUID.
                let observer = match observer.as_ref().and_then(|e| e["pseudonym"].as_str()) {
                    Some(pseudonym) => {
                        let bytes: [u8; 16] = hex::decode(pseudonym).expect("hex").try_into().expect("16 bytes");
                        uuid::Uuid::from_bytes(bytes).to_string()
                    }
                    None => observer_id.split_once("--").map_or("", |(_, uuid)| uuid).to_owned(),
                };
                let tlp = tlp.max(by_id.get(target).and_then(|t| marking_of(t)));
                facts.insert(format!(
                    "sighting of={:?} count={} first_seen={:?} last_seen={:?} observer={observer} {tlp:?}",
                    values(target).first(),
                    object["count"],
                    time(&object["first_seen"]),
                    time(&object["last_seen"]),
                ));
            }
            _ => {}
        }
    }
    facts
}

/// Imports every sample file in `dir` as another node would, signs the drafts, exports them again, and checks that
/// every modelled fact of the original is in the re-export and nothing else is. Returns the outcomes by file name.
fn assert_samples_survive(dir: &Path, validate: bool) -> BTreeMap<String, ImportOutcome> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the samples folder exists")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        6,
        "make_samples.py writes six files into {}",
        dir.display()
    );
    let mut outcomes = BTreeMap::new();
    let mut reexports = Vec::new();
    for file in files {
        let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        let bytes = std::fs::read(&file).expect("readable");
        let original: Value = serde_json::from_slice(&bytes).expect("JSON");
        let outcome = stix::import(&bytes, &importer_ctx()).expect("imports");
        assert!(outcome.unsupported.is_empty(), "{name}: {:#?}", outcome.unsupported);
        let bodies = outcome.drafts.iter().map(|draft| draft.body.clone()).collect();
        let again = export(&sign(&importer_key(), bodies));
        let (before, after) = (modelled_facts(&original), modelled_facts(&again));
        let lost: Vec<&String> = before.difference(&after).collect();
        let added: Vec<&String> = after.difference(&before).collect();
        assert!(
            lost.is_empty() && added.is_empty(),
            "{name}: lost {lost:#?}\nadded {added:#?}"
        );
        assert!(!before.is_empty(), "{name} has modelled objects");
        reexports.push((name.clone(), again));
        outcomes.insert(name, outcome);
    }
    if validate {
        assert_valid_stix("reexports", &reexports);
    }
    outcomes
}

#[test]
fn stix2_library_output_imports_and_reexports_without_loss() {
    let scratch = Scratch::new("stix2-samples");
    let script = workspace().join("fixtures/stix/make_samples.py");
    let output = Command::new(venv_tool("python"))
        .arg(&script)
        .arg(&scratch.0)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "make_samples.py failed (is the stix2 library installed in the virtualenv?):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_samples_survive(&scratch.0, true);
    // The frozen copy must say what the script says now (compared by meaning, not bytes, so that a newer stix2
    // release that formats differently does not matter).
    for name in [
        "course_of_action",
        "incident",
        "indicators",
        "markings",
        "report",
        "sighting",
    ] {
        let read = |dir: &Path| -> Value {
            serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).expect("readable")).expect("JSON")
        };
        assert_eq!(
            modelled_facts(&read(&scratch.0)),
            modelled_facts(&read(&frozen_samples())),
            "fixtures/stix/samples/{name}.json is stale: run `.venv/bin/python fixtures/stix/make_samples.py \
             fixtures/stix/samples` at the workspace root"
        );
    }
}

fn frozen_samples() -> PathBuf {
    workspace().join("fixtures/stix/samples")
}

#[test]
fn frozen_stix2_samples_reexport_without_loss() {
    assert_samples_survive(&frozen_samples(), false);
}

/// What each content kind, marking and audience an outcome's drafts have, in order: `indicators GREEN federation 15`.
fn summary(outcome: &ImportOutcome) -> Vec<String> {
    outcome
        .drafts
        .iter()
        .map(|Draft { body, .. }| {
            format!(
                "{} {} {} {}",
                body.content.kind(),
                body.tlp,
                body.audience.kind(),
                body.content.indicators().len()
            )
        })
        .collect()
}

#[test]
fn frozen_stix2_samples_import_as_specified() {
    let outcomes = assert_samples_survive(&frozen_samples(), false);
    let expected: [(&str, &[&str]); 6] = [
        ("course_of_action", &["course_of_action TLP:AMBER org 1"]),
        ("incident", &["incident_report TLP:AMBER+STRICT org 1"]),
        // Thirteen patterns, one of them an OR of two values, and one bare indicator.
        ("indicators", &["indicators TLP:GREEN federation 15"]),
        (
            "markings",
            &[
                "indicators TLP:CLEAR federation 2",
                "indicators TLP:GREEN federation 2",
                "indicators TLP:AMBER org 2",
                "indicators TLP:AMBER+STRICT org 1",
                "indicators TLP:RED recipients 2",
            ],
        ),
        ("report", &["sitrep TLP:AMBER org 2"]),
        // The sighted indicator is real intelligence in its own right, so it is imported too.
        (
            "sighting",
            &["indicators TLP:RED recipients 1", "sightings TLP:RED recipients 0"],
        ),
    ];
    for (name, drafts) in expected {
        assert_eq!(summary(&outcomes[name]), drafts.to_vec(), "{name}");
    }
    let sitrep = &outcomes["report"].drafts[0].body;
    let Content::Sitrep(sitrep) = &sitrep.content else {
        panic!("a sitrep")
    };
    assert_eq!(sitrep.title, "Invoice fraud campaign");
    assert_eq!(
        sitrep.body.as_deref(),
        Some("## Timeline\n\n* 08:00 first invoices\n* 09:15 portal taken down")
    );
    let sightings = &outcomes["sighting"].drafts[1].body;
    assert_eq!(
        sightings.audience,
        Audience::Recipients(vec![Recipient::Member(importer_key().node_id(), samples::member(7))]),
        "RED without a stated audience goes to the importing member alone"
    );
    let Content::Sightings(list) = &sightings.content else {
        panic!("sightings")
    };
    assert_eq!(
        (list[0].count, list[0].last_seen - list[0].first_seen),
        (17, 31_500_250)
    );
    assert!(
        matches!(list[0].observer, Observer::Anonymous(_)),
        "a foreign observer is kept as a pseudonym"
    );
    let Content::IncidentReport(incident) = &outcomes["incident"].drafts[0].body.content else {
        panic!("incident")
    };
    assert_eq!(incident.status, IncidentStatus::Open);
    for outcome in outcomes.values() {
        for draft in &outcome.drafts {
            assert_eq!(draft.body.derived_from, None, "plain STIX has no dims provenance");
            assert_eq!(draft.body.author, samples::author("county-soc", 7));
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Bad input is reported, never a crash

/// A one-indicator bundle, with `edit` applied to the indicator.
fn one_indicator(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut indicator = json!({
        "type": "indicator", "spec_version": "2.1", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created": "2026-10-01T00:00:00.000Z", "modified": "2026-10-01T00:00:00.000Z",
        "pattern": "[ipv4-addr:value = '198.51.100.7']", "pattern_type": "stix",
        "valid_from": "2026-10-01T00:00:00Z",
        "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]
    });
    if let Some(map) = indicator.as_object_mut() {
        edit(map);
    }
    json!({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [indicator]})
}

/// Imports a one-indicator bundle edited by `edit`: nothing is imported, and the problems are returned as text.
fn problems(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Vec<String> {
    let outcome = import(&one_indicator(edit), &importer_ctx());
    assert!(
        outcome.drafts.is_empty(),
        "nothing is imported: {:?}",
        summary(&outcome)
    );
    assert!(!outcome.unsupported.is_empty(), "a problem is reported");
    outcome.unsupported.iter().map(ToString::to_string).collect()
}

#[test]
fn object_problems_name_the_object_and_property() {
    let id = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
    type Edit = Box<dyn FnOnce(&mut serde_json::Map<String, Value>)>;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|o| {
                o.remove("pattern");
            }),
            "property pattern is missing",
        ),
        (
            Box::new(|o| {
                o.insert("pattern".into(), json!(42));
            }),
            "property pattern should be a string, found the number 42",
        ),
        (
            Box::new(|o| {
                o.insert("pattern".into(), json!("[ipv4-addr:value = '1.2.3.4'"));
            }),
            "property pattern: syntax error at byte 28",
        ),
        (
            Box::new(|o| {
                o.insert(
                    "pattern".into(),
                    json!("[ipv4-addr:value = '1.2.3.4' AND ipv4-addr:value = '5.6.7.8']"),
                );
            }),
            "uses AND",
        ),
        (
            Box::new(|o| {
                o.insert("pattern".into(), json!("[ipv4-addr:value = '10.1.2.3/8']"));
            }),
            "did you mean 10.0.0.0/8",
        ),
        (
            Box::new(|o| {
                o.insert("pattern".into(), json!("[file:name = 'evil.exe']"));
            }),
            "has no indicator for the object path file:name",
        ),
        (
            Box::new(|o| {
                o.insert("pattern_type".into(), json!("sigma"));
            }),
            "pattern_type \"sigma\" is not supported",
        ),
        (
            Box::new(|o| {
                o.insert("valid_from".into(), json!("yesterday"));
            }),
            "property valid_from: \"yesterday\" is not a STIX timestamp",
        ),
        (
            Box::new(|o| {
                o.insert("valid_until".into(), json!("2026-09-01T00:00:00Z"));
            }),
            "a time after valid_from",
        ),
        (
            Box::new(|o| {
                o.insert("confidence".into(), json!(101));
            }),
            "property confidence should be an integer from 0 to 100",
        ),
        (
            Box::new(|o| {
                o.insert("labels".into(), json!("botnet"));
            }),
            "property labels should be a list of strings",
        ),
        (
            Box::new(|o| {
                o.insert("revoked".into(), json!("yes"));
            }),
            "property revoked should be true or false",
        ),
        (
            Box::new(|o| {
                o.insert("object_marking_refs".into(), json!([7]));
            }),
            "property object_marking_refs should be a list of strings",
        ),
    ];
    for (edit, expected) in cases {
        let texts = problems(edit);
        assert!(
            texts.iter().all(|text| text.starts_with(id)),
            "{texts:?} name the object"
        );
        assert!(
            texts.iter().any(|text| text.contains(expected)),
            "{texts:?} should say {expected:?}"
        );
    }
}

#[test]
fn unknown_types_and_strays_are_reported_while_the_rest_imports() {
    let mut bundle = one_indicator(|_| {});
    let list = bundle["objects"].as_array_mut().expect("a list");
    list.push(json!({"type": "malware", "spec_version": "2.1", "id": "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
                     "created": "2026-10-01T00:00:00Z", "modified": "2026-10-01T00:00:00Z", "name": "Emotet", "is_family": true}));
    list.push(json!({"type": "x-acme-widget", "id": "x-acme-widget--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061"}));
    list.push(json!("not an object"));
    list.push(json!({"type": "indicator", "id": "not-an-id"}));
    list.push(
        json!({"type": "identity", "spec_version": "2.1", "id": "identity--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
                     "created": "2026-10-01T00:00:00Z", "modified": "2026-10-01T00:00:00Z", "name": "Nobody"}),
    );
    list.push(json!({"type": "relationship", "spec_version": "2.1", "id": "relationship--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
                     "created": "2026-10-01T00:00:00Z", "modified": "2026-10-01T00:00:00Z", "relationship_type": "uses",
                     "source_ref": "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
                     "target_ref": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}));
    let outcome = import(&bundle, &importer_ctx());
    assert_eq!(summary(&outcome), ["indicators TLP:GREEN federation 1"]);
    let reported: Vec<(String, String)> = outcome
        .unsupported
        .iter()
        .map(|error| (error.object().to_owned(), error.to_string()))
        .collect();
    let expected = [
        ("objects[3]", "not a STIX object"),
        ("objects[4]", "id \"not-an-id\" is not of the form indicator--<uuid>"),
        (
            "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
            "does not model STIX malware objects",
        ),
        (
            "x-acme-widget--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
            "does not model STIX x-acme-widget objects",
        ),
        (
            "identity--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
            "no imported object refers to this identity",
        ),
        (
            "relationship--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
            "a \"uses\" relationship from malware to indicator",
        ),
    ];
    assert_eq!(reported.len(), expected.len(), "{reported:#?}");
    for ((object, text), (want_object, want_text)) in reported.iter().zip(expected) {
        assert_eq!(object, want_object);
        assert!(text.contains(want_text), "{text:?} should say {want_text:?}");
    }
}

#[test]
fn whole_input_errors_say_what_to_do() {
    let ctx = importer_ctx();
    let cases: [(&[u8], &str); 6] = [
        (b"", "not JSON (line 1, column 0"),
        (b"{\"type\": \"bundle\", \"objects\": [}", "not JSON (line 1, column 32"),
        (b"42", "neither an object nor a list"),
        (b"{\"objects\": []}", "a JSON object without a string type"),
        (
            b"{\"type\": \"bundle\", \"objects\": {}}",
            "objects property is not a list",
        ),
        (&[b'['; 100_000], "recursion limit exceeded"),
    ];
    for (input, expected) in cases {
        let error = stix::import(input, &ctx).expect_err("refused").to_string();
        assert!(error.contains(expected), "{error:?} should say {expected:?}");
    }
    let mut small = importer_ctx();
    small.limits = ImportLimits {
        max_bytes: 100,
        max_objects: 1,
        max_indicators: 2,
        ..ImportLimits::default()
    };
    let big = vec![b' '; 101];
    assert_eq!(
        stix::import(&big, &small),
        Err(ImportError::TooLarge { bytes: 101, limit: 100 })
    );
    assert_eq!(
        stix::import(b"[{}, {}]", &small),
        Err(ImportError::TooManyObjects { count: 2, limit: 1 })
    );
    small.limits.max_bytes = 1 << 20;
    let three = one_indicator(|o| {
        o.insert(
            "pattern".into(),
            json!("[ipv4-addr:value IN ('192.0.2.1', '192.0.2.2', '192.0.2.3')]"),
        );
    });
    let bytes = serde_json::to_vec(&three).expect("serialises");
    assert_eq!(
        stix::import(&bytes, &small),
        Err(ImportError::TooManyIndicators { limit: 2 })
    );
    small.limits.pattern = PatternLimits {
        max_bytes: 20,
        max_terms: 10,
    };
    let outcome = stix::import(&serde_json::to_vec(&one_indicator(|_| {})).expect("json"), &small).expect("imports");
    assert!(matches!(
        &outcome.unsupported[0],
        ObjectError::Pattern {
            error: PatternError::TooLong { .. },
            ..
        }
    ));
}

#[test]
fn markings_decide_the_audience() {
    let with_marking = |marking: Option<&str>| {
        one_indicator(|o| match marking {
            Some(id) => {
                o.insert("object_marking_refs".into(), json!([id]));
            }
            None => {
                o.remove("object_marking_refs");
            }
        })
    };
    let cases = [
        (
            Some("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"),
            "indicators TLP:CLEAR federation 1",
        ),
        (
            Some(marking::marking_id(Tlp::Green)),
            "indicators TLP:GREEN federation 1",
        ),
        (
            Some("marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"),
            "indicators TLP:AMBER org 1",
        ),
        (
            Some(marking::marking_id(Tlp::AmberStrict)),
            "indicators TLP:AMBER+STRICT org 1",
        ),
        (
            Some("marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"),
            "indicators TLP:RED recipients 1",
        ),
        // No marking: the context's default, cautious AMBER unless configured.
        (None, "indicators TLP:AMBER org 1"),
    ];
    for (marking, expected) in cases {
        assert_eq!(
            summary(&import(&with_marking(marking), &importer_ctx())),
            [expected],
            "{marking:?}"
        );
    }
    let mut no_member = importer_ctx();
    no_member.author.member = None;
    let red = import(&with_marking(Some(marking::marking_id(Tlp::Red))), &no_member);
    assert!(
        matches!(red.unsupported.as_slice(), [ObjectError::RedWithoutMember { .. }]),
        "{:?}",
        red.unsupported
    );

    // An inline marking-definition names its TLP by the classic definition or by the TLP 2.0 extension; a
    // statement marking is not a TLP and is ignored with a warning.
    let mut inline = with_marking(Some("marking-definition--0b5e2bd4-4c51-4d45-a7a5-1fbbc0b2dc0f"));
    let list = inline["objects"].as_array_mut().expect("a list");
    list.push(json!({"type": "marking-definition", "spec_version": "2.1",
                     "id": "marking-definition--0b5e2bd4-4c51-4d45-a7a5-1fbbc0b2dc0f",
                     "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp", "definition": {"tlp": "red"}}));
    assert_eq!(
        summary(&import(&inline, &importer_ctx())),
        ["indicators TLP:RED recipients 1"]
    );
    let mut statement = with_marking(Some("marking-definition--0b5e2bd4-4c51-4d45-a7a5-1fbbc0b2dc0f"));
    statement["objects"].as_array_mut().expect("a list").push(json!({
        "type": "marking-definition", "spec_version": "2.1",
        "id": "marking-definition--0b5e2bd4-4c51-4d45-a7a5-1fbbc0b2dc0f", "created": "2017-01-20T00:00:00.000Z",
        "definition_type": "statement", "definition": {"statement": "Copyright ACME"}}));
    let outcome = import(&statement, &importer_ctx());
    assert_eq!(summary(&outcome), ["indicators TLP:AMBER org 1"]);
    assert!(
        outcome.warnings[0].message.contains("not a TLP marking"),
        "{:?}",
        outcome.warnings
    );
}

#[test]
fn a_container_takes_the_strictest_marking_of_its_parts() {
    let mut bundle = one_indicator(|o| {
        o.insert("object_marking_refs".into(), json!([marking::marking_id(Tlp::Red)]));
    });
    bundle["objects"].as_array_mut().expect("a list").push(json!({
        "type": "report", "spec_version": "2.1", "id": "report--4f6a5d3e-2b7c-4a8b-9c0d-1e2f3a4b5c6d",
        "created": "2026-10-01T00:00:00Z", "modified": "2026-10-01T00:00:00Z", "name": "Mixed",
        "published": "2026-10-01T00:00:00Z", "object_refs": ["indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"],
        "object_marking_refs": [marking::marking_id(Tlp::Green)]}));
    assert_eq!(
        summary(&import(&bundle, &importer_ctx())),
        ["sitrep TLP:RED recipients 1"]
    );
}

/// A sample to mutate, chosen by `pick`: the export of every kind and its edge cases, or one of the frozen stix2
/// samples.
fn mutation_seed(pick: usize) -> Vec<u8> {
    const FROZEN: [&str; 6] = [
        "course_of_action",
        "incident",
        "indicators",
        "markings",
        "report",
        "sighting",
    ];
    match pick % (FROZEN.len() + 1) {
        0 => serde_json::to_vec(&export(&sign(&origin_key(), every_kind_and_edges()))).expect("serialises"),
        n => std::fs::read(frozen_samples().join(format!("{}.json", FROZEN[n - 1]))).expect("a frozen sample"),
    }
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        Just(json!("2026-11-01T00:00:00Z")),
        Just(json!("[ipv4-addr:value = '1.2.3.4'] OR [")),
        Just(json!("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = stix::import(&bytes, &importer_ctx());
        let _ = stix::import(&bytes, &restore_ctx());
    }

    #[test]
    fn byte_mutations_of_samples_never_panic(
        pick in any::<usize>(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = mutation_seed(pick);
        for (at, byte) in edits {
            let len = bytes.len();
            bytes[at % len] = byte;
        }
        let _ = stix::import(&bytes, &importer_ctx());
        let _ = stix::import(&bytes, &restore_ctx());
    }

    #[test]
    fn value_mutations_of_samples_never_panic(
        pick in any::<usize>(),
        edits in proptest::collection::vec((any::<usize>(), "[a-z_]{2,20}|pattern|object_refs|extensions|sighting_of_ref|created|object_marking_refs|count|valid_until", any_json()), 1..6),
    ) {
        let mut bundle: Value = serde_json::from_slice(&mutation_seed(pick)).expect("JSON");
        let dims_keys = ["bundle", "origin", "audience", "index", "part", "victims", "retraction", "pseudonym", "count"];
        if let Some(list) = bundle["objects"].as_array_mut() {
            for (at, key, value) in edits {
                let len = list.len();
                if let Some(object) = list[at % len].as_object_mut() {
                    // Half the edits go into the dims extension, where restore reads the most.
                    if at % 2 == 0 && let Some(ext) = object.get_mut("extensions").and_then(|e| e.get_mut(DIMS_EXTENSION_ID)).and_then(Value::as_object_mut) {
                        ext.insert(dims_keys[at % dims_keys.len()].to_owned(), value);
                    } else {
                        object.insert(key, value);
                    }
                }
            }
        }
        let bytes = serde_json::to_vec(&bundle).expect("serialises");
        let outcome = stix::import(&bytes, &restore_ctx());
        if let Ok(outcome) = outcome {
            for draft in outcome.drafts {
                prop_assert!(draft.body.check().is_ok(), "every draft is a valid body");
            }
        }
        let _ = stix::import(&bytes, &importer_ctx());
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 4. dims → STIX → dims

fn retraction_of(target: dims_protocol::BundleId, created: u64) -> Body {
    Body::new(
        origin_key().node_id(),
        samples::author("cert-ops", 2),
        created,
        Tlp::Green,
        Audience::Federation(samples::federation()),
        Content::Retraction(Retraction {
            reason: "False positive: a CDN address".to_owned(),
            target,
        }),
    )
}

/// An export made for a stated receiver begins with a note naming it, the exporting node and the receiver's org,
/// passes the validator, and restores as if the note were not there.
#[test]
fn an_export_made_for_a_receiver_says_so_first() {
    let bundles = sign(&origin_key(), every_kind());
    let refs: Vec<&VerifiedBundle> = bundles.iter().collect();
    let exporter = origin_key().node_id();
    let ctx = ExportContext {
        made_for: Some(MadeFor {
            receiver: "org:cert-ops".to_owned(),
            description: "every member of org cert-ops at this node".to_owned(),
            exporter,
            parties: vec![Party::Org(exporter, samples::org("cert-ops"))],
            made_ms: SAMPLE_TIME + 3_600_000,
        }),
        ..ExportContext::default()
    };
    let bundle = stix::export(&refs, &ctx).expect("exports").bundle;
    let first = &objects(&bundle)[0];
    assert_eq!(first["type"], "note");
    assert_eq!(first["abstract"], "made for org:cert-ops");
    assert!(
        first["content"]
            .as_str()
            .is_some_and(|text| text.contains("every member of org cert-ops")),
        "{first:#}"
    );
    let refs_of_note: Vec<&str> = first["object_refs"]
        .as_array()
        .expect("object_refs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(refs_of_note.len(), 2, "the exporter and the org: {first:#}");
    for reference in refs_of_note {
        let identity = objects(&bundle)
            .iter()
            .find(|o| o["id"] == reference)
            .unwrap_or_else(|| panic!("{reference} is in the export"));
        assert_eq!(identity["type"], "identity");
    }
    assert_ne!(
        bundle["id"],
        export(&bundles)["id"],
        "a file made for a receiver is not the plain export"
    );
    assert_valid_stix("made-for", &[("made-for".to_owned(), bundle.clone())]);

    let outcome = import(&bundle, &restore_ctx());
    assert!(outcome.unsupported.is_empty(), "{:#?}", outcome.unsupported);
    let plain = import(&export(&bundles), &restore_ctx());
    assert_eq!(outcome.drafts, plain.drafts, "the note is about the file, not content");
}

#[test]
fn restoring_an_export_gives_back_the_same_bundles() {
    let bundles = sign(&origin_key(), every_kind());
    let outcome = import(&export(&bundles), &restore_ctx());
    assert!(outcome.unsupported.is_empty(), "{:#?}", outcome.unsupported);
    let restored = sign(
        &origin_key(),
        outcome.drafts.into_iter().map(|draft| draft.body).collect(),
    );
    let ids = |list: &[VerifiedBundle]| list.iter().map(VerifiedBundle::id).collect::<Vec<_>>();
    // Everything but the retraction, whose target (a bundle not in the export) has no STIX form: it is listed in
    // Export::skipped instead.
    let expected: Vec<&VerifiedBundle> = bundles
        .iter()
        .filter(|b| b.body().content.kind() != "retraction")
        .collect();
    assert_eq!(
        restored.iter().map(VerifiedBundle::body).collect::<Vec<_>>(),
        expected.iter().map(|b| b.body()).collect::<Vec<_>>()
    );
    assert_eq!(
        ids(&restored),
        expected.iter().map(|b| b.id()).collect::<Vec<_>>(),
        "the same bytes, so the same ids"
    );
    let refs: Vec<&VerifiedBundle> = bundles.iter().collect();
    let skipped = stix::export(&refs, &ExportContext::default()).expect("exports").skipped;
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0].reason.contains("export the target with it"),
        "{}",
        skipped[0].reason
    );
}

#[test]
fn restoring_the_edge_cases_gives_back_the_same_bundles_too() {
    let bundles = sign(&origin_key(), every_kind_and_edges());
    let outcome = import(&export(&bundles), &restore_ctx());
    assert!(outcome.unsupported.is_empty(), "{:#?}", outcome.unsupported);
    let restored = sign(
        &origin_key(),
        outcome.drafts.into_iter().map(|draft| draft.body).collect(),
    );
    let sorted = |list: Vec<&VerifiedBundle>| {
        let mut ids: Vec<_> = list.into_iter().map(VerifiedBundle::id).collect();
        ids.sort();
        ids
    };
    // Only every_kind's own retraction is missing: its target is not in the export.
    let expected = bundles
        .iter()
        .filter(
            |b| !matches!(&b.body().content, Content::Retraction(r) if r.target == dims_protocol::BundleId([2; 32])),
        )
        .collect();
    assert_eq!(sorted(restored.iter().collect()), sorted(expected));
}

#[test]
fn a_retraction_revokes_its_target_and_restores_with_it() {
    let key = origin_key();
    let target = key.sign(every_kind().remove(1)).expect("valid");
    let retraction = key.sign(retraction_of(target.id(), SAMPLE_TIME + 500)).expect("valid");
    let bundle = export(&[target.clone(), retraction.clone()]);
    let revoked: Vec<&Value> = objects(&bundle).iter().filter(|o| o["revoked"] == true).collect();
    // The SITREP's report, its note and its two indicators, all revoked at the retraction's time.
    assert_eq!(revoked.len(), 4);
    assert!(revoked.iter().all(|o| o["modified"] == "2026-11-01T00:00:00.500Z"));

    let outcome = import(&bundle, &restore_ctx());
    let bodies: Vec<&Body> = outcome.drafts.iter().map(|draft| &draft.body).collect();
    assert_eq!(bodies, [target.body(), retraction.body()]);

    let elsewhere = import(&bundle, &importer_ctx());
    assert!(
        elsewhere.drafts.is_empty(),
        "another node does not import withdrawn intelligence"
    );
    assert_eq!(
        elsewhere.revoked.len(),
        4,
        "but lists it, so that it can retract what it made from it"
    );
}

#[test]
fn another_node_imports_a_dims_export_as_a_reshare_with_provenance() {
    let bundles = sign(&origin_key(), every_kind());
    let outcome = import(&export(&bundles), &importer_ctx());
    assert!(outcome.unsupported.is_empty(), "{:#?}", outcome.unsupported);
    let originals: Vec<&VerifiedBundle> = bundles
        .iter()
        .filter(|b| b.body().content.kind() != "retraction")
        .collect();
    assert_eq!(outcome.drafts.len(), originals.len());
    for (draft, original) in outcome.drafts.iter().zip(originals) {
        let (body, was) = (&draft.body, original.body());
        assert_eq!(body.content, was.content, "the content survives");
        assert_eq!(
            (body.tlp, &body.audience),
            (was.tlp, &was.audience),
            "the marking and stated audience survive"
        );
        assert_eq!(body.origin, importer_key().node_id());
        assert_eq!(body.author, samples::author("county-soc", 7));
        assert_eq!(body.created, SAMPLE_TIME + 86_400_000);
        assert_eq!(
            body.supersedes, None,
            "supersession is a chain of the original origin's"
        );
        assert_eq!(
            body.derived_from,
            Some(Provenance {
                origin: origin_key().node_id(),
                original: original.id(),
                redaction: None
            }),
            "a copy names the bundle it was made from"
        );
        assert_eq!(body.expires, was.expires);
    }
}

#[test]
fn an_import_without_restore_never_takes_an_author_from_the_file() {
    let bundles = sign(&origin_key(), every_kind());
    // Even the origin node itself, when not restoring, publishes imports under the importing member.
    let mut ctx = restore_ctx();
    ctx.restore = false;
    ctx.author = samples::author("cert-ops", 4);
    let outcome = import(&export(&bundles), &ctx);
    assert!(
        outcome
            .drafts
            .iter()
            .all(|draft| draft.body.author == samples::author("cert-ops", 4))
    );
}

#[test]
fn indicators_without_optional_fields_round_trip() {
    let mut bare = Indicator::new(IndicatorValue::Email("o'brien@example.org".to_owned()));
    bare.valid_until = Some(SAMPLE_TIME - 1);
    let body = Body::new(
        origin_key().node_id(),
        samples::author("cert-ops", 1),
        SAMPLE_TIME,
        Tlp::Clear,
        Audience::Community,
        Content::Indicators(vec![bare, Indicator::new(IndicatorValue::Asn(4_200_000_000))]),
    );
    let bundles = sign(&origin_key(), vec![body.clone()]);
    let exported = export(&bundles);
    // STIX needs valid_from before valid_until; the implied valid_from moves before an early valid_until.
    let first = objects(&exported)
        .iter()
        .find(|o| o["type"] == "indicator")
        .expect("an indicator");
    assert_eq!(first["valid_from"], "2026-10-31T23:59:59.998Z");
    assert_eq!(first["name"], "o'brien@example.org");
    let outcome = import(&exported, &restore_ctx());
    assert_eq!(outcome.drafts.iter().map(|d| &d.body).collect::<Vec<_>>(), [&body]);
}

#[test]
fn large_feeds_split_into_bundles_of_the_limit() {
    let indicators: Vec<Value> = (0..MAX_INDICATORS + 5)
        .map(|index| {
            json!({"type": "indicator", "spec_version": "2.1",
                   "id": format!("indicator--{}", uuid::Uuid::from_u128(index as u128 | (4 << 76) | (1 << 127))),
                   "created": "2026-10-01T00:00:00Z", "modified": "2026-10-01T00:00:00Z",
                   "pattern": format!("[autonomous-system:number = {index}]"), "pattern_type": "stix",
                   "valid_from": "2026-10-01T00:00:00Z"})
        })
        .collect();
    let outcome = import(&Value::Array(indicators), &importer_ctx());
    assert_eq!(
        summary(&outcome),
        [
            format!("indicators TLP:AMBER org {MAX_INDICATORS}"),
            "indicators TLP:AMBER org 5".to_owned()
        ]
    );
}

#[test]
fn importer_default_context_is_cautious() {
    let ctx = ImportContext::new(
        samples::node_key(5).node_id(),
        Author {
            org: samples::org("x"),
            member: None,
        },
        1,
    );
    assert_eq!(
        (ctx.default_tlp, &ctx.default_audience, ctx.restore),
        (Tlp::Amber, &Audience::Community, false)
    );
}
