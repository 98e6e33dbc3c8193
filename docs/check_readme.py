#!/usr/bin/env python3
"""The README's curl examples are true: run them against a fresh alilo-local.

Starts `alilo-local --demo` (the README's "Your first run") on a free port and a
fresh database, reads the one-time admin password it prints, then runs, in one
bash, the README's blocks that sign in and create the token, create a project and
import a cURL command, drive the demo run, and set thresholds and read the
verdict, write and run the first extended script (which starts a second run),
and compare the two runs, with `curl --fail-with-body` so that any answer other
than 2xx fails. Only the port and the password placeholder are substituted.

    python3 docs/check_readme.py --bin-dir target/debug
"""
import argparse
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A block is taken when it holds one of these.
BLOCKS = ["/v1/auth/login", "/v1/parsing/curl/import", "/v1/run/rps", "cat > first.js", "/v1/s3/uploadFile",
          "/v1/thresholds/set"]


def blocks(readme):
    found = re.findall(r"```sh\n(.*?)```", readme, re.S)
    out = []
    for marker in BLOCKS:
        match = [b for b in found if marker in b]
        if len(match) != 1:
            sys.exit(f"README: expected one sh block with {marker}, found {len(match)}")
        out.append(match[0])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "debug"))
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = f"alilo_readme_{secrets.token_hex(4)}"
    work = tempfile.mkdtemp(prefix="alilo-readme-")
    env = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    env["PATH"] = f"{args.bin_dir}:{env.get('PATH', '')}"
    backend = subprocess.Popen(
        [os.path.join(args.bin_dir, "alilo-local"), "--demo", "--port", str(port),
         "--pg-dsn", f"postgres://postgres@127.0.0.1:5432/{db}", "--data-dir", os.path.join(work, "s3")],
        env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    threading.Thread(target=lambda: [lines.append(l) for l in backend.stdout], daemon=True).start()
    try:
        end = time.time() + 60
        password = None
        while time.time() < end and not password:
            password = next((m.group(1) for l in list(lines) for m in [re.search(r"^\s{6}(\S+)\s*$", l)] if m), None)
            time.sleep(0.2)
        if not password:
            sys.exit("FAILED: no one-time password printed:\n" + "".join(lines))
        time.sleep(3)  # the demo run starts beside the API
        script = "set -euo pipefail\nshopt -s expand_aliases\ntrap 'echo \"failed: $BASH_COMMAND\" >&2' ERR\n"
        for block in blocks((ROOT / "README.md").read_text()):
            # A reader runs one block after another, not within milliseconds: give
            # the stopped demo run its few seconds to end before reading its verdict.
            script += block + "\nsleep 3\n"
        script = script.replace("localhost:8084", f"127.0.0.1:{port}").replace("<the one-time password>", password)
        script = script.replace("curl -s ", "curl -sS --fail-with-body ")
        run = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=120)
        print(run.stdout[-3000:])
        if run.returncode != 0:
            print(run.stderr[-3000:], file=sys.stderr)
            print("alilo-local said:\n" + "".join(l for l in lines if "ERROR" in l or "WARN" in l)[-3000:], file=sys.stderr)
            sys.exit(f"FAILED: a README example answered an error (exit {run.returncode})")
        print(f"OK: the README's examples ran against alilo-local ({len(BLOCKS)} blocks)")
    finally:
        backend.terminate()
        try:
            backend.wait(timeout=15)
        except subprocess.TimeoutExpired:
            backend.kill()
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"],
                       check=False)


if __name__ == "__main__":
    main()
