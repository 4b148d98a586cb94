"""The docker and kubernetes work pools on a real Prefect server: created from deployments/*/ with
`prefect work-pool create`, read back through the API, every deployment of prefect.yaml moved onto
the docker pool, and the job each worker would start rendered by the workers' own code
(prefect-docker, prefect-kubernetes) with the database URL taken from its secret. No Docker
daemon or cluster is needed: nothing is started, only configured."""
import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from leadops.deployments.server_health import wait_healthy
from tests.e2e.test_prefect_server import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DOCKER_TEMPLATE = ROOT / "deployments" / "docker" / "base-job-template.json"
K8S_TEMPLATE = ROOT / "deployments" / "kubernetes" / "base-job-template.json"
SECRET_URL = "postgresql+psycopg://leadops:s3cret@db.internal:5432/leadops"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A Prefect server (API only, no services) and a `prefect` CLI pointed at it."""
    tmp = tmp_path_factory.mktemp("pools")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADOPS_", "PREFECT_"))}
    env.update({
        "PREFECT_HOME": str(tmp / ".prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        # `work-pool create` has the server look the worker types up on GitHub before its bundled
        # copy: a dead proxy keeps that lookup on this machine (loopback goes direct)
        "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost",
    })
    with open(tmp / "server.log", "w") as log:  # the child holds its own copy of the descriptor
        proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port),
                                 "--no-services", "--no-ui"], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    wait_healthy(api, tmp / "server.log", proc)

    def cli(*args, timeout=300):
        out = subprocess.run([str(BIN / "prefect"), "--no-prompt", *args], env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=timeout)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        return out.stdout

    cli("work-pool", "create", "leadops-docker", "--type", "docker", "--base-job-template", str(DOCKER_TEMPLATE))
    cli("work-pool", "create", "leadops-kubernetes", "--type", "kubernetes", "--base-job-template", str(K8S_TEMPLATE))
    yield {"api": api, "env": env, "cli": cli}
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def get(server, path):
    resp = requests.get(f"{server['api']}{path}", timeout=30)
    resp.raise_for_status()
    return resp.json()


def post(server, path, body):
    resp = requests.post(f"{server['api']}{path}", json=body, timeout=30)
    resp.raise_for_status()
    return resp.json()


def test_both_pools_read_back_with_leadops_variables_and_env(server):
    docker = get(server, "/work_pools/leadops-docker")
    k8s = get(server, "/work_pools/leadops-kubernetes")
    assert (docker["type"], k8s["type"]) == ("docker", "kubernetes")
    # stored as written: the files in the repository are what the pools run with
    assert docker["base_job_template"] == json.loads(DOCKER_TEMPLATE.read_text(encoding="utf-8"))
    assert k8s["base_job_template"] == json.loads(K8S_TEMPLATE.read_text(encoding="utf-8"))

    dv = docker["base_job_template"]["variables"]["properties"]
    env = dv["env"]["default"]
    assert env["LEADOPS_DATABASE_URL"] == "{{ prefect.blocks.secret.leadops-database-url }}"  # a reference
    assert env["PREFECT_API_URL"].endswith("/api") and env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert f"leadops-var:{env['LEADOPS_VAR_DIR']}" in dv["volumes"]["default"]
    assert dv["image"]["default"] == "leadops:0.1.0"

    kv = k8s["base_job_template"]["variables"]["properties"]
    assert {"secret_name", "var_volume_claim", "cpu_limit", "memory_limit", "finished_job_ttl"} <= kv.keys()
    assert "LEADOPS_DATABASE_URL" not in kv["env"]["default"]  # from the Kubernetes Secret, not a value
    container = k8s["base_job_template"]["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert refs["LEADOPS_DATABASE_URL"] == {"name": "{{ secret_name }}", "key": "database-url"}
    assert container["volumeMounts"] == [{"name": "leadops-var", "mountPath": kv["env"]["default"]["LEADOPS_VAR_DIR"]}]


def _flow_run(server):
    """Return a FlowRun of lead-pipeline's deployment on the docker pool, created through the API."""
    from prefect.client.schemas.objects import FlowRun

    [dep] = post(server, "/deployments/filter", {"deployments": {"name": {"any_": ["lead-pipeline"]}}})
    return dep, FlowRun.model_validate(post(server, f"/deployments/{dep['id']}/create_flow_run", {}))


