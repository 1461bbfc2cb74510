"""course_lib.train, course_lib.data.augment and course_lib.figures.training."""
from __future__ import annotations

import math
import os

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

matplotlib.use("Agg")

from course_lib import figures, train  # noqa: E402
from course_lib.data import augment  # noqa: E402
from course_lib.data import synthetic_shapes  # noqa: E402
from course_lib.models import LeNet5  # noqa: E402


def tiny_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


@pytest.fixture(scope="module")
def shapes():
    """1,200 generated 16×16 colour images of 10 classes, standardised: (train, val)."""
    x, y = synthetic_shapes(1200, image_size=16, seed=0)
    x = torch.from_numpy(x).float() / 255
    x = (x - x.mean()) / x.std()
    y = torch.from_numpy(y).long()
    return (x[:1000], y[:1000]), (x[1000:], y[1000:])


# --------------------------------------------------------------------------- fit / evaluate

def test_short_training_learns(shapes):
    torch.manual_seed(0)
    history = train.fit(tiny_cnn(), *shapes, epochs=8, batch_size=50, lr=0.05, schedule="cosine",
                        progress=False, device="cpu")
    assert len(history) == 8
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_acc[-1] > 0.5          # chance is 0.1
    assert history.lr[0] == pytest.approx(0.05)
    assert history.lr[-1] < history.lr[0]


def test_fit_accepts_a_dataloader(shapes):
    (x, y), val = shapes
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=100, shuffle=True)
    history = train.fit(tiny_cnn(), loader, val, epochs=1, schedule="onecycle", progress=False, device="cpu")
    assert len(history) == 1 and math.isfinite(history.train_loss[0])


def test_fit_is_seeded(shapes):
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = tiny_cnn()
        runs.append(train.fit(model, shapes[0], epochs=1, seed=7, progress=False, device="cpu").train_loss)
    assert runs[0] == runs[1]


def test_plateau_schedule_divides_by_ten():
    x, y = torch.randn(40, 3, 8, 8), torch.randint(0, 10, (40,))
    model = nn.Sequential(nn.Flatten(), nn.Linear(192, 10))
    # Random labels: the validation error cannot improve for long, so the rate must drop.
    h = train.fit(model, (x, y), (x[:20], torch.randint(0, 10, (20,))), epochs=6, lr=0.01,
                  schedule="plateau", patience=0, progress=False, device="cpu")
    ratios = {round(b / a, 6) for a, b in zip(h.lr, h.lr[1:]) if b != a}
    assert ratios and ratios <= {0.1}


def test_step_schedule():
    x, y = torch.randn(20, 3, 4, 4), torch.randint(0, 10, (20,))
    h = train.fit(nn.Sequential(nn.Flatten(), nn.Linear(48, 10)), (x, y), epochs=4, lr=1.0,
                  schedule="step", step_size=2, progress=False, device="cpu")
    assert h.lr == pytest.approx([1.0, 1.0, 0.1, 0.1])


def test_evaluate_top5_at_most_top1(shapes):
    torch.manual_seed(0)
    result = train.evaluate(tiny_cnn(), shapes[1], batch_size=64)
    assert 0 <= result["top5_error"] <= result["top1_error"] <= 1
    assert result["top1_error"] == pytest.approx(1 - result["accuracy"])


def test_evaluate_against_a_direct_computation():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 10))
    x, y = torch.randn(37, 3, 2, 2), torch.randint(0, 10, (37,))
    with torch.no_grad():
        logits = model(x)
    result = train.evaluate(model, (x, y), batch_size=10)
    assert result["loss"] == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    top5 = logits.argsort(1, descending=True)[:, :5]
    assert result["top5_error"] == pytest.approx(1 - (top5 == y[:, None]).any(1).float().mean().item())


def test_diverging_training_says_lr():
    x, y = torch.randn(20, 3, 4, 4) * 1e15, torch.randint(0, 10, (20,))
    with pytest.raises(FloatingPointError, match="learning rate"):
        train.fit(nn.Sequential(nn.Flatten(), nn.Linear(48, 10)), (x, y), epochs=3, lr=1e15,
                  progress=False, device="cpu")


