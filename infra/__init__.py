"""bitbybit's AWS infrastructure as code: CloudFormation templates rendered from Python.

One source for every environment: ``infra/environments.yaml`` holds what differs between
``staging`` and ``prod``, :mod:`infra.documents` the ECS task definitions, IAM policies and bucket
settings, :mod:`infra.template` the stacks (sections in ``infra/stack_*.py``, building blocks in
:mod:`infra.cfn`). ``python -m infra render`` writes
``deploy/aws/cloudformation/*.json`` and the ``deploy/aws/{ecs,iam,s3}`` fragments; ``python -m infra
check`` fails when they are stale or ``cfn-lint`` finds a problem (``make infra-check``, CI).

Plain Python dicts rendered to JSON, no CDK: rendering needs no Node.js, no AWS account and no
network, takes well under a second, and the output is byte-for-byte deterministic (sorted
nothing, ordered by construction), so snapshot tests and code review see exactly what deploys.
"""
