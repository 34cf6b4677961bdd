# shellcheck shell=bash
# OpenLDAP for the LDAP tests of dims-identity (identity/tests/ldap.rs): the `slapd` server binary and the
# `ldap-utils` clients (ldapadd, ldapmodify, ldapsearch). The tests start their own throwaway slapd in a temp folder
# on a free loopback port, so the Debian package is installed without a configuration (the debconf preseed) and its
# system service is kept stopped and disabled: nothing listens on 389 because of this script.
# Sourced by scripts/setup, which provides `log`.

ldap_packages_missing=()
for ldap_package in slapd ldap-utils; do
  if ! dpkg -s "$ldap_package" 2>/dev/null | grep -q '^Status: install ok installed'; then
    ldap_packages_missing+=("$ldap_package")
  fi
done

if [ "${#ldap_packages_missing[@]}" -gt 0 ]; then
  log "installing ${ldap_packages_missing[*]} (OpenLDAP, for the LDAP tests)"
  # Without this answer the package would build a system directory (and ask for its admin password).
  echo 'slapd slapd/no_configuration boolean true' | debconf-set-selections
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${ldap_packages_missing[@]}" >/dev/null
fi

# The system service is not needed: stop it if the package (or anything earlier) started it, and keep it from
# starting at boot. Each step is skipped when its tool is absent (containers often have neither init system).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  if systemctl is-enabled --quiet slapd 2>/dev/null || systemctl is-active --quiet slapd 2>/dev/null; then
    log "stopping and disabling the system slapd service (the tests run their own)"
    systemctl disable --now slapd >/dev/null 2>&1 || true
  fi
elif [ -f /run/slapd/slapd.pid ] && command -v service >/dev/null 2>&1; then
  log "stopping the system slapd service (the tests run their own)"
  service slapd stop >/dev/null 2>&1 || true
fi
if command -v update-rc.d >/dev/null 2>&1 && ls /etc/rc[2-5].d/S*slapd >/dev/null 2>&1; then
  update-rc.d slapd disable >/dev/null 2>&1 || true
fi
unset ldap_package ldap_packages_missing
