#!/usr/bin/env python3
"""Prove docker-compose.yml's configuration without a container engine (CI).

Starts the same processes the compose file describes, each with the environment
the file (and the Dockerfile's ENV for its image) gives it; only what a container
network provides is replaced:

- service host names (postgres, minio, alilo-local, agent-N) become 127.0.0.1,
  with a free port for each process that listens;
- the postgres service is the machine's Postgres: its POSTGRES_USER / _PASSWORD
  are created as the image would, in a fresh database dropped at the end;
- the minio service is the S3-compatible server of the tests (ALILO_TEST_S3_ENDPOINT).

Then it checks what a user of `docker compose up` relies on: the backend starts
and prints the first admin's one-time password, both agents register themselves
with the fleet token (and, as the file asks, with their certificate's pin: the
backend then calls them over TLS only), and a scenario sends load through them
to a target here.

    python3 deploy/compose/run_without_containers.py [--bin-dir DIR]
"""
import argparse
import tempfile
import http.server
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"


def interpolate(value, env):
    """Compose's ${VAR}, ${VAR:-default} and $$."""
    if not isinstance(value, str):
        return value

    def one(m):
        name, default = m.group(1), m.group(3)
        got = env.get(name)
        return got if got not in (None, "") else (default or "")

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}", one, value).replace("$$", "$")


def service_env(service, env):
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {k: str(interpolate(v, env)) for k, v in raw.items()}


def image_env(target):
    """The ENV of one final stage of the Dockerfile."""
    out, stage = {}, None
    for line in DOCKERFILE.read_text().splitlines():
        m = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.I)
        if m:
            stage = m.group(1)
        elif stage == target and line.startswith("ENV "):
            for pair in line[4:].split():
                k, v = pair.split("=", 1)
                out[k] = v
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rewrite(value, hosts):
    """host:port of a compose service -> 127.0.0.1:<its port here>."""
    for name, (host, port) in hosts.items():
        value = re.sub(rf"(?<![\w.-]){re.escape(name)}:\d+", f"{host}:{port}", value)
    return value


def call(base, path, body, cookie=None):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST")
    req.add_header("content-type", "application/json")
    if cookie:
        req.add_header("cookie", cookie)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}"), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}"), e.headers
    except (urllib.error.URLError, ConnectionError):
        return 0, {}, {}  # not listening yet


