"""Cost allocation tags: every resource of a template that CloudFormation can tag carries them.

Which resource types take tags, and under which property, comes from the CloudFormation resource
schemas cfn-lint ships (``tagging.taggable``, ``tagProperty``), not from a hand-kept list, so a new
resource type is checked the day it is added. Types CloudFormation cannot tag when it creates them
(``tagOnCreate: false``) are skipped.
"""

from __future__ import annotations

from functools import cache
from typing import Any

SCHEMA_REGION = "us-east-1"


@cache
def tag_property(resource_type: str) -> str | None:
    """The property holding a resource type's tags (``Tags``, ``ResourceTags``), ``None`` when
    CloudFormation cannot tag it at creation."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    try:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(SCHEMA_REGION, resource_type).schema
    except Exception:  # custom or unknown types: cfn-lint reports those itself
        return None
    tagging = schema.get("tagging") or {}
    if not tagging.get("taggable", False) or tagging.get("tagOnCreate") is False:
        return None
    path = tagging.get("tagProperty", "/properties/Tags")
    return path.rsplit("/", 1)[-1]


def _pairs(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):  # Batch, SSM: a plain map
        return dict(value)
    if isinstance(value, list):
        return {t.get("Key"): t.get("Value") for t in value if isinstance(t, dict)}
    return {}


def tag_errors(template: dict[str, Any], required: dict[str, str]) -> list[str]:
    """``logical id: ...`` for every taggable resource of ``template`` missing one of ``required``
    (tag key -> value) or carrying another value."""
    errors = []
    for logical, resource in template.get("Resources", {}).items():
        prop = tag_property(resource["Type"])
        if prop is None:
            continue
        found = _pairs((resource.get("Properties") or {}).get(prop))
        wrong = {k: found.get(k) for k, v in required.items() if found.get(k) != v}
        if wrong:
            errors.append(f"{logical} ({resource['Type']}): {prop} lacks {sorted(wrong)} "
                          f"(has {sorted(k for k in found if k)})")
    return errors
