"""How big is a network? Units, weights and connections, layer by layer.

The lectures measure a network three ways, and each matters for a different reason:

* **units** — activations are kept in memory for backprop;
* **weights** — they are kept in memory, and their number drives overfitting;
* **connections** — each costs about 3 multiply-adds in training (1 forward, 2 backward).

Describe a network with layer specs and :func:`account` it, or hand a torch model to
:func:`from_torch`; both give a :class:`SizeTable`. The published networks are presets
(:func:`lenet5_lecture`, :func:`lenet5_1998`, :func:`lenet1989`, :func:`alexnet2012`, ...).

Conventions (applied to every layer, in ``account`` and in ``from_torch`` alike):

* ``units`` = the output activations of a layer. Pooling layers have units (LeNet's S2, S4);
  shape-only layers (flatten, LRN, dropout, activation) have none: they re-express the units
  of the layer before them. The input image is not a layer: ``SizeTable.input_units``.
* ``weights`` = distinct trainable multiplicative weights; a shared weight counts once.
  ``biases`` = trainable additive parameters; ``params = weights + biases``.
* ``connections`` = input-to-output links used in the forward pass, plus one per unit for its
  bias, as LeCun et al. count them. A conv unit links to every position its kernel covers,
  padded ones included, so a conv layer has W·H·K²·I·J connections (output W×H×J, input I
  maps) and an FC layer from W×H×I to W×H×J units has W²H²IJ. A pooling unit links to its
  K² inputs (+1 with LeNet-5's trainable coefficient and bias).
* ``multiply_adds`` = the input×weight products of conv, FC and RBF layers: connections
  less the bias links; pooling and shape-only layers have none. This is what MAC counters
  report (torchvision's AlexNet: 714,188,480).

>>> table = account([conv(1, 6, 5, bias=False), pool(2), flatten(), fc(1176, 10, bias=False)], (1, 32, 32))
>>> [(r.name, r.units, r.weights, r.connections) for r in table.rows]
[('conv1', 4704, 150, 117600), ('pool1', 1176, 0, 4704), ('flatten1', 0, 0, 0), ('fc1', 10, 11760, 11760)]
"""
from __future__ import annotations
from course_lib.size.layers import *  # noqa: F401,F403
from course_lib.size.layers import __all__ as _layers_all
from course_lib.size.presets import *  # noqa: F401,F403
from course_lib.size.presets import __all__ as _presets_all
from course_lib.size.table import *  # noqa: F401,F403
from course_lib.size.table import __all__ as _table_all
from course_lib.size.torch_models import from_torch

__all__ = [*_layers_all, *_table_all, "from_torch", *_presets_all]
