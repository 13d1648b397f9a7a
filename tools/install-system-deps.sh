#!/usr/bin/env bash
# Installs the Debian packages the test suite drives: Chromium and its driver
# for the browser tests, nginx for the CDN stand-in test, promtool (package
# prometheus) for the alert rules, wrk for bench/load.py, wamerican (the
# English word list) and Link Grammar (link-grammar, python3-link-grammar)
# for bench/model_quality.py. Never a downloaded
# browser build. Does nothing when they are already there.
set -euo pipefail
case "${1-}" in
  "") ;;
  -h|--help)
    echo "usage: tools/install-system-deps.sh"
    echo "Installs the Debian packages the tests drive (chromium, chromium-driver, nginx-light, prometheus, wrk, wamerican, link-grammar, python3-link-grammar) when missing;"
    echo "needs root only when one is missing. Takes no arguments."
    exit 0 ;;
  *) echo "tools/install-system-deps.sh: error: unrecognized argument: $1 (see --help)" >&2; exit 2 ;;
esac
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)  # tests/deploy/test_alerts.py
command -v wrk >/dev/null 2>&1 || need+=(wrk)  # bench/load.py
[ -e /usr/share/dict/words ] || need+=(wamerican)  # the English word list: rhymes, bench/model_quality.py
/usr/bin/python3 -c "import linkgrammar" 2>/dev/null || need+=(link-grammar python3-link-grammar)  # bench/model_quality.py grammar
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${need[*]} (run as root or install them: apt-get install ${need[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
