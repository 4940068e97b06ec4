# crucible-download: the validator-owned download step. It places a task's base model and its
# training split in the trainer-visible cache and its held-out split where only the evaluator sees it.
ARG BASE=crucible-evaluator:latest
FROM ${BASE}
ENTRYPOINT ["python3", "-m", "crucible_eval.prepare"]
