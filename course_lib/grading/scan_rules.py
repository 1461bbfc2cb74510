"""The rules of the static scan (:mod:`course_lib.grading.scan`): what each assignment forbids,
and the primitives that tamper with the shell, the interpreter or the grader.

A pattern is an :func:`fnmatch.fnmatchcase` pattern on a fully qualified name, and also covers
everything under that name (``scipy.signal`` covers ``scipy.signal.convolve2d``).
"""

#: What the convolution problem sets forbid: every library convolution, so the student writes it.
CONVOLUTION_FORBIDDEN = (
    "numpy.convolve", "numpy.*.convolve", "numpy.correlate", "numpy.*.correlate",
    "scipy.signal",
    "scipy.ndimage.convolve*", "scipy.ndimage.correlate*",
    "scipy.ndimage.*.convolve*", "scipy.ndimage.*.correlate*",
    "torch.nn.functional.conv*", "torch.conv*",
    "course_lib.conv", "course_lib.pool", "course_lib.gpu",
)

#: What ps6 forbids: library batch norm and dropout, which the student writes in NumPy, and the
#: course's own answers (saliency, FGSM, layers, sizes, models). The rules hold for the whole
#: notebook, and its residual block is built from ``nn.BatchNorm2d``: that one stays allowed.
AFTER_ALEXNET_FORBIDDEN = (
    "torch.nn.functional.batch_norm", "torch.batch_norm", "torch.native_batch_norm",
    "torch.nn.BatchNorm1d", "torch.nn.BatchNorm3d", "torch.nn.LazyBatchNorm*",
    "torch.nn.SyncBatchNorm", "torch.nn.modules.batchnorm",
    "torch.nn.functional.dropout*", "torch.nn.functional.*_dropout", "torch.dropout",
    "torch.*_dropout", "torch.nn.Dropout*", "torch.nn.*Dropout", "torch.nn.modules.dropout",
    "course_lib.visualize", "course_lib.layers", "course_lib.conv", "course_lib.size",
    "course_lib.models",
)

#: Forbidden names per assignment; an assignment not listed forbids nothing.
FORBIDDEN_BY_ASSIGNMENT: dict[str, tuple[str, ...]] = {
    "ps1_convolution": CONVOLUTION_FORBIDDEN,
    "ps2_conv_layer_pooling": CONVOLUTION_FORBIDDEN,
    "ps6_after_alexnet": AFTER_ALEXNET_FORBIDDEN,
}

#: Tampering primitives, in every assignment: pattern -> why a human should look.
TAMPERING: dict[str, str] = {
    "get_ipython": "reaches the IPython shell",
    "*.get_ipython": "reaches the IPython shell",
    "sys.settrace": "installs a trace hook",
    "sys.setprofile": "installs a profile hook",
    "threading.settrace": "installs a trace hook",
    "threading.setprofile": "installs a profile hook",
    "sys._getframe": "reads the interpreter's frames",
    "sys.displayhook": "replaces how results are shown",
    "sys.excepthook": "replaces how errors are shown",
    "sys.modules": "edits the table of loaded modules",
    "builtins": "changes the builtins",
    "__builtins__": "changes the builtins",
    "__import__": "imports a module by name at run time",
    "importlib": "imports a module by name at run time",
    "linecache": "can change the source lines a traceback shows",
    "ctypes": "writes raw memory",
    "gc": "reaches any object through the garbage collector",
    "inspect": "reads frames and source code",
    "exec": "runs code built at run time",
    "eval": "runs code built at run time",
    "compile": "builds code at run time",
    "os.system": "runs a shell command",
    "os.popen": "runs a shell command",
    "os.exec*": "replaces the process with another program",
    "os.spawn*": "runs another program",
    "os.posix_spawn*": "runs another program",
    "subprocess": "runs another program",
    "pty": "runs another program",
}

#: Attribute names that are tampering primitives whatever object they hang off (the shell is
#: usually reached through a call, ``get_ipython().events``): pattern -> why. A two-part
#: pattern matches the last two attributes of a chain.
TAMPERING_ATTRIBUTES: dict[str, str] = {
    "input_transformer*": "rewrites the source before it runs",
    "ast_transformers": "rewrites the code before it runs",
    "events.register": "hooks the shell's events",
    "__globals__": "reaches into a function's module",
    "__code__": "replaces a function's code",
    "__subclasses__": "walks the class hierarchy",
    "__dict__": "reaches an object's names as data",
    "__builtins__": "changes the builtins",
    "f_back": "reads the interpreter's frames",
    "f_globals": "reads the interpreter's frames",
    "f_locals": "reads the interpreter's frames",
}

#: Conventional names that mean a module even when no cell imports them.
DEFAULT_ALIASES = {"np": "numpy", "F": "torch.nn.functional", "nn": "torch.nn"}