@pytest.mark.parametrize("data, error, match", [
    (torch.randn(4, 3, 8, 8), TypeError, "pair"),
    ((torch.randn(4, 3, 8, 8), torch.zeros(5, dtype=torch.long)), ValueError, "4 inputs but 5 labels"),
    ((torch.randn(4, 3, 8, 8), torch.zeros(4)), TypeError, "integer tensor"),
    ((torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.long)), TypeError, "float"),
])
def test_fit_bad_data(data, error, match):
    with pytest.raises(error, match=match):
        train.fit(tiny_cnn(), data, epochs=1, progress=False)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(epochs=0), ValueError, "epochs"),
    (dict(batch_size=1.5), TypeError, "batch_size"),
    (dict(lr=-0.1), ValueError, "lr"),
    (dict(schedule="linear"), ValueError, "schedule"),
])
def test_fit_bad_arguments(kwargs, error, match):
    data = (torch.randn(4, 3, 16, 16), torch.zeros(4, dtype=torch.long))
    with pytest.raises(error, match=match):
        train.fit(tiny_cnn(), data, progress=False, **kwargs)


# --------------------------------------------------------------------------- device, seeds

def test_pick_device_cpu_without_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert train.pick_device() == torch.device("cpu")


def test_pick_device_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert train.pick_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert train.pick_device().type == "mps"


def test_seed_everything_repeats():
    train.seed_everything(5)
    a = (np.random.rand(), torch.rand(3))
    g = train.seed_everything(5)
    b = (np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and torch.equal(a[1], b[1])
    assert torch.equal(torch.rand(2, generator=g), torch.rand(2, generator=torch.Generator().manual_seed(5)))


# --------------------------------------------------------------------------- checkpoints

def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = LeNet5("classic")
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 1, 32, 32)).sum().backward()
    opt.step()
    history = train.History()
    history.append(epoch=1, train_loss=1.0, train_acc=0.5, val_loss=1.1, val_acc=0.4,
                   val_top1_error=0.6, val_top5_error=0.1, lr=0.1, seconds=2.0)
    path = train.save_checkpoint(tmp_path / "run" / "ckpt.pt", model, opt, epoch=1, history=history)

    fresh = LeNet5("classic")
    fresh_opt = torch.optim.SGD(fresh.parameters(), lr=0.1, momentum=0.9)
    info = train.load_checkpoint(path, fresh, fresh_opt)
    assert info["epoch"] == 1 and info["history"] == history
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name
    assert fresh_opt.state_dict()["state"].keys() == opt.state_dict()["state"].keys()
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]   # no temporary files left


