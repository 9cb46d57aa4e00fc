"""download stage: put the four IDX files of ``data.source`` into data/raw with data/raw/source.json.

Reads ``data.source``, ``data.timeout``, ``data.retries``, ``data.csv_test_size``, ``data.seed``.
See :func:`mnistlab.data.download.download` for the sources, checks and the offline behaviour.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mnistlab.data.download import download
from mnistlab.errors import exit_on_user_error
from mnistlab.params import load_params

RAW_DIR = Path("data/raw")
SAMPLE_DIR = Path("data/sample")


@exit_on_user_error
def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # retries are summed up in one message
    data = load_params().data
    record = download(data.source, RAW_DIR, sample_dir=SAMPLE_DIR, timeout=data.timeout,
                      retries=data.retries, csv_test_size=data.csv_test_size, seed=data.seed)
    counts = record["images"]
    print(f"{RAW_DIR}: {record['source']} ({record['kind']}), {counts['train']} training and "
          f"{counts['test']} test images; origins in {RAW_DIR / 'source.json'}")


if __name__ == "__main__":
    main()
