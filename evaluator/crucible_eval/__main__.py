"""`python3 -m crucible_eval`: score one submitted output; the contract the validator relies on.

Arguments: --task-id, --task-type {InstructTextTask,ChatTask,DpoTask,GrpoTask,ImageTask}, --model
(the base model id, informative), --base-model-path, --trained-model-path, --dataset (the test split:
JSON rows for text, a zip for images), --dataset-type (text: the JSON object the trainer got),
--model-type {sdxl,flux} (images).

On success the LAST stdout line is one JSON object (text: test_loss, is_finetune,
model_params_count; GRPO: test_loss, is_finetune, rewards, reward_weights, kl_divergence; image:
test_loss, text_guided_loss, no_text_loss, is_finetune) and the exit code is 0. When the validator
sets CRUCIBLE_RESULT (a file in a directory only this process's user may write) and CRUCIBLE_NONCE,
the same object, with "nonce" added, is written there: that file is what the validator scores, so
nothing the submitted model makes the process print can stand in for a score. A failure caused by
the submitted output ends with one `error: <message>` line on stderr and exit code 2; any other
failure (the evaluator broke, bad arguments, a bad task) exits 1. Never exit 2 for anything else:
the validator reads 2 as the miner's fault.
"""

import argparse
import json
import math
import os
import sys
import traceback

# Before transformers is imported anywhere: nothing may be downloaded.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from .errors import SubmissionError  # noqa: E402

TEXT_TASKS = ("InstructTextTask", "ChatTask", "DpoTask", "GrpoTask")
TASK_TYPES = TEXT_TASKS + ("ImageTask",)
EXIT_BROKEN = 1
EXIT_SUBMISSION = 2


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments, which the validator would read as the miner's fault."""

    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"crucible_eval: bad arguments: {message}", file=sys.stderr)
        sys.exit(EXIT_BROKEN)


def parse_args(argv):
    parser = _Parser(prog="python3 -m crucible_eval", description="Score one trained model.")
    parser.add_argument("--task-id", required=True)
    parser.add_argument("--task-type", required=True, choices=TASK_TYPES)
    parser.add_argument("--model", default="", help="the task's base model id (informative)")
    parser.add_argument("--base-model-path", required=True)
    parser.add_argument("--trained-model-path", required=True)
    parser.add_argument("--dataset", required=True, help="the held-out test split")
    parser.add_argument("--dataset-type", default=None, help="text: the trainer's dataset-type JSON")
    parser.add_argument("--model-type", default=None, choices=("sdxl", "flux"))
    args = parser.parse_args(argv)
    if args.task_type in TEXT_TASKS:
        args.dataset_type = _dataset_type(parser, args.dataset_type)
    return args


def _dataset_type(parser, raw):
    if raw is None:
        parser.error("--dataset-type is required for text tasks")
    try:
        value = json.loads(raw)
    except ValueError as e:
        parser.error(f"--dataset-type is not JSON: {e}")
    if not isinstance(value, dict):
        parser.error("--dataset-type must be a JSON object")
    return value


def evaluate(args):
    """Dispatch by task type; each evaluator returns the result object."""
    if args.task_type in ("InstructTextTask", "ChatTask"):
        from . import instruct as evaluator
    elif args.task_type == "DpoTask":
        from . import dpo as evaluator
    elif args.task_type == "GrpoTask":
        from . import grpo as evaluator
    else:
        # Imported lazily: text evaluation must work without the image stack.
        from . import image as evaluator
    return evaluator.evaluate(args)


def check_result(result):
    """A non-finite score is the submission's fault (NaN/inf loss); the reference rejects it too."""
    loss = result.get("test_loss")
    if not isinstance(loss, (int, float)) or not math.isfinite(loss):
        raise SubmissionError(f"the model's test loss is not a finite number ({loss}); the weights may hold NaN/inf")
    for key, value in result.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise SubmissionError(f"the evaluation produced a non-finite {key} ({value})")
    return result


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        result = check_result(evaluate(args))
        line = json.dumps(result, allow_nan=False)
    except SubmissionError as e:
        sys.stdout.flush()
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr, flush=True)
        return EXIT_SUBMISSION
    except Exception:
        sys.stdout.flush()
        traceback.print_exc()
        print("crucible_eval: the evaluator failed (not the submission's fault)", file=sys.stderr, flush=True)
        return EXIT_BROKEN
    sys.stdout.flush()
    print(line, flush=True)
    write_result(result)
    return 0


def write_result(result):
    """The result file the validator reads, with its nonce, written whole or not at all."""
    path = os.environ.get("CRUCIBLE_RESULT")
    if not path:
        return
    payload = dict(result, nonce=os.environ.get("CRUCIBLE_NONCE", ""))
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as out:
        out.write(json.dumps(payload, allow_nan=False) + "\n")
    os.replace(partial, path)


if __name__ == "__main__":
    sys.exit(main())
