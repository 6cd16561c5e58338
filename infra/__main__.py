"""``python -m infra render`` writes every rendered file; ``python -m infra check`` renders into memory
and fails when a committed file differs, an environment disagrees with ``config/production.yaml``
(deployment names), a taggable resource lacks the cost allocation tags or ``cfn-lint`` reports
an error or warning (``make infra-check``, CI)."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

from infra.config import COST_TAG_KEYS, Environment, load_environments
from infra.documents import fragments
from infra.tagging import tag_errors
from infra.template import bootstrap_template, environment_template, render

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_AWS = ROOT / "deploy" / "aws"
CFN_DIR = DEPLOY_AWS / "cloudformation"
FRAGMENT_ENV = "prod"  # the deploy/aws/{ecs,iam,s3} documents are prod's (with ${NAME} placeholders)
log = logging.getLogger("infra")


def _deployment():
    from bitbybit_base.settings import runtime_settings

    return runtime_settings().deployment  # config/production.yaml: the one place the GPU task is sized


def consistency_errors(envs: dict[str, Environment], gpu_provider: str, gpu_task_definition: str) -> list[str]:
    """Names config/production.yaml's ``deployment:`` uses that every environment must create."""
    errors = []
    for name, env in envs.items():
        if f"{env.name}-gpu" != gpu_provider:
            errors.append(f"{name}: capacity provider {env.name}-gpu != deployment.gpu_capacity_provider "
                          f"{gpu_provider}")
        if f"{env.name}-run-gpu" != gpu_task_definition:
            errors.append(f"{name}: task definition {env.name}-run-gpu != deployment.gpu_task_definition "
                          f"{gpu_task_definition}")
    return errors


def rendered_files(envs: dict[str, Environment] | None = None, deployment=None) -> dict[Path, str]:
    """Every generated file (path -> text): the templates and the prod documents."""
    envs = envs or load_environments()
    deployment = deployment or _deployment()
    cpu, memory = deployment.gpu_task_cpu, deployment.gpu_task_memory
    out = {CFN_DIR / "bootstrap.json": render(bootstrap_template(envs[FRAGMENT_ENV]))}
    for name, env in envs.items():
        out[CFN_DIR / f"{name}.json"] = render(environment_template(env, cpu, memory))
    for rel, doc in fragments(envs[FRAGMENT_ENV], cpu, memory).items():
        out[DEPLOY_AWS / rel] = json.dumps(doc, indent=2) + "\n"
    return out


def tagging_errors(files: dict[Path, str], envs: dict[str, Environment]) -> list[str]:
    """Taggable resources without the cost allocation tags (:data:`infra.config.COST_TAG_KEYS`); the
    bootstrap stack is shared by the environments, so it carries no ``environment`` tag."""
    errors = []
    for path, text in files.items():
        if path.parent != CFN_DIR:
            continue
        env = envs.get(path.stem)
        keys = COST_TAG_KEYS if env else tuple(k for k in COST_TAG_KEYS if k != "environment")
        tags = (env or envs[FRAGMENT_ENV]).resource_tags()
        errors += [f"{path.name}: {e}" for e in tag_errors(json.loads(text), {k: tags[k] for k in keys})]
    return errors


def cfn_lint(paths: list[Path]) -> tuple[int, str]:
    """Run cfn-lint on ``paths`` (exit code, output); every region-independent rule, warnings fail too."""
    proc = subprocess.run(
        [sys.executable, "-c", "from cfnlint.runner.cli import main; main()", "--format", "parseable",
         "--", *map(str, paths)],
        capture_output=True, text=True, check=False,
    )
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra", description=__doc__)
    parser.add_argument("command", choices=("render", "check"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    envs = load_environments()
    deployment = _deployment()
    errors = consistency_errors(envs, deployment.gpu_capacity_provider, deployment.gpu_task_definition)
    files = rendered_files(envs, deployment)
    errors += tagging_errors(files, envs)
    if args.command == "render":
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                log.info("wrote %s", path.relative_to(ROOT))
    else:
        for path, text in files.items():
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                errors.append(f"{path.relative_to(ROOT)} is stale: run python -m infra render")
    templates = sorted(p for p in files if p.parent == CFN_DIR)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for path in templates:  # lint what was rendered now, not what happens to be on disk
            target = Path(tmp) / path.name
            target.write_text(files[path], encoding="utf-8")
            paths.append(target)
        code, output = cfn_lint(paths)
    if code != 0:
        errors.append(f"cfn-lint (exit {code}):\n{output}")
    for error in errors:
        log.error("%s", error)
    if not errors:
        log.info("%d templates rendered and linted (%s), %d documents up to date", len(templates),
                 ", ".join(p.stem for p in templates), len(files) - len(templates))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
