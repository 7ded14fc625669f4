"""`make devnet`: the national nodes of deploy/devnet/devnet.toml on loopback, peered, with demo data.

Each node is a real `sifnet node run` process in its own process group (deploy/processes.py starts,
watches and stops it), with its data and its log (node.log) in <data-dir>/<id>/. The first start
initialises every node, creates its coordinator, seeds the demo cast, starts it, peers every pair
through the coordinators' API and makes a few cross-border payments; later starts reuse the data
and only do what is missing. Ctrl-C (or SIGTERM) stops every process; so does any failure.
`--check` starts, verifies, prints and stops (tests/test_devnet.py).

A new kind of process (the directory service) is one more Service subclass in `services()`.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

from node.demo import DEMO_PASSWORD, demo_email, load_cast
from node.keys import load_signing_key
from node.settings import load_settings, write_settings_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # deploy.processes
sys.path.insert(0, str(Path(__file__).resolve().parent))  # devnet_directory
from devnet_directory import DevnetDirectory, directory_lines, list_nodes, wait_all_up

from deploy.processes import REPO, Process, ProcessError, health_problem, log_tail, settings_env, sifnet_command

CONFIG = REPO / "deploy" / "devnet" / "devnet.toml"
HTTP_TIMEOUT = 30


class DevnetError(Exception):
    """Something the person starting the devnet must look at; the message says what and where."""


def clean_env() -> dict[str, str]:
    """Our environment without SIFNET_* values: a node's settings come from its settings.toml only."""
    return settings_env()


class Service:
    """One devnet process: prepares its data folder, runs in its own process group, answers /healthz."""

    def __init__(self, name: str, port: int, data_dir: Path) -> None:
        self.name, self.port, self.data_dir = name, port, data_dir
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "node.log"

    def check(self) -> None:
        """Refuse to start when the data folder cannot be used as it is (quick, before anything runs)."""

    def prepare(self) -> list[str]:
        """Create whatever is missing before the first start; return what was done."""
        return []

    def command(self) -> list[str]:
        raise NotImplementedError

    def log(self, text: str) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a", encoding="utf-8") as fh:
            fh.write(f"--- devnet {time.strftime('%H:%M:%S')} {text}\n")

    def start(self) -> None:
        if _answers(self.url):
            raise DevnetError(
                f"{self.name}: port {self.port} is in use (a devnet left running?); "
                f"see {self.data_dir / 'node.pid'} or pick --base-port"
            )
        self.log(f"start on port {self.port}")
        self.process = Process(self.name, self.command(), clean_env(), self.log_path).start()
        (self.data_dir / "node.pid").write_text(f"{self.process.pid}\n")

    def healthy(self) -> bool:
        return not health_problem(self.url, node_id=self.name)

    def wait_healthy(self, timeout: float = 60) -> None:
        """Until /healthz answers with our id; a NodeStartError with the log's tail when it does not."""
        if self.process is None:
            raise DevnetError(f"{self.name} was not started")
        self.process.wait_healthy(self.url, node_id=self.name, timeout=timeout, interval=0.1, tail=3000)

    def exited(self) -> bool:
        return self.process is not None and self.process.exited

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM the process group, SIGKILL it when it does not go within the timeout."""
        if self.process is None:
            return
        self.process.stop(timeout)
        (self.data_dir / "node.pid").unlink(missing_ok=True)
        self.process = None

    def log_tail(self, chars: int = 3000) -> str:
        return log_tail(self.log_path, chars)


@dataclass(frozen=True)
class NodeSpec:
    id: str
    name: str
    country: str
    offset: int
    default_language: str = "en"
    time_zone: str = "UTC"


class NodeService(Service):
    """A national node: `sifnet node init`, create-coordinator and seed-demo once, then `sifnet node run`."""

    def __init__(self, spec: NodeSpec, port: int, data_root: Path, settings: dict) -> None:
        super().__init__(spec.id, port, data_root / spec.id)
        self.spec = spec
        self.settings = {**settings, "default_language": spec.default_language, "time_zone": spec.time_zone}
        self.coordinator_email = demo_email("coordinator", spec.id)

    def sifnet(self, *args: str) -> str:
        """Run `sifnet node <args> --data-dir <ours>`; its output goes to the log as well."""
        cmd = [*sifnet_command(), "node", *args, "--data-dir", str(self.data_dir)]
        result = subprocess.run(cmd, env=clean_env(), cwd=REPO, capture_output=True, text=True, timeout=300)
        self.log(f"$ sifnet node {args[0]}\n{result.stdout}{result.stderr}".rstrip())
        if result.returncode != 0:
            raise DevnetError(
                f"{self.name}: `sifnet node {' '.join(args)}` exited {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result.stdout

    def check(self) -> None:
        """Refuse reused data made for another port: its peers know this node by that URL."""
        if not (self.data_dir / "settings.toml").exists():
            return
        stored = load_settings({"data_dir": str(self.data_dir)}, environ={})
        if stored.port != self.port:
            raise DevnetError(
                f"{self.name}: its data in {self.data_dir} is for port {stored.port}, not {self.port}; "
                f"start with --base-port {stored.port - self.spec.offset} or use --reset"
            )

    def prepare(self) -> list[str]:
        done = []
        settings_file = self.data_dir / "settings.toml"
        if not settings_file.exists():
            self.sifnet(
                "init",
                "--node-id",
                self.spec.id,
                "--node-name",
                self.spec.name,
                "--country",
                self.spec.country,
                "--port",
                str(self.port),
            )
            done.append("initialised")
        self.apply_settings(settings_file)
        if "initialised" in done:
            self.sifnet(
                "create-coordinator",
                "--email",
                self.coordinator_email,
                "--password",
                DEMO_PASSWORD,
                "--name",
                f"{self.spec.name} coordinator",
                "--handle",
                "coordinator",
            )
        marker = self.data_dir / "demo-seeded"  # saves a process start per node on every later start
        if not marker.exists():
            seeded = self.sifnet("seed-demo")
            seeded += self.sifnet("seed-initiatives")  # the initiatives the directory's quick scan compares
            marker.write_text(seeded)
            if "nothing added" not in seeded.splitlines()[0]:
                done.append("demo data seeded")
        return done

    def apply_settings(self, settings_file: Path) -> None:
        """Write the devnet's settings over the file's own (identity and port stay as init wrote them)."""
        with settings_file.open("rb") as fh:
            values = tomllib.load(fh)
        merged = {**values, **self.settings}
        if merged != values:
            write_settings_file(settings_file, merged)

    def command(self) -> list[str]:
        return [*sifnet_command(), "node", "run", "--data-dir", str(self.data_dir)]

    def fingerprint(self) -> str:
        """The node's key fingerprint read from its own data folder: what its coordinator would read out."""
        return load_signing_key(self.data_dir).public_key.fingerprint