def test_failed_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    model = LeNet5()
    path = train.save_checkpoint(tmp_path / "ckpt.pt", model, epoch=1)
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with torch.no_grad():
        model.c1.weight.add_(1.0)
    with pytest.raises(OSError, match="disk full"):
        train.save_checkpoint(path, model, epoch=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_fit_writes_checkpoints(tmp_path, shapes):
    model = tiny_cnn()
    train.fit(model, shapes[0], epochs=2, checkpoint=tmp_path / "c.pt", progress=False, device="cpu")
    info = train.load_checkpoint(tmp_path / "c.pt", tiny_cnn())
    assert info["epoch"] == 2 and len(info["history"]) == 2


def test_load_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train.load_checkpoint(tmp_path / "nope.pt", LeNet5())


# --------------------------------------------------------------------------- augmentation

def test_random_crop_shape_and_content():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    g = torch.Generator().manual_seed(0)
    out = augment.random_crop(x, 5, generator=g)
    assert out.shape == (2, 3, 5, 5)
    for n in range(2):   # each crop is a contiguous window of its own image
        top, left = divmod(int(out[n, 0, 0, 0] - x[n, 0, 0, 0]), 8)
        assert torch.equal(out[n], x[n, :, top:top + 5, left:left + 5])


def test_random_crop_with_padding_keeps_size():
    x = torch.ones(4, 3, 8, 8)
    out = augment.RandomCrop(8, padding=2)(x, torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    assert out.sum() <= x.sum()   # the padding brought in zeros (or not, for a centred crop)


def test_center_crop():
    x = torch.arange(36.0).view(1, 1, 6, 6)
    assert torch.equal(augment.center_crop(x, 2), x[..., 2:4, 2:4])


def test_horizontal_flip_is_a_mirror():
    x = torch.randn(64, 3, 5, 7)
    out = augment.horizontal_flip(x, p=0.5, generator=torch.Generator().manual_seed(0))
    flipped = torch.tensor([torch.equal(o, xi.flip(-1)) for o, xi in zip(out, x)])
    kept = torch.tensor([torch.equal(o, xi) for o, xi in zip(out, x)])
    assert torch.all(flipped ^ kept)
    assert 10 < int(flipped.sum()) < 54
    assert torch.equal(augment.horizontal_flip(x, p=1.0), x.flip(-1))
    assert torch.equal(augment.horizontal_flip(x, p=0.0), x)


def test_pca_jitter_fit_and_apply():
    torch.manual_seed(0)
    mix = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.5, 0.5, 0.7]])
    x = torch.einsum("ij,njhw->nihw", mix, torch.rand(50, 3, 6, 6))
    jitter = augment.PCAColorJitter.from_data(x, sigma=0.1)
    pixels = x.permute(1, 0, 2, 3).reshape(3, -1).numpy()
    eigenvalues = np.linalg.eigvalsh(np.cov(pixels))
    np.testing.assert_allclose(jitter.eigenvalues.numpy(), eigenvalues, rtol=1e-4)
    a = jitter(x, torch.Generator().manual_seed(3))
    b = jitter(x, torch.Generator().manual_seed(3))
    assert a.shape == x.shape and torch.equal(a, b)
    shift = a - x
    # One colour shift per image, the same at every pixel.
    assert torch.allclose(shift, shift[:, :, :1, :1].expand_as(shift), atol=1e-6)
    assert not torch.equal(a, jitter(x, torch.Generator().manual_seed(4)))


def test_compose_inside_fit(shapes):
    chain = augment.Compose(augment.RandomCrop(16, padding=2), augment.RandomHorizontalFlip(),
                            augment.PCAColorJitter.from_data(shapes[0][0][:200]))
    history = train.fit(tiny_cnn(), shapes[0], epochs=1, augment=chain, progress=False, device="cpu")
    assert math.isfinite(history.train_loss[0])


@pytest.mark.parametrize("call, error, match", [
    (lambda: augment.random_crop(torch.zeros(1, 3, 4, 4), 5), ValueError, "size"),
    (lambda: augment.random_crop(torch.zeros(3, 4, 4), 2), ValueError, "4-D"),
    (lambda: augment.horizontal_flip(torch.zeros(1, 3, 4, 4), p=2.0), ValueError, "probability"),
    (lambda: augment.center_crop(torch.zeros(1, 1, 4, 4), 6), ValueError, "fit"),
    (lambda: augment.PCAColorJitter.from_data(torch.zeros(2, 1, 4, 4)), ValueError, "RGB"),
])
def test_augment_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --------------------------------------------------------------------------- plots

def test_learning_curves(shapes):
    history = train.fit(tiny_cnn(), *shapes, epochs=2, progress=False, device="cpu")
    fig = figures.learning_curves(history)
    assert len(fig.axes) == 3   # loss, error, and the learning rate's twin axis


def test_learning_curves_empty():
    with pytest.raises(ValueError, match="empty"):
        figures.learning_curves(train.History())


def test_confusion_matrix_counts():
    y = np.array([0, 0, 1, 2, 2, 2])
    p = np.array([0, 1, 1, 2, 0, 2])
    expected = np.zeros((3, 3), int)
    for a, b in zip(y, p):
        expected[a, b] += 1
    np.testing.assert_array_equal(figures.confusion_matrix(torch.tensor(y), p), expected)
    fig = figures.plot_confusion_matrix(expected, normalize=True)
    assert len(fig.axes) == 2   # the matrix and its colour bar


