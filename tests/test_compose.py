"""docker-compose.yml and the Dockerfiles: valid Compose Specification, and everything they name exists.

No Docker engine runs here. The file is validated by `compose-spec` (bindings of the Rust `compose_spec` parser,
strict: unknown keys and wrong enum values are errors) after Compose-style `${VAR}` interpolation, and checked
structurally: services, GPU reservation, healthchecks, required secrets, the Dockerfiles and their COPY sources,
and the `v2v` commands (which must parse with our CLI; the worker image runs the command the tests run).
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli.main import SUBCOMMANDS

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
ENV = {"V2V_REDIS_PASSWORD": "te/st@se#cr:et"}  # characters that break a hand-written Redis URL

_VAR = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable syntax: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $$."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = env.get(name)
        unset = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in ("?", ":?") and unset:
            raise KeyError(f"required variable {name} is missing: {arg}")
        if op in ("-", ":-") and unset:
            return arg
        return value or ""

    return _VAR.sub(replace, text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(interpolate(COMPOSE.read_text(), ENV))


def test_compose_file_is_valid_compose_spec() -> None:
    compose_spec = pytest.importorskip("compose_spec")
    project = compose_spec.PyCompose.from_yaml(interpolate(COMPOSE.read_text(), ENV))  # raises on invalid
    project.validate()
    spec = project.to_spec()  # the pydantic model of the Compose Specification
    assert set(spec.services) == {"redis", "api", "worker", "proxy"}


def test_required_secrets_fail_fast_when_missing() -> None:
    with pytest.raises(KeyError, match="V2V_REDIS_PASSWORD"):
        interpolate(COMPOSE.read_text(), {})


def test_services_shape(compose: dict[str, Any]) -> None:
    services = compose["services"]
    redis_cmd = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_cmd and "--requirepass te/st@se#cr:et" in redis_cmd
    assert "healthcheck" in services["redis"] and "healthcheck" in services["api"]
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert "media:/data/media" in services[name]["volumes"]
        environment = services[name]["environment"]
        assert environment["V2V_REDIS_URL"] == "redis://redis:6379/0"  # the password travels apart, URL-quoted later
        assert environment["V2V_REDIS_PASSWORD"] == "te/st@se#cr:et"
        assert services[name]["environment"]["V2V_MEDIA_ROOT"] == "/data/media"
    # One worker container with every GPU, fanned out to one process per GPU (distinct CUDA_VISIBLE_DEVICES).
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert services["worker"]["command"] == ["v2v", "worker", "--devices", "all"]
    health = services["worker"]["healthcheck"]
    assert services["worker"]["environment"]["V2V_WORKER_HEALTH_FILE"] in " ".join(health["test"])
    assert "ports" not in services["worker"]
    assert set(compose["volumes"]) == {"redis-data", "media"}


def _dockerfile(compose: dict[str, Any], service: str) -> Path:
    build = compose["services"][service]["build"]
    context = REPO / build["context"]
    assert context.is_dir()
    path = context / build["dockerfile"]
    assert path.is_file(), path
    return path


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = path.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


@pytest.mark.parametrize("service", ["api", "worker"])
def test_dockerfiles_exist_and_copy_real_files(compose: dict[str, Any], service: str) -> None:
    instructions = _instructions(_dockerfile(compose, service))
    copies = [args.split() for op, args in instructions if op == "COPY"]
    assert copies
    for args in copies:
        for source in args[:-1]:
            assert (REPO / source).exists(), f"{service}: COPY {source} does not exist"


def _parse_v2v(argv: list[str]) -> argparse.Namespace:
    assert argv[0] == "v2v" and argv[1] in SUBCOMMANDS, argv
    module = importlib.import_module(SUBCOMMANDS[argv[1]][0])
    parser = argparse.ArgumentParser(prog=f"v2v {argv[1]}", exit_on_error=False)
    module.add_arguments(parser, argv[1])
    return parser.parse_args(argv[2:])


@pytest.mark.parametrize("service", ["api", "worker"])
def test_commands_are_real_v2v_subcommands_matching_the_image(compose: dict[str, Any], service: str) -> None:
    command = compose["services"][service]["command"]
    _parse_v2v(command)
    cmd = [args for op, args in _instructions(_dockerfile(compose, service)) if op == "CMD"][-1]
    image_command = yaml.safe_load(cmd) if cmd.startswith("[") else shlex.split(cmd)
    assert image_command == command


def test_api_port_matches_command_and_image(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    args = _parse_v2v(api["command"])
    assert "ports" not in api  # clients go through the proxy
    assert [str(p) for p in api["expose"]] == [str(args.port)] == ["8000"]
    exposed = [a for op, a in _instructions(_dockerfile(compose, "api")) if op == "EXPOSE"]
    assert exposed == [str(args.port)]
    assert str(args.port) in " ".join(api["healthcheck"]["test"])


def _nginx_directives(text: str) -> dict[str, list[str]]:
    """`name args;` statements of an nginx config (comments dropped), by name."""
    found: dict[str, list[str]] = {}
    body = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    for statement in re.split(r"[;{}]", body):
        words = statement.split()
        if words:
            found.setdefault(words[0], []).append(" ".join(words[1:]))
    return found


def test_proxy_fronts_the_api_with_limits(compose: dict[str, Any]) -> None:
    """The only published port is the reverse proxy's; it forwards to the API and bounds heads, bodies and time."""
    proxy, api = compose["services"]["proxy"], compose["services"]["api"]
    assert proxy["image"].startswith("nginx:")
    mounts = [v.split(":") for v in proxy["volumes"]]
    config = [REPO / m[0] for m in mounts if m[1] == "/etc/nginx/nginx.conf"]
    assert len(config) == 1 and config[0].is_file() and mounts[0][-1] == "ro"
    nginx = _nginx_directives(config[0].read_text())
    listen = nginx["listen"]
    assert [str(p).rsplit(":", 1)[-1] for p in proxy["ports"]] == listen == ["8080"]
    assert [s for s in nginx["server"] if s] == [f"api:{_parse_v2v(api['command']).port}"]  # the upstream
    assert nginx["proxy_pass"] == ["http://api"]
    for directive in (
        "client_header_timeout",
        "client_body_timeout",
        "large_client_header_buffers",
        "client_max_body_size",
        "keepalive_timeout",
        "send_timeout",
        "limit_conn",
    ):
        assert directive in nginx, directive
    assert nginx["proxy_request_buffering"] == ["off"]  # uploads stream through; the API caps them
    assert proxy["depends_on"]["api"]["condition"] == "service_healthy"
    assert "8080" in " ".join(proxy["healthcheck"]["test"])


def test_worker_entry_command_runs_here(compose: dict[str, Any], redis_url: str, tmp_path: Path) -> None:
    """The image's `v2v worker --devices all` on this CPU machine: one in-process worker (burst: empty queue)."""
    from cli.worker import run
    from tests.workers.helpers import write_manifest

    args = _parse_v2v([*compose["services"]["worker"]["command"], "--burst"])
    args.redis_url, args.manifest = redis_url, write_manifest(tmp_path)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert run(args) == 0
    finally:
        for sig, handler in handlers.items():  # RQ and the worker install their own
            signal.signal(sig, handler)
