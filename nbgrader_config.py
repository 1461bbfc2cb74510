# nbgrader configuration of the course. nbgrader reads it from the folder it runs in: the
# repository root. The instructor guide (docs/instructor_guide.md) explains every setting;
# `python -m course_lib.grading` wraps the nbgrader commands with the course's hardening.
import os

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

# --- where things live --------------------------------------------------------------------
# The course root is the folder of this file, so the commands work from any checkout
# (the parallel grader also copies this file into private per-submission course folders).
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"     # instructor notebooks, with solutions
c.CourseDirectory.release_directory = "assignments"  # what students get (committed)
# submitted/, autograded/, feedback/ and gradebook.db are created here and never committed.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# --- generating the release ---------------------------------------------------------------
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# --- autograding --------------------------------------------------------------------------
# A student who deletes a (hidden) test cell gets it back instead of skipping it silently.
c.OverwriteCells.add_missing_cells = True
# Each cell may run this long; then the kernel is interrupted and grading goes on.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
# nbconvert validates the notebook after each of the ~17 preprocessors; once, after the last,
# catches the same malformed result (it was about 7 % of the CPU spent per submission).
c.Exporter.optimistic_validation = True
# Keep feedback files small whatever a submission prints.
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 40

# A duplicated cell must not crash the whole submission (nbgrader 0.9.6 bug, see the class).
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "course_lib.grading.preprocessors.DropEmptyNbgraderMetadata",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Student code runs in a sandboxed kernel (course_lib/grading/kernel.py): bubblewrap, or
# setpriv as a fallback, with resource limits. Raise the limits per assignment here.
c.Autograde.autograde_preprocessors = [
    "course_lib.grading.preprocessors.SandboxedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "course_lib.grading.preprocessors.StderrIsNotFailure",  # a warning must not zero a test
    "nbgrader.preprocessors.SaveAutoGrades",
    # After the verdict, so they never change a score: the copy formgrader shows is capped in
    # bytes, holds no HTML/JS output, and shows a student's raw HTML as text (sanitize.py).
    "course_lib.grading.sanitize.CapOutputBytes",
    "course_lib.grading.sanitize.DropActiveOutputs",
    "course_lib.grading.sanitize.EscapeAnswerHtml",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.CapOutputBytes.max_bytes_per_output = 10_000
c.CapOutputBytes.max_bytes_per_cell = 50_000
c.SandboxedExecute.backend = "auto"          # "bwrap" to refuse the setpriv fallback
c.SandboxedExecute.uid_base = 61000          # as root, kernel k runs as uid 61000 + k
c.SandboxedExecute.default_limits = {
    "memory_mb": 3072, "cpu_seconds": 600, "max_processes": 64, "file_size_mb": 256,
    "wall_seconds": 900,
}
c.SandboxedExecute.assignment_limits = {
    # Later assignments train networks: more memory and time, and the data set read-only.
    "ps4_lenet": {"memory_mb": 6144, "cpu_seconds": 3600, "cell_timeout": 1200,
                  "wall_seconds": 3600, "readonly_paths": ["$COURSE_DATA_DIR"],
                  "env": ["COURSE_DATA_DIR"], "required_env": ["COURSE_DATA_DIR"]},
    "ps5_alexnet_gpu": {"memory_mb": 8192, "cpu_seconds": 3600, "cell_timeout": 1200,
                        "wall_seconds": 3600, "readonly_paths": ["$COURSE_DATA_DIR"],
                        "env": ["COURSE_DATA_DIR"]},
    # No data set: the whole notebook, tests included, peaks at 0.7 GB of address space and
    # 6 s of CPU; the default memory, and less time, so a runaway submission costs less.
    "ps6_after_alexnet": {"cpu_seconds": 300, "wall_seconds": 600},
}

# --- feedback -----------------------------------------------------------------------------
# Students see their results, never the hidden tests (nor their lines in a traceback).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "course_lib.grading.preprocessors.HideHiddenTestTracebacks",
    "nbgrader.preprocessors.ClearHiddenTests",
    # Again here (each is idempotent), for autograded copies made before they were added.
    "course_lib.grading.sanitize.CapOutputBytes",
    "course_lib.grading.sanitize.DropActiveOutputs",
    "course_lib.grading.sanitize.EscapeAnswerHtml",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# bleach-clean the HTML of outputs in the feedback (and in formgrader, which reads this too).
# nbgrader's templates render markdown cells without it: EscapeAnswerHtml covers those.
c.HTMLExporter.sanitize_html = True

# --- collecting from an LMS download (zip_collect) ----------------------------------------
# Canvas-style names: "<student>_<digits>_<digits>_<notebook>.ipynb" (LATE_ optional).
# Adapt this one line to your LMS; see docs/instructor_guide.md.
c.ZipCollectApp.collector_plugin = "nbgrader.plugins.FileNameCollectorPlugin"
c.FileNameCollectorPlugin.named_regexp = (
    r"^(?:.*/)?(?P<student_id>[A-Za-z0-9.\-]+)_(?:LATE_)?\d+_\d+_(?P<file_id>[^/]+\.ipynb)$"
)
