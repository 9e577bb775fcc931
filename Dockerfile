# syntax=docker/dockerfile:1
# Aurora's image. Its entry point is `aurora`: docker-compose.yml runs one service per container (`aurora canvas`,
# `aurora agent smol`, ...); with no command it runs the whole studio in one container, as `make up` does:
#
#   docker build -t aurora-studio .
#   docker run --rm -p 8080:8080 -v aurora-data:/data aurora-studio      # then open http://localhost:8080/
#
# Aurora and the bundled models are installed by the Makefile's `install` target, the recipe that makes .venv/,
# so the image and the tests get the same packages (Makefile MODELS) from the same lines.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# llama-cpp-python compiles llama.cpp when it is installed: a C/C++ toolchain (with make) and cmake.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake \
 && rm -rf /var/lib/apt/lists/*
# GGML_NATIVE=OFF builds llama.cpp for a portable x86-64 (AVX2, FMA, F16C) instead of -march=native, so the image
# runs on other CPUs than the one that built it. ggml drops those kernels too when SOURCE_DATE_EPOCH is set: give
# them explicitly (-DGGML_AVX2=ON ...) if you build reproducibly.
ARG CMAKE_ARGS="-DGGML_NATIVE=OFF"
ARG JOBS=4
ENV CMAKE_ARGS="${CMAKE_ARGS}" CMAKE_BUILD_PARALLEL_LEVEL="${JOBS}"
WORKDIR /opt/aurora/src
COPY . .
RUN python -m venv /opt/aurora/venv
# Editable, as .venv/ is: the services run from this source tree, with the web page's files beside their code.
# pip's cache outlives the build (BuildKit), so a change to Aurora does not compile llama.cpp again.
RUN --mount=type=cache,target=/root/.cache/pip \
    make install INTO=/opt/aurora/venv/bin/python AURORA='-e .' \
 && /opt/aurora/venv/bin/python -m compileall -q /opt/aurora/src
# (compiled here because the non-root user below cannot write __pycache__ into the source tree)

FROM ${PYTHON_IMAGE}
# libgomp1: llama.cpp's OpenMP threads (the build stage had it with the compiler).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --user-group --uid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin aurora \
 && mkdir -p /data/models && chown -R aurora:aurora /data
COPY --from=build /opt/aurora /opt/aurora
# AURORA_DATA: the studio's data folder (its Redis under `aurora up`, the assembled Gemma in models/). A named
# volume mounted there starts with this folder's owner, so the non-root user can write it.
# AURORA_GATEWAY_HOST: `aurora up` serves the page on every interface of the container, for -p 8080:8080.
ENV PATH=/opt/aurora/venv/bin:$PATH \
    AURORA_DATA=/data \
    AURORA_GATEWAY_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
USER 10001:10001                # aurora; numeric, so a runtime can tell it is not root
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=8s --start-period=300s CMD ["aurora", "health", "gateway"]
ENTRYPOINT ["aurora"]
CMD ["up"]
