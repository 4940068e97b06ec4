# The text trainer image (InstructTextTask, ChatTask, DpoTask, GrpoTask).
#
# The validator builds it with the repository root as the context and runs the ENTRYPOINT with the
# standard arguments appended (--task-id --model --dataset --dataset-type --task-type --file-format
# --expected-repo-name --hours-to-complete), with /cache mounted read-only, the output folder
# /app/checkpoints/<task-id>/<expected-repo-name> mounted writable, and no network.
#
# The base image already holds torch, transformers, peft, accelerate, tokenizers and safetensors,
# so the build downloads nothing. To add a Python package, vendor it into the repository as source
# (compiled files are refused by the repository gates) or start from an image that has it.
FROM crucible-ml-base:latest

# Few steps, because every step of a build costs seconds on some storage drivers: one ENV (no hub
# lookups at run time, since there is no network to answer them; unbuffered progress lines; the
# repository on the import path) and one COPY of the repository.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_DATASETS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    PYTHONPATH=/workspace/trainer

COPY . /workspace/trainer/

ENTRYPOINT ["python3", "-m", "text_trainer"]
