# crucible-evaluator: scores a trained output (evaluator/README.md). The build context is the
# evaluator/ directory; BASE is crucible-ml-base (crucible images build passes its content tag).
ARG BASE=crucible-ml-base:latest
FROM ${BASE}
COPY crucible_eval /opt/crucible/crucible_eval
COPY tests /opt/crucible/tests
ENV PYTHONPATH=/opt/crucible
WORKDIR /opt/crucible
ENTRYPOINT ["python3", "-m", "crucible_eval"]
