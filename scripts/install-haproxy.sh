#!/usr/bin/env bash
# The horizontal-scale tests (tests/faults/test_haproxy.py) and bench/scale_out.py put Debian's haproxy in front
# of several daphne processes, as docs/deployment.md deploys it. Debian's package, never a download.
set -euo pipefail
if command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; then exit 0; fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends haproxy >/dev/null
