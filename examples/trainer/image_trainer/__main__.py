"""`python3 -m image_trainer --task-id ... --model ... ...` (the image trainer's ENTRYPOINT)."""

import os
import sys

# Training has no network: make the Hugging Face libraries fail fast instead of retrying lookups.
# Set before they are imported, since they read it once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from .cli import main  # noqa: E402

sys.exit(main())
