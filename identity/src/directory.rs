//! The member directory: the Ops-Trust profile of each member (who they are, where, how to reach them, their
//! OpenPGP key), with every field checked so the portal can show it as inert text.

use dims_protocol::text::check_line;
use dims_protocol::{FieldError, MemberId, OrgId};
use serde::{Deserialize, Serialize};

/// How to reach a member. Every field is optional; what is given is checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// E-mail address.
    pub email: Option<String>,
    /// Telephone, in E.164 form (`+12065550100`).
    pub phone: Option<String>,
    /// A mobile number for SMS, in E.164 form.
    pub sms: Option<String>,
    /// An instant-messaging handle (`@alice:matrix.example`, `signal:+1...`).
    pub im: Option<String>,
}

/// A member's profile (DESIGN §7, as Ops-Trust kept it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The member's UUID.
    pub id: MemberId,
    /// Full name.
    pub name: String,
    /// Their organisation.
    pub org: OrgId,
    /// IANA time zone (`America/Los_Angeles`).
    pub time_zone: Option<String>,
    /// Nearest airport, as an IATA code (`SEA`): where to meet when travelling.
    pub nearest_airport: Option<String>,
    /// How to reach them.
    pub contact: Contact,
    /// The fingerprint of their OpenPGP certificate, when one is on file (the certificate itself is kept apart).
    pub pgp_fingerprint: Option<String>,
}

impl Profile {
    /// Checks every field; errors name the field and say what is accepted.
    pub fn check(&self) -> Result<(), FieldError> {
        check_line("name", &self.name, 128)?;
        if let Some(zone) = &self.time_zone {
            let valid = zone == "UTC"
                || (zone.contains('/')
                    && zone.len() <= 64
                    && zone.split('/').all(|part| {
                        !part.is_empty()
                            && part
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
                    }));
            if !valid {
                return Err(FieldError::new(
                    "time_zone",
                    zone,
                    "an IANA time zone such as America/Los_Angeles, or UTC",
                ));
            }
        }
        if let Some(airport) = &self.nearest_airport
            && !(airport.len() == 3 && airport.chars().all(|c| c.is_ascii_uppercase()))
        {
            return Err(FieldError::new(
                "nearest_airport",
                airport,
                "a three-letter IATA code such as SEA",
            ));
        }
        if let Some(email) = &self.contact.email {
            dims_protocol::IndicatorValue::parse(dims_protocol::IndicatorKind::Email, email)
                .map_err(|_| FieldError::new("contact.email", email, "an address such as alice@example.org"))?;
        }
        for (field, number) in [
            ("contact.phone", &self.contact.phone),
            ("contact.sms", &self.contact.sms),
        ] {
            if let Some(number) = number {
                let digits = number.strip_prefix('+').unwrap_or("");
                if !(8..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
                    return Err(FieldError::new(
                        field,
                        number,
                        "an E.164 number: + and 8 to 15 digits, such as +12065550100",
                    ));
                }
            }
        }
        if let Some(im) = &self.contact.im {
            check_line("contact.im", im, 128)?;
        }
        if let Some(fingerprint) = &self.pgp_fingerprint
            && !(matches!(fingerprint.len(), 40 | 64) && fingerprint.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(FieldError::new(
                "pgp_fingerprint",
                fingerprint,
                "a v4 (40) or v6 (64) hex fingerprint",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Profile {
        Profile {
            id: MemberId([1; 16]),
            name: "Alice Analyst".into(),
            org: OrgId::new("seattle-it").expect("slug"),
            time_zone: Some("America/Los_Angeles".into()),
            nearest_airport: Some("SEA".into()),
            contact: Contact {
                email: Some("alice@seattle.example".into()),
                phone: Some("+12065550100".into()),
                sms: None,
                im: Some("@alice:matrix.example".into()),
            },
            pgp_fingerprint: Some("0123456789ABCDEF0123456789ABCDEF01234567".into()),
        }
    }

    #[test]
    fn a_full_profile_is_valid() {
        assert_eq!(alice().check(), Ok(()));
    }

    #[test]
    fn each_bad_field_is_named() {
        type Spoil = Box<dyn Fn(&mut Profile)>;
        let cases: Vec<(&str, Spoil)> = vec![
            ("name", Box::new(|p| p.name = "two\nlines".into())),
            ("time_zone", Box::new(|p| p.time_zone = Some("Pacific Time".into()))),
            (
                "nearest_airport",
                Box::new(|p| p.nearest_airport = Some("Seattle".into())),
            ),
            (
                "contact.email",
                Box::new(|p| p.contact.email = Some("alice at seattle".into())),
            ),
            (
                "contact.phone",
                Box::new(|p| p.contact.phone = Some("206-555-0100".into())),
            ),
            ("contact.sms", Box::new(|p| p.contact.sms = Some("+1".into()))),
            (
                "pgp_fingerprint",
                Box::new(|p| p.pgp_fingerprint = Some("not-hex".into())),
            ),
        ];
        for (field, spoil) in cases {
            let mut profile = alice();
            spoil(&mut profile);
            assert_eq!(profile.check().expect_err(field).field, field);
        }
    }
}
