#!/usr/bin/env bash
# Makes sure the Debian packages listed in hack/packages are installed.
# As root it installs the missing ones with apt-get; otherwise it stops at
# once with the exact command to run. make test and .ci/run call it.
#
# DECCO_SKIP_DEPS=1 skips the check: the tests that need a missing
# package then skip (or fail in CI and with DECCO_REQUIRE_ALL=1), and make
# test lists them at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ "${DECCO_SKIP_DEPS:-}" == 1 ]] && exit 0

mapfile -t packages < <(sed 's/#.*//' hack/packages | xargs -n1)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "hack/deps.sh: not a Debian system; the tests need: ${packages[*]} (or your system's equivalents)" >&2
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0

if ((EUID != 0)); then
  cat >&2 <<MSG
The tests need Debian packages that are not installed: ${missing[*]}
Install them with:

  sudo apt-get install -y --no-install-recommends ${missing[*]}

then run make test again (as root, make test installs them itself).
DECCO_SKIP_DEPS=1 make test runs without them; their tests then skip.
MSG
  exit 1
fi

echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The bind9 package starts named as a service; the tests run their own.
if command -v systemctl >/dev/null 2>&1; then systemctl stop named bind9 2>/dev/null || true; fi
