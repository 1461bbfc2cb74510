"""The JPEG folder -> uint8 cache -> device batches pipeline (course_lib.data.jpeg_cache, .folder,
and the fused augmentation in .augment), against NumPy references and on bad input."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.data import augment, folder, jpeg_cache
from course_lib.data.augment import PCAColorJitter, center_view, crop_flip_jitter


def save(path: Path, array: np.ndarray, mode: str | None = None, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(array)
    (img.convert(mode) if mode else img).save(path, **kwargs)
    return path


@pytest.fixture
def jpegs(tmp_path) -> Path:
    return folder.write_jpeg_folder(tmp_path / "train", 3, image_size=40, num_classes=4, seed=0)


def files_in(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


# --- decoding ---------------------------------------------------------------------------------------

def test_decode_resizes_the_short_side_and_keeps_the_centre(tmp_path):
    """A 96×48 PNG, red on the left third, blue in the middle third, green on the right: after the
    short side goes to 16 (32×16), the central 16×16 square is the blue third, with the antialiasing blur of red and green at its edges."""
    image = np.zeros((48, 96, 3), np.uint8)
    image[:, :32, 0], image[:, 32:64, 2], image[:, 64:, 1] = 255, 255, 255
    out = jpeg_cache.decode_square(save(tmp_path / "thirds.png", image), 16)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, 4:-4], np.broadcast_to([0, 0, 255], (16, 8, 3)))
    assert out[:, 0, 0].min() > 100 and out[:, -1, 1].min() > 100  # red and green only at the edges


@pytest.mark.parametrize("mode", ["L", "CMYK", "P", "RGBA"])
def test_grey_cmyk_palette_and_alpha_images_become_rgb(tmp_path, mode):
    colour = np.full((30, 20, 3), (200, 120, 40), np.uint8)
    path = save(tmp_path / f"x.{'png' if mode in ('P', 'RGBA') else 'jpg'}", colour, mode)
    out = jpeg_cache.decode_square(path, 12)
    assert out.shape == (12, 12, 3)
    expected = np.asarray(Image.open(path).convert("RGB"), dtype=float).mean((0, 1))
    np.testing.assert_allclose(out.reshape(-1, 3).mean(0), expected, atol=3)
    if mode == "L":
        assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])


def test_corrupt_files_are_skipped_with_a_warning(tmp_path, jpegs):
    (jpegs / "disk" / "zz_truncated.jpg").write_bytes((jpegs / "disk" / "00000.jpg").read_bytes()[:60])
    (jpegs / "disk" / "zz_noise.jpg").write_bytes(b"\xff\xd8 not a jpeg at all")
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable image"):
        cached = folder.cache_image_folder(jpegs, tmp_path / "cache", size=32, progress=False)
    assert len(cached) == 12 and cached.images.shape == (12, 32, 32, 3)
    assert sorted(cached.manifest["skipped"]) == ["disk/zz_noise.jpg", "disk/zz_truncated.jpg"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reopening: no second warning, no second decode
        again = folder.cache_image_folder(jpegs, tmp_path / "cache", size=32, progress=False)
    assert np.array_equal(again.images, cached.images)


# --- the cache --------------------------------------------------------------------------------------

def test_cache_holds_every_image_with_its_label(tmp_path, jpegs):
    cached = folder.cache_image_folder(jpegs, tmp_path / "cache", size=32, progress=False)
    assert cached.classes == ["disk", "ring", "square", "triangle"]  # sorted folder names
    assert cached.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    for i, name in enumerate(sorted(str(p.relative_to(jpegs)) for p in jpegs.rglob("*.jpg"))):
        np.testing.assert_array_equal(cached.images[i], jpeg_cache.decode_square(jpegs / name, 32))
    manifest = json.loads(cached.path.with_suffix(".json").read_text())
    assert manifest["sha256"] == jpeg_cache._sha256_file(cached.path)
    assert not cached.images.flags.writeable  # memory-mapped read-only
    assert files_in(tmp_path / "cache") == sorted([cached.path.name, cached.path.with_suffix(".json").name])


def test_parallel_decoding_gives_the_same_cache(tmp_path, jpegs):
    alone = folder.cache_image_folder(jpegs, tmp_path / "a", size=32, workers=0, progress=False)
    pooled = folder.cache_image_folder(jpegs, tmp_path / "b", size=32, workers=2, progress=False)
    assert np.array_equal(alone.images, pooled.images) and np.array_equal(alone.labels, pooled.labels)


def test_reopening_decodes_nothing(tmp_path, jpegs, monkeypatch):
    first = folder.cache_image_folder(jpegs, tmp_path / "cache", size=32, progress=False)
    monkeypatch.setattr(jpeg_cache, "_decode_job", lambda job: pytest.fail("decoded again"))
    assert folder.cache_image_folder(jpegs, tmp_path / "cache", size=32, progress=False).path == first.path


def test_validation_set_takes_the_training_classes(tmp_path, jpegs):
    val = folder.write_jpeg_folder(tmp_path / "val", 1, image_size=40, num_classes=4, seed=1)
    cached = folder.cache_image_folder(val, tmp_path / "cache", size=32, classes=["triangle", "disk"],
                                       progress=False)
    assert cached.classes == ["triangle", "disk"] and cached.labels.tolist() == [0, 1]
    np.testing.assert_array_equal(cached.images[0], jpeg_cache.decode_square(val / "triangle" / "00000.jpg", 32))


@pytest.mark.parametrize("change", ["size", "added file", "edited file"])
def test_a_new_configuration_gets_a_new_cache(tmp_path, jpegs, change):
    first = folder.cache_image_folder(jpegs, tmp_path / "cache", size=32, progress=False)
    size = 24 if change == "size" else 32
    if change == "added file":
        shutil.copy(jpegs / "disk" / "00000.jpg", jpegs / "disk" / "extra.jpg")
    elif change == "edited file":
        save(jpegs / "ring" / "00000.jpg", np.zeros((40, 40, 3), np.uint8))
    second = folder.cache_image_folder(jpegs, tmp_path / "cache", size=size, progress=False)
    assert second.path != first.path
    assert len(second) == (13 if change == "added file" else 12) and second.images.shape[1] == size
    if change == "edited file":
        assert second.images[3].max() < 10 and first.images[3].max() > 100


@pytest.mark.parametrize("damage", ["other configuration", "altered byte", "truncated", "bad manifest"])
def test_a_foreign_or_damaged_cache_is_rebuilt_never_used(tmp_path, jpegs, damage):
    good = folder.cache_image_folder(jpegs, tmp_path / "cache", size=32, progress=False)
    reference = np.array(good.images)
    npy, manifest = good.path, good.path.with_suffix(".json")
    del good
    if damage == "other configuration":  # a cache of another size copied under this name
        other = folder.cache_image_folder(jpegs, tmp_path / "other", size=24, progress=False)
        shutil.copy(other.path, npy)
        shutil.copy(other.path.with_suffix(".json"), manifest)
    elif damage == "altered byte":
        with open(npy, "r+b") as f:
            f.seek(-5, 2)
            f.write(bytes([f.read(1)[0] ^ 0xFF]))
    elif damage == "truncated":
        npy.write_bytes(npy.read_bytes()[:-100])
    else:
        manifest.write_text("{not json")
    with pytest.warns(UserWarning, match="rebuilding"):
        rebuilt = folder.cache_image_folder(jpegs, tmp_path / "cache", size=32, progress=False)
    np.testing.assert_array_equal(rebuilt.images, reference)


@pytest.mark.parametrize("failure", [RuntimeError, KeyboardInterrupt])
def test_a_failed_build_leaves_no_files(tmp_path, jpegs, monkeypatch, failure):
    calls, real = [], jpeg_cache._decode_job

    def decode_then_fail(job):
        calls.append(job)
        if len(calls) == 5:
            raise failure("disk full")
        return real(job)

    monkeypatch.setattr(jpeg_cache, "_decode_job", decode_then_fail)
    with pytest.raises(failure):
        folder.cache_image_folder(jpegs, tmp_path / "cache", size=32, workers=0, progress=False)
    assert files_in(tmp_path / "cache") == []


def test_a_folder_of_unreadable_files_is_refused_and_leaves_nothing(tmp_path):
    for name in ("a", "b"):
        (tmp_path / "bad" / name).mkdir(parents=True)
        (tmp_path / "bad" / name / "x.jpg").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="no image under"):
        folder.cache_image_folder(tmp_path / "bad", tmp_path / "cache", size=32, progress=False)
    assert files_in(tmp_path / "cache") == []


def test_bad_folders_are_refused_clearly(tmp_path, jpegs):
    (jpegs / "empty_class").mkdir()
    with pytest.raises(ValueError, match=r"class folder '.*empty_class' holds no images"):
        folder.cache_image_folder(jpegs, tmp_path / "cache", progress=False)
    with pytest.raises(FileNotFoundError, match=r"argument 'root' must be a folder"):
        folder.cache_image_folder(tmp_path / "missing", progress=False)
    (tmp_path / "flat").mkdir()
    with pytest.raises(ValueError, match="holds no class folders"):
        folder.cache_image_folder(tmp_path / "flat", progress=False)
    with pytest.raises(ValueError, match=r"argument 'classes' names folders missing"):
        folder.cache_image_folder(jpegs, classes=["disk", "dog"], progress=False)
    with pytest.raises(ValueError, match=r"argument 'size' must be"):
        folder.cache_image_folder(jpegs, size=2, progress=False)


# --- the fused augmentation against NumPy -----------------------------------------------------------

def numpy_view(x: np.ndarray, top, left, flip, shift, size, mean, std) -> np.ndarray:
    """The reference: slice, mirror, scale to [0, 1], shift, normalise, to NCHW."""
    out = []
    for img, t, l, f, s in zip(x, top, left, flip, shift):
        window = img[t:t + size, l:l + size].astype(np.float64) / 255
        window = window[:, ::-1] if f else window
        out.append(((window + s - np.asarray(mean)) / np.asarray(std)).transpose(2, 0, 1))
    return np.stack(out)


@pytest.mark.parametrize("sigma", [0.0, 0.3])
def test_crop_flip_jitter_matches_numpy(sigma):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 11, 9, 3), dtype=np.uint8)
    colour = PCAColorJitter.from_data(torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255, sigma=sigma)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    out = crop_flip_jitter(torch.from_numpy(x), 5, mean, std, colour, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)  # the documented order: tops, lefts, flips, alpha
    top, left = torch.randint(0, 7, (6,), generator=g), torch.randint(0, 5, (6,), generator=g)
    flip = torch.rand(6, generator=g) < 0.5
    alpha = torch.randn(6, 3, generator=g).double() * sigma
    shift = (alpha * colour.eigenvalues.double().sqrt()) @ colour.eigenvectors.double().T
    expected = numpy_view(x, top.numpy(), left.numpy(), flip.numpy(), shift.numpy(), 5, mean, std)
    assert out.shape == (6, 3, 5, 5) and out.dtype == torch.float32
    assert out.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert flip.any() and not flip.all()  # both branches exercised with this seed


def test_center_view_and_padding_to_227():
    x = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (2, 256, 256, 3), dtype=np.uint8))
    view = center_view(x, 224, (0.5,) * 3, (0.25,) * 3, pad_to=227)
    assert view.shape == (2, 3, 227, 227) and view.is_contiguous(memory_format=torch.channels_last)
    expected = numpy_view(x.numpy(), [16, 16], [16, 16], [False, False], np.zeros((2, 3)), 224,
                          (0.5,) * 3, (0.25,) * 3)
    np.testing.assert_allclose(view[:, :, 1:225, 1:225].numpy(), expected, rtol=1e-5, atol=1e-5)
    assert view[:, :, 0].abs().max() == 0 and view[:, :, 225:].abs().max() == 0  # the mean colour


def test_fused_augmentation_refuses_bad_input():
    with pytest.raises(TypeError, match=r"crop_flip_jitter: argument 'x' must be a uint8 tensor \(N, H, W, 3\)"):
        crop_flip_jitter(torch.zeros(2, 8, 8, 3), 4, (0,) * 3, (1,) * 3)
    with pytest.raises(TypeError, match=r"center_view: argument 'x' must be a uint8"):
        center_view(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), 4, (0,) * 3, (1,) * 3)
    with pytest.raises(ValueError, match=r"argument 'size' \(9\) must fit"):
        crop_flip_jitter(torch.zeros(2, 8, 8, 3, dtype=torch.uint8), 9, (0,) * 3, (1,) * 3)
    with pytest.raises(ValueError, match=r"argument 'p_flip' must be a probability"):
        crop_flip_jitter(torch.zeros(2, 8, 8, 3, dtype=torch.uint8), 4, (0,) * 3, (1,) * 3, p_flip=2.0)


# --- batches ----------------------------------------------------------------------------------------

def test_folder_batches_serve_every_image_as_a_crop_of_itself(tmp_path, jpegs):
    cached = folder.cache_image_folder(jpegs, tmp_path / "cache", size=16, progress=False)
    mean, std, colour = folder.rgb_statistics(cached)
    source = torch.from_numpy(np.array(cached.images))
    val = folder.FolderBatches(cached, 5, train=False, mean=mean, std=std, size=12, device="cpu")
    xs, ys = zip(*val)
    assert len(val) == 3 and [len(y) for y in ys] == [5, 5, 2]
    torch.testing.assert_close(torch.cat(xs), center_view(source, 12, mean, std))
    assert torch.cat(ys).tolist() == cached.labels.tolist()

    train = folder.FolderBatches(cached, 5, train=True, mean=mean, std=std, size=12, device="cpu", seed=1)
    assert len(train) == 2  # the incomplete batch is dropped
    seen = []
    for xb, yb in train:
        assert xb.shape == (5, 3, 12, 12) and xb.is_contiguous(memory_format=torch.channels_last)
        for x, y in zip(xb, yb):  # find the image, window and mirroring that produce x
            match = [(i, t, l, f) for i in range(len(source)) if cached.labels[i] == y
                     for t in range(5) for l in range(5) for f in (False, True)
                     if torch.allclose(x, center_view(source[i:i + 1, t:t + 12, l:l + 12], 12, mean, std)[0]
                                       .flip(-1) if f else center_view(source[i:i + 1, t:t + 12, l:l + 12],
                                                                       12, mean, std)[0], atol=1e-5)]
            assert match, "a training view that is no crop of any image of its class"
            seen.append(match[0][0])
    assert len(set(seen)) == 10  # shuffled without repeats
    first = [x for x, _ in train]
    assert not torch.equal(first[0], next(iter(train))[0])  # a new epoch, new crops


def test_rgb_statistics_match_numpy(tmp_path, jpegs):
    cached = folder.cache_image_folder(jpegs, tmp_path / "cache", size=16, progress=False)
    mean, std, colour = folder.rgb_statistics(cached, sigma=0.1)
    pixels = np.asarray(cached.images)[:, ::4, ::4].reshape(-1, 3) / 255
    np.testing.assert_allclose(mean, pixels.mean(0), atol=1e-5)
    np.testing.assert_allclose(std, pixels.std(0, ddof=1), atol=1e-5)
    np.testing.assert_allclose(np.sort(colour.eigenvalues.numpy()), np.linalg.eigvalsh(np.cov(pixels.T)),
                               rtol=1e-4, atol=1e-7)


def test_folder_batches_refuse_bad_arguments(tmp_path, jpegs):
    cached = folder.cache_image_folder(jpegs, tmp_path / "cache", size=16, progress=False)
    kwargs = dict(train=True, mean=(0,) * 3, std=(1,) * 3, device="cpu")
    with pytest.raises(TypeError, match="argument 'cached' must be a CachedImages"):
        folder.FolderBatches(np.zeros((2, 16, 16, 3), np.uint8), 2, **kwargs)
    with pytest.raises(ValueError, match=r"argument 'size' \(227\) is larger than the cached images"):
        folder.FolderBatches(cached, 2, **kwargs)
    with pytest.raises(ValueError, match="argument 'batch_size' must be"):
        folder.FolderBatches(cached, 0, size=8, **kwargs)


def test_imagenette_is_found_only_through_course_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert folder.imagenette_dir() is None
    (tmp_path / "imagenette2-320" / "train").mkdir(parents=True)
    (tmp_path / "imagenette2-320" / "val").mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert folder.imagenette_dir() == tmp_path / "imagenette2-320"


def test_augment_module_lists_the_fused_functions():
    assert {"crop_flip_jitter", "center_view"} <= set(augment.__all__)
