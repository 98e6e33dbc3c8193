#!/usr/bin/env python3
"""Every variable the deployment files give the agent is one the agent reads.

docker-compose.yml, deploy/k8s/ and template.yaml's ECS task each set the agent's
environment by name; a renamed flag would leave them silently ignored. This reads
the names from those files and checks each against what `alilo-agent serve --help`
lists as `[env: NAME]` (plus RUST_LOG, read by the log filter).

    python3 deploy/check_agent_env.py --agent target/debug/alilo-agent
"""
import argparse
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ALWAYS = {"RUST_LOG"}


class Loader(yaml.SafeLoader):
    pass


Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def compose_names():
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, svc in doc["services"].items():
        if (svc.get("build") or {}).get("target") == "alilo-agent":
            env = svc.get("environment") or {}
            yield from ((f"docker-compose.yml {name}", k) for k in (env if isinstance(env, dict) else
                                                                     [e.split("=", 1)[0] for e in env]))


def k8s_names():
    k = ROOT / "deploy" / "k8s"
    kust = yaml.safe_load((k / "kustomization.yaml").read_text())
    for gen in kust.get("configMapGenerator", []):
        for lit in gen.get("literals", []):
            yield "deploy/k8s configMapGenerator", lit.split("=", 1)[0]
    secret = yaml.safe_load((k / "secret.yaml").read_text())
    yield from (("deploy/k8s/secret.yaml", n) for n in secret.get("stringData", {}))
    dep = yaml.safe_load((k / "agent-deployment.yaml").read_text())
    for c in dep["spec"]["template"]["spec"]["containers"]:
        yield from (("deploy/k8s/agent-deployment.yaml", e["name"]) for e in c.get("env", []))


def ecs_names():
    doc = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    task = doc["Resources"]["FleetTaskDefinition"]["Properties"]
    for c in task["ContainerDefinitions"]:
        yield from (("template.yaml FleetTaskDefinition", e["Name"]) for e in c.get("Environment", []))
        yield from (("template.yaml FleetTaskDefinition secret", s["Name"]) for s in c.get("Secrets", []))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", required=True)
    args = ap.parse_args()
    help_text = subprocess.run([args.agent, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    known = set(re.findall(r"\[env: ([A-Z0-9_]+)", help_text)) | ALWAYS
    if "ALILO_REGISTER_URL" not in known:
        print("SKIPPED: this alilo-agent has no self-registration (#13); the files name its variables")
        return
    unknown = [(where, n) for src in (compose_names(), k8s_names(), ecs_names()) for where, n in src if n not in known]
    for where, n in unknown:
        print(f"{where}: {n} is not a variable alilo-agent serve reads", file=sys.stderr)
    if unknown:
        sys.exit(1)
    print(f"every agent variable of the compose file, deploy/k8s and the ECS task is read by alilo-agent serve "
          f"({len(known)} known)")


if __name__ == "__main__":
    main()
