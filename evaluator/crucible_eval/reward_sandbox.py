"""Running GRPO reward functions (Python source from the task) outside the evaluator's process.

Each reward function runs in its own `python3 -I -B` subprocess, fed JSON on stdin and answering one
JSON line on stdout. Before the untrusted source is executed, the child
* drops to uid/gid 65534 (nobody) when started as root, after trying to enter an empty network
  namespace (which needs CAP_SYS_ADMIN; without it the audit hook below still refuses sockets);
* caps its address space, CPU seconds, file size, open files and process count (no fork);
* installs an audit hook that refuses sockets, subprocesses, exec, ctypes, and any write, rename,
  delete or chdir outside its private temporary working directory.
The parent adds a wall-clock limit and checks every answer itself: a list with one finite number per
completion. An audit hook is no perfect jail; it and the limits are defence in depth behind running
the evaluator container without network.

Any failure raises `SubmissionError` naming the reward function, because the reference fails the
repo's evaluation when a reward function fails (evaluation.md §2.6 step 1).
"""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from .errors import SubmissionError

NOBODY = 65534
MEMORY_BYTES = 2 << 30
CPU_SECONDS = 120
WALL_SECONDS = 300
MAX_FILE_BYTES = 64 << 20
MAX_OPEN_FILES = 64

# The child. It reads its whole input before confining itself, then never trusts what it runs.
RUNNER = r'''
import inspect, json, numbers, os, resource, sys
request = json.loads(sys.stdin.read())
work = os.path.realpath(os.getcwd())
out = sys.stdout
sys.stdout = sys.stderr
if os.geteuid() == 0:
    try:
        os.unshare(os.CLONE_NEWNET)
    except (AttributeError, OSError):
        pass
    os.setgroups([])
    os.setgid(request["uid"])
    os.setuid(request["uid"])
for name, value in request["limits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))

BLOCKED_PREFIXES = ("socket.", "subprocess.", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                    "os.forkpty", "os.system", "os.kill", "os.killpg", "pty.", "ctypes.", "_ctypes.",
                    "winreg.", "webbrowser.")
PATH_EVENTS = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.symlink", "os.link", "os.chmod",
               "os.chown", "os.truncate", "os.utime", "os.chdir", "os.chflags", "os.mkfifo", "os.mknod",
               "os.setxattr", "os.removexattr", "shutil.copyfile", "shutil.copymode", "shutil.copystat",
               "shutil.copytree", "shutil.rmtree", "shutil.move", "shutil.chown"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
busy = []

def inside(path):
    if isinstance(path, int):
        return True
    real = os.path.realpath(os.fsdecode(path))
    return real == work or real.startswith(work + os.sep) or real == "/dev/null"

def hook(event, args):
    if busy:
        return
    busy.append(1)
    try:
        if event.startswith(BLOCKED_PREFIXES):
            raise PermissionError("blocked by the reward sandbox: " + event)
        if event == "open":
            path, mode, flags = args
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS)
            if writes and path is not None and not inside(path):
                raise PermissionError("blocked by the reward sandbox: writing " + os.fsdecode(path))
        elif event in PATH_EVENTS:
            for arg in args:
                if isinstance(arg, (str, bytes, os.PathLike)) and not inside(arg):
                    raise PermissionError("blocked by the reward sandbox: %s %s" % (event, os.fsdecode(arg)))
    finally:
        busy.pop()

sys.addaudithook(hook)

def answer(payload):
    out.write("\n" + json.dumps(payload) + "\n")
    out.flush()
    sys.exit(0)

def reward_function(namespace):
    # The reference's rule: the first callable the source leaves in its namespace.
    return next((v for k, v in namespace.items() if k != "__builtins__" and callable(v)), None)

def as_numbers(result):
    if not isinstance(result, list):
        raise TypeError("returned %s, not a list of numbers" % type(result).__name__)
    values = []
    for value in result:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError("returned an element of type %s, not a number" % type(value).__name__)
        values.append(float(value))
    return values

try:
    namespace = {}
    exec(compile(request["source"], "<reward_function>", "exec"), namespace)
    func = reward_function(namespace)
    if func is None:
        answer({"error": "the source defines no function"})
    results = []
    try:
        takes_extra_data = "extra_data" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        takes_extra_data = False
    for call in request["calls"]:
        kwargs = dict(call["kwargs"])
        if takes_extra_data and "extra_data_if_supported" in call:
            kwargs["extra_data"] = call["extra_data_if_supported"]
        try:
            result = func(call["completions"], **kwargs)
        except TypeError:
            if not call["retry_without_kwargs"]:
                raise
            result = func(call["completions"])
        results.append(as_numbers(result))
    answer({"rewards": results})
except BaseException as error:
    if isinstance(error, SystemExit):
        raise
    answer({"error": "%s: %s" % (type(error).__name__, error)})
'''


