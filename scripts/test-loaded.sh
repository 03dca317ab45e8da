#!/usr/bin/env bash
# The test suite beside two CPU-burning processes, as on a shared CI machine: a test that only
# passes on a quiet machine fails here. Usage: scripts/test-loaded.sh [pytest args…]
set -euo pipefail
cd "$(dirname "$0")/.."
burners=()
stop_burners() { for pid in "${burners[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop_burners EXIT
for _ in 1 2; do
  python3 -c 'while True: pass' &
  burners+=("$!")
done
echo "two CPU burners running: ${burners[*]}"
.venv/bin/pytest --durations=20 "$@"
