# qix-engine: a drop-in replacement for qlikcore/engine.
# docker build -t qix-engine . && docker run -p 9076:9076 qix-engine -S AcceptEULA=yes
FROM python:3.11-slim

RUN groupadd --gid 1910 engine \
 && useradd --uid 1910 --gid 1910 --create-home --home-dir /home/engine engine

WORKDIR /opt/qix-engine
COPY pyproject.toml setup.cfg README.md ./
COPY engine ./engine
RUN pip install --no-cache-dir . \
 && mkdir -p /home/engine/Qlik/Sense/Apps \
 && chown -R 1910:1910 /home/engine

USER 1910:1910
WORKDIR /home/engine
EXPOSE 9076 9090
# The real engine's default document folder; a compose `command: -S DocumentDirectory=/apps` overrides it.
ENTRYPOINT ["python", "-m", "engine", "-S", "DocumentDirectory=/home/engine/Qlik/Sense/Apps"]
CMD ["-S", "AcceptEULA=yes"]
