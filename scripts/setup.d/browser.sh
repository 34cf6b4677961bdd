# shellcheck shell=bash
# The portal's browser test (node/tests/browser.rs): Debian's `chromium`, driven headless, and the npm packages
# `playwright-core` (drives it over the DevTools protocol; it downloads no browser of its own) and `axe-core` (the
# accessibility checks), pinned by web/tests/browser/package-lock.json and installed into web/tests/browser/node_modules
# (git-ignored). `npm ci` runs only when a package is missing or the lock file changed since the last install (a stamp
# file in node_modules holds the lock file's hash). Nothing here starts a browser: the test does, per run.
# Sourced by scripts/setup, which provides `log`. It runs before oidc.sh (name order), so it brings Node.js itself when
# it is missing, the same way.

if [ ! -x /usr/bin/chromium ]; then
  log "installing chromium (headless, for the portal's browser test)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  log "installing nodejs and npm (Node.js, for the portal's browser test)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# playwright-core 1.65 needs Node.js 20 or later.
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  log "node $(node --version) is too old for playwright-core (the portal's browser test): install Node.js 20 or later"
  return 1
fi

browser_dir=web/tests/browser
browser_stamp="$browser_dir/node_modules/.package-lock.sha256"
browser_want=$(sha256sum "$browser_dir/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$browser_dir/node_modules/playwright-core/package.json" ] \
  || [ ! -f "$browser_dir/node_modules/axe-core/axe.min.js" ] \
  || [ "$(cat "$browser_stamp" 2>/dev/null)" != "$browser_want" ]; then
  log "installing playwright-core and axe-core into $browser_dir/node_modules (npm ci)"
  npm ci --prefix "$browser_dir" --no-audit --no-fund --loglevel=error
  echo "$browser_want" > "$browser_stamp"
fi
unset browser_dir browser_stamp browser_want