class Api:
    """One member's JSON API session on one node."""

    def __init__(self, url: str, email: str, password: str = DEMO_PASSWORD) -> None:
        self.url, self.http = url, requests.Session()
        resp = self.http.post(f"{url}/api/v1/tokens", json={"email": email, "password": password}, timeout=HTTP_TIMEOUT)
        if resp.status_code != 201:
            raise DevnetError(f"login of {email} at {url} failed: {resp.status_code} {resp.text[:300]}")
        self.http.headers["Authorization"] = f"Bearer {resp.json()['token']}"

    def call(self, method: str, path: str, body: dict | None = None, expect: int = 200) -> dict:
        resp = self.http.request(method, f"{self.url}/api/v1{path}", json=body, timeout=HTTP_TIMEOUT)
        if resp.status_code != expect:
            raise DevnetError(f"{method} {self.url}/api/v1{path}: {resp.status_code} {resp.text[:300]}")
        return resp.json()


def _answers(url: str) -> bool:
    try:
        requests.get(f"{url}/healthz", timeout=1)
        return True
    except requests.RequestException:
        return False


class Devnet:
    """The whole devnet: its services, the peering between nodes and the demo payments."""

    def __init__(self, config: dict, data_root: Path, base_port: int) -> None:
        self.config, self.data_root = config, data_root
        specs = [NodeSpec(**n) for n in config["node"]]
        self.nodes = {s.id: NodeService(s, base_port + s.offset, data_root, config.get("settings", {})) for s in specs}
        self._coordinators: dict[str, Api] = {}
        # The working group's directory listens just below the first node.
        self.directory = DevnetDirectory(Service, sifnet_command, clean_env, REPO, DevnetError).make(
            base_port - 1, data_root
        )

    def services(self) -> list[Service]:
        """Every process of the devnet, in start order."""
        return [*self.nodes.values(), self.directory]

    def start(self) -> dict[str, list[str]]:
        """Prepare and start every service in parallel; return what each one had to set up."""
        for service in self.services():
            service.check()
        with ThreadPoolExecutor(max_workers=len(self.services())) as pool:
            done = dict(zip([s.name for s in self.services()], pool.map(lambda s: s.prepare(), self.services())))
        for service in self.services():
            service.start()
        with ThreadPoolExecutor(max_workers=len(self.services())) as pool:
            list(pool.map(lambda s: s.wait_healthy(), self.services()))
        return done

    def stop(self) -> None:
        for service in reversed(self.services()):
            service.stop()

    def coordinator(self, node_id: str) -> Api:
        if node_id not in self._coordinators:
            node = self.nodes[node_id]
            self._coordinators[node_id] = Api(node.url, node.coordinator_email)
        return self._coordinators[node_id]

    def peers_of(self, node_id: str) -> dict[str, dict]:
        return {p["node_id"]: p for p in self.coordinator(node_id).call("GET", "/federation/peers")["peers"]}

    def peer_all(self) -> int:
        """Each node adds every other by URL and pins the key its own data folder shows; returns links made."""
        limit = self.config.get("peering", {}).get("trust_limit", 100)
        made = 0
        for a, b in itertools.permutations(self.nodes, 2):
            state = self.peers_of(a).get(b)
            if state is None:
                state = self.coordinator(a).call("POST", "/federation/peers", {"url": self.nodes[b].url}, expect=201)
            if state["status"] != "pending":
                continue
            expected = self.nodes[b].fingerprint()
            if state["fingerprint"] != expected:
                raise DevnetError(
                    f"{a} sees fingerprint {state['fingerprint']} at {self.nodes[b].url}; {b}'s own key says {expected}"
                )
            self.coordinator(a).call(
                "POST", f"/federation/peers/{b}/confirm", {"fingerprint": expected, "trust_limit": limit}
            )
            made += 1
        return made

    def payer(self, address: str) -> Api:
        handle, node_id = address.split("@")
        return Api(self.nodes[node_id].url, demo_email(handle, node_id))

    def pay_all(self, timeout: float = 60) -> list[str]:
        """Make each demo payment once and wait until every one is completed; return a line per payment."""
        pending = {}
        for pay in self.config.get("payment", []):
            api = self.payer(pay["from"])
            if self._transfer(api, pay) is None:
                api.call(
                    "POST", "/transfers", {"to": pay["to"], "amount": pay["amount"], "memo": pay["memo"]}, expect=201
                )
            pending[pay["memo"]] = (api, pay)
        deadline, lines = time.monotonic() + timeout, {}
        while pending:
            for memo, (api, pay) in list(pending.items()):
                row = self._transfer(api, pay)
                assert row is not None  # posted above
                if row["status"] != "pending":
                    lines[memo] = f"{pay['from']} -> {pay['to']}: {pay['amount']} SIF {row['status']}"
                    del pending[memo]
            if pending and time.monotonic() > deadline:
                raise DevnetError(f"payments still pending after {timeout}s: {', '.join(pending)}")
            time.sleep(0.1 if pending else 0)
        return [lines[p["memo"]] for p in self.config.get("payment", [])]

    @staticmethod
    def _transfer(api: Api, pay: dict) -> dict | None:
        rows = api.call("GET", "/me/cross-border")["transfers"]
        return next((r for r in rows if r["memo"] == pay["memo"] and r["counterparty"] == pay["to"]), None)

    def wait_offers_shared(self, timeout: float = 60) -> dict[str, tuple[int, int]]:
        """Wait until every node's advice market lists the other nodes' network-wide demo offers (shared by a sweep);
        return (listed, expected) per node."""
        shared = {
            n.spec.id: sum(1 for item in load_cast(n.spec.id, n.spec.country)["listings"] if item.get("network_wide"))
            for n in self.nodes.values()
        }
        deadline, seen = time.monotonic() + timeout, {}
        while True:
            for node_id in self.nodes:
                listings = self.coordinator(node_id).call("GET", "/advice/listings?kind=offer")["listings"]
                seen[node_id] = (sum(1 for x in listings if x["abroad"]), sum(shared.values()) - shared[node_id])
            if all(listed >= expected for listed, expected in seen.values()) or time.monotonic() > deadline:
                return seen
            time.sleep(0.5)

    def verify(self, payments: list[str]) -> list[str]:
        """What is wrong with the running devnet (empty when all is well)."""
        problems = [f"{s.name} is not healthy" for s in self.services() if not s.healthy()]
        positions = {a: self.peers_of(a) for a in self.nodes}
        for a, b in itertools.combinations(self.nodes, 2):
            ab, ba = positions[a].get(b), positions[b].get(a)
            if not ab or not ba or ab["status"] != "active" or ba["status"] != "active":
                problems.append(f"{a} and {b} are not peered both ways")
            elif ab["position"] + ba["position"] != 0:
                problems.append(f"positions of {a} and {b} do not mirror: {ab['position']} and {ba['position']}")
        problems += [f"payment not completed: {line}" for line in payments if not line.endswith("completed")]
        problems += wait_all_up(self.directory, list(self.nodes))
        for node_id in self.nodes:
            invariant = self.coordinator(node_id).call("GET", "/coordinator/dashboard")["invariant"]
            if not invariant["ok"]:
                problems.append(f"{node_id}: the books do not balance: {invariant}")
        return problems

    def table(self) -> list[str]:
        """The nodes, their logins, and how to stop."""
        lines = [f"{'node':<6} {'name':<16} {'URL':<23} coordinator login", "-" * 78]
        for node in self.nodes.values():
            lines.append(f"{node.name:<6} {node.spec.name:<16} {node.url:<23} {node.coordinator_email}")
        lines += ["", f"Demo members (password for all, coordinators too: {DEMO_PASSWORD}):"]
        for node in self.nodes.values():
            lines.append(f"  {node.name:<6} " + ", ".join(demo_logins(node.spec)))
        lines += ["", *directory_lines(self.directory)]
        lines += ["", f"Logs: {self.data_root}/<node>/node.log    Mail: {self.data_root}/<node>/mail/"]
        return lines


