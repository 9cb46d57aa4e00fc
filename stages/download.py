"""DVC stage ``download``: the four IDX files of ``data.source`` -> the raw folder, with its ``source.json``.

Reads ``data.source``, ``data.timeout``, ``data.retries``, ``data.csv_test_size``, ``data.seed``.
See :func:`mnistlab.data.download.download` for the sources, checks and the offline behaviour; on any
failure the raw folder is left as it was.
"""

from __future__ import annotations

import argparse
import logging

from mnistlab.core.params import load_params
from mnistlab.core.runtime import stage
from mnistlab.data.download import download


@stage
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--sample", required=True, help="the repository's MNIST sample (data.source=sample)")
    parser.add_argument("--out", required=True, help="the raw folder: four IDX files and source.json")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # retries are summed up in one message
    data = load_params(args.params).data
    record = download(data.source, args.out, sample_dir=args.sample, timeout=data.timeout,
                      retries=data.retries, csv_test_size=data.csv_test_size, seed=data.seed)
    counts = record["images"]
    print(f"{args.out}: {record['source']} ({record['kind']}), {counts['train']} training and "
          f"{counts['test']} test images; origins in {args.out}/source.json")


if __name__ == "__main__":
    main()
