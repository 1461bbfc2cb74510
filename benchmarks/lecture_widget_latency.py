"""Widget callback latency of lectures 6-8 (``course_lib.widgets.training`` and ``.learned``) against the 50 ms budget.

Claim (issue 4, "live speed"): a widget callback computes in no more than 50 ms.

Each demo is built as in its notebook: the LeNet-5 of lecture 6 (its checkpoint when
``checkpoints/lenet5_mnist.pt`` exists, else an untrained one of the same shape — the cost of a
frame does not depend on the weights), the MNIST test set, the real photograph. Everything
expensive (probabilities, feature maps, occlusion maps, top patches) is computed first, as the
notebooks do; then, over a sweep of slider values, we time

* ``update``: indexing the precomputed results and changing the figure's artists;
* ``frame``: ``update`` plus the PNG the browser shows, i.e. the whole callback;
* beside it, the reference: the same update followed by a full ``fig.savefig`` redraw, the way a
  straightforward matplotlib callback would do it (after un-freezing the figure's artists).

Run: ``COURSE_DATA_DIR=/path/with/mnist .venv/bin/python benchmarks/lecture_widget_latency.py``.
The last line reads ``lecture_widget_latency worst_frame_ms=X budget_ms=50 ok=True|False``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from course_lib import data, models, train, visualize, widgets  # noqa: E402
from course_lib.data import augment  # noqa: E402
from widget_latency import report  # noqa: E402  (the same timing harness)

CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "lenet5_mnist.pt"


def demos() -> dict[str, tuple[widgets.LiveDemo, list[dict]]]:
    """Each demo with the values its sliders sweep through, built from the notebooks' inputs."""
    torch.manual_seed(0)
    model = models.LeNet5()
    if CHECKPOINT.is_file():
        train.load_checkpoint(CHECKPOINT, model)
    model.eval()
    x, y = data.mnist_tensors("test")
    images, labels = data.load_mnist("test")
    probs = visualize.predict_proba(model, x)
    wrong = np.flatnonzero(probs.argmax(1).numpy() != y.numpy())[:100]
    if len(wrong) < 10:  # an unusually good model: browse the first digits instead
        wrong = np.arange(100)
    browser = widgets.DigitBrowserDemo(images[wrong], labels[wrong], probs[wrong],
                                               visualize.feature_maps(model, x[wrong], "relu1"),
                                               visualize.feature_maps(model, x[wrong], "relu3"), ids=wrong)
    photo = torch.from_numpy(data.sample_photo(gray=False)).permute(2, 0, 1).float()[None]
    photo = F.interpolate(photo[..., 44:556, :], size=(32, 32), mode="area")
    gallery = torch.cat([photo, torch.from_numpy(data.synthetic_shapes(7, 32, seed=1)[0]).float() / 255])
    augmentation = widgets.AugmentationDemo(gallery, augment.RandomCrop(32, padding=4),
                                                    augment.RandomHorizontalFlip(),
                                                    augment.PCAColorJitter.from_data(gallery, sigma=0.3))
    tops = visualize.top_activating_patches(model, x, "c3", range(16), k=9)
    background = (0.0 - data.MNIST_MEAN) / data.MNIST_STD
    occlusion = visualize.occlusion_probabilities(model, x[184], patch=8, stride=1, fill=background)
    return {
        "06 digit browser": (browser, [dict(i=i) for i in range(len(wrong))]),
        "07 ILSVRC years": (widgets.ILSVRCDemo(), [dict(year=year) for year in range(2010, 2016)]),
        "07 augmentation": (augmentation, [dict(index=i % 8, crop=bool(i % 2), flip=True, colour=bool(i % 3),
                                                seed=i) for i in range(24)]),
        "08 top patches": (widgets.TopPatchesDemo(tops, "C3"), [dict(channel=c) for c in range(16)]),
        "08 occlusion": (widgets.OcclusionDemo(x[184], occlusion, int(y[184]), 8, 1, background),
                         [dict(row=r, col=(3 * r) % 21) for r in range(21)]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="sweeps over each demo's values")
    args = parser.parse_args()

    print(f"torch threads: {torch.get_num_threads()}; checkpoint: {'yes' if CHECKPOINT.is_file() else 'no (untrained weights)'}")
    report("lecture_widget_latency", demos(), args.repeats)

if __name__ == "__main__":
    main()
