"""The Dockerfile and the work-pool templates against the repository: the files they copy exist and
reach the build, every LEADOPS_ variable they set is one Settings reads, secrets go by reference,
and the image, volume and user agree between the three."""
import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from leadops.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deployments" / "docker" / "Dockerfile"
DOCKER = json.loads((ROOT / "deployments" / "docker" / "base-job-template.json").read_text(encoding="utf-8"))
K8S = json.loads((ROOT / "deployments" / "kubernetes" / "base-job-template.json").read_text(encoding="utf-8"))
K8S_POD = K8S["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
# settings whose value is a secret: SecretStr fields, and the database URL (it carries the password)
SECRETS = {f"LEADOPS_{name.upper()}" for name, field in Settings.model_fields.items()
           if "SecretStr" in str(field.annotation)} | {"LEADOPS_DATABASE_URL"}


def instructions(path: Path) -> list[tuple[str, str]]:
    """Return the Dockerfile's (INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in path.read_text(encoding="utf-8").splitlines()
                                            if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines() if line.strip()]


def dockerfile_env() -> dict[str, str]:
    return dict(pair.split("=", 1) for kind, args in instructions(DOCKERFILE) if kind == "ENV" for pair in shlex.split(args))


def copied_sources() -> list[str]:
    return [src for kind, args in instructions(DOCKERFILE) if kind == "COPY" for src in shlex.split(args)[:-1]]


def template_env_names() -> set[str]:
    return (set(dockerfile_env()) | set(DOCKER["variables"]["properties"]["env"]["default"])
            | set(K8S["variables"]["properties"]["env"]["default"]) | {e["name"] for e in K8S_POD["containers"][0]["env"]})


def test_every_file_the_dockerfile_copies_exists_and_is_sent_to_the_build():
    ignore = [line for line in (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
              if line and not line.startswith("#")]
    assert ignore[0] == "*"  # everything is left out unless let back in
    let_in = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    sources = copied_sources()
    assert sources
    for src in sources:
        assert (ROOT / src).exists(), f"COPY {src}: no such file in the repository"
        parts = Path(src.rstrip("/")).parts
        assert any("/".join(parts[:i]) in let_in for i in range(1, len(parts) + 1)), \
            f"COPY {src}: left out of the build context by Dockerfile.dockerignore"


def test_the_image_holds_every_entry_point_and_the_folders_settings_point_to():
    copied = {s.rstrip("/") for s in copied_sources()}
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    for d in spec["deployments"]:
        module = d["entrypoint"].rsplit(".", 1)[0]  # a module path: leadops.flows.lead_pipeline.lead_pipeline
        # leadops.flows is installed from the checkout's flows/ folder (pyproject's package-dir)
        path = module.removeprefix("leadops.").replace(".", "/") + ".py"
        assert path.split("/")[0] in copied and (ROOT / path).exists(), d["entrypoint"]
    env = dockerfile_env()
    workdir = [args for kind, args in instructions(DOCKERFILE) if kind == "WORKDIR"][-1]
    dests = {shlex.split(args)[-1].rstrip("/").removeprefix("./"): shlex.split(args)[:-1]
             for kind, args in instructions(DOCKERFILE) if kind == "COPY"}
    for var in ("LEADOPS_CONFIG_DIR", "LEADOPS_EXPECTATIONS_DIR"):
        folder = Path(env[var]).relative_to(workdir)  # a folder copied into the working directory
        [src] = dests[str(folder)]
        assert (ROOT / src).is_dir(), (var, src)


def test_every_leadops_variable_set_is_one_settings_reads():
    known = {f"LEADOPS_{name.upper()}" for name in Settings.model_fields}
    names = template_env_names()
    assert {"LEADOPS_DATABASE_URL", "LEADOPS_VAR_DIR"} <= names
    assert {n for n in names if n.startswith("LEADOPS_")} <= known


def test_every_prefect_variable_set_is_a_prefect_setting(monkeypatch):
    from prefect.settings import Settings as PrefectSettings

    names = {n for n in template_env_names() if n.startswith("PREFECT_")}
    assert {"PREFECT_API_URL", "PREFECT_SERVER_ANALYTICS_ENABLED"} <= names
    for name in names:  # a name Prefect reads comes back among the settings it exports
        value = "http://127.0.0.1:4200/api" if name.endswith("_URL") else "false"
        monkeypatch.setenv(name, value)
        assert name in PrefectSettings().to_environment_variables(exclude_unset=True), name
        monkeypatch.delenv(name)


def test_analytics_are_off_everywhere():
    for env in (dockerfile_env(), DOCKER["variables"]["properties"]["env"]["default"],
                K8S["variables"]["properties"]["env"]["default"]):
        assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false" and env["GX_ANALYTICS_ENABLED"] == "false"
        assert env["DO_NOT_TRACK"] == "1"


@pytest.mark.parametrize("where", ["Dockerfile", "docker", "kubernetes"])
def test_secrets_are_given_by_reference_never_by_value(where):
    values = {"Dockerfile": dockerfile_env(), "docker": DOCKER["variables"]["properties"]["env"]["default"],
              "kubernetes": K8S["variables"]["properties"]["env"]["default"]}[where]
    for name in SECRETS & set(values):
        assert re.fullmatch(r"\{\{ prefect\.blocks\.secret\.[a-z0-9-]+ \}\}", values[name]), f"{where}: {name}"
    if where == "kubernetes":
        plain = [e for e in K8S_POD["containers"][0]["env"] if e["name"] in SECRETS]
        assert plain and all(set(e) == {"name", "valueFrom"} and "secretKeyRef" in e["valueFrom"] for e in plain)
        assert not SECRETS & set(values)
    if where == "docker":
        assert "LEADOPS_DATABASE_URL" in values


def test_image_volume_and_user_agree_between_dockerfile_and_templates():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert DOCKER["variables"]["properties"]["image"]["default"] == f"leadops:{version}"
    assert K8S["variables"]["properties"]["image"]["default"] == f"leadops:{version}"
    var_dir = dockerfile_env()["LEADOPS_VAR_DIR"]
    assert [args for kind, args in instructions(DOCKERFILE) if kind == "VOLUME"] == [var_dir]
    assert DOCKER["variables"]["properties"]["env"]["default"]["LEADOPS_VAR_DIR"] == var_dir
    assert [v.split(":")[1] for v in DOCKER["variables"]["properties"]["volumes"]["default"]] == [var_dir]
    assert K8S["variables"]["properties"]["env"]["default"]["LEADOPS_VAR_DIR"] == var_dir
    assert [m["mountPath"] for m in K8S_POD["containers"][0]["volumeMounts"]] == [var_dir]
    user = [args for kind, args in instructions(DOCKERFILE) if kind == "USER"][-1]
    assert K8S_POD["securityContext"]["runAsUser"] == int(user) and f"--uid {user}" in DOCKERFILE.read_text()


def test_templates_keep_prefects_schema_for_their_worker_types():
    """Every variable of Prefect's default template is still declared with its type (the UI form and
    deployments' job_variables are validated against it), and every placeholder is declared."""
    import prefect

    meta = json.loads((Path(prefect.__file__).parent / "server/api/collections_data/views/"
                       "aggregate-worker-metadata.json").read_text(encoding="utf-8"))
    for ours, default in ((DOCKER, meta["prefect-docker"]["docker"]), (K8S, meta["prefect-kubernetes"]["kubernetes"])):
        base = default["default_base_job_configuration"]["variables"]["properties"]
        props = ours["variables"]["properties"]
        for name, schema in base.items():
            assert props[name].get("type") == schema.get("type"), name
        used = set(re.findall(r"\{\{\s*([a-z_]+)\s*\}\}", json.dumps(ours["job_configuration"])))
        assert used <= props.keys()
