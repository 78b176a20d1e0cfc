"""The embedded Celery broker: kombu's filesystem transport, made safe for concurrent processes.

The stock transport opens the message file under its final name and then writes it, so a worker
polling the folder can pick up a half-written file and die on a JSON error (RECIPES.md). Here a
message is written to a scratch folder and renamed into the queue folder, which is atomic on one
filesystem: a reader sees a whole message or none. Folders are created on first use and are
always absolute (the stock ``control_folder`` default is relative to each process's cwd).

Only for the embedded default (``make run`` without ``REDIS_URL``); production uses Redis.
See docs/decisions/0002-embedded-celery-broker.md.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from time import monotonic

from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for folder in (self.data_folder_in, self.data_folder_out, self.control_folder):
            Path(folder).mkdir(parents=True, exist_ok=True)
        self._scratch = Path(self.data_folder_out).parent / "incoming"
        self._scratch.mkdir(parents=True, exist_ok=True)

    def _put(self, queue, payload, **kwargs):  # type: ignore[override]  # kombu calls it so
        # Same name scheme as kombu (sortable by time, queue after the first dot) so _get works.
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        fd, scratch = tempfile.mkstemp(dir=self._scratch)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
                f.flush()
                os.fsync(f.fileno())
            os.replace(scratch, os.path.join(self.data_folder_out, name))
        except BaseException:
            Path(scratch).unlink(missing_ok=True)
            raise


class Transport(filesystem.Transport):
    Channel = Channel


TRANSPORT_ALIASES["cnfs"] = "creatornext.broker:Transport"
