"""The deployment files in deploy/: the systemd unit, the image definition, the compose file and
the reverse proxy's example parse, hold what they must, and name only settings the node has."""

from __future__ import annotations

import configparser
import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from server.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTINGS = {f.name for f in dataclasses.fields(Settings)}
ROOT_NAMES = {"root", "0", "0:0", "root:root"}


def setting_of(variable: str) -> str:
    """The setting a BIDROOM_* variable names; fails the test for a name the node doesn't know."""
    assert variable.startswith(ENV_PREFIX), variable
    name = variable[len(ENV_PREFIX) :].lower()
    assert name in SETTINGS or variable == "BIDROOM_CONFIG", f"{variable} is not a setting"
    return name


# --- the systemd unit -----------------------------------------------------------------------


def unit_entries(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file with every `Key=value` in order (keys may repeat in units)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert current is not None, f"line {number} is outside a section: {raw}"
        assert sep, f"line {number} is not Key=value: {raw}"
        current.append((key.strip(), value.strip()))
    return sections


def values(entries: list[tuple[str, str]], key: str) -> list[str]:
    return [value for name, value in entries if name == key]


def test_the_unit_runs_the_node_as_its_own_user_with_its_passphrase_file() -> None:
    text = (DEPLOY / "bidroom.service").read_text(encoding="utf-8")
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)  # parses as an INI file too
    assert set(parser.sections()) == {"Unit", "Service", "Install"}
    unit = unit_entries(text)
    service = unit["Service"]
    assert values(unit["Unit"], "Description")
    assert values(unit["Install"], "WantedBy") == ["multi-user.target"]
    [user] = values(service, "User")
    assert user not in ROOT_NAMES
    assert values(service, "Group") == [user]
    [start] = values(service, "ExecStart")
    command = shlex.split(start)
    assert command[0].startswith("/")
    assert command[0].endswith("/bidroom")
    assert command[1] == "serve"

    environment = dict(value.split("=", 1) for value in values(service, "Environment"))
    for variable in environment:
        setting_of(variable)
    credential, _ = values(service, "LoadCredentialEncrypted")[0].split(":", 1)
    assert environment["BIDROOM_NODE_KEY_PASSPHRASE_FILE"] == f"%d/{credential}"
    assert "BIDROOM_NODE_KEY_PASSPHRASE" not in environment  # never in the environment

    hardening = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "PrivateDevices": "yes", "RestrictSUIDSGID": "yes",
        "CapabilityBoundingSet": "", "UMask": "0077",
    }  # fmt: skip
    for key, value in hardening.items():
        assert values(service, key) == [value], key
    writable = values(service, "ReadWritePaths")[0].split()
    data_dir = Path(environment["BIDROOM_DATA_DIR"])
    assert any(data_dir.is_relative_to(path) for path in writable), (data_dir, writable)
    assert Path(values(service, "WorkingDirectory")[0]) in map(Path, writable)


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not here")
def test_systemd_reads_every_line_of_the_unit(tmp_path: Path) -> None:
    # Verified as this machine's systemd sees it: the program and user are swapped for ones that
    # exist here, everything else is as shipped. systemd names every line it ignores.
    text = (DEPLOY / "bidroom.service").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^ExecStart=\S+", "ExecStart=/bin/true", text)
    text = re.sub(r"(?m)^(User|Group)=.*$", r"\1=root", text)
    unit = tmp_path / "bidroom.service"
    unit.write_text(text, encoding="utf-8")
    done = subprocess.run(  # noqa: S603
        [shutil.which("systemd-analyze") or "", "verify", str(unit)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    complaints = [line for line in done.stderr.splitlines() if str(unit) in line]
    assert not complaints, complaints


def test_the_example_settings_load_and_trust_the_proxy() -> None:
    settings = Settings.load({}, config_file=DEPLOY / "bidroom.toml")
    assert settings.trusted_proxies == ("127.0.0.1/32",)
    assert settings.public_url.startswith("https://")
    unit = unit_entries((DEPLOY / "bidroom.service").read_text(encoding="utf-8"))
    environment = values(unit["Service"], "Environment")
    assert "BIDROOM_CONFIG=/etc/bidroom/bidroom.toml" in environment
    # The commented lines for several sites are valid settings too, once uncommented.
    text = (DEPLOY / "bidroom.toml").read_text(encoding="utf-8")
    several = re.sub(r"(?m)^# ((?:site|home|redis_url|database_url|ice_servers) = )", r"\1", text)
    assert several != text
    both = Settings.load({}, overrides=dict(tomllib.loads(several)))
    assert (both.home, both.bus, both.event_store) == (True, "redis", "postgres")


# --- the image definition -------------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """A Containerfile's instructions with continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")
    ))  # fmt: skip
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def lint_containerfile(text: str) -> list[str]:
    """What a reviewer checks in an image definition; every problem, not the first."""
    steps = instructions(text)
    problems = []
    if not steps or steps[0] != ("FROM", "python:3.11-slim"):
        problems.append("the first instruction must be FROM python:3.11-slim")
    users = [rest for word, rest in steps if word == "USER"]
    if not users or users[-1].split(":")[0] in ROOT_NAMES | {"root"}:
        problems.append("the image must end on a USER that is not root")
    last_user = max(i for i, (word, _) in enumerate(steps) if word == "USER") if users else -1
    if any(word == "RUN" for word, _ in steps[last_user + 1 :]):
        problems.append("RUN after the last USER runs as that user: keep installs above it")
    for word, rest in steps:
        if word == "ADD" and re.search(r"https?://|\.tar", rest):
            problems.append(f"ADD fetches or unpacks; use COPY or a checked download: {rest}")
        if word == "RUN" and re.search(r"(curl|wget)[^|]*\|\s*(ba)?sh", rest):
            problems.append(f"a script piped from the network: {rest}")
        if (
            word == "RUN"
            and "apt-get install" in rest
            and ("--no-install-recommends" not in rest or "rm -rf /var/lib/apt/lists" not in rest)
        ):
            problems.append("apt-get install without --no-install-recommends and list cleanup")
        if word == "FROM" and (":" not in rest or rest.endswith(":latest")):
            problems.append(f"an image without a fixed tag: {rest}")
    return problems


