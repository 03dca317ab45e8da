#!/usr/bin/env bash
# Installs the Debian packages the tests drive, when they are missing: chromium (Playwright
# browser tests, no browser download), tmux (the console in a real terminal), OpenSSH's server
# and client (the console over a real SSH connection on loopback) and caddy (the HTTPS reverse
# proxy in front of `usher serve`, tests/test_deploy_https.py) and postgresql (the tests start a
# throwaway server of their own for the PostgreSQL engine, tests/fixtures_postgres.py).
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "Please install these Debian packages as root: ${missing[*]}" >&2; exit 1
  fi
fi
echo "Installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
