#!/usr/bin/env bash
# The consumer half where only its extra is installed: no torch, no scikit-learn, no scipy.
# Starts `bitcluster serve consumer` on the embedded model and classifies two codes over HTTP.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.ci-consumer-venv
rm -rf "$venv"
python3 -m venv "$venv"
# What the consumer image installs: its lock (every file checked against its hash), then the project alone.
"$venv/bin/python" -m pip install -q --require-hashes -r requirements/consumer.txt
"$venv/bin/python" -m pip install -q --no-deps --no-build-isolation .
"$venv/bin/python" - <<'PY'
import importlib.util
missing = [m for m in ("torch", "sklearn", "scipy") if importlib.util.find_spec(m) is None]
assert missing == ["torch", "sklearn", "scipy"], f"the consumer extra pulled in {set(['torch','sklearn','scipy']) - set(missing)}"
print("consumer venv: no torch, no scikit-learn, no scipy")
PY
port=18765
"$venv/bin/bitcluster" serve consumer --host 127.0.0.1 --port $port >"$venv/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
"$venv/bin/python" - "$port" <<'PY'
import json, sys, time, urllib.request
from importlib.resources import files
from bitcluster.core.wire import OCTET_STREAM, code_headers
base = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(150):
    try:
        if urllib.request.urlopen(base + "/readyz", timeout=1).status == 200:
            break
    except OSError:
        time.sleep(0.2)
else:
    sys.exit("consumer did not become ready")
manifest = json.loads((files("bitcluster") / "default_model" / "consumer" / "manifest.json").read_text())
body = bytes(2 * manifest["code_bytes"])
req = urllib.request.Request(base + "/v1/classify", data=body, method="POST", headers={
    "Content-Type": OCTET_STREAM, **code_headers(manifest["model_id"], manifest["bits"])})
clusters = json.loads(urllib.request.urlopen(req, timeout=10).read())["clusters"]
assert len(clusters) == 2, clusters
print(f"consumer-only install: /v1/classify answered {clusters}")
PY