def test_the_image_definition_passes_the_lint() -> None:
    text = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    assert lint_containerfile(text) == []
    steps = instructions(text)
    assert any(word == "RUN" and "espeak-ng" in rest for word, rest in steps)
    for word, rest in steps:
        if word == "COPY":
            for source in shlex.split(rest)[:-1]:
                assert (ROOT / source).exists(), f"COPY names {source}, not in the repository"
        if word == "ENV":
            for variable in re.findall(r"(BIDROOM_\w+)=", rest):
                setting_of(variable)
    # Everything the install needs is copied in: the packages pyproject.toml ships, its readme.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    copied = {Path(source).name for word, rest in steps if word == "COPY"
              for source in shlex.split(rest)[:-1]}  # fmt: skip
    shipped = {
        name.rstrip("*") for name in project["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert shipped | {"pyproject.toml", project["project"]["readme"]} <= copied
    entry = next(rest for word, rest in steps if word == "ENTRYPOINT")
    scripts = project["project"]["scripts"]
    assert yaml.safe_load(entry)[0] in scripts
    health = next(rest for word, rest in steps if word == "HEALTHCHECK")
    path = re.search(r"127\.0\.0\.1:8080(/[\w/]*)", health)
    assert path is not None
    assert path[1] in routes(), f"the health check asks {path[1]}, which the node doesn't serve"
    ignored = (DEPLOY / "Containerfile.dockerignore").read_text(encoding="utf-8")
    assert "!server/" in ignored
    assert "!crypto/" in ignored


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("FROM python:3.11-slim\nRUN pip install .\n", "USER that is not root"),
        ("FROM python:3.11-slim\nUSER bidroom\nUSER root\n", "USER that is not root"),
        ("FROM python:3.11-slim\nUSER app\nRUN pip install x\n", "RUN after the last USER"),
        ("FROM python:3.11-slim\nADD https://x.example/a.tgz /\nUSER a\n", "ADD fetches"),
        ("FROM python:3.11-slim\nRUN curl -s https://x.example | sh\nUSER a\n", "piped"),
        ("FROM python:3.11-slim\nRUN apt-get install -y espeak-ng\nUSER a\n", "apt-get"),
        ("FROM debian\nUSER a\n", "FROM python:3.11-slim"),
    ],
)
def test_the_lint_catches_what_it_is_for(bad: str, problem: str) -> None:
    assert any(problem in found for found in lint_containerfile(bad)), lint_containerfile(bad)


def routes() -> set[str]:
    from server.app import create_app

    app = create_app(Settings(data_dir=Path("unused"), port=0), schedule=False)
    resources = [route.resource for route in app.router.routes() if route.resource]
    return {str(r.get_info().get("path", r.get_info().get("formatter", ""))) for r in resources}


def builder() -> str | None:
    for name in ("podman", "docker"):
        path = shutil.which(name)
        if path and subprocess.run(  # noqa: S603
            [path, "info"], capture_output=True, timeout=20, check=False
        ).returncode == 0:  # fmt: skip
            return path
    return None


@pytest.mark.skipif(
    os.environ.get("TEST_IMAGE_BUILD") != "1",
    reason="an image build downloads and installs for minutes: set TEST_IMAGE_BUILD=1",
)
def test_the_image_builds_and_runs_as_its_user() -> None:
    path = builder()
    if path is None:
        pytest.skip("no container builder (podman or docker with a running daemon) here")
    tag = "bidroom-test:build"
    build = [path, "build", "-f", str(DEPLOY / "Containerfile"), "-t", tag, str(ROOT)]
    subprocess.run(build, check=True, timeout=1800)  # noqa: S603
    who = [path, "run", "--rm", "--entrypoint", "id", tag, "-u"]
    uid = subprocess.run(who, capture_output=True, text=True, check=True, timeout=60)  # noqa: S603
    assert uid.stdout.strip() not in {"", "0"}


