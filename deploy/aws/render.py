"""Render the deployment templates from environment variables.

Two kinds of template live in ``deploy/aws`` and the repository root:

* JSON templates (ECS task definitions, IAM and bucket policies) use ``${NAME}`` placeholders, the
  same syntax as ``envsubst``: ``envsubst < deploy/aws/ecs/run-cpu.json > run-cpu.json`` works too.
* ``dagster.yaml`` resolves every scalar setting itself (Dagster's ``{env: NAME}``) so secrets are
  never written to disk; only the run launcher's network lists, which dagster-aws takes verbatim
  (no ``{env: ...}`` inside ``run_task_kwargs``), are ``${NAME}`` placeholders. A sequence item that
  is exactly ``${NAME}`` expands to the comma-separated items of ``NAME``.

``${NAME:-default}`` falls back to ``default``; any other unset variable is an error, so a
half-configured deployment fails at start-up instead of at the first run launch.

Command line (the container entrypoint uses the first form)::

    python deploy/aws/render.py instance dagster.yaml "$DAGSTER_HOME/dagster.yaml"
    python deploy/aws/render.py json deploy/aws/ecs/run-gpu.json run-gpu.json
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# values spliced into structured files: AWS ids, ARNs, names, URIs (no quotes, no YAML/JSON syntax)
SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:/@+=,\-]*$")


class RenderError(ValueError):
    """A placeholder without a value, or a value that is not safe to splice in."""


def _raw(name: str, default: str | None, env: Mapping[str, str]) -> str:
    value = env.get(name)
    if value is None or value == "":
        if default is None:
            raise RenderError(f"environment variable {name} is not set (needed by the deployment template)")
        value = default
    return value


def _safe(name: str, value: str) -> str:
    if not SAFE_VALUE.match(value):
        raise RenderError(f"environment variable {name} has characters not allowed in a template value")
    return value


def _lookup(name: str, default: str | None, env: Mapping[str, str]) -> str:
    return _safe(name, _raw(name, default, env))


def render_text(text: str, env: Mapping[str, str] | None = None) -> str:
    """Replace every ``${NAME}`` / ``${NAME:-default}`` in ``text``."""
    env = os.environ if env is None else env
    return PLACEHOLDER.sub(lambda m: _lookup(m.group(1), m.group(2), env), text)


def _render_node(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _render_node(v, env) for k, v in node.items()}
    if isinstance(node, list):
        out: list[Any] = []
        for item in node:
            whole = PLACEHOLDER.fullmatch(item) if isinstance(item, str) else None
            if whole:
                name = whole.group(1)
                value = _raw(name, whole.group(2), env)
                out.extend(_safe(name, part.strip()) for part in value.split(",") if part.strip())
            else:
                out.append(_render_node(item, env))
        return out
    if isinstance(node, str):
        return render_text(node, env)
    return node


def render_instance(path: str | Path, env: Mapping[str, str] | None = None) -> dict:
    """The instance config of ``path`` with its ``${...}`` placeholders filled in."""
    env = os.environ if env is None else env
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise RenderError(f"{path}: expected a mapping")
    return _render_node(data, env)


def render_json(path: str | Path, env: Mapping[str, str] | None = None) -> Any:
    """A JSON template with its ``${...}`` placeholders filled in, parsed."""
    return json.loads(render_text(Path(path).read_text(encoding="utf-8"), env))


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("instance", "json"):
        sys.stderr.write("usage: render.py instance|json TEMPLATE OUTPUT\n")
        return 2
    kind, src, dst = argv
    try:
        if kind == "instance":
            text = yaml.safe_dump(render_instance(src), sort_keys=False)
        else:
            text = json.dumps(render_json(src), indent=2) + "\n"
    except RenderError as exc:
        sys.stderr.write(f"render.py: {exc}\n")
        return 1
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    Path(dst).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
