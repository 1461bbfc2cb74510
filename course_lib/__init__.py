"""course_lib: the reference code of the convolutional-networks course.

One room per topic; import the one you need (``from course_lib import conv, pool, gpu``):

    conv/        NumPy convolution: signal.py (1-D/2-D three ways, correlation),
                 layer.py (channels, padding, stride, dilation, groups, im2col, backward) and
                 transposed.py (transposed convolution, its output size, its backward)
    pool         max / average / Lp pooling and their backward passes
    gradcheck    numerical gradients to check your own backward passes
    gpu/         torch twins of conv, the conv layer, transposed convolution and pool (same
                 names, same signatures), and device.py: cuda, then mps, then cpu
    size/        network-size accounting: layers.py (specs, account), table.py (SizeTable,
                 memory), presets.py (published networks), torch_models.py (from_torch)
    data/        mnist.py, cifar.py, photo.py, shapes.py (a generated set), download.py
                 (verified, offline-aware), idx.py (the IDX format), augment.py (AlexNet's)
    models/      torch models: lenet.py (LeNet-5 classic and modern), alexnet.py (2012, small)
    layers/      NumPy layer components with backward passes (normalisation, dropout, ...)
    numpy_lenet  LeNet-5 from conv and pool with hand-written backprop
    train        fit / evaluate, seeding, checkpoints
    visualize    what a trained network computes: feature maps, receptive fields, occlusion,
                 saliency, class models, adversarial examples
    figures/     the static figures, one module per group of lectures
    widgets/     the live demos, one module per lecture or topic
    notebooks    strip, run and export the lecture notebooks
    grading/     the instructor's sandboxed, parallel autograding (python -m course_lib.grading)
    _checks      the argument checks behind every clear error message

Dependencies point one way: figures and widgets draw what conv, pool, size and visualize
compute; nothing below imports them back (tests/test_architecture.py checks for cycles).
"""

__version__ = "0.1.0"
