"""The course's static figures, one import name: ``from course_lib import figures``.

Every function returns a :class:`matplotlib.figure.Figure` (it never calls ``plt.show()``), so a
notebook displays it and a script can ``fig.savefig(...)`` it. The rooms:

* :mod:`~course_lib.figures.style`: the figure factory, colours, stems, number grids, equations;
* :mod:`~course_lib.figures.convolution`: lectures 01-03 (convolution three ways, filters, im2col);
* :mod:`~course_lib.figures.pooling`: lecture 04;
* :mod:`~course_lib.figures.training`: lectures 06-07 (learning curves, confusion matrix, mistakes);
* :mod:`~course_lib.figures.learned`: lecture 08 (feature maps, occlusion, saliency, adversarial);
* :mod:`~course_lib.figures.after_alexnet`: lecture 09 (receptive fields, runs side by side, ablations);
* :mod:`~course_lib.figures.dense`: lecture 10 (R-CNN and FCN schematics, heat maps, label maps).

Projector-ready: every figure and live demo is drawn at 110 dpi or more, with text of 12 points
or more, and carries a short description (alt text): ``figures.alt_text(fig)`` for a figure
(attached with ``figures.describe(fig, text)``), ``demo.alt`` or ``demo.caption`` for a demo.

For the lecture hall, one switch makes every figure and demo made after it larger (type +30 %,
figures +15 %, 120 dpi): ``figures.lecture_hall(True)`` (and ``lecture_hall(False)`` to undo),
``with figures.lecture_hall(): ...`` for a few, or ``COURSE_LECTURE_HALL=1`` in the environment
before starting Jupyter.
"""
from course_lib.figures.after_alexnet import *  # noqa: F401,F403
from course_lib.figures.after_alexnet import __all__ as _after_alexnet_all
from course_lib.figures.convolution import *  # noqa: F401,F403
from course_lib.figures.convolution import __all__ as _convolution_all
from course_lib.figures.dense import *  # noqa: F401,F403
from course_lib.figures.dense import __all__ as _dense_all
from course_lib.figures.learned import *  # noqa: F401,F403
from course_lib.figures.learned import __all__ as _learned_all
from course_lib.figures.pooling import *  # noqa: F401,F403
from course_lib.figures.pooling import __all__ as _pooling_all
from course_lib.figures.style import *  # noqa: F401,F403
from course_lib.figures.style import __all__ as _style_all
from course_lib.figures.training import *  # noqa: F401,F403
from course_lib.figures.training import __all__ as _training_all

__all__ = [*_style_all, *_convolution_all, *_pooling_all, *_training_all, *_learned_all, *_after_alexnet_all,
           *_dense_all]
