# OpenPGP (identity/src/pgp): sequoia-openpgp's crypto-nettle backend builds against Nettle through bindgen, which
# needs libclang and pkg-config; the interoperability tests in identity/tests/pgp.rs run the machine's GnuPG.
# Sourced by scripts/setup, whose `log` function it uses; installs only what is missing.
pgp_missing=()
for pgp_package in nettle-dev libclang-dev pkg-config gnupg; do
  # `dpkg -s` also describes packages that were removed but not purged, so read the status line, not the exit code.
  if ! dpkg -s "$pgp_package" 2>/dev/null | grep -q '^Status: install ok installed'; then
    pgp_missing+=("$pgp_package")
  fi
done
if [ "${#pgp_missing[@]}" -gt 0 ]; then
  log "installing ${pgp_missing[*]} (OpenPGP build and GnuPG interoperability tests)"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${pgp_missing[@]}" >/dev/null
fi
unset pgp_missing pgp_package
