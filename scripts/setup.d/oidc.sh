# shellcheck shell=bash
# A real OpenID Connect provider for the login tests of dims-identity (identity/tests/oidc.rs): Node.js and the npm
# package `oidc-provider`, pinned by fixtures/oidc/package-lock.json and installed into fixtures/oidc/node_modules
# (git-ignored). `npm ci` runs only when the package is missing or the lock file changed since the last install (a
# stamp file in node_modules holds the lock file's hash). The tests start the provider themselves, per test, on a free
# loopback port; nothing here starts a service.
# Sourced by scripts/setup, which provides `log`.

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  log "installing nodejs and npm (Node.js, for the OpenID Connect provider of the login tests)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

# oidc-provider 9 runs on Node.js 20 (it warns that it prefers 22) but not on older releases.
oidc_node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$oidc_node_major" -lt 20 ]; then
  log "node $(node --version) is too old for oidc-provider 9 (the OpenID Connect login tests): install Node.js 20 or later"
  return 1
fi

oidc_dir=fixtures/oidc
oidc_stamp="$oidc_dir/node_modules/.package-lock.sha256"
oidc_want=$(sha256sum "$oidc_dir/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$oidc_dir/node_modules/oidc-provider/package.json" ] || [ "$(cat "$oidc_stamp" 2>/dev/null)" != "$oidc_want" ]; then
  log "installing oidc-provider into $oidc_dir/node_modules (npm ci)"
  npm ci --prefix "$oidc_dir" --no-audit --no-fund --loglevel=error
  echo "$oidc_want" > "$oidc_stamp"
fi
unset oidc_node_major oidc_dir oidc_stamp oidc_want