# --- the compose file -----------------------------------------------------------------------


def interpolated(value: str) -> str:
    """Compose's ${VAR}, ${VAR:?message} and ${VAR:-default}, with sample values."""
    return re.sub(r"\$\{(\w+)(?::?[?-][^}]*)?\}", lambda m: f"sample-{m[1].lower()}", value)


def test_the_compose_file_runs_a_home_with_redis_and_postgres(tmp_path: Path) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"node", "redis", "postgres"}
    for name, service in services.items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"{name}: no tag"
        assert not image.endswith(":latest"), f"{name}: a moving tag"
        for mount in service.get("volumes", []):
            volume = mount.split(":")[0]
            assert volume in compose["volumes"], f"{name}: volume {volume} is not declared"
    node = services["node"]
    assert node["build"]["dockerfile"] == "deploy/Containerfile"
    assert (DEPLOY / node["build"]["context"] / node["build"]["dockerfile"]).is_file()
    assert set(node["depends_on"]) == {"redis", "postgres"}
    for secret in node["secrets"]:
        assert secret in compose["secrets"]
    assert all(port.startswith("127.0.0.1:") for port in node["ports"])  # behind the proxy

    # The node's environment names real settings, and the settings it makes are valid.
    environment = {key: interpolated(str(value)) for key, value in node["environment"].items()}
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("sample passphrase\n")
    assert environment["BIDROOM_NODE_KEY_PASSPHRASE_FILE"] == "/run/secrets/node_key_passphrase"
    environment["BIDROOM_NODE_KEY_PASSPHRASE_FILE"] = str(passphrase)
    for variable in environment:
        setting_of(variable)
    settings = Settings.load(environment)
    assert (settings.event_store, settings.bus, settings.home) == ("postgres", "redis", True)
    assert settings.database_url is not None
    assert "@postgres:5432/" in settings.database_url
    assert settings.redis_url is not None
    assert "@redis:6379/" in settings.redis_url

    # The data volume is mounted where the image keeps its data directory.
    image = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    data_dir = re.search(r"BIDROOM_DATA_DIR=(\S+)", image)
    assert data_dir is not None
    assert f"node-data:{data_dir[1]}" in node["volumes"]
    gateway = compose["networks"]["default"]["ipam"]["config"][0]["gateway"]
    assert settings.trusted_proxies == (f"{gateway}/32",)


# --- the reverse proxy ----------------------------------------------------------------------


def test_the_proxy_example_upgrades_the_live_channel_and_streams_uploads() -> None:
    text = (DEPLOY / "nginx" / "bidroom.conf").read_text(encoding="utf-8")
    assert text.count("{") == text.count("}")
    live = re.search(r"location = /ws \{(.*?)\}", text, re.S)
    assert live is not None
    assert "proxy_set_header Upgrade $http_upgrade;" in live[1]
    assert "proxy_set_header Connection $connection_upgrade;" in live[1]
    timeout = re.search(r"proxy_read_timeout (\d+)s;", live[1])
    assert timeout is not None
    assert int(timeout[1]) > Settings().ws_heartbeat_seconds * 2
    uploads = re.search(r"location /api/uploads/ \{(.*?)\}", text, re.S)
    assert uploads is not None
    assert "proxy_request_buffering off;" in uploads[1]
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in text
    assert re.search(r"location = /metrics \{\s*return 404;", text)
    assert "listen 443 ssl http2;" in text
    assert "ssl_protocols       TLSv1.2 TLSv1.3;" in text


@pytest.mark.skipif(not shutil.which("nginx"), reason="nginx is not installed here")
def test_nginx_accepts_the_proxy_example(tmp_path: Path) -> None:
    from tests.crypto.certs import self_signed

    cert, key = self_signed(tmp_path)
    site = (DEPLOY / "nginx" / "bidroom.conf").read_text(encoding="utf-8")
    site = site.replace("/etc/ssl/bidroom/fullchain.pem", str(cert))
    site = site.replace("/etc/ssl/bidroom/privkey.pem", str(key))
    (tmp_path / "bidroom.conf").write_text(site, encoding="utf-8")
    temp = " ".join(f"{kind}_temp_path {tmp_path}/{kind};" for kind in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))  # fmt: skip
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ access_log off; {temp} include {tmp_path}/bidroom.conf; }}\n",
        encoding="utf-8",
    )
    nginx = shutil.which("nginx") or ""
    done = subprocess.run(  # noqa: S603
        [nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
         "-e", str(tmp_path / "error.log")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # nginx 1.25.1 and newer prefer `http2 on;` and say so; the example is for Debian 12's 1.22.
    warnings = [line for line in done.stderr.splitlines()
                if "warn" in line and "http2" not in line]  # fmt: skip
    assert warnings == [], done.stderr
