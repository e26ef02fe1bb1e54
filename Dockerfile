# The audit's environment, CPU build: the exact versions of requirements.lock. The workspace (this repository,
# with its dvc.yaml, params.yaml and data) is mounted at /workspace, so the image never goes stale with it:
#
#   docker build -t muaudit .
#   docker run --rm -v "$PWD:/workspace" muaudit run --strict
#
# CUDA variant: the same image with torch from the CUDA wheel index (the wheels carry the CUDA libraries;
# the host needs only the NVIDIA driver and the container toolkit), and runtime.device: cuda in params.yaml:
#
#   docker build -t muaudit:cuda --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .
#   docker run --rm --gpus all -v "$PWD:/workspace" muaudit:cuda run
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 \
    PYTHONPATH=/workspace MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=1

# git: DVC and the run records (mlflow.source.git.commit) read the workspace's repository
RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/muaudit
COPY requirements.lock pyproject.toml README.md ./
# torch first from its own index (CPU or CUDA build of the locked version), then every other pin
RUN pip install --index-url "$TORCH_INDEX" "$(grep -E '^torch==' requirements.lock)" \
 && grep -vE '^torch==' requirements.lock > /tmp/rest.lock && pip install -r /tmp/rest.lock
COPY muaudit muaudit
COPY tasks tasks
COPY flows flows
RUN pip install --no-deps --no-build-isolation . && muaudit --version

# the mounted checkout belongs to another uid: let git (and so DVC) read it
RUN git config --system --add safe.directory '*'
WORKDIR /workspace
ENTRYPOINT ["muaudit"]
CMD ["run"]
