# A trustmesh node in a container, as a non-root user, its home on a volume.
#   docker build -t trustmesh .
#   docker run -d --name tm -p 4001:4001 -v tm-home:/home/trustmesh/node trustmesh
#   docker exec tm trustmesh status
FROM python:3.11-slim

RUN useradd --create-home --uid 10001 trustmesh
WORKDIR /src
COPY pyproject.toml README.md ./
COPY trustmesh ./trustmesh
RUN pip install --no-cache-dir . && rm -rf /src

USER trustmesh
ENV TRUSTMESH_HOME=/home/trustmesh/node
RUN mkdir -p -m 0700 /home/trustmesh/node
VOLUME ["/home/trustmesh/node"]
EXPOSE 4001
STOPSIGNAL SIGTERM
ENTRYPOINT ["trustmesh"]
CMD ["node", "run", "--listen", "/ip4/0.0.0.0/tcp/4001"]