def test_prefect_yaml_moves_onto_the_docker_pool_and_the_workers_render_runnable_jobs(server):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import WorkPool
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect_docker.worker import DockerWorkerJobConfiguration
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    # every deployment of prefect.yaml, in one `prefect deploy --all`, onto the docker pool
    out = subprocess.run([sys.executable, "-m", "leadops.deployments.pool_deploy", "leadops-docker"], env=server["env"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    import yaml

    names = {d["name"] for d in yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]}
    deployments = post(server, "/deployments/filter", {})
    assert {d["name"] for d in deployments} == names
    assert {d["work_pool_name"] for d in deployments} == {"leadops-docker"}
    for d in deployments:  # flow runs start in the image's copy of the code
        assert d["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": "/opt/leadops"}}]
    pipeline = next(d for d in deployments if d["name"] == "lead-pipeline")
    declared = next(d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]
                    if d["name"] == "lead-pipeline")  # the schedule moves with the deployment, unchanged
    assert pipeline["schedules"][0]["schedule"]["interval"] == declared["schedules"][0]["interval"]
    assert pipeline["global_concurrency_limit"]["limit"] == 1

    with temporary_settings({PREFECT_API_URL: server["api"]}):
        async def render():
            from prefect.blocks.system import Secret

            async with get_client() as client:
                await Secret(value=SECRET_URL).save("leadops-database-url", overwrite=True, client=client)
                _, run = _flow_run(server)
                pools = {n: WorkPool.model_validate(get(server, f"/work_pools/{n}")) for n in
                         ("leadops-docker", "leadops-kubernetes")}
                docker = await DockerWorkerJobConfiguration.resolve_for_flow_run(
                    run, client=client, work_pool=pools["leadops-docker"], worker_name="test")
                k8s = await KubernetesWorkerJobConfiguration.from_template_and_values(
                    pools["leadops-kubernetes"].base_job_template, {"env": {"LEADOPS_NOTIFY_CHANNEL": "smtp"}},
                    client=client)
                k8s.prepare_for_flow_run(run)
                return run, docker, k8s

        run, docker, k8s = asyncio.run(render())

    # docker: the container gets the secret's value at start, the var volume, the API, no analytics
    assert docker.image == "leadops:0.1.0" and docker.volumes == ["leadops-var:/var/lib/leadops"]
    assert docker.env["LEADOPS_DATABASE_URL"] == SECRET_URL and docker.env["LEADOPS_VAR_DIR"] == "/var/lib/leadops"
    assert docker.env["PREFECT_API_URL"] == "http://host.docker.internal:4200/api"
    assert docker.env["PREFECT__FLOW_RUN_ID"] == str(run.id) and docker.env["GX_ANALYTICS_ENABLED"] == "false"
    assert docker.command == "prefect flow-run execute" and docker.auto_remove and docker.mem_limit == "2g"

    # kubernetes: a Job whose pod reads the database URL from the Secret, plain values in front
    job = k8s.job_manifest
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["LEADOPS_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "leadops", "key": "database-url"}
    assert env["LEADOPS_SMTP_PASSWORD"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert SECRET_URL not in json.dumps(job)  # no secret value in the manifest
    assert env["LEADOPS_NOTIFY_CHANNEL"]["value"] == "smtp"  # a deployment's env adds to the pool's
    assert env["LEADOPS_VAR_DIR"]["value"] == "/var/lib/leadops" and env["PREFECT__FLOW_RUN_ID"]["value"] == str(run.id)
    assert env["PREFECT_API_URL"]["value"] == "http://prefect-server.prefect.svc.cluster.local:4200/api"
    assert container["image"] == "leadops:0.1.0" and container["args"] == ["prefect", "flow-run", "execute"]
    assert container["resources"] == {"limits": {"cpu": "2", "memory": "2Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}}
    assert pod["volumes"] == [{"name": "leadops-var", "persistentVolumeClaim": {"claimName": "leadops-var"}}]
    assert pod["securityContext"]["runAsUser"] == 10001 and job["spec"]["ttlSecondsAfterFinished"] == 86400
    assert job["metadata"]["namespace"] == "leadops"
