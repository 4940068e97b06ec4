"""Errors the evaluator distinguishes.

A `SubmissionError` is a failure caused by the submitted output (missing model, pickle-only
checkpoint, wrong architecture, non-finite loss, ...). The entry point turns it into one
`error: <message>` line on stderr and exit code 2, so the message must tell a miner what to fix.
Any other exception means the evaluator itself broke (exit 1).
"""


class SubmissionError(Exception):
    """The submitted output cannot be scored; the message says why, in terms a miner can act on."""
