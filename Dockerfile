# Placeholder until the production issue: a slim CPU image running the Dagster code location.
FROM python:3.11-slim
WORKDIR /opt/bitbybit
COPY . .
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir -e .
ENV DAGSTER_HOME=/opt/dagster/home
CMD ["dagster", "dev", "-w", "workspace.yaml", "-h", "0.0.0.0", "-p", "3000"]
