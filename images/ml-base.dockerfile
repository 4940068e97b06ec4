# crucible-ml-base from a Debian root filesystem imported into the engine (crucible images build):
# Debian's torch plus the pinned wheels, installed with no network. Miner repositories build FROM it.
ARG ROOT
FROM ${ROOT}
COPY requirements.txt /tmp/crucible/requirements.txt
COPY wheels /tmp/crucible/wheels
RUN python3 -m pip install --no-index --no-deps --require-hashes --break-system-packages \
        --find-links /tmp/crucible/wheels -r /tmp/crucible/requirements.txt \
    && rm -rf /tmp/crucible /root/.cache
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 PYTHONDONTWRITEBYTECODE=1
CMD ["python3"]
