# The image trainer image (ImageTask: a LoRA for an SDXL or Flux base pipeline).
#
# The validator builds it with the repository root as the context and runs the ENTRYPOINT with the
# standard arguments appended (--task-id --model --dataset-zip --model-type --expected-repo-name
# --hours-to-complete), with /cache mounted read-only, the output folder
# /app/checkpoints/<task-id>/<expected-repo-name> mounted writable, and no network. The LoRA is
# written to checkpoints/last.safetensors inside that folder.
#
# The base image already holds torch, diffusers, transformers, peft, accelerate and safetensors, so
# the build downloads nothing.
FROM crucible-ml-base:latest

# Few steps, because every step of a build costs seconds on some storage drivers: one ENV (no hub
# lookups at run time, since there is no network to answer them; unbuffered progress lines; the
# repository on the import path) and one COPY of the repository.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    DIFFUSERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    PYTHONPATH=/workspace/trainer

COPY . /workspace/trainer/

ENTRYPOINT ["python3", "-m", "image_trainer"]
