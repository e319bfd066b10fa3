# Cadre: the same install as `make run`, as a non-root user, with a health check.
FROM python:3.11-slim-bookworm

# A compiler and CMake: llama-cpp-python builds llama.cpp from source at install.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake git \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 cadre
WORKDIR /app

# Dependencies first, so code changes do not rebuild llama.cpp.
COPY pyproject.toml README.md ./
RUN mkdir -p app agents knowledge && touch app/__init__.py agents/__init__.py knowledge/__init__.py \
    && (pip install --no-cache-dir ".[models]" || pip install --no-cache-dir .) \
    && pip uninstall -y cadre

COPY --chown=cadre:cadre . .
RUN pip install --no-cache-dir --no-deps . && mkdir -p /data && chown cadre:cadre /data

USER cadre
ENV CADRE_DATA_DIR=/data \
    CADRE_HOST=0.0.0.0 \
    CADRE_PORT=8000 \
    CHAINLIT_APP_ROOT=/app \
    HF_HUB_OFFLINE=1
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"

CMD ["cadre", "serve"]
