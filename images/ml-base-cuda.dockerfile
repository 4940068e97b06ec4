# crucible-ml-base for GPU hosts whose engine can pull from a registry: a CUDA build of torch from
# PyTorch's own image, with the same pinned wheels the offline build installs. Build it from this
# directory and tag it as the offline build would be tagged, for example:
#   docker build -f ml-base-cuda.dockerfile -t crucible-ml-base:latest .
FROM pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime
COPY requirements.txt /tmp/crucible/requirements.txt
RUN python3 -m pip install --no-cache-dir --no-deps --require-hashes -r /tmp/crucible/requirements.txt \
    && python3 -m pip install --no-cache-dir numpy safetensors pillow psutil pyyaml regex requests tqdm pytest \
    && rm -rf /tmp/crucible
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 PYTHONDONTWRITEBYTECODE=1
CMD ["python3"]