def demo_logins(spec: NodeSpec) -> list[str]:
    """A reviewer, the author of the reviewed proposal and another member of this node's demo cast."""
    cast = load_cast(spec.id, spec.country)
    author = cast["proposals"][0]["who"]
    picks = [
        (cast["members"][0]["handle"], "reviewer"),
        (author, "reviewed proposal"),
        (cast["proposals"][1]["who"], "open proposal"),
    ]
    return [f"{demo_email(handle, spec.id)} ({what})" for handle, what in picks]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Start the SIF devnet: national nodes on loopback with demo data.")
    p.add_argument("--base-port", type=int, default=5101, help="port of the first node; the others follow")
    p.add_argument("--data-dir", type=Path, default=REPO / "devnet-data", help="where the nodes keep their data")
    p.add_argument("--config", type=Path, default=CONFIG, help="the devnet description")
    p.add_argument("--check", action="store_true", help="start, verify, print and stop (exit 1 on a problem)")
    p.add_argument("--reset", action="store_true", help="delete the nodes' data folders first")
    return p.parse_args(argv)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def bring_up(net: Devnet, args: argparse.Namespace) -> bool:
    """Start, peer, pay and verify; print the table; return whether everything checked out."""
    began = time.monotonic()

    def took(since: float) -> str:
        return f"[{time.monotonic() - since:.1f}s]"

    print(f"Starting {len(net.services())} processes, data in {args.data_dir} ...", flush=True)
    for name, done in net.start().items():
        print(f"  {name:<6} {', '.join(done) or 'reused'}", flush=True)
    print(f"All healthy {took(began)}", flush=True)
    mark = time.monotonic()
    print(f"Peering: {net.peer_all()} links confirmed, the others existed {took(mark)}", flush=True)
    mark = time.monotonic()
    print(f"Directory: {list_nodes(net.directory, net.nodes)} nodes listed, the others were {took(mark)}", flush=True)
    mark = time.monotonic()
    payments = net.pay_all()
    print(f"Cross-border payments {took(mark)}:\n" + "\n".join(f"  {line}" for line in payments))
    mark = time.monotonic()
    offers = net.wait_offers_shared()
    listed = ", ".join(f"{node_id} {n}" for node_id, (n, _) in offers.items())
    print(f"Advice offers from other countries in each market: {listed} {took(mark)}", flush=True)
    problems = net.verify(payments)
    problems += [f"{node_id} lists {n} of the {e} offers shared with it" for node_id, (n, e) in offers.items() if n < e]
    print(f"\nSIF devnet up in {time.monotonic() - began:.1f}s\n")
    print("\n".join(net.table()))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print(
        "\nCheck passed: all healthy, peered both ways, positions mirror, payments completed, books balance,"
        " advice offers shared."
        if not problems
        else "\nCheck FAILED."
    )
    return not problems


