"""The roll history across processes: a record written by one process is read whole by another."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from salt_immutable import history
from salt_immutable.history import RollRecord

REPO = Path(__file__).resolve().parents[2]
EPOCH = 1714564800.0  # 2024-05-01T12:00:00Z


def test_records_survive_and_are_read_by_a_new_process(tmp_path):
    record = history.start(tmp_path, "web", "roll", ["1.0"], "1.1", "alice", roll_id="r1", clock=lambda: EPOCH)
    record.created.append("web-g2-1")
    history.finish(tmp_path, record, "succeeded", clock=lambda: EPOCH + 90)
    reader = textwrap.dedent(
        """
        import json, sys
        from salt_immutable import history
        print(json.dumps([r.to_json() for r in history.records(sys.argv[1], "web")]))
        """
    )

    result = subprocess.run(
        [sys.executable, "-c", reader, str(tmp_path)], capture_output=True, text=True, check=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )

    assert [RollRecord.from_json(data) for data in json.loads(result.stdout)] == [record]
