"""devicelab.data: the bundled sample, file loaders, IDX reader, and fitting data to model shapes."""

from __future__ import annotations

import gzip
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from devicelab.data import Dataset, builtin_datasets, fit_to_shape, load_dataset
from devicelab.data.idx import read_idx
from devicelab.errors import DataError

FIRST_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
# The sha256 of load_dataset("mnist-sample") (test split): changes only if the bundled file does.
SAMPLE_TEST_SHA256 = "479a5d38a3519e607a81696c6032f6d6d5f230a23caafdd05d9b45a9e3a7a1c2"


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """Minimal IDX writer, independent of the reader under test."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


# --- the bundled MNIST sample ---------------------------------------------------------------------


def test_mnist_sample_test_split() -> None:
    ds = load_dataset("mnist-sample")
    assert isinstance(ds, Dataset)
    assert ds.name == "mnist-sample"
    assert len(ds) == 1000
    assert ds.x.shape == (1000, 28, 28, 1) and ds.x.dtype == np.float32
    assert ds.y is not None and ds.y.dtype == np.int64 and ds.y.shape == (1000,)
    assert ds.y[:10].tolist() == FIRST_TEST_LABELS
    assert ds.num_classes == 10 and ds.kind == "image"
    assert float(ds.x.min()) == 0.0 and float(ds.x.max()) == 1.0
    assert set(np.unique(ds.y).tolist()) == set(range(10))


def test_mnist_sample_train_split_and_limit() -> None:
    train = load_dataset("mnist-sample", split="train")
    assert train.x.shape == (4000, 28, 28, 1)
    assert train.y is not None and train.y[:5].tolist() == [5, 0, 4, 1, 9]  # MNIST's first training digits
    small = load_dataset("mnist-sample", split="train", limit=7)
    assert len(small) == 7 and small.num_classes == 10
    np.testing.assert_array_equal(small.x, train.x[:7])


def test_mnist_sample_sha256_is_deterministic_and_tracks_the_samples() -> None:
    first, second = load_dataset("mnist-sample"), load_dataset("mnist-sample")
    assert first.sha256 == second.sha256 == SAMPLE_TEST_SHA256
    assert load_dataset("mnist-sample", limit=999).sha256 != first.sha256
    assert load_dataset("mnist-sample", split="train").sha256 != first.sha256


def test_dataset_arrays_are_read_only() -> None:
    ds = load_dataset("mnist-sample", limit=3)
    with pytest.raises(ValueError):
        ds.x[0, 0, 0, 0] = 0.5


def test_builtin_datasets_lists_the_sample_and_keras_sets() -> None:
    names = builtin_datasets()
    assert {"mnist-sample", "keras:mnist", "keras:fashion_mnist", "keras:cifar10"} <= set(names)
    assert all(isinstance(text, str) and text and "\n" not in text for text in names.values())


# --- argument errors ------------------------------------------------------------------------------


def test_unknown_spec_lists_builtin_names() -> None:
    with pytest.raises(DataError) as info:
        load_dataset("no-such-dataset")
    assert "mnist-sample" in info.value.message
    assert info.value.hint and ".npz" in info.value.hint


def test_bad_split_and_limit() -> None:
    with pytest.raises(DataError, match="split"):
        load_dataset("mnist-sample", split="validation")
    with pytest.raises(DataError, match="limit"):
        load_dataset("mnist-sample", limit=0)


def test_unknown_keras_dataset() -> None:
    with pytest.raises(DataError, match="keras:cifar10"):
        load_dataset("keras:imagenet")


def test_missing_file_and_unreadable_format(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_dataset(str(tmp_path / "missing.npz"))
    other = tmp_path / "data.csv"
    other.write_text("1,2,3\n")
    with pytest.raises(DataError, match="not a dataset format"):
        load_dataset(str(other))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="cannot read"):
        load_dataset(str(broken))


def _fake_keras(monkeypatch: pytest.MonkeyPatch, **loaders: object) -> None:
    """Stand-in keras module: the tests must not need network access or a TensorFlow import."""
    fake = types.SimpleNamespace(datasets=types.SimpleNamespace(**loaders))
    monkeypatch.setitem(sys.modules, "keras", fake)


def test_keras_download_failure_is_a_data_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline() -> None:
        raise OSError("URL fetch failure: no route to host")

    _fake_keras(monkeypatch, mnist=types.SimpleNamespace(load_data=offline))
    with pytest.raises(DataError, match="network") as info:
        load_dataset("keras:mnist")
    assert info.value.hint and "mnist-sample" in info.value.hint


def test_keras_cifar_labels_are_flattened(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.zeros((3, 32, 32, 3), np.uint8)
    y = np.array([[6], [9], [9]], np.uint8)
    _fake_keras(monkeypatch, cifar10=types.SimpleNamespace(load_data=lambda: ((x, y), (x[:2], y[:2]))))
    test = load_dataset("keras:cifar10")
    assert test.x.shape == (2, 32, 32, 3) and test.kind == "image"
    assert test.y is not None and test.y.tolist() == [6, 9]
    assert load_dataset("keras:cifar10", split="train").num_classes == 10


# --- .npz files -----------------------------------------------------------------------------------


def test_npz_named_x_y_with_uint8_images(tmp_path: Path) -> None:
    x = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4) * 8
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=np.array([1, 0]))
    ds = load_dataset(str(path), split="train")  # unsplit data ignores the split
    assert ds.name == str(path)
    assert ds.kind == "image" and ds.x.shape == (2, 4, 4, 1) and ds.x.dtype == np.float32
    np.testing.assert_allclose(ds.x[..., 0], x / 255.0, rtol=1e-6)
    assert ds.y is not None and ds.y.tolist() == [1, 0] and ds.num_classes == 2


def test_npz_split_arrays_are_chosen_by_split(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(
        path,
        x_train=np.zeros((3, 5), np.float32),
        y_train=np.array([0, 1, 2]),
        x_test=np.ones((2, 5), np.float64),
        y_test=np.array([4, 4]),
    )
    train, test = load_dataset(str(path), split="train"), load_dataset(str(path), split="test")
    assert train.x.shape == (3, 5) and train.y is not None and train.y.tolist() == [0, 1, 2]
    assert test.x.dtype == np.float32 and test.x.tolist() == [[1.0] * 5] * 2
    assert test.kind == "tensor" and test.num_classes == 5  # largest label + 1


def test_npz_one_hot_labels_become_indices(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    one_hot = np.eye(4, dtype=np.float32)[[2, 0, 3]]
    np.savez(path, x=np.random.default_rng(0).random((3, 8)).astype(np.float32), y=one_hot)
    ds = load_dataset(str(path))
    assert ds.y is not None and ds.y.tolist() == [2, 0, 3] and ds.y.dtype == np.int64
    assert ds.num_classes == 4


def test_npz_without_labels(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x_test=np.full((4, 2, 2, 3), 0.5, np.float32))
    ds = load_dataset(str(path), limit=2)
    assert ds.y is None and ds.num_classes is None and len(ds) == 2
    assert ds.kind == "image"  # NHWC floats in [0, 1]
    assert ds.sha256 != load_dataset(str(path)).sha256


def test_npz_bad_contents(tmp_path: Path) -> None:
    only_labels = tmp_path / "a.npz"
    np.savez(only_labels, y=np.zeros(2))
    with pytest.raises(DataError, match=r"no input arrays.*y"):  # names what the file does contain
        load_dataset(str(only_labels))
    mismatched = tmp_path / "b.npz"
    np.savez(mismatched, x=np.zeros((3, 2)), y=np.array([0, 1]))
    with pytest.raises(DataError, match="3 samples but 2 labels"):
        load_dataset(str(mismatched))
    uneven = tmp_path / "c.npz"
    np.savez(uneven, ids=np.zeros((3, 4), np.int32), mask=np.ones((2, 4), np.int32))
    with pytest.raises(DataError, match="different numbers of samples: ids 3, mask 2"):
        load_dataset(str(uneven))


def test_npz_named_inputs_keep_their_dtypes(tmp_path: Path) -> None:
    path = tmp_path / "text.npz"
    ids = np.arange(24, dtype=np.int64).reshape(3, 8)
    mask = np.ones((3, 8), dtype=bool)
    np.savez(path, input_ids=ids, attention_mask=mask, y=np.array([0, 1, 1]))
    ds = load_dataset(str(path))
    assert ds.names == ["input_ids", "attention_mask"] and ds.kind == "tensor"
    assert ds.inputs["input_ids"].dtype == np.int64 and ds.inputs["attention_mask"].dtype == np.bool_
    np.testing.assert_array_equal(ds.inputs["input_ids"], ids)
    assert ds.y is not None and ds.label_kind == "class" and ds.num_classes == 2
    other = tmp_path / "other.npz"
    np.savez(other, input_ids=ids, attention_mask=mask.astype(np.int32), y=np.array([0, 1, 1]))
    assert load_dataset(str(other)).sha256 != ds.sha256  # the dtype is part of what was measured


def test_npz_split_suffixes_for_named_inputs(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, image_train=np.zeros((4, 2), np.float32), meta_train=np.zeros((4, 3), np.float32),
             y_train=np.arange(4), image_test=np.ones((2, 2), np.float32), meta_test=np.ones((2, 3), np.float32))
    train, test = load_dataset(str(path), split="train"), load_dataset(str(path), split="test")
    assert train.names == ["image", "meta"] and len(train) == 4 and train.y is not None
    assert test.names == ["image", "meta"] and len(test) == 2 and test.y is None


def test_float_labels_are_regression_targets(tmp_path: Path) -> None:
    path = tmp_path / "r.npz"
    np.savez(path, x=np.zeros((4, 3), np.float32), y=np.array([0.5, -1.25, 3.0, 2.0]))
    ds = load_dataset(str(path))
    assert ds.label_kind == "value" and ds.num_classes is None and ds.y is not None
    assert ds.y.dtype == np.float64 and ds.y.tolist() == [0.5, -1.25, 3.0, 2.0]
    several = tmp_path / "r2.npz"
    np.savez(several, x=np.zeros((2, 3), np.float32), y=np.array([[0.3, 0.7], [1.0, 0.0]]))
    two = load_dataset(str(several))
    assert two.label_kind == "value" and two.y is not None and two.y.shape == (2, 2)


def test_folder_of_npy_files(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    np.save(folder / "input_ids.npy", np.ones((5, 6), np.int32))
    np.save(folder / "attention_mask.npy", np.ones((5, 6), np.int64))
    np.save(folder / "y.npy", np.arange(5) % 2)
    ds = load_dataset(str(folder))
    assert ds.names == ["attention_mask", "input_ids"] and len(ds) == 5
    assert ds.inputs["input_ids"].dtype == np.int32 and ds.label_kind == "class"


def test_fit_inputs_matches_names_dtypes_and_shapes(tmp_path: Path) -> None:
    from devicelab.data import fit_inputs
    from devicelab.models import IOSpec

    path = tmp_path / "d.npz"
    np.savez(path, meta=np.zeros((3, 4), np.float64), ids=np.arange(15).reshape(3, 5), y=np.arange(3))
    ds = load_dataset(str(path))
    model = [IOSpec("serving_default_ids:0", "int32", [None, 5]), IOSpec("meta", "float32", [None, 4])]
    ids, meta = fit_inputs(ds, model)
    assert ids.dtype == np.int32 and ids.shape == (3, 5) and meta.dtype == np.float32
    with pytest.raises(DataError, match=r"input 'ids' expects int32\(any, 6\); the data gives int64\[3, 5\]"):
        fit_inputs(ds, [IOSpec("ids", "int32", [None, 6]), IOSpec("meta", "float32", [None, 4])])
    with pytest.raises(DataError, match="nothing for image") as caught:
        fit_inputs(ds, [IOSpec("image", "float32", [None, 4]), IOSpec("meta", "float32", [None, 4])])
    assert "image=..." in (caught.value.hint or "")
    fractions = tmp_path / "f.npz"
    np.savez(fractions, x=np.full((2, 5), 0.5, np.float32))
    with pytest.raises(DataError, match="whole numbers"):
        fit_inputs(load_dataset(str(fractions)), [IOSpec("ids", "int32", [None, 5])])


# --- IDX files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path: Path, compress: bool) -> None:
    images = np.random.default_rng(1).integers(0, 256, (5, 6, 7), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    suffix = ".gz" if compress else ""
    images_path = write_idx(tmp_path / f"t10k-images.idx3-ubyte{suffix}", images, compress)
    write_idx(tmp_path / f"t10k-labels.idx1-ubyte{suffix}", labels, compress)

    np.testing.assert_array_equal(read_idx(images_path), images)
    floats = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "f.idx", floats)), floats)

    ds = load_dataset(str(images_path))
    assert ds.x.shape == (5, 6, 7, 1) and ds.kind == "image"
    np.testing.assert_allclose(ds.x[..., 0], images / 255.0, rtol=1e-6)
    assert ds.y is not None and ds.y.tolist() == [3, 1, 4, 1, 5] and ds.num_classes == 6


def test_idx_hyphenated_names_and_missing_labels(tmp_path: Path) -> None:
    images = np.zeros((2, 3, 3), np.uint8)
    path = write_idx(tmp_path / "train-images-idx3-ubyte", images)
    assert load_dataset(str(path)).y is None
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([1, 2], np.uint8))
    labeled = load_dataset(str(path))
    assert labeled.y is not None and labeled.y.tolist() == [1, 2]


def test_idx_labels_file_is_not_an_images_file(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "t10k-labels.idx1-ubyte", np.array([1, 2], np.uint8))
    with pytest.raises(DataError, match="images file"):
        load_dataset(str(path))


def test_corrupt_idx_files(tmp_path: Path) -> None:
    good = write_idx(tmp_path / "good.idx", np.zeros((4, 3, 3), np.uint8)).read_bytes()

    bad_magic = tmp_path / "bad-magic.idx"
    bad_magic.write_bytes(b"\x01\x02" + good[2:])
    with pytest.raises(DataError, match="magic"):
        read_idx(bad_magic)

    bad_type = tmp_path / "bad-type.idx"
    bad_type.write_bytes(b"\x00\x00\x42" + good[3:])
    with pytest.raises(DataError, match="type code"):
        read_idx(bad_type)

    truncated = tmp_path / "truncated.idx"
    truncated.write_bytes(good[:-5])
    with pytest.raises(DataError, match="truncated"):
        read_idx(truncated)

    short_header = tmp_path / "short-header.idx"
    short_header.write_bytes(good[:9])
    with pytest.raises(DataError, match="truncated"):
        read_idx(short_header)

    broken_gzip = tmp_path / "broken-images.idx3-ubyte.gz"
    broken_gzip.write_bytes(gzip.compress(good)[:20])
    with pytest.raises(DataError, match="decompress"):
        load_dataset(str(broken_gzip))

    with pytest.raises(DataError, match="not found"):
        read_idx(tmp_path / "missing.idx")


# --- image folders --------------------------------------------------------------------------------


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_image_folder_grayscale_two_classes(tmp_path: Path) -> None:
    _save(tmp_path / "cat" / "a.png", np.full((4, 5), 255, np.uint8))
    _save(tmp_path / "cat" / "b.png", np.zeros((4, 5), np.uint8))
    _save(tmp_path / "ant" / "c.png", np.full((4, 5), 51, np.uint8))
    (tmp_path / "cat" / "notes.txt").write_text("ignored: not an image")

    ds = load_dataset(str(tmp_path))
    assert ds.kind == "image" and ds.x.shape == (3, 4, 5, 1)
    assert ds.num_classes == 2
    assert ds.y is not None and ds.y.tolist() == [0, 1, 1]  # "ant" sorts before "cat"
    np.testing.assert_allclose(ds.x[:, 0, 0, 0], [0.2, 1.0, 0.0], rtol=1e-6)


def test_image_folder_rgb_keeps_three_channels(tmp_path: Path) -> None:
    red = np.zeros((3, 3, 3), np.uint8)
    red[..., 0] = 255
    _save(tmp_path / "a" / "red.png", red)
    _save(tmp_path / "b" / "blue.png", np.roll(red, 2, axis=-1))
    ds = load_dataset(str(tmp_path))
    assert ds.x.shape == (2, 3, 3, 3)
    assert ds.x[0, 0, 0].tolist() == [1.0, 0.0, 0.0] and ds.x[1, 0, 0].tolist() == [0.0, 0.0, 1.0]


def test_image_folder_errors(tmp_path: Path) -> None:
    _save(tmp_path / "sizes" / "a" / "x.png", np.zeros((4, 4), np.uint8))
    _save(tmp_path / "sizes" / "b" / "y.png", np.zeros((5, 4), np.uint8))
    with pytest.raises(DataError, match="differ in size"):
        load_dataset(str(tmp_path / "sizes"))

    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no images"):
        load_dataset(str(tmp_path / "empty"))

    damaged = tmp_path / "damaged" / "a" / "x.png"
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"\x89PNG but not really")
    with pytest.raises(DataError, match="cannot read image"):
        load_dataset(str(tmp_path / "damaged"))


# --- fit_to_shape ---------------------------------------------------------------------------------


def test_fit_to_shape_identical_is_unchanged() -> None:
    x = np.zeros((2, 28, 28, 1), np.float32)
    assert fit_to_shape(x, (None, 28, 28, 1)) is x
    assert fit_to_shape(x, (1, None, None, 1)) is x  # fixed batch size and dynamic dims


def test_fit_to_shape_adds_missing_channel() -> None:
    x = np.arange(2 * 28 * 28, dtype=np.float32).reshape(2, 28, 28)
    fitted = fit_to_shape(x, (None, 28, 28, 1))
    assert fitted.shape == (2, 28, 28, 1)
    np.testing.assert_array_equal(fitted[..., 0], x)


def test_fit_to_shape_other_safe_layouts() -> None:
    x = np.random.default_rng(2).random((2, 28, 28, 1)).astype(np.float32)
    assert fit_to_shape(x, (None, 28, 28)).shape == (2, 28, 28)
    assert fit_to_shape(x, (None, 1, 28, 28)).shape == (2, 1, 28, 28)
    np.testing.assert_array_equal(fit_to_shape(x, (None, 784)), x.reshape(2, 784))
    rgb = np.random.default_rng(3).random((2, 8, 6, 3)).astype(np.float32)
    chw = fit_to_shape(rgb, (None, 3, 8, 6))
    np.testing.assert_array_equal(chw, rgb.transpose(0, 3, 1, 2))


def test_fit_to_shape_refuses_to_fake_rgb() -> None:
    x = np.zeros((2, 28, 28, 1), np.float32)
    with pytest.raises(DataError) as info:
        fit_to_shape(x, (None, 28, 28, 3))
    message = str(info.value)
    assert "(2, 28, 28, 1)" in message and "(None, 28, 28, 3)" in message and "channel" in message


def test_fit_to_shape_mismatch_names_both_shapes() -> None:
    x = np.zeros((2, 28, 28, 1), np.float32)
    with pytest.raises(DataError) as info:
        fit_to_shape(x, (None, 32, 32, 3))
    assert "(2, 28, 28, 1)" in str(info.value) and "(None, 32, 32, 3)" in str(info.value)
    assert info.value.hint
    with pytest.raises(DataError, match="does not fit"):
        fit_to_shape(np.zeros((2, 10), np.float32), (None, 12))