def run_reward_function(reward_id, source, calls, *, wall_seconds=WALL_SECONDS, cpu_seconds=CPU_SECONDS):
    """Run `source`'s reward function on each call; one list of finite floats per call.

    `calls`: dicts {"completions": [str], "kwargs": {name: list}, "retry_without_kwargs": bool} and
    optionally "extra_data_if_supported": [value], passed as `extra_data=` only when the function has
    an `extra_data` parameter. With the retry flag a TypeError from f(completions, **kwargs) retries
    f(completions), as the reference's wrapper does.
    """
    request = {
        "source": source,
        "calls": calls,
        "uid": NOBODY,
        "limits": {
            "RLIMIT_AS": MEMORY_BYTES,
            "RLIMIT_CPU": cpu_seconds,
            "RLIMIT_FSIZE": MAX_FILE_BYTES,
            "RLIMIT_NOFILE": MAX_OPEN_FILES,
            "RLIMIT_NPROC": 0,
        },
    }
    work = tempfile.mkdtemp(prefix="crucible-reward-")
    try:
        if os.geteuid() == 0:
            os.chown(work, NOBODY, NOBODY)
        stdout, stderr, code = _run(reward_id, json.dumps(request), work, wall_seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    reply = _last_json_line(stdout)
    if reply is None:
        detail = _tail(stderr) or f"exit code {code}"
        raise SubmissionError(f"reward function {reward_id} failed without an answer: {detail}")
    if "error" in reply:
        raise SubmissionError(f"reward function {reward_id} failed: {_tail(reply['error'])}")
    return _checked(reward_id, reply.get("rewards"), calls)


def _run(reward_id, payload, work, wall_seconds):
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8"}
    proc = subprocess.Popen(
        [sys.executable, "-I", "-B", "-c", RUNNER], cwd=work, env=env, start_new_session=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        stdout, stderr = proc.communicate(payload, timeout=wall_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise SubmissionError(f"reward function {reward_id} ran longer than {wall_seconds} s") from None
    return stdout, stderr, proc.returncode


def _checked(reward_id, rewards, calls):
    if not isinstance(rewards, list) or len(rewards) != len(calls):
        raise SubmissionError(f"reward function {reward_id} gave a malformed answer")
    for values, call in zip(rewards, calls):
        expected = len(call["completions"])
        if not isinstance(values, list) or len(values) != expected:
            got = len(values) if isinstance(values, list) else type(values).__name__
            raise SubmissionError(
                f"reward function {reward_id} returned {got} rewards for {expected} completions"
            )
        if not all(isinstance(v, float) and math.isfinite(v) for v in values):
            raise SubmissionError(f"reward function {reward_id} returned a non-finite reward (NaN or inf)")
    return rewards


def _last_json_line(stdout):
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line:
            try:
                reply = json.loads(line)
            except ValueError:
                return None
            return reply if isinstance(reply, dict) else None
    return None


def _tail(text, limit=300):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else "..." + text[-limit:]
