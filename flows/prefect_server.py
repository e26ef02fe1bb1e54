"""The temporary Prefect server of one `muaudit run` (muaudit.runner.prefect_adapter.serve_app), in a session of its own.

`python -m flows.prefect_server PORT PARENT_PID`. In its own session, a Ctrl-C at the terminal or a SIGTERM
to the audit's process group does not stop the server under the flow that still reports to it; the audit
stops it last (flows.workers.prefect_api). It exits by itself once the audit process is gone (a SIGKILL
gives the audit no chance to stop it), so it never outlives the audit.
"""

from __future__ import annotations

import os
import sys
import threading
import time


def exit_with_parent(parent: int, poll_s: float = 1.0) -> None:
    """Exit this process as soon as its parent process is gone (it is re-parented, so getppid changes)."""
    while os.getppid() == parent:
        time.sleep(poll_s)
    os._exit(0)


def main(port: int, parent: int) -> None:
    threading.Thread(target=exit_with_parent, args=(parent,), name="parent-watch", daemon=True).start()
    from muaudit.runner.prefect_adapter import serve_app

    serve_app(port)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
