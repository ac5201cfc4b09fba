"""Entry point of the host worker process: ``python -m devicelab.targets.host_worker JOB_DIR RESULT_DIR``.

Progress goes to stdout as one JSON object per line; everything else a runtime prints goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main() -> int:
    job_dir, result_dir = Path(sys.argv[1]), Path(sys.argv[2])
    # Keep the progress channel clean: runtimes print to fd 1 from C++, so send that to stderr.
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def progress(phase: str, done: int, total: int) -> None:
        channel.write(json.dumps({"phase": phase, "done": done, "total": total}) + "\n")

    from devicelab.runner import run_job

    result = run_job(job_dir, result_dir, progress)
    return 0 if result.ok else 3


if __name__ == "__main__":
    sys.exit(main())
