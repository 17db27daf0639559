"""Shared by the client tests: one `trent serve` for the whole session, and a boto3 client for it;
a second one with `--test-admin` (clock and reset endpoints) for the lifecycle tests.

Each server is started from $TRENT_BIN (default target/release/trent) on a temporary data dir and
stopped with SIGTERM at the end, which must exit 0. With TRENT_TEST_STORE=postgres each stores in a
new database on the PostgreSQL at $TRENT_TEST_POSTGRES. Run through ./scripts/test.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

REPO = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
ACCOUNT = "111122223333"
STARTUP_TIMEOUT = 30
SHUTDOWN_TIMEOUT = 15


# The admin listener (/metrics, /health/...) of each running server, by the server's URL.
ADMIN_URLS = {}


def key_arn(key_id):
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"


def store_args(root, name="main"):
    """`--store URL --root-key-file FILE` on a new database when TRENT_TEST_STORE=postgres, else nothing.

    `name` tells apart the databases of the servers one session starts."""
    store = os.environ.get("TRENT_TEST_STORE", "embedded")
    if store == "embedded":
        return []
    assert store == "postgres", f"TRENT_TEST_STORE={store}: expected postgres or embedded"
    base = os.environ["TRENT_TEST_POSTGRES"]
    name = f"trent_py_{os.getpid()}_{name}"
    subprocess.run(["psql", "--no-psqlrc", "--quiet", "--dbname", f"{base}/postgres", "--command", f"CREATE DATABASE {name}"], check=True)
    key_file = root / "root.key"
    key_file.write_bytes(os.urandom(32))
    key_file.chmod(0o600)
    return ["--store", f"{base}/{name}", "--root-key-file", str(key_file)]


@contextmanager
def running_server(tmp_path_factory, name="main", extra_args=()):
    """Runs a `trent serve` with `extra_args` and yields its URL; its stderr goes to <tmp>/server.log."""
    binary = Path(os.environ.get("TRENT_BIN", "target/release/trent"))
    if not binary.is_absolute():
        binary = REPO / binary
    assert binary.is_file(), f"no Trent binary at {binary}: build it (cargo build --release -p trent) or set TRENT_BIN"
    root = tmp_path_factory.mktemp(f"trent-{name}")
    log_path = root / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                str(binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(root / "data"),
                *store_args(root, name), *extra_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env={**os.environ, "TRENT_ADMIN_LISTEN": "127.0.0.1:0"},
        )
    found = threading.Event()
    url = []

    def read_stdout():
        # Reads stdout to its end so that the server never blocks on a full pipe. The KMS API's
        # `listening on` line comes first, then the admin listener's.
        for raw in proc.stdout:
            line = raw.decode(errors="replace")
            if not found.is_set() and "listening on " in line:
                url.append(line.split("listening on ", 1)[1].split()[0].rstrip("/"))
                if len(url) == 2:
                    ADMIN_URLS[url[0]] = url[1]
                    found.set()

    threading.Thread(target=read_stdout, daemon=True).start()
    try:
        if not found.wait(STARTUP_TIMEOUT):
            raise AssertionError(
                f"trent printed no `listening on` line within {STARTUP_TIMEOUT}s "
                f"(exit code {proc.poll()}); log:\n{log_path.read_text(errors='replace')}"
            )
        yield url[0]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"trent did not exit within {SHUTDOWN_TIMEOUT}s of SIGTERM")
        if found.is_set():
            assert code == 0, f"graceful shutdown on SIGTERM should exit 0, got {code}"


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The URL of a running `trent serve`."""
    with running_server(tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="session")
def admin_server(tmp_path_factory):
    """The URL of a running `trent serve --test-admin`, whose clock tests may move forward."""
    with running_server(tmp_path_factory, "admin", ["--test-admin"]) as url:
        yield url


def admin_post(server, path, body):
    """POSTs JSON to an unsigned test-admin endpoint; returns the parsed JSON answer."""
    request = urllib.request.Request(
        server + path, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200, response.status
        return json.loads(response.read())


def make_client(server, access_key="test", secret_key="test", region=REGION, validate=True):
    """A boto3 KMS client for the server; by default with the default identity's credentials.

    With `validate=False` botocore sends parameters its model would refuse, for the server to judge."""
    return boto3.session.Session().client(
        "kms",
        endpoint_url=server,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        # No retries: every assertion sees the server's first answer.
        config=Config(
            retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=30, parameter_validation=validate
        ),
    )


@pytest.fixture(scope="session")
def kms(server):
    return make_client(server)


def aws_cli():
    """The AWS CLI of the venv."""
    cli = Path(sys.executable).parent / "aws"
    assert cli.is_file(), f"no AWS CLI at {cli}: run scripts/python-env.sh"
    return cli


def aws_cli_env(home):
    """The AWS CLI's environment: the default identity's credentials, no config or credentials
    file of the machine's (they live in `home`), one attempt per call."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_CONFIG_FILE=str(home / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-credentials"),
        AWS_MAX_ATTEMPTS="1",
    )
    return env


@pytest.fixture(scope="session")
def aws(server, tmp_path_factory):
    """Runs `aws kms ...` against the server and returns the parsed JSON (or raw text).

    `aws.failing(*args, **env)` runs it with extra environment variables, expects it to fail and
    returns its stderr.
    """
    home = tmp_path_factory.mktemp("aws-cli")
    env = aws_cli_env(home)
    cli = aws_cli()

    def execute(args, output, extra_env):
        cmd = [str(cli), "kms", *args, "--endpoint-url", server, "--region", REGION, "--output", output]
        return subprocess.run(cmd, env={**env, **extra_env}, cwd=home, capture_output=True, text=True, timeout=60)

    def run(*args, output="json"):
        done = execute(args, output, {})
        assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stderr}"
        if output == "json":
            return json.loads(done.stdout) if done.stdout.strip() else None
        return done.stdout.strip()

    def failing(*args, **extra_env):
        done = execute(args, "json", extra_env)
        assert done.returncode != 0, f"{' '.join(args)} succeeded:\n{done.stdout}"
        return done.stderr

    run.dir = home
    run.failing = failing
    return run
