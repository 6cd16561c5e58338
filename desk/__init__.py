"""The desk: the project's HTTP app (Starlette + Jinja2, server-rendered).

It serves the readers' endpoints (unsubscribe, double opt-in confirmation, no login) and the
editorial desk behind a login: today's pipeline state and re-runs (``today``), the newsletter
preview, approval and sending (``preview``), the day's review (``review``), subscribers, users and
analytics. It reads and writes through the project's resources and settings (``resources.postgres``,
``bitbybit_assets.deliver``, the Dagster instance in ``$DAGSTER_HOME``), never a second copy of them.
"""
