# seqserve container image: the server, its client tools and the bundled example models.
#
#   podman build --format docker -t seqserve:0.1.0 .      (or: docker build -t seqserve:0.1.0 .)
#   podman run --rm -p 8000-8002:8000-8002 seqserve:0.1.0
#   podman run --rm -p 8001:8001 -v "$PWD/my-models:/models:ro" seqserve:0.1.0
#
# --format docker keeps HEALTHCHECK (the OCI image format has no place for it). The image
# serves /models (the bundled models, or a repository mounted there) on 0.0.0.0; any other
# flags: give the whole command, e.g. `seqserve --model-repository=/repo --grpc-port=9001`
# (then also set SEQSERVE_GRPC_PORT=9001 so the healthcheck probes the right port).
#
# Stop: SIGTERM makes seqserve report not-ready, refuse new requests and finish the queued
# and in-flight ones (up to --exit-timeout-secs=30) before it exits 0. Give the runtime at
# least that long: `podman stop -t 40`, `docker stop -t 40`, or run with --stop-timeout 40
# (Docker and podman kill after 10 s by default; a drain of ordinary requests takes
# milliseconds, so the default only matters under a long backlog).

# ---- builder: the -dev packages and a Release build of the three binaries ----------------
FROM debian:bookworm AS builder
# Dependencies before sources: this layer is rebuilt only when the package list changes.
# scripts/setup.sh is the one list of build packages (without --test: no PyTorch and
# other test-only packages here).
COPY scripts/setup.sh /tmp/setup.sh
RUN /tmp/setup.sh && rm -rf /var/lib/apt/lists/* /tmp/setup.sh

WORKDIR /src
# Only what the Release build reads (tests/ and models/ are not needed to compile).
COPY CMakeLists.txt ./
COPY proto/ proto/
COPY common/ common/
COPY core/ core/
COPY server/ server/
COPY client/ client/
COPY bench/ bench/
# Parallel compile jobs; empty means one per CPU.
ARG BUILD_JOBS=
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
 && cmake --build /build --target seqserve seqclient seqperf -j"${BUILD_JOBS:-$(nproc)}" \
 && mkdir /out \
 && install -s -m 0755 /build/bin/seqserve /build/bin/seqclient /build/bin/seqperf /out/

# ---- runtime: only the shared libraries the binaries load ---------------------------------
FROM debian:bookworm-slim
# The packages owning every library in `ldd` of the three binaries (dpkg -S); their own
# dependencies (libstdc++6, libgcc-s1, libc6) are in the base image already.
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libdnnl2 libgomp1 ocl-icd-libopencl1 \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libre2-9 libc-ares2 libssl3 zlib1g \
      libspdlog1.10 libfmt9 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 seqserve \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin seqserve

COPY --from=builder /out/ /usr/local/bin/
# Fails the build, naming the library, when a binary needs one the list above lacks.
RUN missing=$(ldd /usr/local/bin/seqserve /usr/local/bin/seqclient /usr/local/bin/seqperf \
                | grep 'not found' | sort -u); \
    if [ -n "$missing" ]; then \
      echo "runtime stage lacks shared libraries (add their packages, see dpkg -S):" >&2; \
      echo "$missing" >&2; exit 1; \
    fi; \
    seqserve --help >/dev/null

# The bundled example repository; mount your own repository over it (read-only is fine:
# the server never writes to a repository).
COPY models/ /models/
VOLUME ["/models"]

# 8000 HTTP/REST (KServe v2), 8001 gRPC (KServe v2 + grpc.health.v1), 8002 Prometheus /metrics.
EXPOSE 8000 8001 8002
# The port the healthcheck probes: keep it equal to --grpc-port when you change that.
ENV SEQSERVE_GRPC_PORT=8001
# Our own client: exit 0 only when the server is live and ready (all it needs is loopback).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD seqclient --url "127.0.0.1:${SEQSERVE_GRPC_PORT}" --timeout-ms 4000 health >/dev/null || exit 1
STOPSIGNAL SIGTERM

# Numeric, so that Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
# seqserve handles SIGTERM itself as PID 1 (the signals are blocked and taken with sigwait,
# which the kernel delivers to a namespace's init too), so no init wrapper is needed.
CMD ["seqserve", "--model-repository=/models", "--address=0.0.0.0", \
     "--grpc-port=8001", "--http-port=8000", "--metrics-port=8002", "--exit-timeout-secs=30"]