def test_confusion_matrix_bad_input():
    with pytest.raises(ValueError, match="match"):
        figures.confusion_matrix([0, 1], [0])


def test_show_mistakes():
    images = torch.rand(10, 1, 8, 8)
    labels = torch.arange(10)
    predictions = labels.clone()
    predictions[[1, 4, 7]] = 0
    fig = figures.show_mistakes(images, labels, predictions)
    assert len(fig.axes) == 3
    assert sum(bool(ax.images) for ax in fig.axes) == 3


def test_show_filters():
    assert len(figures.show_filters(LeNet5().c1.weight).axes) == 6
    assert len(figures.show_filters(torch.randn(96, 3, 11, 11)).axes) == 96


def test_show_filters_bad_channels():
    with pytest.raises(ValueError, match="channels"):
        figures.show_filters(torch.randn(16, 6, 5, 5))


# --------------------------------------------------------------------------- CUDA path

@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
@pytest.mark.parametrize("compile", [False, True])
def test_fit_on_cuda_uses_bf16_and_channels_last(shapes, compile):
    model = tiny_cnn()
    seen = {}
    model[0].register_forward_hook(lambda m, i, o: seen.update(dtype=o.dtype, cl=i[0].is_contiguous(
        memory_format=torch.channels_last)))
    history = train.fit(model, *shapes, epochs=3, batch_size=50, lr=0.05, schedule="cosine",
                        compile=compile, progress=False)
    assert next(model.parameters()).device.type == "cuda"
    if not compile:   # hooks do not fire inside a compiled graph
        assert seen == {"dtype": torch.bfloat16, "cl": True}
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_acc[-1] > 0.3


# --------------------------------------------------------------------------- bad input: hyperparameters, data

def _linear_data(n: int = 8):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, 2, 2, generator=g), torch.randint(0, 4, (n,), generator=g)


def _linear() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 4))


@pytest.mark.parametrize("kwargs, error, argument", [
    (dict(lr=math.inf), ValueError, "lr"),
    (dict(lr=math.nan), ValueError, "lr"),
    (dict(lr=True), TypeError, "lr"),
    (dict(lr="0.1"), TypeError, "lr"),
    (dict(momentum=math.nan), ValueError, "momentum"),
    (dict(momentum=True), TypeError, "momentum"),
    (dict(weight_decay=math.nan), ValueError, "weight_decay"),
    (dict(weight_decay=-1.0), ValueError, "weight_decay"),
    (dict(nesterov="yes"), TypeError, "nesterov"),
    (dict(progress="no"), TypeError, "progress"),
])
def test_fit_refuses_hyperparameters_that_would_destroy_the_model(kwargs, error, argument):
    model = _linear()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(error, match=rf"fit: argument '{argument}'"):
        train.fit(model, _linear_data(), epochs=1, device="cpu", **{"progress": False, **kwargs})
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # refused before training


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_fit_refuses_nonfinite_data_up_front(value):
    x, y = _linear_data()
    x[3, 1, 0, 1] = value
    with pytest.raises(ValueError, match=r"fit: argument 'train_data\[0\]' holds NaN or inf.*\(3, 1, 0, 1\)"):
        train.fit(_linear(), (x, y), epochs=1, progress=False, device="cpu")
    with pytest.raises(ValueError, match=r"fit: argument 'val_data\[0\]' holds NaN or inf"):
        train.fit(_linear(), _linear_data(), (x, y), epochs=1, progress=False, device="cpu")