def watch(net: Devnet) -> int:
    """Wait for Ctrl-C. A process that dies is reported with a pointer to its log; the others keep
    running, so the network can be watched without it (the directory marks it unreachable)."""
    print("\nPress Ctrl-C to stop all nodes.", flush=True)
    reported: set[str] = set()
    while True:
        time.sleep(0.5)
        for service in net.services():
            if service.name not in reported and service.exited():
                reported.add(service.name)
                print(
                    f"\n{service.name} exited; the others keep running. Its log ({service.log_path}):\n"
                    f"{service.log_tail()}",
                    flush=True,
                )
        if len(reported) == len(net.services()):
            print("every process has exited")
            return 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with args.config.open("rb") as fh:
        config = tomllib.load(fh)
    args.data_dir = args.data_dir.resolve()
    net = Devnet(config, args.data_dir, args.base_port)
    if args.reset:
        for service in net.services():
            shutil.rmtree(service.data_dir, ignore_errors=True)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGINT too: a background start ignores it
        signal.signal(sig, _raise_interrupt)
    try:
        ok = bring_up(net, args)
        return (0 if ok else 1) if args.check else watch(net)
    except (DevnetError, ProcessError) as exc:
        print(f"\ndevnet: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        net.stop()  # first: printing may fail (a closed pipe) and must not leave nodes running
        print("All devnet processes stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
