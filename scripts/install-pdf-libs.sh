#!/usr/bin/env bash
# Invoice PDFs (WeasyPrint) need Pango/HarfBuzz/fontconfig and a font; Debian's packages, installed only
# when missing (the Python image usually has them).
set -euo pipefail
if ldconfig -p | grep -q libpangoft2-1.0.so.0 && fc-list 2>/dev/null | grep -qi dejavu; then exit 0; fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libfontconfig1 fonts-dejavu-core >/dev/null
