"""The course's static figures, one import name: ``from course_lib import figures``.

Every function returns a :class:`matplotlib.figure.Figure` (it never calls ``plt.show()``), so a
notebook displays it and a script can ``fig.savefig(...)`` it. The rooms:

* :mod:`~course_lib.figures.style`: the figure factory, colours, stems, number grids, equations;
* :mod:`~course_lib.figures.convolution`: lectures 01-03 (convolution three ways, filters, im2col);
* :mod:`~course_lib.figures.pooling`: lecture 04;
* :mod:`~course_lib.figures.training`: lectures 06-07 (learning curves, confusion matrix, mistakes);
* :mod:`~course_lib.figures.learned`: lecture 08 (feature maps, occlusion, saliency, adversarial).
"""
from course_lib.figures.convolution import *  # noqa: F401,F403
from course_lib.figures.convolution import __all__ as _convolution_all
from course_lib.figures.learned import *  # noqa: F401,F403
from course_lib.figures.learned import __all__ as _learned_all
from course_lib.figures.pooling import *  # noqa: F401,F403
from course_lib.figures.pooling import __all__ as _pooling_all
from course_lib.figures.style import *  # noqa: F401,F403
from course_lib.figures.style import __all__ as _style_all
from course_lib.figures.training import *  # noqa: F401,F403
from course_lib.figures.training import __all__ as _training_all

__all__ = [*_style_all, *_convolution_all, *_pooling_all, *_training_all, *_learned_all]