def test_fit_stops_when_one_epoch_destroys_the_weights():
    """One batch per epoch: the loss is computed before the step, so it looks fine, while the step
    makes every weight inf or NaN. fit must not return a normal-looking History."""
    x, y = _linear_data()
    with pytest.raises(FloatingPointError, match=r"epoch 1: parameters 1\.weight.* hold NaN or inf.*"
                                                 r"argument 'lr' \(the learning rate"):
        train.fit(_linear(), (100 * x, y), epochs=1, batch_size=8, lr=1e38, momentum=0.0,
                  progress=False, device="cpu")
    with pytest.raises(ValueError, match=r"fit: argument 'lr' = 1e\+300 does not fit in the model's torch.float32"):
        train.fit(_linear(), (x, y), epochs=1, lr=1e300, progress=False, device="cpu")


def test_a_loss_bad_from_the_first_batch_is_not_blamed_on_the_learning_rate():
    model = _linear()
    with torch.no_grad():
        model[1].weight[0, 0] = math.inf   # a broken model: every output is inf or NaN from the start
    with pytest.raises(FloatingPointError) as info:
        train.fit(model, _linear_data(), epochs=1, lr=1e-3, progress=False, device="cpu")
    message = str(info.value)
    assert "first batch, before any update" in message and "'model'" in message
    assert "learning rate" not in message


def test_large_inputs_are_named_as_a_cause_of_divergence():
    x, y = _linear_data()
    with pytest.raises(FloatingPointError, match=r"'train_data' has large inputs .* standardise"):
        train.fit(_linear(), (x * 1e30, y), epochs=2, lr=1.0, progress=False, device="cpu")


@pytest.mark.parametrize("make, match", [
    (lambda x, y: (x.numpy(), y.numpy()), r"fit: argument 'train_data' must hold torch tensors, got NumPy"),
    (lambda x, y: ((x[i:i + 4], y[i:i + 4]) for i in (0, 4)), r"fit: argument 'train_data' is a generator"),
    (lambda x, y: (x, y.float()), r"fit: argument 'train_data\[1\]' must be a 1-D integer tensor"),
    (lambda x, y: (x, y > 1), r"fit: argument 'train_data\[1\]' must be a 1-D integer tensor"),
    (lambda x, y: (x, y - 1), r"fit: argument 'train_data\[1\]' holds the label -1"),
    (lambda x, y: (x, y + 10), r"fit: argument 'train_data' holds the label 1[0-3], but the model has 4 outputs"),
    (lambda x, y: [(x[:4].numpy(), y[:4])], r"fit: argument 'train_data\[0\]' must hold torch tensors"),
    (lambda x, y: {"x": x, "y": y}, r"fit: argument 'train_data' must be a pair"),
])
def test_fit_names_the_common_slips_with_data(make, match):
    with pytest.raises((TypeError, ValueError), match=match):
        train.fit(_linear(), make(*_linear_data()), epochs=2, progress=False, device="cpu")


def test_fit_takes_a_list_of_batches_and_float64_inputs():
    x, y = _linear_data()
    history = train.fit(_linear(), [(x[:4].double(), y[:4]), (x[4:].double(), y[4:])], epochs=2,
                        progress=False, device="cpu")
    assert len(history) == 2 and all(math.isfinite(v) for v in history.train_loss)


@pytest.mark.parametrize("batch_size, error", [(0, ValueError), (-3, ValueError), (1.5, TypeError), (True, TypeError)])
def test_evaluate_refuses_a_bad_batch_size(batch_size, error):
    with pytest.raises(error, match=r"evaluate: argument 'batch_size'"):
        train.evaluate(_linear(), _linear_data(), batch_size=batch_size)


def test_evaluate_reads_a_generator_once_and_float16_data():
    x, y = _linear_data()
    model = _linear()
    expected = train.evaluate(model, (x, y), batch_size=3)
    assert train.evaluate(model, ((x[i:i + 4], y[i:i + 4]) for i in (0, 4))) == pytest.approx(expected)
    assert train.evaluate(model, (x.half(), y))["accuracy"] == pytest.approx(
        train.evaluate(model, (x.half().float(), y))["accuracy"])


# --------------------------------------------------------------------------- checkpoints: resuming, bad files