def wait(what, check, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        got = check()
        if got:
            return got
        time.sleep(0.5)
    raise SystemExit(f"FAILED: {what} within {timeout} s")


class Target(http.server.BaseHTTPRequestHandler):
    hits = 0
    lock = threading.Lock()

    def do_GET(self):
        with Target.lock:
            Target.hits += 1
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    target_dir = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    ap.add_argument("--bin-dir", default=os.path.join(target_dir, "debug"))
    args = ap.parse_args()
    env = dict(os.environ)
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    s3 = env.get("ALILO_TEST_S3_ENDPOINT") or sys.exit("ALILO_TEST_S3_ENDPOINT (the tests' S3 server) is needed")
    s3_host, s3_port = s3.split("://", 1)[1].rsplit(":", 1)

    # The network: one free port per listening process.
    hosts = {"postgres": ("127.0.0.1", 5432), "minio": (s3_host, int(s3_port))}
    hosts["alilo-local"] = ("127.0.0.1", free_port())
    agents = [n for n, s in services.items() if (s.get("build") or {}).get("target") == "alilo-agent"]
    for name in agents:
        hosts[name] = ("127.0.0.1", free_port())

    # The postgres image's first start: its user, and (here) a fresh database.
    pg = service_env(services["postgres"], env)
    db = f"alilo_compose_{secrets.token_hex(4)}"
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qc"]
    user, password = pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"]
    subprocess.run(psql + [f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{user}') THEN "
                           f"CREATE ROLE {user} LOGIN PASSWORD '{password}'; END IF; END$$"], check=True)
    subprocess.run(psql + [f"CREATE DATABASE {db} OWNER {user}"], check=True)
    procs = []
    # Not the checkout: alilo-local reads a `.env` in its working directory.
    workdir = tempfile.mkdtemp(prefix="alilo-compose-")
    try:
        backend_env = {**image_env("alilo-local"), **service_env(services["alilo-local"], env)}
        assert backend_env["PG_DSN"].endswith(f"@postgres:5432/{pg['POSTGRES_DB']}"), backend_env["PG_DSN"]
        backend_env = {k: rewrite(v, hosts) for k, v in backend_env.items()}
        backend_env["PG_DSN"] = backend_env["PG_DSN"].rsplit("/", 1)[0] + "/" + db
        backend_env.update(ALILO_BIND="127.0.0.1", SERVICE_PORT_DEBUG=str(hosts["alilo-local"][1]))
        print("alilo-local with", sorted(backend_env))
        backend = subprocess.Popen([os.path.join(args.bin_dir, "alilo-local")], env={**env_base(env), **backend_env},
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=workdir)
        procs.append(backend)
        lines = []
        threading.Thread(target=lambda: [lines.append(l) for l in backend.stdout], daemon=True).start()
        base = f"http://127.0.0.1:{hosts['alilo-local'][1]}"
        password = wait("the first admin's one-time password on the terminal", lambda: next(
            (m.group(1) for l in list(lines) for m in [re.search(r"^\s{6}(\S+)\s*$", l)] if m), None))
        status, _, headers = wait("a sign-in as admin (the backend listening)", lambda: (lambda r: r if r[0] == 200 else None)(
            call(base, "/v1/auth/login", {"name": "admin", "password": password})))
        cookie = headers["set-cookie"].split(";")[0]
        print("backend up; signed in as admin")

        help_text = subprocess.run([os.path.join(args.bin_dir, "alilo-agent"), "serve", "--help"],
                                   capture_output=True, text=True).stdout
        if "--register" not in help_text:
            print("SKIPPED the agents: this alilo-agent has no `serve --register` (self-registration, #13)")
            return
        for name in agents:
            svc = services[name]
            agent_env = {**image_env("alilo-agent"), **service_env(svc, env)}
            agent_env.update(ALILO_AGENT_PORT=str(hosts[name][1]), ALILO_AGENT_BIND="127.0.0.1",
                             ALILO_AGENT_ADVERTISE="127.0.0.1")
            cmd = [rewrite(str(interpolate(c, env)), hosts) for c in svc.get("command") or ["serve"]]
            print(name, cmd, sorted(agent_env))
            procs.append(subprocess.Popen([os.path.join(args.bin_dir, "alilo-agent")] + cmd,
                                          env={**env_base(env), **agent_env}, cwd=workdir))
        tag = service_env(services[agents[0]], env).get("ALILO_AGENT_TAGS", "compose")
        ports = {str(hosts[n][1]) for n in agents}
        wait(f"{len(agents)} agents registered by themselves", lambda: ports <= {
            a["port"] for a in call(base, "/v1/agents", {}, cookie)[1].get("agents", [])
            if tag in a.get("tags", []) and a.get("enabled")})
        print(f"{len(agents)} agents registered with tag {tag!r}")
        if service_env(services["alilo-local"], env).get("ALILO_AGENT_TLS_REQUIRED") == "true":
            # The backend pinned each agent's derived certificate: it calls them over TLS only.
            pins = {a["port"]: a.get("tls_pin") for a in call(base, "/v1/agents", {}, cookie)[1]["agents"]}
            assert all((pins.get(p) or "").startswith("sha256:") for p in ports), pins
            print("each agent registered with its certificate's pin (TLS on the control port)")

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        project = call(base, "/v1/project/create", {"project": {"title": "compose"}}, cookie)[1]["id"]
        scenario = call(base, "/v1/scenario/create", {"scenario": {"project_id": project, "title": "compose"}},
                        cookie)[1]
        scenario = scenario.get("scenario_id") or scenario.get("id")
        script = {"simple_script": {"scenario_id": scenario, "name": "compose", "enabled": True, "tag": tag,
                                    "path": f"127.0.0.1:{server.server_address[1]}/", "scheme": "http",
                                    "http_method": "get", "rps": "40", "steps": "1", "duration": "1m",
                                    "max_v_us": "20"}}
        status, answer, _ = call(base, "/v1/simple-script/create", script, cookie)
        assert status == 200, answer
        status, answer, _ = call(base, "/v1/run/start", {"scenario_id": scenario}, cookie)
        assert status == 200, answer
        run_id = answer["run"]["run_id"]
        wait("load at the target", lambda: Target.hits > 40, timeout=30)
        call(base, "/v1/run/stop", {"run_id": run_id}, cookie)
        print(f"a run through the compose agents reached the target ({Target.hits} requests)")
        print("OK: docker-compose.yml's configuration works without containers")
    finally:
        # Agents first, so that they deregister from a backend still listening.
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(psql + [f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"], check=False)


def env_base(env):
    """What every process needs from the host (PATH), nothing of the caller's own configuration."""
    return {k: env[k] for k in ("PATH", "HOME", "TMPDIR") if k in env}


if __name__ == "__main__":
    main()
