"""Checks what deploy/ ships without a container engine or a cluster: the compose file (a
structural check with a YAML loader: known keys, services, users, secrets, files and
volumes that exist), the Helm chart (`helm lint`, `helm template` rendered and read back),
the systemd units (`systemd-analyze verify`) and the Dockerfile. Prints `ok <part>` or
`skip <part>: why` per part; exits non-zero with the problems otherwise.

    python tests/deploy/check.py <switchyard binary> <helm binary or "">
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
problems = []


def need(cond, what):
    if not cond:
        problems.append(what)


# The compose-spec keys these files may use (a subset of the spec; a typo is a problem).
SERVICE_KEYS = {"image", "build", "restart", "depends_on", "volumes", "command", "environment",
                "ports", "hostname", "healthcheck", "env_file", "user", "read_only", "deploy",
                "labels", "networks", "entrypoint", "stop_grace_period"}
TOP_KEYS = {"services", "volumes", "networks", "secrets", "configs", "name"}


def check_compose():
    path = os.path.join(DEPLOY, "compose.yaml")
    doc = yaml.safe_load(open(path))
    for k in doc:
        need(k in TOP_KEYS or k.startswith("x-"), f"compose: unknown top-level key {k}")
    services = doc["services"]
    for name, svc in services.items():
        for k in svc:
            need(k in SERVICE_KEYS, f"compose: service {name}: unknown key {k}")
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."):
                need(os.path.exists(os.path.join(DEPLOY, src)), f"compose: {name} mounts missing {src}")
            else:
                need(src in (doc.get("volumes") or {}), f"compose: {name} uses undeclared volume {src}")
        if "build" in svc:
            df = os.path.join(DEPLOY, svc["build"]["context"], svc["build"]["dockerfile"])
            need(os.path.exists(df), f"compose: {name} builds from missing {df}")
    nats = [n for n in services if n.startswith("nats-")]
    need(len(nats) == 3, f"compose: three NATS nodes, found {nats}")
    roles = {}
    for name, svc in services.items():
        if name.startswith("nats-"):
            continue
        cmd = svc.get("command", [None])[0]
        roles.setdefault(cmd, []).append(name)
        env = svc.get("environment", {})
        user = env.get("SWITCHYARD_NATS_USER")
        need(user == cmd, f"compose: {name} ({cmd}) connects as NATS user {user}")
        need("?" in str(env.get("SWITCHYARD_NATS_PASSWORD", "")), f"compose: {name}'s NATS password is not required from .env")
        need(all(f"nats://{n}:4222" in env.get("SWITCHYARD_NATS_URL", "") for n in nats),
             f"compose: {name} does not list every NATS node")
        if cmd == "ingress":
            need("?" in str(env.get("SWITCHYARD_MASTER_KEY", "")), f"compose: {name} listens without a required master key")
    need(len(roles.get("ingress", [])) >= 2, f"compose: two ingresses, found {roles.get('ingress')}")
    need(len(roles.get("worker", [])) >= 1, "compose: a worker")
    need(len(roles.get("auditor", [])) >= 1, "compose: an auditor")


def auth_conf_permissions():
    """deploy/nats/auth.conf's publish/subscribe lists per role."""
    text = open(os.path.join(DEPLOY, "nats", "auth.conf")).read()
    text = re.sub(r"#.*", "", text)
    out = {}
    for role in ("AUDITOR", "INGRESS", "WORKER"):
        block = re.search(role + r"\s*=\s*\{(.*?)\n  \}", text, re.S).group(1)
        out[role.lower()] = {
            kind: re.findall(r'"([^"]+)"', re.search(kind + r":\s*\[(.*?)\]", block, re.S).group(1))
            for kind in ("publish", "subscribe")
        }
    return out