def _resume_setup():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(40, 3, 2, 2, generator=g), torch.randint(0, 4, (40,), generator=g)
    return (x[:32], y[:32]), (x[32:], y[32:])


def _dropout_net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 4))


def _jitter(x, generator):
    return x + 0.1 * torch.randn(x.shape, generator=generator)


@pytest.mark.parametrize("schedule", ["plateau", "onecycle", "cosine"])
def test_fit_resumes_exactly_from_a_checkpoint(tmp_path, schedule):
    """Interrupted in epoch 3 of 4 and resumed (from a fresh model, even one built differently):
    the same History, epoch for epoch, and the same weights as a run never interrupted. Dropout
    (torch's global generator), shuffling and augmentation (fit's generator) all resume."""
    train_data, val_data = _resume_setup()
    settings = dict(epochs=4, batch_size=8, lr=0.05, schedule=schedule, patience=0, augment=_jitter,
                    progress=False, device="cpu", seed=3)
    model = _dropout_net(0)
    whole = train.fit(model, train_data, val_data, **settings)

    calls = {"n": 0}

    def interrupted(x, generator):
        calls["n"] += 1
        if calls["n"] == 2 * 4 + 1:   # the first batch of epoch 3 (4 batches per epoch)
            raise KeyboardInterrupt
        return _jitter(x, generator)

    path = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        train.fit(_dropout_net(0), train_data, val_data, checkpoint=path, **{**settings, "augment": interrupted})
    assert train.load_checkpoint(path, _dropout_net(0))["epoch"] == 2

    resumed_model = _dropout_net(99)
    resumed = train.fit(resumed_model, train_data, val_data, checkpoint=path, resume=True, **settings)
    for name in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_top1_error", "lr"):
        assert getattr(resumed, name) == getattr(whole, name), name
    for a, b in zip(model.state_dict().values(), resumed_model.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_without_a_checkpoint_file_starts_afresh(tmp_path):
    history = train.fit(_linear(), _linear_data(), epochs=1, checkpoint=tmp_path / "new.pt", resume=True,
                        progress=False, device="cpu")
    assert len(history) == 1 and (tmp_path / "new.pt").is_file()
    with pytest.raises(ValueError, match=r"fit: argument 'resume' needs a 'checkpoint' path"):
        train.fit(_linear(), _linear_data(), epochs=1, resume=True, progress=False, device="cpu")


def _raise_midway(error):
    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise error
    return broken_save


@pytest.mark.parametrize("where, error", [
    ("torch.save", OSError("disk full")),
    ("torch.save", KeyboardInterrupt()),
    ("os.replace", OSError("cross-device link")),
    ("torch.load", RuntimeError("cannot read it back")),
])
def test_an_interrupted_save_leaves_no_temporary_file(tmp_path, monkeypatch, where, error):
    model = _linear()
    path = train.save_checkpoint(tmp_path / "ckpt.pt", model, epoch=1)
    before = path.read_bytes()
    if where == "torch.save":
        monkeypatch.setattr(torch, "save", _raise_midway(error))
    else:
        module, name = where.split(".")
        def fail(*args, **kwargs):
            raise error
        monkeypatch.setattr(os if module == "os" else torch, name, fail)
    with pytest.raises(type(error)):
        train.save_checkpoint(path, model, epoch=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]   # no *.tmp left behind
    assert path.read_bytes() == before


def test_load_a_plain_state_dict(tmp_path):
    source = _linear()
    with torch.no_grad():
        source[1].weight.add_(1.0)
    torch.save(source.state_dict(), tmp_path / "weights.pt")
    model = _linear()
    info = train.load_checkpoint(tmp_path / "weights.pt", model)
    assert info["epoch"] == 0 and info["history"] is None
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), source.state_dict().values()))


