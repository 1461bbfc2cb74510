"""What a trained conv net has learned, and how easily it is fooled.

Every compute function takes a torch model and inputs exactly as the model sees them
(normalised float tensors, one image ``(C, H, W)`` or a batch ``(N, C, H, W)``) and returns
tensors on the CPU. The model is put in eval mode for the call (no dropout) and left as it was.
The ``plot_*`` helpers (in :mod:`course_lib.figures.learned`, imported from :mod:`course_lib.figures`)
draw those results and return a ``matplotlib.figure.Figure``. The rooms:

* :mod:`~course_lib.visualize.activations`: :func:`feature_maps` (the output of any named layer,
  by a forward hook), :func:`receptive_field`, :func:`top_activating_patches` (the k images that
  excite one feature map most, cropped to the winning unit's receptive field: Zeiler & Fergus's
  "top 9"), :func:`predict_proba`;
* :mod:`~course_lib.visualize.deep`: :func:`project_to_pixels` (deconvnet projections and guided
  backpropagation) and :func:`projected_top_patches` (top patches with their projections, for any
  layer of a deeper net);
* :mod:`~course_lib.visualize.sensitivity`: :func:`occlusion_map` (the true class's probability
  while a square covers part of the image) and :func:`saliency` (input gradients);
* :mod:`~course_lib.visualize.synthesis`: :func:`activation_maximization` (gradient ascent on the
  image for a class or a unit) and :func:`adversarial_example` (FGSM and its iterative version).

The functions assume what every course model is: layers called one after another. Only
:func:`receptive_field` and the :mod:`~course_lib.visualize.deep` projections rely on it.
"""
from course_lib.visualize.activations import (ReceptiveField, TopPatches, feature_maps, get_layer, predict_proba,
                                              receptive_field, top_activating_patches)
from course_lib.visualize.deep import PROJECTION_RULES, ProjectedPatches, project_to_pixels, projected_top_patches
from course_lib.visualize.sensitivity import (class_score_gradient, occlusion_map, occlusion_positions,
                                              occlusion_probabilities, saliency)
from course_lib.visualize.synthesis import (Adversarial, AscentResult, activation_maximization, adversarial_example,
                                            class_model)

__all__ = ["get_layer", "feature_maps", "ReceptiveField", "receptive_field", "TopPatches",
           "top_activating_patches", "occlusion_positions", "occlusion_probabilities", "occlusion_map",
           "class_score_gradient", "saliency", "AscentResult", "activation_maximization", "class_model",
           "Adversarial", "adversarial_example", "predict_proba",
           "PROJECTION_RULES", "project_to_pixels", "ProjectedPatches", "projected_top_patches"]
