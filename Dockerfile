# A small image that lints a configuration mounted at /src:
#   docker build -t sslint .
#   docker run --rm -v "$PWD:/src:ro" sslint etc/nginx --root .
# No nginx or apache2 inside: protocol defaults are judged for the build named with
# --server-version (e.g. 'nginx/1.22.1 OpenSSL/3.0.13'), as for any config repository linted in CI.
FROM python:3.12-slim AS build
WORKDIR /build
COPY pyproject.toml README.md LICENSE ./
COPY nginxssl ./nginxssl
COPY rules ./rules
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --create-home --uid 10001 sslint
USER sslint
WORKDIR /src
ENTRYPOINT ["sslint"]
CMD ["--help"]