@pytest.mark.parametrize("content, match", [
    (lambda path: torch.save(torch.zeros(3), path), r"load_checkpoint: argument 'path' .* not a checkpoint"),
    (lambda path: torch.save({"weights": {}}, path), r"load_checkpoint: argument 'path' .* not a checkpoint"),
    (lambda path: path.write_bytes(b"not a checkpoint"), r"load_checkpoint: argument 'path' .* torch can load"),
    (lambda path: torch.save(nn.Linear(3, 2).state_dict(), path), r"load_checkpoint: argument 'model' does not fit"),
])
def test_load_checkpoint_explains_files_it_cannot_use(tmp_path, content, match):
    path = tmp_path / "file.pt"
    content(path)
    with pytest.raises(ValueError, match=match):
        train.load_checkpoint(path, _linear())


# --------------------------------------------------------------------------- compile falls back to eager

class _BackwardFails(torch.autograd.Function):
    """Identity forward; a backward that fails, as a compiled backward graph can."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("backward compiler: no C++ compiler found")


def _fake_compile(fails_on: str, calls: list):
    """A stand-in for torch.compile whose model fails on its first call (in forward or backward),
    or (fails_on="later") works once and then fails, or (fails_on="never") always works."""
    def compile_(model, *args, **kwargs):
        def compiled(x):
            calls.append(len(calls))
            if fails_on == "forward":
                raise RuntimeError("inductor: no C++ compiler found\nsecond line")
            if fails_on == "later" and len(calls) > 1:
                raise RuntimeError("a genuine error on step 2")
            out = model(x)
            return _BackwardFails.apply(out) if fails_on == "backward" else out
        return compiled
    return compile_


def _run(shapes, **kw):
    torch.manual_seed(3)
    model = tiny_cnn()
    history = train.fit(model, shapes[0], epochs=2, batch_size=250, progress=False, device="cpu", seed=1, **kw)
    return history, model


@pytest.mark.parametrize("fails_on", ["forward", "backward"])
def test_compile_failing_at_the_first_step_falls_back_to_eager(shapes, monkeypatch, capsys, fails_on):
    eager, eager_model = _run(shapes)
    calls = []
    monkeypatch.setattr(torch, "compile", _fake_compile(fails_on, calls))
    history, model = _run(shapes, compile=True)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("fit: torch.compile failed (RuntimeError: ") \
        and "no C++ compiler found" in out[0] and "uncompiled" in out[0], out
    assert calls == [0]   # tried once, then never again
    assert history.train_loss == eager.train_loss   # the same run as without compile=True
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), eager_model.parameters()))


def test_compile_raising_at_once_falls_back_to_eager(shapes, monkeypatch, capsys):
    eager, _ = _run(shapes)
    def refuse(model, *args, **kwargs):
        raise RuntimeError("torch.compile is not supported on this Python")
    monkeypatch.setattr(torch, "compile", refuse)
    history, _ = _run(shapes, compile=True)
    assert "torch.compile failed (RuntimeError: 'torch.compile is not supported" in capsys.readouterr().out
    assert history.train_loss == eager.train_loss


def test_compile_errors_after_the_first_step_are_not_hidden(shapes, monkeypatch, capsys):
    monkeypatch.setattr(torch, "compile", _fake_compile("later", []))
    with pytest.raises(RuntimeError, match="a genuine error on step 2"):
        _run(shapes, compile=True)
    assert "torch.compile failed" not in capsys.readouterr().out


def test_compile_keeps_the_clear_label_error(shapes, monkeypatch, capsys):
    monkeypatch.setattr(torch, "compile", _fake_compile("never", []))
    (x, y), _ = shapes
    with pytest.raises(ValueError, match="train_data"):
        train.fit(tiny_cnn(), (x, y + 10), epochs=1, progress=False, device="cpu", compile=True)
    assert "torch.compile failed" not in capsys.readouterr().out


def test_compile_that_works_trains_the_same_model(shapes, monkeypatch, capsys):
    eager, _ = _run(shapes)
    calls = []
    monkeypatch.setattr(torch, "compile", _fake_compile("never", calls))
    history, _ = _run(shapes, compile=True)
    assert len(calls) == 8 and history.train_loss == eager.train_loss   # 2 epochs of 4 batches
    assert capsys.readouterr().out == ""