def check_helm(helm):
    chart = os.path.join(DEPLOY, "helm", "switchyard")
    if not helm:
        print("skip helm: no helm binary (scripts/test installs helm-binary into the test venv)")
        return "skip"
    lint = subprocess.run([helm, "lint", chart], capture_output=True, text=True)
    need(lint.returncode == 0, f"helm lint: {lint.stdout}{lint.stderr}")
    # The NATS chart is a dependency fetched from its repository; the templates of this
    # chart are rendered without it.
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "switchyard")
        shutil.copytree(chart, copy)
        meta = yaml.safe_load(open(os.path.join(copy, "Chart.yaml")))
        values = yaml.safe_load(open(os.path.join(copy, "values.yaml")))
        deps = meta.pop("dependencies", [])
        need([d["name"] for d in deps] == ["nats"], f"helm: the NATS chart is the dependency, found {deps}")
        yaml.safe_dump(meta, open(os.path.join(copy, "Chart.yaml"), "w"))
        refused = subprocess.run([helm, "template", "sy", copy], capture_output=True, text=True)
        need(refused.returncode != 0 and "master" in refused.stderr,
             f"helm: rendering without secrets must be refused with a word on the master key: {refused.stderr}")
        sets = "secrets.masterKey=m,secrets.natsIngressPassword=a,secrets.natsWorkerPassword=b," \
               "secrets.natsAuditorPassword=c,secrets.natsAdminPassword=d,secrets.providers.OPENAI_API_KEY=sk"
        out = subprocess.run([helm, "template", "sy", copy, "--set", sets], capture_output=True, text=True)
        need(out.returncode == 0, f"helm template: {out.stderr}")
        docs = [d for d in yaml.safe_load_all(out.stdout) if d]
        # A partitioned log: one auditor StatefulSet per partition, each told its partition,
        # every role told the count.
        parted = subprocess.run([helm, "template", "sy", copy, "--set", sets + ",auditor.partitions=3"],
                                capture_output=True, text=True)
        need(parted.returncode == 0, f"helm template (partitions): {parted.stderr}")
        parted = [d for d in yaml.safe_load_all(parted.stdout) if d]
        sets_of = [d for d in parted if d["kind"] == "StatefulSet"]
        need([d["metadata"]["name"] for d in sets_of] == ["sy-auditor-p0", "sy-auditor-p1", "sy-auditor-p2"],
             f"helm: one auditor StatefulSet per partition: {[d['metadata']['name'] for d in sets_of]}")
        selectors = set()
        for k, d in enumerate(sets_of):
            env = {e["name"]: e for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}
            need(env.get("SWITCHYARD_AUDITOR_PARTITION", {}).get("value") == str(k), f"helm: auditor p{k}'s partition")
            selectors.add(tuple(sorted(d["spec"]["selector"]["matchLabels"].items())))
        need(len(selectors) == 3, "helm: the partitions' StatefulSets select their own pods")
        for d in parted:
            if d["kind"] in ("Deployment", "StatefulSet"):
                env = {e["name"]: e for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}
                need(env.get("SWITCHYARD_NATS_LOG_PARTITIONS", {}).get("value") == "3",
                     f"helm: {d['metadata']['name']} is not told the partition count")
    kinds = {}
    for d in docs:
        kinds.setdefault(d["kind"], []).append(d)
    by_role = {}
    for kind in ("Deployment", "StatefulSet"):
        for d in kinds.get(kind, []):
            role = d["metadata"]["labels"]["app.kubernetes.io/component"]
            by_role[role] = d
            pod = d["spec"]["template"]["spec"]
            need(pod["securityContext"].get("runAsNonRoot") is True, f"helm: {role} may run as root")
            for c in pod["containers"]:
                need(c["args"] == [role], f"helm: {role} runs {c['args']}")
                need(c["securityContext"].get("readOnlyRootFilesystem") is True, f"helm: {role} root fs writable")
                env = {e["name"]: e for e in c["env"]}
                need(env["SWITCHYARD_NATS_USER"]["value"] == role, f"helm: {role}'s NATS user")
                need("secretKeyRef" in env["SWITCHYARD_NATS_PASSWORD"]["valueFrom"], f"helm: {role}'s password not from the Secret")
                need("OPENAI_API_KEY" in env, f"helm: {role} lacks the provider key")
                if role == "ingress":
                    need("secretKeyRef" in env["SWITCHYARD_MASTER_KEY"]["valueFrom"], "helm: the master key not from the Secret")
    need(by_role.get("ingress", {}).get("kind") == "Deployment", "helm: an ingress Deployment")
    need(by_role.get("worker", {}).get("kind") == "Deployment", "helm: a workers Deployment")
    auditor = by_role.get("auditor", {})
    need(auditor.get("kind") == "StatefulSet" and auditor["spec"].get("volumeClaimTemplates"),
         "helm: an auditor StatefulSet with its own volume")
    hpa = kinds.get("HorizontalPodAutoscaler", [{}])[0]
    need(hpa.get("spec", {}).get("scaleTargetRef", {}).get("name") == "sy-ingress", "helm: the HPA scales the ingress")
    # The bundled NATS cluster's users (and k8s/nats-values.yaml's) have
    # deploy/nats/auth.conf's permissions.
    k8s = yaml.safe_load(open(os.path.join(DEPLOY, "k8s", "nats-values.yaml")))
    for where, nats_values in (("helm", values["nats"]), ("k8s/nats-values.yaml", k8s)):
        users = {u["user"]: u for u in nats_values["config"]["merge"]["authorization"]["users"]}
        for role, perms in auth_conf_permissions().items():
            for kind, subjects in perms.items():
                need(users[role]["permissions"][kind] == subjects,
                     f"{where}: NATS user {role}'s {kind} differs from deploy/nats/auth.conf")


def check_systemd(binary):
    tool = shutil.which("systemd-analyze")
    if not tool:
        print("skip systemd: no systemd-analyze on this machine")
        return "skip"
    units = sorted(f for f in os.listdir(os.path.join(DEPLOY, "systemd")) if f.endswith(".service"))
    need({"switchyard-ingress.service", "switchyard-worker.service", "switchyard-auditor.service"} <= set(units),
         f"systemd: a unit per role, found {units}")
    with tempfile.TemporaryDirectory() as tmp:
        for u in units:
            text = open(os.path.join(DEPLOY, "systemd", u)).read()
            # verify checks that ExecStart's program exists: point it at the built binary.
            open(os.path.join(tmp, u), "w").write(text.replace("/usr/local/bin/switchyard", binary))
        r = subprocess.run([tool, "verify"] + [os.path.join(tmp, u) for u in units], capture_output=True, text=True)
        need(r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(),
             f"systemd-analyze verify: {r.stdout}{r.stderr}")


def check_dockerfile():
    text = open(os.path.join(DEPLOY, "Dockerfile")).read()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    need(len(froms) >= 2, "Dockerfile: a multi-stage build")
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    need(users and users[-1] not in ("root", "0"), "Dockerfile: the image runs as a non-root user")
    need("slim" in froms[-1] or "distroless" in froms[-1], f"Dockerfile: a small runtime base, found {froms[-1]}")


def main():
    binary, helm = os.path.abspath(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else ""
    for part, check in (("compose", check_compose), ("helm", lambda: check_helm(helm)),
                        ("systemd", lambda: check_systemd(binary)), ("dockerfile", check_dockerfile)):
        before = len(problems)
        if check() != "skip" and len(problems) == before:
            print(f"ok {part}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)


main()
