"""Build devicelab/data/mnist_sample.npz, the small MNIST subset bundled with the package.

Usage: python scripts/make_mnist_sample.py [--source DIR] [--out FILE]

Takes the first 4000 training and first 1000 test images (file order, no shuffling) so the sample is
reproducible from the original MNIST files. See devicelab/data/MNIST_SAMPLE.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing the package

from devicelab.data.idx import read_idx  # noqa: E402

N_TRAIN = 4000
N_TEST = 1000
EXPECTED_FIRST_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def load_split(source: Path, prefix: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(source / f"{prefix}-images.idx3-ubyte.gz")
    labels = read_idx(source / f"{prefix}-labels.idx1-ubyte.gz")
    assert images.dtype == np.uint8 and images.shape[1:] == (28, 28), images.shape
    assert labels.dtype == np.uint8 and len(labels) == len(images), labels.shape
    return images[:count].copy(), labels[:count].copy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("/work/shared/data/mnist"))
    parser.add_argument("--out", type=Path, default=REPO / "devicelab" / "data" / "mnist_sample.npz")
    args = parser.parse_args()

    x_train, y_train = load_split(args.source, "train", N_TRAIN)
    x_test, y_test = load_split(args.source, "t10k", N_TEST)
    # Guard against pointing --source at shuffled or different files.
    if y_test[:10].tolist() != EXPECTED_FIRST_TEST_LABELS:
        sys.exit(f"first test labels are {y_test[:10].tolist()}: is {args.source} the original MNIST?")

    np.savez_compressed(args.out, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size} bytes): x_train {x_train.shape}, x_test {x_test.shape}")


if __name__ == "__main__":
    main()
