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
    plots, widgets, training_plots, visualize   the figures and live demos of the lectures
"""

__version__ = "0.1.0"
