//! Fuzz target: federation request and response frames (`/dims/fed/1`) as a peer may send them. Decoding and the
//! checks on ids and reconciliation messages must never panic, whatever the bytes.
#![no_main]

use dims_node::federation::wire::{self, Request, Response};
use dims_protocol::reconcile::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = wire::decode_request(data) {
        match request {
            Request::Fetch { ids } => {
                for id in &ids {
                    let _ = wire::bundle_id(id);
                }
            }
            Request::MemberCerts { members } => {
                for member in &members {
                    let _ = wire::member_id(member);
                }
            }
            Request::DeliverSealed { sealed } => {
                let _ = wire::bundle_id(&sealed.id);
                for member in &sealed.members {
                    let _ = wire::member_id(member);
                }
            }
            Request::Reconcile { message } => {
                let _ = Message::decode(&message);
            }
            Request::Deliver { envelope } | Request::Roster { envelope } => {
                let _ = dims_protocol::decode(&envelope);
            }
            Request::KeyStatement { statement } => {
                let _ = dims_protocol::key_statement::VerifiedStatement::decode_and_verify(&statement);
            }
            Request::Check { .. } => {}
        }
    }
    if let Ok(Response::Bundles { envelopes, .. }) = wire::decode_response(data) {
        for envelope in &envelopes {
            let _ = dims_protocol::decode(envelope);
        }
    }
});
