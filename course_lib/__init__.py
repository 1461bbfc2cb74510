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
    data/        mnist.py, cifar.py, photo.py, shapes.py (a generated set), canvas.py (digits
                 on a canvas, for detection and segmentation), download.py (pooch: verified,
                 offline-aware), idx.py (the IDX format), augment.py (AlexNet's), folder.py and
                 jpeg_cache.py (a JPEG class-folder pipeline for Imagenette on a GPU)
    models/      torch models: lenet.py (LeNet-5 classic and modern), alexnet.py (2012, small),
                 deep_colour.py (lecture 08), modern.py (lecture 09: small kernels, Inception,
                 residual, transfer), dense.py (lecture 10: fully convolutional, segmentation)
    layers/      NumPy layer components with backward passes: batchnorm.py, dropout.py,
                 lcn.py (local contrast normalisation), stochastic_pool.py
    numpy_lenet  LeNet-5 from conv and pool with hand-written backprop
    train        fit / evaluate, seeding, checkpoints
    visualize/   what a trained network computes: activations.py (feature maps, receptive
                 fields, top patches), sensitivity.py (occlusion, saliency), synthesis.py (class
                 models, adversarial examples), deep.py (a deeper net's layers)
    figures/     the static figures, one module per group of lectures
    widgets/     the live demos, one module per lecture or topic
    notebooks    strip, run and export the lecture notebooks
    grading/     the instructor's sandboxed, parallel autograding (python -m course_lib.grading)
    _checks      the argument checks behind every clear error message

Dependencies point one way: figures and widgets draw what conv, pool, size and visualize
compute; nothing below imports them back (tests/test_architecture.py checks for cycles).
"""

__version__ = "0.1.0"
