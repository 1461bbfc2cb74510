"""course_lib: the reference code of the convolutional-networks course.

One module per topic; import the one you need:

    conv       1-D/2-D convolution three ways, correlation, the conv layer (im2col) and its backward
    pool       max / average / Lp pooling and their backward passes
    gradcheck  numerical gradients to check your own backward passes
    gpu        torch counterparts of conv and pool (same names, same signatures)
    size       units, weights and connections of a network; published presets; from_torch
    data       MNIST and CIFAR-10 loaders, a synthetic colour set, a sample photograph
    models     LeNet-5 (classic and modern), AlexNet, and a NumPy LeNet
    train      fit / evaluate, device choice, augmentation, checkpoints
    numpy_lenet  LeNet-5 from conv and pool with hand-written backprop
    plots, widgets                    figures and live demos of lectures 01-05
    training_plots, visualize, lecture_widgets   figures and demos of lectures 06-08
    notebooks  strip, run and export the lecture notebooks
    grading    the instructor's sandboxed, parallel autograding (python -m course_lib.grading)
"""

__version__ = "0.1.0"
