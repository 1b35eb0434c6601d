# Pixelrun: the API, the workers and every `pixelrun` command in one image (docs/deployment.md).
#
#   docker build -t pixelrun .                                    # CUDA torch (plain `pip install torch`)
#   docker build -t pixelrun:cpu \
#     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu .   # CPU-only torch
#
#   docker run --gpus all -p 8000:8000 -v pixelrun-data:/data -v pixelrun-models:/models pixelrun
#   docker run ... pixelrun worker        # any other command: `pixelrun <args>` is the entrypoint
#
# Base: Debian bookworm slim with Debian's own Python 3.11 rather than the official python
# image: the same Debian, one Python that apt keeps patched, and a base that can be built
# from the Debian archive alone (the tests do: .ci/podman-setup).
ARG BASE_IMAGE=debian:bookworm-slim
# checkov:skip=CKV_DOCKER_7: the FROM lines name ${BASE_IMAGE}, whose default just above is a fixed tag

FROM ${BASE_IMAGE} AS deps
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/pixelrun
ENV PATH=/opt/pixelrun/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# torch first, on its own layer. The default is what a plain `pip install torch` gives on
# Linux x86_64: the CUDA build with its nvidia-* libraries (`--gpus all` with the NVIDIA
# container toolkit). TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu gives the CPU
# build (tests, small deployments). PIP_FIND_LINKS and PIP_CERT, when given, reach pip
# (a local wheel folder or a CA bundle mounted at build time: nothing of them stays).
ARG TORCH_REQUIREMENT="torch>=2.13"
ARG TORCH_INDEX_URL=""
ARG PIP_FIND_LINKS
ARG PIP_CERT
RUN pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$TORCH_REQUIREMENT" \
    && pip freeze | grep -i '^torch==' > /opt/torch-constraint.txt

# The [server] dependencies, with torch held at the build chosen above: a layer that
# changes only with pyproject.toml. The project goes to /opt/pixelrun-app (next stage),
# which the .pth file puts on the environment's path.
COPY pyproject.toml /tmp/pyproject.toml
RUN python3 -c "import tomllib; p = tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['server']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt -c /opt/torch-constraint.txt \
    && rm /tmp/requirements.txt /tmp/pyproject.toml /opt/torch-constraint.txt \
    && echo /opt/pixelrun-app > "$(python3 -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/pixelrun-app.pth"

# The project alone, so that a code change rebuilds (and pushes) a layer of a few MB,
# not the gigabytes of dependencies.
FROM deps AS app
ARG PIP_FIND_LINKS
ARG PIP_CERT
COPY pyproject.toml README.md /src/
COPY src /src/src
RUN pip install --no-deps --target /opt/pixelrun-app /src \
    && PATH=/opt/pixelrun-app/bin:$PATH pip check

# The final image: Debian's Python, CA certificates (S3, the Hugging Face Hub, callbacks),
# tini as PID 1, the dependencies and the project. No compiler, no pip cache, no apt lists.
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
    && groupadd --gid 10001 pixelrun \
    && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin pixelrun \
    && mkdir -p /data /models \
    && chown pixelrun:pixelrun /data /models
COPY --from=deps /opt/pixelrun /opt/pixelrun
COPY --from=app /opt/pixelrun-app /opt/pixelrun-app

# /data: SQLite, local files, tiny weights. /models: weights folders and the Hugging Face
# cache (HF_HOME), so a pod or container restart does not download 58 GB again.
ENV PATH=/opt/pixelrun-app/bin:/opt/pixelrun/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PIXELRUN_DATA_DIR=/data \
    HF_HOME=/models/huggingface
VOLUME ["/data", "/models"]
WORKDIR /data
USER 10001:10001
EXPOSE 8000

# tini forwards SIGTERM to pixelrun (a worker gives its run back at the next step; serve
# stops its workers the same way), reaps orphans, and reports the 143 of a process that
# stopped on SIGTERM as 0: a graceful stop is a clean exit. `docker stop -t` / compose
# stop_grace_period / terminationGracePeriodSeconds must cover one denoising step.
ENTRYPOINT ["/usr/bin/tini", "-e", "143", "--", "pixelrun"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
# Liveness of the API (`serve`); a `worker` container has no HTTP port: compose and
# Kubernetes turn this check off for workers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/v1/health', timeout=4)"]
